//! JoinGroup: a consumer joins a group and receives its first target assignment.
//!
//! Assignment is computed by the broker (KIP-848 style, cooperative): the member sends
//! its subscription, the coordinator answers with the member's epoch and target
//! partitions; later changes arrive through [`super::heartbeat`].
//!
//! ```text
//! request:  group_id string | member_id string | session_timeout_ms i32
//!           | rebalance_timeout_ms i32 | topics array<string> | assignor string (nullable)
//! response: error_code i16 | member_id string | member_epoch i32 | heartbeat_interval_ms i32
//!           | assignment array<TopicAssignment>
//! ```

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::common::TopicAssignment;
use super::{ApiKey, Message};

/// Assignor that gives each member contiguous partition ranges per topic.
pub const ASSIGNOR_RANGE: &str = "range";
/// Assignor that deals partitions to members in turn.
pub const ASSIGNOR_ROUND_ROBIN: &str = "round-robin";
/// Assignor that balances while moving as few partitions as possible.
pub const ASSIGNOR_STICKY: &str = "sticky";

/// Joins (or rejoins) a group.
///
/// ```text
/// group_id string | member_id string | session_timeout_ms i32 | rebalance_timeout_ms i32
/// | topics array<string> | assignor string (nullable)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupRequest {
    /// The group.
    pub group_id: String,
    /// Empty on the first join; the coordinator assigns one.
    pub member_id: String,
    /// The member is removed if no heartbeat arrives for this long.
    pub session_timeout_ms: i32,
    /// How long the member may take to revoke partitions during a rebalance.
    pub rebalance_timeout_ms: i32,
    /// The subscription: topics to consume.
    pub topics: Vec<String>,
    /// Preferred assignor ([`ASSIGNOR_RANGE`], ...); `None` = the group's default.
    pub assignor: Option<String>,
}

/// The member's identity and first target assignment.
///
/// ```text
/// error_code i16 | member_id string | member_epoch i32 | heartbeat_interval_ms i32
/// | assignment array<TopicAssignment>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupResponse {
    /// e.g. [`ErrorCode::NotCoordinator`], [`ErrorCode::InvalidSessionTimeout`].
    pub error_code: ErrorCode,
    /// The member's id, to send on every later request.
    pub member_id: String,
    /// The member's epoch (generation).
    pub member_epoch: i32,
    /// How often to heartbeat.
    pub heartbeat_interval_ms: i32,
    /// Target partitions per topic.
    pub assignment: Vec<TopicAssignment>,
}

impl Message for JoinGroupRequest {
    const API_KEY: ApiKey = ApiKey::JoinGroup;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_string("group_id", &self.group_id)?;
        out.put_string("member_id", &self.member_id)?;
        out.put_i32(self.session_timeout_ms);
        out.put_i32(self.rebalance_timeout_ms);
        out.put_array("topics", &self.topics, version)?;
        out.put_nullable_string("assignor", self.assignor.as_deref())
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            group_id: r.string("group_id")?,
            member_id: r.string("member_id")?,
            session_timeout_ms: r.i32("session_timeout_ms")?,
            rebalance_timeout_ms: r.i32("rebalance_timeout_ms")?,
            topics: r.array("topics", version)?,
            assignor: r.nullable_string("assignor")?,
        })
    }
}

impl Message for JoinGroupResponse {
    const API_KEY: ApiKey = ApiKey::JoinGroup;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        self.error_code.encode(version, out)?;
        out.put_string("member_id", &self.member_id)?;
        out.put_i32(self.member_epoch);
        out.put_i32(self.heartbeat_interval_ms);
        out.put_array("assignment", &self.assignment, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            error_code: ErrorCode::decode(r, version)?,
            member_id: r.string("member_id")?,
            member_epoch: r.i32("member_epoch")?,
            heartbeat_interval_ms: r.i32("heartbeat_interval_ms")?,
            assignment: r.array("assignment", version)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::testing::{request_round_trip, response_round_trip};

    #[test]
    fn round_trips() {
        request_round_trip(JoinGroupRequest {
            group_id: "billing".into(),
            member_id: String::new(),
            session_timeout_ms: 45_000,
            rebalance_timeout_ms: 60_000,
            topics: vec!["orders".into()],
            assignor: Some(ASSIGNOR_STICKY.into()),
        });
        response_round_trip(JoinGroupResponse {
            error_code: ErrorCode::None,
            member_id: "m-1".into(),
            member_epoch: 1,
            heartbeat_interval_ms: 3000,
            assignment: vec![TopicAssignment {
                name: "orders".into(),
                partitions: vec![0, 2],
            }],
        });
    }
}
