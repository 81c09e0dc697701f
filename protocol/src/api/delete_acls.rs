//! DeleteAcls: remove every ACL each filter selects. Needs Alter on the cluster.
//!
//! ```text
//! request:  filters array<AclFilter>
//! response: results array<error_code i16 | error_message nullable string | deleted array<AclBinding>>
//! ```

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::acls::{AclBinding, AclFilter};
use super::{ApiKey, Message};

/// Removes ACLs.
///
/// ```text
/// filters array<AclFilter>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteAclsRequest {
    /// Each selects ACLs to remove.
    pub filters: Vec<AclFilter>,
}

/// One result per filter, in request order.
///
/// ```text
/// results array<DeleteAclsResult>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteAclsResponse {
    /// Per-filter outcome.
    pub results: Vec<DeleteAclsResult>,
}

/// What one filter removed.
///
/// ```text
/// error_code i16 | error_message nullable string | deleted array<AclBinding>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteAclsResult {
    /// e.g. [`ErrorCode::ClusterAuthorizationFailed`].
    pub error_code: ErrorCode,
    /// What went wrong, for people.
    pub error_message: Option<String>,
    /// The ACLs removed.
    pub deleted: Vec<AclBinding>,
}

impl Wire for DeleteAclsResult {
    const MIN_BYTES: usize = 2 + 2 + 4;

    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        self.error_code.encode(version, out)?;
        out.put_nullable_string("error_message", self.error_message.as_deref())?;
        out.put_array("deleted", &self.deleted, version)
    }

    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            error_code: ErrorCode::decode(r, version)?,
            error_message: r.nullable_string("error_message")?,
            deleted: r.array("deleted", version)?,
        })
    }
}

impl Message for DeleteAclsRequest {
    const API_KEY: ApiKey = ApiKey::DeleteAcls;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_array("filters", &self.filters, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            filters: r.array("filters", version)?,
        })
    }
}

impl Message for DeleteAclsResponse {
    const API_KEY: ApiKey = ApiKey::DeleteAcls;
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
