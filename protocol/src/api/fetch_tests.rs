//! Tests for Fetch, including the zero-copy path of [`FetchRecords`].

use super::*;
use crate::api::testing::{request_round_trip, response_round_trip};
use crate::api::{encode_response, Response};
use crate::frame::{FrameCodec, MAX_FRAME_BYTES_DEFAULT};

fn response(records: FetchRecords) -> FetchResponse {
    FetchResponse {
        throttle_time_ms: 0,
        error_code: ErrorCode::None,
        topics: vec![TopicPartitions {
            name: "orders".into(),
            partitions: vec![FetchPartitionResponse {
                partition: 0,
                error_code: ErrorCode::None,
                high_watermark: 10,
                last_stable_offset: 10,
                log_start_offset: 0,
                records,
            }],
        }],
    }
}

#[test]
fn round_trips() {
    request_round_trip(FetchRequest {
        max_wait_ms: 500,
        min_bytes: 1,
        max_bytes: 1 << 20,
        isolation_level: READ_UNCOMMITTED,
        topics: vec![TopicPartitions {
            name: "orders".into(),
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: 42,
                partition_max_bytes: 1 << 20,
            }],
        }],
    });
    response_round_trip(response(FetchRecords::new()));
    response_round_trip(response(FetchRecords::from(Bytes::from_static(b"batch"))));
}

#[test]
fn chunks_are_written_without_copying_and_decode_as_one_slice() {
    let a = Bytes::from(vec![1u8; 4096]);
    let b = Bytes::from(vec![2u8; 2048]);
    let records =
        FetchRecords::from_chunks(vec![a.clone(), Bytes::from_static(b"tiny"), b.clone()]);
    let mut out = FrameBuf::new();
    encode_response(7, 0, &Response::Fetch(response(records.clone())), &mut out).expect("encodes");
    let frame = FrameCodec::default().finish(out).expect("fits");
    let chunk_ptrs: Vec<*const u8> = frame.chunks().iter().map(|c| c.as_ptr()).collect();
    assert!(
        chunk_ptrs.contains(&a.as_ptr()),
        "segment chunk a pushed as-is"
    );
    assert!(
        chunk_ptrs.contains(&b.as_ptr()),
        "segment chunk b pushed as-is"
    );

    let payload = frame.to_bytes().slice(4..);
    let (correlation_id, decoded) = Response::decode(ApiKey::Fetch, 0, payload).expect("decodes");
    assert_eq!(correlation_id, 7);
    let Response::Fetch(fetch) = decoded else {
        panic!("not a fetch response");
    };
    let got = &fetch.topics[0].partitions[0].records;
    assert_eq!(got.chunks().len(), 1);
    assert_eq!(got.len(), 4096 + 4 + 2048);
    assert_eq!(*got, records);
    assert!(MAX_FRAME_BYTES_DEFAULT > got.len());
}

#[test]
fn fetch_records_equality_is_by_content() {
    let split =
        FetchRecords::from_chunks(vec![Bytes::from_static(b"ab"), Bytes::from_static(b"c")]);
    assert_eq!(split, FetchRecords::from(Bytes::from_static(b"abc")));
    assert_ne!(split, FetchRecords::from(Bytes::from_static(b"abd")));
    assert_eq!(split.into_bytes(), Bytes::from_static(b"abc"));
}
