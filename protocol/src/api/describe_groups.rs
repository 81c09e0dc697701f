//! DescribeGroups: a group's state, members, assignments and per-partition lag
//! (`rill group describe`).
//!
//! ```text
//! request:  group_ids array<string>
//! response: groups array<DescribedGroup>
//! ```

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::common::TopicAssignment;
use super::{ApiKey, Message};

/// Describes groups.
///
/// ```text
/// group_ids array<string>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeGroupsRequest {
    /// The groups to describe.
    pub group_ids: Vec<String>,
}

/// One description per requested group.
///
/// ```text
/// groups array<DescribedGroup>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeGroupsResponse {
    /// The groups.
    pub groups: Vec<DescribedGroup>,
}

/// One group's description.
///
/// ```text
/// error_code i16 | group_id string | state string | assignor string | epoch i32
/// | members array<GroupMember> | offsets array<GroupOffset>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedGroup {
    /// e.g. [`ErrorCode::GroupIdNotFound`].
    pub error_code: ErrorCode,
    /// The group.
    pub group_id: String,
    /// e.g. `"Empty"`, `"Stable"`, `"Reconciling"`.
    pub state: String,
    /// The assignor in use.
    pub assignor: String,
    /// The group epoch (generation).
    pub epoch: i32,
    /// Current members.
    pub members: Vec<GroupMember>,
    /// Committed offsets and lag per partition.
    pub offsets: Vec<GroupOffset>,
}

/// One member of a group.
///
/// ```text
/// member_id string | client_id string (nullable) | client_host string
/// | assignment array<TopicAssignment>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// The member's id.
    pub member_id: String,
    /// The client id from the member's request header.
    pub client_id: Option<String>,
    /// The member's address as the broker sees it.
    pub client_host: String,
    /// Partitions the member is assigned.
    pub assignment: Vec<TopicAssignment>,
}

/// One partition's committed offset and lag.
///
/// ```text
/// topic string | partition i32 | committed_offset i64 | high_watermark i64 | lag i64
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOffset {
    /// The topic.
    pub topic: String,
    /// The partition index.
    pub partition: i32,
    /// The group's committed offset (-1 if none).
    pub committed_offset: i64,
    /// The partition's high watermark.
    pub high_watermark: i64,
    /// `high_watermark - committed_offset` (records not yet consumed).
    pub lag: i64,
}

impl Wire for DescribedGroup {
    const MIN_BYTES: usize = 2 + 2 + 2 + 2 + 4 + 4 + 4;

    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        self.error_code.encode(version, out)?;
        out.put_string("group_id", &self.group_id)?;
        out.put_string("state", &self.state)?;
        out.put_string("assignor", &self.assignor)?;
        out.put_i32(self.epoch);
        out.put_array("members", &self.members, version)?;
        out.put_array("offsets", &self.offsets, version)
    }

    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            error_code: ErrorCode::decode(r, version)?,
            group_id: r.string("group_id")?,
            state: r.string("state")?,
            assignor: r.string("assignor")?,
            epoch: r.i32("epoch")?,
            members: r.array("members", version)?,
            offsets: r.array("offsets", version)?,
        })
    }
}

impl Wire for GroupMember {
    const MIN_BYTES: usize = 2 + 2 + 2 + 4;

    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_string("member_id", &self.member_id)?;
        out.put_nullable_string("client_id", self.client_id.as_deref())?;
        out.put_string("client_host", &self.client_host)?;
        out.put_array("assignment", &self.assignment, version)
    }

    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            member_id: r.string("member_id")?,
            client_id: r.nullable_string("client_id")?,
            client_host: r.string("client_host")?,
            assignment: r.array("assignment", version)?,
        })
    }
}

impl Wire for GroupOffset {
    const MIN_BYTES: usize = 2 + 4 + 8 + 8 + 8;

    fn encode(&self, _version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_string("topic", &self.topic)?;
        out.put_i32(self.partition);
        out.put_i64(self.committed_offset);
        out.put_i64(self.high_watermark);
        out.put_i64(self.lag);
        Ok(())
    }

    fn decode(r: &mut Reader, _version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            topic: r.string("topic")?,
            partition: r.i32("partition")?,
            committed_offset: r.i64("committed_offset")?,
            high_watermark: r.i64("high_watermark")?,
            lag: r.i64("lag")?,
        })
    }
}

impl Message for DescribeGroupsRequest {
    const API_KEY: ApiKey = ApiKey::DescribeGroups;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_array("group_ids", &self.group_ids, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            group_ids: r.array("group_ids", version)?,
        })
    }
}

impl Message for DescribeGroupsResponse {
    const API_KEY: ApiKey = ApiKey::DescribeGroups;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_array("groups", &self.groups, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            groups: r.array("groups", version)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::testing::{request_round_trip, response_round_trip};

    #[test]
    fn round_trips() {
        request_round_trip(DescribeGroupsRequest {
            group_ids: vec!["billing".into()],
        });
        response_round_trip(DescribeGroupsResponse {
            groups: vec![DescribedGroup {
                error_code: ErrorCode::None,
                group_id: "billing".into(),
                state: "Stable".into(),
                assignor: "sticky".into(),
                epoch: 7,
                members: vec![GroupMember {
                    member_id: "m-1".into(),
                    client_id: Some("rill-cli".into()),
                    client_host: "127.0.0.1".into(),
                    assignment: vec![TopicAssignment {
                        name: "orders".into(),
                        partitions: vec![0, 1, 2],
                    }],
                }],
                offsets: vec![GroupOffset {
                    topic: "orders".into(),
                    partition: 0,
                    committed_offset: 90,
                    high_watermark: 100,
                    lag: 10,
                }],
            }],
        });
    }
}
