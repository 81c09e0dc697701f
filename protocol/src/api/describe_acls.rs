//! DescribeAcls: the ACLs a filter selects. Needs Describe on the cluster.
//!
//! ```text
//! request:  filter AclFilter
//! response: error_code i16 | error_message nullable string | acls array<AclBinding>
//! ```

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::acls::{AclBinding, AclFilter};
use super::{ApiKey, Message};

/// Lists the ACLs `filter` selects.
///
/// ```text
/// filter AclFilter
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeAclsRequest {
    /// Which ACLs.
    pub filter: AclFilter,
}

/// The ACLs selected, or why none could be listed.
///
/// ```text
/// error_code i16 | error_message nullable string | acls array<AclBinding>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeAclsResponse {
    /// e.g. [`ErrorCode::ClusterAuthorizationFailed`].
    pub error_code: ErrorCode,
    /// What went wrong, for people.
    pub error_message: Option<String>,
    /// The ACLs, sorted.
    pub acls: Vec<AclBinding>,
}

impl Message for DescribeAclsRequest {
    const API_KEY: ApiKey = ApiKey::DescribeAcls;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        self.filter.encode(version, out)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            filter: AclFilter::decode(r, version)?,
        })
    }
}

impl Message for DescribeAclsResponse {
    const API_KEY: ApiKey = ApiKey::DescribeAcls;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        self.error_code.encode(version, out)?;
        out.put_nullable_string("error_message", self.error_message.as_deref())?;
        out.put_array("acls", &self.acls, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            error_code: ErrorCode::decode(r, version)?,
            error_message: r.nullable_string("error_message")?,
            acls: r.array("acls", version)?,
        })
    }
}
