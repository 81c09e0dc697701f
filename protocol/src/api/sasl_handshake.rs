//! SaslHandshake: the client names the SASL mechanism it will use; the broker answers
//! with the mechanisms it enables (Kafka's API 17, v1 semantics: the tokens then travel
//! in SaslAuthenticate requests).
//!
//! ```text
//! request:  mechanism string
//! response: error_code i16 | mechanisms array<string>
//! ```

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::{ApiKey, Message};

/// Which mechanism the client wants.
///
/// ```text
/// mechanism string
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslHandshakeRequest {
    /// e.g. `SCRAM-SHA-256`.
    pub mechanism: String,
}

/// The broker's answer: [`ErrorCode::UnsupportedSaslMechanism`] when the mechanism is
/// not enabled, [`ErrorCode::IllegalSaslState`] when the connection already
/// authenticated.
///
/// ```text
/// error_code i16 | mechanisms array<string>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslHandshakeResponse {
    /// The outcome.
    pub error_code: ErrorCode,
    /// Every mechanism the broker enables.
    pub mechanisms: Vec<String>,
}

impl Message for SaslHandshakeRequest {
    const API_KEY: ApiKey = ApiKey::SaslHandshake;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, _version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_string("mechanism", &self.mechanism)
    }

    fn decode_body(r: &mut Reader, _version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            mechanism: r.string("mechanism")?,
        })
    }
}

impl Message for SaslHandshakeResponse {
    const API_KEY: ApiKey = ApiKey::SaslHandshake;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        self.error_code.encode(version, out)?;
        out.put_array("mechanisms", &self.mechanisms, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            error_code: ErrorCode::decode(r, version)?,
            mechanisms: r.array("mechanisms", version)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::testing::{request_round_trip, response_round_trip};

    #[test]
    fn round_trips() {
        request_round_trip(SaslHandshakeRequest {
            mechanism: "SCRAM-SHA-512".into(),
        });
        response_round_trip(SaslHandshakeResponse {
            error_code: ErrorCode::UnsupportedSaslMechanism,
            mechanisms: vec!["PLAIN".into()],
        });
    }
}
