//! FindCoordinator: which broker coordinates a consumer group.
//!
//! ```text
//! request:  key string | key_type i8
//! response: error_code i16 | node_id i32 | host string | port i32
//! ```

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::{ApiKey, Message};

/// `key_type`: the key is a consumer group id.
pub const KEY_TYPE_GROUP: i8 = 0;
/// `key_type`: the key is a transactional id (reserved).
pub const KEY_TYPE_TRANSACTION: i8 = 1;

/// Asks who coordinates `key`.
///
/// ```text
/// key string | key_type i8
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindCoordinatorRequest {
    /// The group id (or transactional id).
    pub key: String,
    /// [`KEY_TYPE_GROUP`] or [`KEY_TYPE_TRANSACTION`].
    pub key_type: i8,
}

/// The coordinator's address.
///
/// ```text
/// error_code i16 | node_id i32 | host string | port i32
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindCoordinatorResponse {
    /// e.g. [`ErrorCode::CoordinatorNotAvailable`].
    pub error_code: ErrorCode,
    /// The coordinator's node id.
    pub node_id: i32,
    /// Its host.
    pub host: String,
    /// Its port.
    pub port: i32,
}

impl Message for FindCoordinatorRequest {
    const API_KEY: ApiKey = ApiKey::FindCoordinator;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, _version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_string("key", &self.key)?;
        out.put_i8(self.key_type);
        Ok(())
    }

    fn decode_body(r: &mut Reader, _version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            key: r.string("key")?,
            key_type: r.i8("key_type")?,
        })
    }
}

impl Message for FindCoordinatorResponse {
    const API_KEY: ApiKey = ApiKey::FindCoordinator;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        self.error_code.encode(version, out)?;
        out.put_i32(self.node_id);
        out.put_string("host", &self.host)?;
        out.put_i32(self.port);
        Ok(())
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            error_code: ErrorCode::decode(r, version)?,
            node_id: r.i32("node_id")?,
            host: r.string("host")?,
            port: r.i32("port")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::testing::{request_round_trip, response_round_trip};

    #[test]
    fn round_trips() {
        request_round_trip(FindCoordinatorRequest {
            key: "billing".into(),
            key_type: KEY_TYPE_GROUP,
        });
        response_round_trip(FindCoordinatorResponse {
            error_code: ErrorCode::None,
            node_id: 1,
            host: "localhost".into(),
            port: 9092,
        });
    }
}
