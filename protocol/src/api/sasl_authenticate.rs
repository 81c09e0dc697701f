//! SaslAuthenticate: one round of a SASL exchange (Kafka's API 36). SCRAM takes two
//! rounds (client-first, client-final), PLAIN one. A failed round ends the exchange:
//! the broker answers [`ErrorCode::SaslAuthenticationFailed`] and closes the connection.
//!
//! ```text
//! request:  auth_bytes bytes
//! response: error_code i16 | error_message string (nullable) | auth_bytes bytes
//!           | session_lifetime_ms i64
//! ```

use bytes::Bytes;

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::{ApiKey, Message};

/// The client's token for this round.
///
/// ```text
/// auth_bytes bytes
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslAuthenticateRequest {
    /// The mechanism's message (e.g. SCRAM's client-first).
    pub auth_bytes: Bytes,
}

/// The broker's token for this round, or why the exchange failed.
///
/// ```text
/// error_code i16 | error_message string (nullable) | auth_bytes bytes | session_lifetime_ms i64
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslAuthenticateResponse {
    /// The outcome.
    pub error_code: ErrorCode,
    /// What failed, for the user (never a secret).
    pub error_message: Option<String>,
    /// The mechanism's answer (e.g. SCRAM's server-first).
    pub auth_bytes: Bytes,
    /// How long the authentication holds; 0 = for the connection's lifetime.
    pub session_lifetime_ms: i64,
}

impl Message for SaslAuthenticateRequest {
    const API_KEY: ApiKey = ApiKey::SaslAuthenticate;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, _version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_bytes("auth_bytes", &self.auth_bytes)
    }

    fn decode_body(r: &mut Reader, _version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            auth_bytes: r.bytes("auth_bytes")?,
        })
    }
}

impl Message for SaslAuthenticateResponse {
    const API_KEY: ApiKey = ApiKey::SaslAuthenticate;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        self.error_code.encode(version, out)?;
        out.put_nullable_string("error_message", self.error_message.as_deref())?;
        out.put_bytes("auth_bytes", &self.auth_bytes)?;
        out.put_i64(self.session_lifetime_ms);
        Ok(())
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            error_code: ErrorCode::decode(r, version)?,
            error_message: r.nullable_string("error_message")?,
            auth_bytes: r.bytes("auth_bytes")?,
            session_lifetime_ms: r.i64("session_lifetime_ms")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::testing::{request_round_trip, response_round_trip};

    #[test]
    fn round_trips() {
        request_round_trip(SaslAuthenticateRequest {
            auth_bytes: Bytes::from_static(b"n,,n=alice,r=abc"),
        });
        response_round_trip(SaslAuthenticateResponse {
            error_code: ErrorCode::SaslAuthenticationFailed,
            error_message: Some("authentication failed".into()),
            auth_bytes: Bytes::new(),
            session_lifetime_ms: 0,
        });
    }
}
