//! The broker's two hot request paths without sockets: a Produce request frame decoded,
//! validated and appended (`decode → validate_batches → PartitionLog::append`), and a
//! Fetch response assembled (`PartitionLog::read` → `FetchResponse` encoded into a
//! `FrameBuf`), which must borrow the mapped segment rather than copy it.
//!
//! Logs keep at most two 64 MiB segments (retention), flush `os`: the figures measure
//! the page cache and the code, not the disk.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rill_broker::storage::{FlushPolicy, LogConfig, PartitionLog};
use rill_protocol::api::common::TopicPartitions;
use rill_protocol::api::fetch::{FetchPartitionResponse, FetchRecords, FetchResponse};
use rill_protocol::api::produce::{ProducePartition, ProduceRequest};
use rill_protocol::api::{
    encode_request, encode_response, ApiKey, Request, RequestHeader, Response,
};
use rill_protocol::batch::{validate_batches, BatchBuilder, Compression, RecordInput};
use rill_protocol::error_code::ErrorCode;
use rill_protocol::frame::{FrameBuf, MAX_FRAME_BYTES_DEFAULT};

const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

fn log_config() -> LogConfig {
    LogConfig {
        segment_bytes: SEGMENT_BYTES as u32,
        retention_bytes: Some(SEGMENT_BYTES),
        retention_ms: None,
        flush: FlushPolicy::Os,
        max_batch_bytes: MAX_BATCH_BYTES,
        ..LogConfig::default()
    }
}

/// A batch of `records` values of `value_bytes`, as a producer builds it.
fn batch(records: usize, value_bytes: usize) -> Bytes {
    let value: Bytes = (0..value_bytes).map(|i| b'a' + (i % 26) as u8).collect();
    let mut builder = BatchBuilder::with_capacity(Compression::None, records * (value_bytes + 16));
    let record = RecordInput {
        timestamp: 1_795_000_000_000,
        key: None,
        value: Some(value),
        headers: Vec::new(),
    };
    for _ in 0..records {
        builder.append(&record).expect("append record");
    }
    builder.build().expect("build batch")
}

/// The payload of a Produce request frame (length prefix stripped) carrying `batch`.
fn produce_frame(batch: Bytes) -> Bytes {
    let header = RequestHeader {
        api_key: ApiKey::Produce,
        api_version: ApiKey::Produce.max_version(),
        correlation_id: 7,
        client_id: Some("bench".to_owned()),
    };
    let request = Request::Produce(ProduceRequest {
        transactional_id: None,
        acks: 1,
        timeout_ms: 30_000,
        topics: vec![TopicPartitions {
            name: "bench".to_owned(),
            partitions: vec![ProducePartition {
                partition: 0,
                records: batch,
            }],
        }],
    });
    let mut out = FrameBuf::new();
    encode_request(&header, &request, &mut out).expect("encode request");
    let mut frame = out
        .finish(MAX_FRAME_BYTES_DEFAULT)
        .expect("frame")
        .to_bytes();
    frame.advance(4);
    frame
}

/// decode → validate → append, one request per iteration; the frame is a fresh
/// uniquely owned buffer (as the connection's reader hands it over), made outside the
/// timing.
fn produce_path(c: &mut Criterion) {
    for (name, records, value_bytes) in [("1000x1KiB", 1000, 1024), ("1000x100B", 1000, 100)] {
        let frame = produce_frame(batch(records, value_bytes));
        let dir = tempfile::tempdir().expect("tempdir");
        let log = PartitionLog::open(dir.path(), log_config()).expect("open log");
        let mut group = c.benchmark_group(format!("produce_path/{name}"));
        group.throughput(Throughput::Bytes(frame.len() as u64));
        group.bench_function("decode_validate_append", |b| {
            b.iter_batched(
                || Bytes::from(frame.to_vec()),
                |frame| {
                    let (_, request) = Request::decode(frame).expect("decode");
                    let Request::Produce(produce) = request else {
                        panic!("not a produce request")
                    };
                    for topic in produce.topics {
                        for p in topic.partitions {
                            let batches =
                                validate_batches(&p.records, MAX_BATCH_BYTES).expect("valid");
                            black_box(batches.len());
                            let mut records = p
                                .records
                                .try_into_mut()
                                .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
                            black_box(log.append(&mut records).expect("append"));
                        }
                    }
                },
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

/// read 1 MiB at a random offset → FetchResponse → encoded frame, zero copy.
fn fetch_assembly(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = PartitionLog::open(dir.path(), log_config()).expect("open log");
    let one = batch(100, 1024);
    for _ in 0..(48 * 1024 * 1024 / one.len()) {
        log.append(&mut BytesMut::from(&one[..])).expect("append");
    }
    let end = log.high_watermark();
    let assemble = |offset: i64, max_bytes: usize| {
        let read = log.read(offset, max_bytes).expect("read");
        let records = read.records.clone();
        let response = Response::Fetch(FetchResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::None,
            topics: vec![TopicPartitions {
                name: "bench".to_owned(),
                partitions: vec![FetchPartitionResponse {
                    partition: 0,
                    error_code: ErrorCode::None,
                    high_watermark: read.high_watermark,
                    last_stable_offset: read.high_watermark,
                    log_start_offset: read.log_start_offset,
                    records: FetchRecords::from_chunks(vec![read.records]),
                }],
            }],
        });
        let mut out = FrameBuf::new();
        encode_response(7, ApiKey::Fetch.max_version(), &response, &mut out).expect("encode");
        (records, out.finish(MAX_FRAME_BYTES_DEFAULT).expect("frame"))
    };
    // Zero copy: the frame's chunk is the mapped segment's bytes, not a copy of them.
    let (records, frame) = assemble(0, 1024 * 1024);
    assert!(
        frame
            .chunks()
            .iter()
            .any(|c| c.as_ptr() == records.as_ptr()),
        "the fetch frame copied the records"
    );
    let mut group = c.benchmark_group("fetch_assembly");
    for max_bytes in [64 * 1024, 1024 * 1024] {
        let returned = assemble(0, max_bytes).0.len();
        group.throughput(Throughput::Bytes(returned as u64));
        let mut seed = 11u64;
        group.bench_function(format!("read_encode/{}KiB", max_bytes / 1024), |b| {
            b.iter(|| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let offset = (seed >> 33) as i64 % end;
                black_box(assemble(offset, max_bytes).1.remaining())
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = produce_path, fetch_assembly
}
criterion_main!(benches);
