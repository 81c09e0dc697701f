//! ListGroups: every consumer group the broker coordinates.
//!
//! ```text
//! request:  (empty)
//! response: error_code i16 | groups array<group_id string | state string>
//! ```

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::{ApiKey, Message};

/// Lists groups. Layout: empty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListGroupsRequest;

/// The groups.
///
/// ```text
/// error_code i16 | groups array<ListedGroup>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListGroupsResponse {
    /// Request-level error.
    pub error_code: ErrorCode,
    /// One entry per group.
    pub groups: Vec<ListedGroup>,
}

/// One group in a listing.
///
/// ```text
/// group_id string | state string
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    /// The group.
    pub group_id: String,
    /// e.g. `"Empty"`, `"Stable"`, `"Reconciling"`, `"Dead"`.
    pub state: String,
}

impl Wire for ListedGroup {
    const MIN_BYTES: usize = 2 + 2;

    fn encode(&self, _version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_string("group_id", &self.group_id)?;
        out.put_string("state", &self.state)
    }

    fn decode(r: &mut Reader, _version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            group_id: r.string("group_id")?,
            state: r.string("state")?,
        })
    }
}

super::empty_request!(ListGroupsRequest, ListGroups);

impl Message for ListGroupsResponse {
    const API_KEY: ApiKey = ApiKey::ListGroups;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        self.error_code.encode(version, out)?;
        out.put_array("groups", &self.groups, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            error_code: ErrorCode::decode(r, version)?,
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
        request_round_trip(ListGroupsRequest);
        response_round_trip(ListGroupsResponse {
            error_code: ErrorCode::None,
            groups: vec![ListedGroup {
                group_id: "billing".into(),
                state: "Stable".into(),
            }],
        });
    }
}
