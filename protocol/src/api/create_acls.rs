//! CreateAcls: add ACLs. Needs Alter on the cluster. Adding one that exists is a success.
//!
//! ```text
//! request:  creations array<AclBinding>
//! response: results array<error_code i16 | error_message nullable string>   (one per creation, in order)
//! ```

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::acls::AclBinding;
use super::{ApiKey, Message};

/// Adds ACLs.
///
/// ```text
/// creations array<AclBinding>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateAclsRequest {
    /// The ACLs to add.
    pub creations: Vec<AclBinding>,
}

/// One result per creation, in request order.
///
/// ```text
/// results array<AclResult>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateAclsResponse {
    /// Per-creation outcome.
    pub results: Vec<AclResult>,
}

/// The outcome of one ACL change.
///
/// ```text
/// error_code i16 | error_message nullable string
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclResult {
    /// e.g. [`ErrorCode::InvalidRequest`] for a malformed binding.
    pub error_code: ErrorCode,
    /// What went wrong, for people.
    pub error_message: Option<String>,
}

impl Wire for AclResult {
    const MIN_BYTES: usize = 2 + 2;

    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        self.error_code.encode(version, out)?;
        out.put_nullable_string("error_message", self.error_message.as_deref())
    }

    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            error_code: ErrorCode::decode(r, version)?,
            error_message: r.nullable_string("error_message")?,
        })
    }
}

impl Message for CreateAclsRequest {
    const API_KEY: ApiKey = ApiKey::CreateAcls;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_array("creations", &self.creations, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            creations: r.array("creations", version)?,
        })
    }
}

impl Message for CreateAclsResponse {
    const API_KEY: ApiKey = ApiKey::CreateAcls;
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
