//! OffsetFetch: read a group's committed positions.
//!
//! ```text
//! request:  group_id string | topics array<TopicAssignment> (nullable: null = all)
//! response: error_code i16 | topics array<name string | partitions array<OffsetFetchPartition>>
//! ```

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::common::{TopicAssignment, TopicPartitions};
use super::{ApiKey, Message};

/// `offset` when the group has no committed offset for the partition.
pub const NO_COMMITTED_OFFSET: i64 = -1;

/// Asks for committed offsets.
///
/// ```text
/// group_id string | topics array<TopicAssignment> (nullable)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchRequest {
    /// The group.
    pub group_id: String,
    /// Partitions to look up; `None` = every partition the group has committed.
    pub topics: Option<Vec<TopicAssignment>>,
}

/// The committed offsets.
///
/// ```text
/// error_code i16 | topics array<TopicPartitions<OffsetFetchPartition>>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchResponse {
    /// Group-level error, e.g. [`ErrorCode::NotCoordinator`].
    pub error_code: ErrorCode,
    /// Per topic and partition offsets.
    pub topics: Vec<TopicPartitions<OffsetFetchPartition>>,
}

/// One partition's committed offset.
///
/// ```text
/// partition i32 | offset i64 | metadata string (nullable) | error_code i16
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchPartition {
    /// The partition index.
    pub partition: i32,
    /// The committed offset, or [`NO_COMMITTED_OFFSET`].
    pub offset: i64,
    /// The metadata stored with it.
    pub metadata: Option<String>,
    /// Partition-level error.
    pub error_code: ErrorCode,
}

impl Wire for OffsetFetchPartition {
    const MIN_BYTES: usize = 4 + 8 + 2 + 2;

    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_i32(self.partition);
        out.put_i64(self.offset);
        out.put_nullable_string("metadata", self.metadata.as_deref())?;
        self.error_code.encode(version, out)
    }

    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            partition: r.i32("partition")?,
            offset: r.i64("offset")?,
            metadata: r.nullable_string("metadata")?,
            error_code: ErrorCode::decode(r, version)?,
        })
    }
}

impl Message for OffsetFetchRequest {
    const API_KEY: ApiKey = ApiKey::OffsetFetch;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_string("group_id", &self.group_id)?;
        out.put_nullable_array("topics", self.topics.as_deref(), version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            group_id: r.string("group_id")?,
            topics: r.nullable_array("topics", version)?,
        })
    }
}

impl Message for OffsetFetchResponse {
    const API_KEY: ApiKey = ApiKey::OffsetFetch;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        self.error_code.encode(version, out)?;
        out.put_array("topics", &self.topics, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            error_code: ErrorCode::decode(r, version)?,
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
        request_round_trip(OffsetFetchRequest {
            group_id: "billing".into(),
            topics: None,
        });
        request_round_trip(OffsetFetchRequest {
            group_id: "billing".into(),
            topics: Some(vec![TopicAssignment {
                name: "orders".into(),
                partitions: vec![0, 1],
            }]),
        });
        response_round_trip(OffsetFetchResponse {
            error_code: ErrorCode::None,
            topics: vec![TopicPartitions {
                name: "orders".into(),
                partitions: vec![OffsetFetchPartition {
                    partition: 1,
                    offset: NO_COMMITTED_OFFSET,
                    metadata: None,
                    error_code: ErrorCode::None,
                }],
            }],
        });
    }
}
