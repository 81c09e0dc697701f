//! ResetOffsets: move an inactive group's committed offsets (`rill group reset-offsets`).
//!
//! ```text
//! request:  group_id string | topics array<ResetTopic> | spec ResetSpec | dry_run bool
//! response: error_code i16 | topics array<name string | partitions array<ResetPartition>>
//! ResetSpec: kind i8 (0 earliest, 1 latest, 2 offset, 3 timestamp) | value i64
//! ```

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Invalid, Reader, Wire};

use super::common::TopicPartitions;
use super::list_offsets::{EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};
use super::{ApiKey, Message};

/// Resets a group's offsets.
///
/// ```text
/// group_id string | topics array<ResetTopic> | spec ResetSpec | dry_run bool
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetOffsetsRequest {
    /// The group (must have no active members).
    pub group_id: String,
    /// Which partitions to reset.
    pub topics: Vec<ResetTopic>,
    /// Where to move them.
    pub spec: ResetSpec,
    /// Compute and report the new offsets without committing them.
    pub dry_run: bool,
}

/// One topic to reset.
///
/// ```text
/// name string | partitions array<i32> (nullable: null = every partition)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetTopic {
    /// The topic.
    pub name: String,
    /// Partitions to reset; `None` = all of the topic's partitions.
    pub partitions: Option<Vec<i32>>,
}

/// Where a reset moves each partition's committed offset.
///
/// ```text
/// kind i8 | value i64   (value: -2 earliest, -1 latest, the offset, or the timestamp in ms)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetSpec {
    /// The partition's log start offset.
    Earliest,
    /// The partition's high watermark.
    Latest,
    /// This exact offset (clamped to the partition's range).
    Offset(i64),
    /// The first offset with a timestamp at or after this one (ms since the epoch).
    Timestamp(i64),
}

impl ResetSpec {
    /// The wire kind and value.
    fn to_wire(self) -> (i8, i64) {
        match self {
            ResetSpec::Earliest => (0, EARLIEST_TIMESTAMP),
            ResetSpec::Latest => (1, LATEST_TIMESTAMP),
            ResetSpec::Offset(offset) => (2, offset),
            ResetSpec::Timestamp(ms) => (3, ms),
        }
    }
}

impl Wire for ResetSpec {
    const MIN_BYTES: usize = 1 + 8;

    fn encode(&self, _version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        let (kind, value) = self.to_wire();
        out.put_i8(kind);
        out.put_i64(value);
        Ok(())
    }

    fn decode(r: &mut Reader, _version: u16) -> Result<Self, DecodeError> {
        let offset = r.offset();
        let kind = r.i8("reset kind")?;
        let value = r.i64("reset value")?;
        match kind {
            0 => Ok(ResetSpec::Earliest),
            1 => Ok(ResetSpec::Latest),
            2 => Ok(ResetSpec::Offset(value)),
            3 => Ok(ResetSpec::Timestamp(value)),
            other => Err(Reader::invalid(
                "reset kind",
                offset,
                Invalid::UnknownTag(other.into()),
            )),
        }
    }
}

/// The new offsets.
///
/// ```text
/// error_code i16 | topics array<TopicPartitions<ResetPartition>>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetOffsetsResponse {
    /// Group-level error, e.g. [`ErrorCode::NonEmptyGroup`] while members are active.
    pub error_code: ErrorCode,
    /// Per topic and partition results.
    pub topics: Vec<TopicPartitions<ResetPartition>>,
}

/// One partition's new offset.
///
/// ```text
/// partition i32 | error_code i16 | offset i64
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetPartition {
    /// The partition index.
    pub partition: i32,
    /// Partition-level error.
    pub error_code: ErrorCode,
    /// The offset committed (or that would be, on a dry run).
    pub offset: i64,
}

impl Wire for ResetTopic {
    const MIN_BYTES: usize = 2 + 4;

    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_string("topic name", &self.name)?;
        out.put_nullable_array("partitions", self.partitions.as_deref(), version)
    }

    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            name: r.string("topic name")?,
            partitions: r.nullable_array("partitions", version)?,
        })
    }
}

impl Wire for ResetPartition {
    const MIN_BYTES: usize = 4 + 2 + 8;

    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_i32(self.partition);
        self.error_code.encode(version, out)?;
        out.put_i64(self.offset);
        Ok(())
    }

    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            partition: r.i32("partition")?,
            error_code: ErrorCode::decode(r, version)?,
            offset: r.i64("offset")?,
        })
    }
}

impl Message for ResetOffsetsRequest {
    const API_KEY: ApiKey = ApiKey::ResetOffsets;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_string("group_id", &self.group_id)?;
        out.put_array("topics", &self.topics, version)?;
        self.spec.encode(version, out)?;
        out.put_bool(self.dry_run);
        Ok(())
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            group_id: r.string("group_id")?,
            topics: r.array("topics", version)?,
            spec: ResetSpec::decode(r, version)?,
            dry_run: r.bool("dry_run")?,
        })
    }
}

impl Message for ResetOffsetsResponse {
    const API_KEY: ApiKey = ApiKey::ResetOffsets;
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
    use bytes::Bytes;

    #[test]
    fn round_trips() {
        for spec in [
            ResetSpec::Earliest,
            ResetSpec::Latest,
            ResetSpec::Offset(5),
            ResetSpec::Timestamp(1_700_000_000_000),
        ] {
            request_round_trip(ResetOffsetsRequest {
                group_id: "billing".into(),
                topics: vec![
                    ResetTopic {
                        name: "orders".into(),
                        partitions: None,
                    },
                    ResetTopic {
                        name: "payments".into(),
                        partitions: Some(vec![0, 3]),
                    },
                ],
                spec,
                dry_run: true,
            });
        }
        response_round_trip(ResetOffsetsResponse {
            error_code: ErrorCode::None,
            topics: vec![TopicPartitions {
                name: "orders".into(),
                partitions: vec![ResetPartition {
                    partition: 0,
                    error_code: ErrorCode::None,
                    offset: 0,
                }],
            }],
        });
    }

    #[test]
    fn unknown_reset_kind_is_invalid() {
        let mut r = Reader::new(Bytes::from_static(&[9, 0, 0, 0, 0, 0, 0, 0, 0]));
        assert_eq!(
            ResetSpec::decode(&mut r, 0),
            Err(DecodeError::Invalid {
                field: "reset kind",
                offset: 0,
                reason: Invalid::UnknownTag(9)
            })
        );
    }
}
