//! Heartbeat: keeps a member alive and carries the cooperative rebalance protocol.
//!
//! The member reports what it owns (after finishing any revocation) and, if it changed,
//! its new subscription; the coordinator answers with the member's epoch and, when it
//! changed, the member's new target assignment. A member gives up partitions that are no
//! longer in its target before it may be given partitions another member is releasing.
//!
//! ```text
//! request:  group_id string | member_id string | member_epoch i32
//!           | topics array<string> (nullable) | owned array<TopicAssignment>
//! response: error_code i16 | member_epoch i32 | heartbeat_interval_ms i32
//!           | assignment array<TopicAssignment> (nullable)
//! ```

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::common::TopicAssignment;
use super::{ApiKey, Message};

/// A member's periodic check-in.
///
/// ```text
/// group_id string | member_id string | member_epoch i32 | topics array<string> (nullable)
/// | owned array<TopicAssignment>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatRequest {
    /// The group.
    pub group_id: String,
    /// The member's id from JoinGroup.
    pub member_id: String,
    /// The member's current epoch.
    pub member_epoch: i32,
    /// `Some` when the subscription changed since the last request.
    pub topics: Option<Vec<String>>,
    /// Partitions the member owns now (revocations finished).
    pub owned: Vec<TopicAssignment>,
}

/// The coordinator's answer.
///
/// ```text
/// error_code i16 | member_epoch i32 | heartbeat_interval_ms i32
/// | assignment array<TopicAssignment> (nullable)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatResponse {
    /// e.g. [`ErrorCode::FencedMemberEpoch`], [`ErrorCode::UnknownMemberId`].
    pub error_code: ErrorCode,
    /// The member's (possibly bumped) epoch.
    pub member_epoch: i32,
    /// How often to heartbeat.
    pub heartbeat_interval_ms: i32,
    /// The member's new target assignment, when it changed.
    pub assignment: Option<Vec<TopicAssignment>>,
}

impl Message for HeartbeatRequest {
    const API_KEY: ApiKey = ApiKey::Heartbeat;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_string("group_id", &self.group_id)?;
        out.put_string("member_id", &self.member_id)?;
        out.put_i32(self.member_epoch);
        out.put_nullable_array("topics", self.topics.as_deref(), version)?;
        out.put_array("owned", &self.owned, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            group_id: r.string("group_id")?,
            member_id: r.string("member_id")?,
            member_epoch: r.i32("member_epoch")?,
            topics: r.nullable_array("topics", version)?,
            owned: r.array("owned", version)?,
        })
    }
}

impl Message for HeartbeatResponse {
    const API_KEY: ApiKey = ApiKey::Heartbeat;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        self.error_code.encode(version, out)?;
        out.put_i32(self.member_epoch);
        out.put_i32(self.heartbeat_interval_ms);
        out.put_nullable_array("assignment", self.assignment.as_deref(), version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            error_code: ErrorCode::decode(r, version)?,
            member_epoch: r.i32("member_epoch")?,
            heartbeat_interval_ms: r.i32("heartbeat_interval_ms")?,
            assignment: r.nullable_array("assignment", version)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::testing::{request_round_trip, response_round_trip};

    #[test]
    fn round_trips() {
        let owned = vec![TopicAssignment {
            name: "orders".into(),
            partitions: vec![1],
        }];
        request_round_trip(HeartbeatRequest {
            group_id: "billing".into(),
            member_id: "m-1".into(),
            member_epoch: 3,
            topics: None,
            owned: owned.clone(),
        });
        response_round_trip(HeartbeatResponse {
            error_code: ErrorCode::None,
            member_epoch: 4,
            heartbeat_interval_ms: 3000,
            assignment: Some(owned),
        });
        response_round_trip(HeartbeatResponse {
            error_code: ErrorCode::RebalanceInProgress,
            member_epoch: 4,
            heartbeat_interval_ms: 3000,
            assignment: None,
        });
    }
}
