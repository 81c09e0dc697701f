//! Produce: append record batches to partitions.
//!
//! ```text
//! request:  transactional_id string (nullable) | acks i16 | timeout_ms i32
//!           | topics array<name string | partitions array<partition i32 | records bytes>>
//! response: topics array<name string | partitions array<ProducePartitionResponse>>
//!           | throttle_time_ms i32
//! ```
//!
//! `records` is one or more concatenated RecordBatch v2 batches. It is decoded as a
//! zero-copy slice of the request frame and not parsed here: the broker validates it.

use bytes::Bytes;

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::common::TopicPartitions;
use super::{ApiKey, Message};

/// `acks`: do not wait for the append (no response is sent).
pub const ACKS_NONE: i16 = 0;
/// `acks`: answer once the leader has appended.
pub const ACKS_LEADER: i16 = 1;
/// `acks`: answer once every in-sync replica has the batch (and it is flushed if the
/// topic's policy says so).
pub const ACKS_ALL: i16 = -1;

/// Appends batches to partitions.
///
/// ```text
/// transactional_id string (nullable) | acks i16 | timeout_ms i32
/// | topics array<TopicPartitions<ProducePartition>>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceRequest {
    /// Transactional id, reserved for transactions; `None` today.
    pub transactional_id: Option<String>,
    /// [`ACKS_NONE`], [`ACKS_LEADER`] or [`ACKS_ALL`].
    pub acks: i16,
    /// How long the broker may wait for `acks` before answering.
    pub timeout_ms: i32,
    /// Batches per topic and partition.
    pub topics: Vec<TopicPartitions<ProducePartition>>,
}

/// The batches for one partition.
///
/// ```text
/// partition i32 | records bytes
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducePartition {
    /// The partition index.
    pub partition: i32,
    /// Concatenated record batches (a slice of the frame when decoded).
    pub records: Bytes,
}

/// The outcome of each partition's append.
///
/// ```text
/// topics array<TopicPartitions<ProducePartitionResponse>> | throttle_time_ms i32
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceResponse {
    /// Per topic and partition results.
    pub topics: Vec<TopicPartitions<ProducePartitionResponse>>,
    /// How long the client should wait before its next request (quotas); 0 = none.
    pub throttle_time_ms: i32,
}

/// One partition's append result.
///
/// ```text
/// partition i32 | error_code i16 | base_offset i64 | log_append_time_ms i64
/// | log_start_offset i64 | error_message string (nullable)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducePartitionResponse {
    /// The partition index.
    pub partition: i32,
    /// e.g. [`ErrorCode::CorruptMessage`].
    pub error_code: ErrorCode,
    /// Offset assigned to the first record of the first batch.
    pub base_offset: i64,
    /// Broker append time if the topic uses log-append time, else -1.
    pub log_append_time_ms: i64,
    /// The partition's first offset.
    pub log_start_offset: i64,
    /// Detail for the operator, if any.
    pub error_message: Option<String>,
}

impl Wire for ProducePartition {
    const MIN_BYTES: usize = 4 + 4;

    fn encode(&self, _version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_i32(self.partition);
        out.put_bytes("records", &self.records)
    }

    fn decode(r: &mut Reader, _version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            partition: r.i32("partition")?,
            records: r.bytes("records")?,
        })
    }
}

impl Wire for ProducePartitionResponse {
    const MIN_BYTES: usize = 4 + 2 + 8 + 8 + 8 + 2;

    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_i32(self.partition);
        self.error_code.encode(version, out)?;
        out.put_i64(self.base_offset);
        out.put_i64(self.log_append_time_ms);
        out.put_i64(self.log_start_offset);
        out.put_nullable_string("error_message", self.error_message.as_deref())
    }

    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            partition: r.i32("partition")?,
            error_code: ErrorCode::decode(r, version)?,
            base_offset: r.i64("base_offset")?,
            log_append_time_ms: r.i64("log_append_time_ms")?,
            log_start_offset: r.i64("log_start_offset")?,
            error_message: r.nullable_string("error_message")?,
        })
    }
}

impl Message for ProduceRequest {
    const API_KEY: ApiKey = ApiKey::Produce;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_nullable_string("transactional_id", self.transactional_id.as_deref())?;
        out.put_i16(self.acks);
        out.put_i32(self.timeout_ms);
        out.put_array("topics", &self.topics, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            transactional_id: r.nullable_string("transactional_id")?,
            acks: r.i16("acks")?,
            timeout_ms: r.i32("timeout_ms")?,
            topics: r.array("topics", version)?,
        })
    }
}

impl Message for ProduceResponse {
    const API_KEY: ApiKey = ApiKey::Produce;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_array("topics", &self.topics, version)?;
        out.put_i32(self.throttle_time_ms);
        Ok(())
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            topics: r.array("topics", version)?,
            throttle_time_ms: r.i32("throttle_time_ms")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::testing::{request_round_trip, response_round_trip};
    use crate::api::{Request, RequestHeader};

    fn request(records: Bytes) -> ProduceRequest {
        ProduceRequest {
            transactional_id: None,
            acks: ACKS_ALL,
            timeout_ms: 30_000,
            topics: vec![TopicPartitions {
                name: "orders".into(),
                partitions: vec![ProducePartition {
                    partition: 3,
                    records,
                }],
            }],
        }
    }

    #[test]
    fn round_trips() {
        request_round_trip(request(Bytes::from_static(b"batch bytes")));
        request_round_trip(request(Bytes::from(vec![5u8; 5000])));
        response_round_trip(ProduceResponse {
            topics: vec![TopicPartitions {
                name: "orders".into(),
                partitions: vec![ProducePartitionResponse {
                    partition: 3,
                    error_code: ErrorCode::None,
                    base_offset: 100,
                    log_append_time_ms: -1,
                    log_start_offset: 0,
                    error_message: None,
                }],
            }],
            throttle_time_ms: 0,
        });
    }

    #[test]
    fn records_are_a_slice_of_the_frame() {
        let header = RequestHeader {
            api_key: ApiKey::Produce,
            api_version: 0,
            correlation_id: 1,
            client_id: None,
        };
        let mut out = FrameBuf::new();
        let req = Request::Produce(request(Bytes::from(vec![5u8; 3000])));
        crate::api::encode_request(&header, &req, &mut out).expect("encodes");
        let frame = crate::api::testing::payload(out);
        let (_, decoded) = Request::decode(frame.clone()).expect("decodes");
        let Request::Produce(produce) = decoded else {
            panic!("not a produce request");
        };
        let records = &produce.topics[0].partitions[0].records;
        let start = records.as_ptr() as usize - frame.as_ptr() as usize;
        assert_eq!(
            start + records.len(),
            frame.len(),
            "records borrow the frame"
        );
    }
}
