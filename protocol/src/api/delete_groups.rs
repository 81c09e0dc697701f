//! DeleteGroups: remove empty groups and their committed offsets.
//!
//! ```text
//! request:  group_ids array<string>
//! response: results array<group_id string | error_code i16>
//! ```

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::{ApiKey, Message};

/// Deletes groups.
///
/// ```text
/// group_ids array<string>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteGroupsRequest {
    /// The groups to delete.
    pub group_ids: Vec<String>,
}

/// One result per group.
///
/// ```text
/// results array<DeleteGroupResult>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteGroupsResponse {
    /// Per-group outcome.
    pub results: Vec<DeleteGroupResult>,
}

/// One group's deletion outcome.
///
/// ```text
/// group_id string | error_code i16
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteGroupResult {
    /// The group.
    pub group_id: String,
    /// e.g. [`ErrorCode::NonEmptyGroup`], [`ErrorCode::GroupIdNotFound`].
    pub error_code: ErrorCode,
}

impl Wire for DeleteGroupResult {
    const MIN_BYTES: usize = 2 + 2;

    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_string("group_id", &self.group_id)?;
        self.error_code.encode(version, out)
    }

    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            group_id: r.string("group_id")?,
            error_code: ErrorCode::decode(r, version)?,
        })
    }
}

impl Message for DeleteGroupsRequest {
    const API_KEY: ApiKey = ApiKey::DeleteGroups;
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

impl Message for DeleteGroupsResponse {
    const API_KEY: ApiKey = ApiKey::DeleteGroups;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_array("results", &self.results, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            results: r.array("results", version)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::testing::{request_round_trip, response_round_trip};

    #[test]
    fn round_trips() {
        request_round_trip(DeleteGroupsRequest {
            group_ids: vec!["billing".into(), "old".into()],
        });
        response_round_trip(DeleteGroupsResponse {
            results: vec![DeleteGroupResult {
                group_id: "billing".into(),
                error_code: ErrorCode::NonEmptyGroup,
            }],
        });
    }
}
