//! LeaveGroup: a member leaves its group so its partitions move at once.
//!
//! ```text
//! request:  group_id string | member_id string
//! response: error_code i16
//! ```

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::{ApiKey, Message};

/// Leaves a group.
///
/// ```text
/// group_id string | member_id string
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroupRequest {
    /// The group.
    pub group_id: String,
    /// The leaving member.
    pub member_id: String,
}

/// Whether the member was removed.
///
/// ```text
/// error_code i16
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroupResponse {
    /// e.g. [`ErrorCode::UnknownMemberId`].
    pub error_code: ErrorCode,
}

impl Message for LeaveGroupRequest {
    const API_KEY: ApiKey = ApiKey::LeaveGroup;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, _version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_string("group_id", &self.group_id)?;
        out.put_string("member_id", &self.member_id)
    }

    fn decode_body(r: &mut Reader, _version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            group_id: r.string("group_id")?,
            member_id: r.string("member_id")?,
        })
    }
}

impl Message for LeaveGroupResponse {
    const API_KEY: ApiKey = ApiKey::LeaveGroup;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        self.error_code.encode(version, out)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            error_code: ErrorCode::decode(r, version)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::testing::{request_round_trip, response_round_trip};

    #[test]
    fn round_trips() {
        request_round_trip(LeaveGroupRequest {
            group_id: "billing".into(),
            member_id: "m-1".into(),
        });
        response_round_trip(LeaveGroupResponse {
            error_code: ErrorCode::UnknownMemberId,
        });
    }
}
