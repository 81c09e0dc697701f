//! ListOffsets: find a partition's offset for a timestamp, or its earliest/latest offset.
//!
//! ```text
//! request:  isolation_level i8 | topics array<name string | partitions array<partition i32 | timestamp i64>>
//! response: topics array<name string | partitions array<partition i32 | error_code i16 | timestamp i64 | offset i64>>
//! ```

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::common::TopicPartitions;
use super::{ApiKey, Message};

/// `timestamp` asking for the log start offset.
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// `timestamp` asking for the high watermark (the offset the next record will get).
pub const LATEST_TIMESTAMP: i64 = -1;

/// Asks for offsets by timestamp.
///
/// ```text
/// isolation_level i8 | topics array<TopicPartitions<ListOffsetsPartition>>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsRequest {
    /// 0 = read uncommitted, 1 = read committed (see [`super::fetch`]).
    pub isolation_level: i8,
    /// Partitions to look up.
    pub topics: Vec<TopicPartitions<ListOffsetsPartition>>,
}

/// One partition lookup.
///
/// ```text
/// partition i32 | timestamp i64
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsPartition {
    /// The partition index.
    pub partition: i32,
    /// Milliseconds since the epoch, [`EARLIEST_TIMESTAMP`] or [`LATEST_TIMESTAMP`].
    pub timestamp: i64,
}

/// The offsets found.
///
/// ```text
/// topics array<TopicPartitions<ListOffsetsPartitionResponse>>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsResponse {
    /// Per topic and partition results.
    pub topics: Vec<TopicPartitions<ListOffsetsPartitionResponse>>,
}

/// One partition's answer.
///
/// ```text
/// partition i32 | error_code i16 | timestamp i64 | offset i64
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsPartitionResponse {
    /// The partition index.
    pub partition: i32,
    /// Partition-level error.
    pub error_code: ErrorCode,
    /// Timestamp of the record found, or -1.
    pub timestamp: i64,
    /// First offset whose timestamp is at or after the one asked, or -1 if none.
    pub offset: i64,
}

impl Wire for ListOffsetsPartition {
    const MIN_BYTES: usize = 4 + 8;

    fn encode(&self, _version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_i32(self.partition);
        out.put_i64(self.timestamp);
        Ok(())
    }

    fn decode(r: &mut Reader, _version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            partition: r.i32("partition")?,
            timestamp: r.i64("timestamp")?,
        })
    }
}

impl Wire for ListOffsetsPartitionResponse {
    const MIN_BYTES: usize = 4 + 2 + 8 + 8;

    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_i32(self.partition);
        self.error_code.encode(version, out)?;
        out.put_i64(self.timestamp);
        out.put_i64(self.offset);
        Ok(())
    }

    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            partition: r.i32("partition")?,
            error_code: ErrorCode::decode(r, version)?,
            timestamp: r.i64("timestamp")?,
            offset: r.i64("offset")?,
        })
    }
}

impl Message for ListOffsetsRequest {
    const API_KEY: ApiKey = ApiKey::ListOffsets;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_i8(self.isolation_level);
        out.put_array("topics", &self.topics, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            isolation_level: r.i8("isolation_level")?,
            topics: r.array("topics", version)?,
        })
    }
}

impl Message for ListOffsetsResponse {
    const API_KEY: ApiKey = ApiKey::ListOffsets;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_array("topics", &self.topics, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            topics: r.array("topics", version)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::testing::{request_round_trip, response_round_trip};

    #[test]
    fn round_trips() {
        request_round_trip(ListOffsetsRequest {
            isolation_level: 0,
            topics: vec![TopicPartitions {
                name: "orders".into(),
                partitions: vec![
                    ListOffsetsPartition {
                        partition: 0,
                        timestamp: EARLIEST_TIMESTAMP,
                    },
                    ListOffsetsPartition {
                        partition: 1,
                        timestamp: 1_700_000_000_000,
                    },
                ],
            }],
        });
        response_round_trip(ListOffsetsResponse {
            topics: vec![TopicPartitions {
                name: "orders".into(),
                partitions: vec![ListOffsetsPartitionResponse {
                    partition: 0,
                    error_code: ErrorCode::None,
                    timestamp: -1,
                    offset: 0,
                }],
            }],
        });
    }
}
