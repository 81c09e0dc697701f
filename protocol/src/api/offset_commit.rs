//! OffsetCommit: store a group's consumed positions.
//!
//! ```text
//! request:  group_id string | member_id string | member_epoch i32
//!           | topics array<name string | partitions array<OffsetCommitPartition>>
//! response: topics array<name string | partitions array<partition i32 | error_code i16>>
//! ```

use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::common::{PartitionResult, TopicPartitions};
use super::{ApiKey, Message};

/// `member_epoch` for a commit outside group membership (admin tools, manual assignment).
pub const SIMPLE_COMMIT_EPOCH: i32 = -1;

/// Commits offsets for a group.
///
/// ```text
/// group_id string | member_id string | member_epoch i32
/// | topics array<TopicPartitions<OffsetCommitPartition>>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitRequest {
    /// The group.
    pub group_id: String,
    /// The committing member (empty for a simple commit).
    pub member_id: String,
    /// The member's epoch, or [`SIMPLE_COMMIT_EPOCH`].
    pub member_epoch: i32,
    /// Offsets per topic and partition.
    pub topics: Vec<TopicPartitions<OffsetCommitPartition>>,
}

/// One partition's committed position.
///
/// ```text
/// partition i32 | offset i64 | metadata string (nullable)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitPartition {
    /// The partition index.
    pub partition: i32,
    /// The next offset the group will read.
    pub offset: i64,
    /// Free-form client data stored with the offset.
    pub metadata: Option<String>,
}

/// Per-partition commit results.
///
/// ```text
/// topics array<TopicPartitions<PartitionResult>>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitResponse {
    /// e.g. [`crate::error_code::ErrorCode::FencedMemberEpoch`] per partition.
    pub topics: Vec<TopicPartitions<PartitionResult>>,
}

impl Wire for OffsetCommitPartition {
    const MIN_BYTES: usize = 4 + 8 + 2;

    fn encode(&self, _version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_i32(self.partition);
        out.put_i64(self.offset);
        out.put_nullable_string("metadata", self.metadata.as_deref())
    }

    fn decode(r: &mut Reader, _version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            partition: r.i32("partition")?,
            offset: r.i64("offset")?,
            metadata: r.nullable_string("metadata")?,
        })
    }
}

impl Message for OffsetCommitRequest {
    const API_KEY: ApiKey = ApiKey::OffsetCommit;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_string("group_id", &self.group_id)?;
        out.put_string("member_id", &self.member_id)?;
        out.put_i32(self.member_epoch);
        out.put_array("topics", &self.topics, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            group_id: r.string("group_id")?,
            member_id: r.string("member_id")?,
            member_epoch: r.i32("member_epoch")?,
            topics: r.array("topics", version)?,
        })
    }
}

impl Message for OffsetCommitResponse {
    const API_KEY: ApiKey = ApiKey::OffsetCommit;
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
    use crate::error_code::ErrorCode;

    #[test]
    fn round_trips() {
        request_round_trip(OffsetCommitRequest {
            group_id: "billing".into(),
            member_id: String::new(),
            member_epoch: SIMPLE_COMMIT_EPOCH,
            topics: vec![TopicPartitions {
                name: "orders".into(),
                partitions: vec![OffsetCommitPartition {
                    partition: 0,
                    offset: 1234,
                    metadata: Some("host-a".into()),
                }],
            }],
        });
        response_round_trip(OffsetCommitResponse {
            topics: vec![TopicPartitions {
                name: "orders".into(),
                partitions: vec![PartitionResult {
                    partition: 0,
                    error_code: ErrorCode::None,
                }],
            }],
        });
    }
}
