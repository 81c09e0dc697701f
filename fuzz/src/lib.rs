//! Helpers shared by the fuzz targets.
//!
//! Random bytes almost never carry a matching CRC-32C, so a target that wants to reach the
//! code behind the CRC check (record walks, codecs, recovery's offset checks) lets the
//! input opt into [`fix_up_batches`], which walks the batch lengths the input claims and
//! rewrites each batch's CRC (and optionally its base offset) to be consistent.

use rill_protocol::batch::{compute_crc, set_base_offset, BATCH_HEADER_BYTES};

/// Position of the `batch_length` field in a batch.
const BATCH_LENGTH_POS: usize = 8;
/// Position of the CRC field in a batch.
const CRC_POS: usize = 17;
/// Bytes before `batch_length` counts (base offset and the length itself).
const LOG_OVERHEAD_BYTES: usize = 12;
/// Position of `last_offset_delta` in a batch.
const LAST_OFFSET_DELTA_POS: usize = 23;

/// Walks `buf` as concatenated batches by their stated lengths and makes each CRC match
/// its bytes. With `base_offset = Some(first)`, also stamps contiguous base offsets from
/// `first`, as the broker's writer would. Stops at the first length that does not fit.
pub fn fix_up_batches(buf: &mut [u8], base_offset: Option<i64>) {
    let mut pos = 0;
    let mut next_offset = base_offset;
    while buf.len() - pos >= BATCH_HEADER_BYTES {
        let batch_length = be_i32(&buf[pos + BATCH_LENGTH_POS..]);
        let Ok(batch_length) = usize::try_from(batch_length) else {
            return;
        };
        let total = LOG_OVERHEAD_BYTES + batch_length;
        if total < BATCH_HEADER_BYTES || total > buf.len() - pos {
            return;
        }
        let batch = &mut buf[pos..pos + total];
        if let Some(offset) = next_offset {
            set_base_offset(batch, offset);
            let delta = be_i32(&batch[LAST_OFFSET_DELTA_POS..]);
            next_offset = offset.checked_add(i64::from(delta.max(0)) + 1);
        }
        let crc = compute_crc(batch);
        batch[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
        pos += total;
    }
}

fn be_i32(bytes: &[u8]) -> i32 {
    i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

#[cfg(test)]
mod seeds {
    //! Writes the seed corpus: `cargo test --manifest-path fuzz/Cargo.toml --lib -- --ignored`.

    use std::path::Path;

    use bytes::Bytes;
    use rill_protocol::api::api_versions::{
        ApiVersionRange, ApiVersionsRequest, ApiVersionsResponse,
    };
    use rill_protocol::api::common::TopicPartitions;
    use rill_protocol::api::fetch::{FetchPartition, FetchRequest};
    use rill_protocol::api::metadata::MetadataRequest;
    use rill_protocol::api::produce::{
        ProducePartition, ProducePartitionResponse, ProduceRequest, ProduceResponse,
    };
    use rill_protocol::api::{
        encode_request, encode_response, ApiKey, Request, RequestHeader, Response,
    };
    use rill_protocol::batch::{set_base_offset, BatchBuilder, Compression, RecordInput};
    use rill_protocol::error_code::ErrorCode;
    use rill_protocol::frame::FrameBuf;

    fn batch(codec: Compression, n: usize) -> Bytes {
        let mut builder = BatchBuilder::new(codec);
        for i in 0..n {
            let record =
                RecordInput::new(1_000 + i as i64, format!("value-{i}")).with_key(format!("k{i}"));
            builder.append(&record).unwrap();
        }
        builder.build().unwrap()
    }

    fn payload(out: FrameBuf) -> Vec<u8> {
        out.finish(usize::MAX >> 1).unwrap().to_bytes()[4..].to_vec()
    }

    fn request(request: Request) -> Vec<u8> {
        let header = RequestHeader {
            api_key: request.api_key(),
            api_version: 0,
            correlation_id: 7,
            client_id: Some("seed".into()),
        };
        let mut out = FrameBuf::new();
        encode_request(&header, &request, &mut out).unwrap();
        payload(out)
    }

    fn response(response: Response) -> Vec<u8> {
        let key = response.api_key();
        let index = ApiKey::ALL.iter().position(|&k| k == key).unwrap() as u8;
        let mut out = FrameBuf::new();
        encode_response(7, 0, &response, &mut out).unwrap();
        [vec![index, 0], payload(out)].concat()
    }

    fn write(target: &str, name: &str, bytes: &[u8]) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus")
            .join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    }

    #[test]
    #[ignore = "writes the seed corpus"]
    fn write_seed_corpus() {
        let produce = Request::Produce(ProduceRequest {
            transactional_id: None,
            acks: -1,
            timeout_ms: 5000,
            topics: vec![TopicPartitions {
                name: "t".into(),
                partitions: vec![ProducePartition {
                    partition: 0,
                    records: batch(Compression::None, 2),
                }],
            }],
        });
        let fetch = Request::Fetch(FetchRequest {
            max_wait_ms: 100,
            min_bytes: 1,
            max_bytes: 1 << 20,
            isolation_level: 0,
            topics: vec![TopicPartitions {
                name: "t".into(),
                partitions: vec![FetchPartition {
                    partition: 0,
                    fetch_offset: 3,
                    partition_max_bytes: 4096,
                }],
            }],
        });
        let metadata = Request::Metadata(MetadataRequest {
            topics: Some(vec!["t".into()]),
            allow_auto_topic_creation: true,
        });
        write("request_decoder", "produce", &request(produce));
        write("request_decoder", "fetch", &request(fetch));
        write("request_decoder", "metadata", &request(metadata));
        write(
            "request_decoder",
            "api_versions",
            &request(Request::ApiVersions(ApiVersionsRequest)),
        );

        let produced = Response::Produce(ProduceResponse {
            topics: vec![TopicPartitions {
                name: "t".into(),
                partitions: vec![ProducePartitionResponse {
                    partition: 0,
                    error_code: ErrorCode::None,
                    base_offset: 5,
                    log_append_time_ms: -1,
                    log_start_offset: 0,
                    error_message: None,
                }],
            }],
            throttle_time_ms: 0,
        });
        let versions = Response::ApiVersions(ApiVersionsResponse {
            error_code: ErrorCode::None,
            api_keys: vec![ApiVersionRange {
                api_key: 0,
                min_version: 0,
                max_version: 0,
            }],
        });
        write("response_decoder", "produce", &response(produced));
        write("response_decoder", "api_versions", &response(versions));

        let mut all = Vec::new();
        for codec in Compression::ALL {
            let one = batch(codec, 3);
            write(
                "record_batch",
                &format!("{codec:?}").to_lowercase(),
                &[&[0u8][..], &one].concat(),
            );
            all.extend_from_slice(&one);
        }
        write("record_batch", "concatenated", &[&[0u8][..], &all].concat());

        let mut log = Vec::new();
        let mut next = 0i64;
        for n in [1usize, 3, 2] {
            let mut one = batch(Compression::None, n).to_vec();
            set_base_offset(&mut one, next);
            next += n as i64;
            log.extend_from_slice(&one);
        }
        let header = [0u8; 11];
        write(
            "segment_recovery",
            "three-batches",
            &[&header[..], &log].concat(),
        );
        write(
            "segment_recovery",
            "torn-tail",
            &[&header[..], &log[..log.len() - 7]].concat(),
        );
        let zeros = [&header[..], &log, &[0u8; 100]].concat();
        write("segment_recovery", "zero-tail", &zeros);
    }
}
