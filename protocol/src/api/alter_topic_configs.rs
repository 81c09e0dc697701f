//! AlterTopicConfigs: change one topic's settings (`rill topic alter`).
//!
//! ```text
//! request:  topic string | configs array<ConfigEntry>
//! response: error_code i16 | error_message string (nullable)
//! ```

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::common::ConfigEntry;
use super::{ApiKey, Message};

/// Sets (or, with a null value, resets to the default) settings of one topic.
///
/// ```text
/// topic string | configs array<ConfigEntry>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterTopicConfigsRequest {
    /// The topic.
    pub topic: String,
    /// Settings to change; the others keep their values.
    pub configs: Vec<ConfigEntry>,
}

/// Whether the change was applied (all or nothing).
///
/// ```text
/// error_code i16 | error_message string (nullable)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterTopicConfigsResponse {
    /// e.g. [`ErrorCode::InvalidConfig`].
    pub error_code: ErrorCode,
    /// Detail for the operator, e.g. which key was rejected.
    pub error_message: Option<String>,
}

impl Message for AlterTopicConfigsRequest {
    const API_KEY: ApiKey = ApiKey::AlterTopicConfigs;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_string("topic", &self.topic)?;
        out.put_array("configs", &self.configs, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            topic: r.string("topic")?,
            configs: r.array("configs", version)?,
        })
    }
}

impl Message for AlterTopicConfigsResponse {
    const API_KEY: ApiKey = ApiKey::AlterTopicConfigs;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        self.error_code.encode(version, out)?;
        out.put_nullable_string("error_message", self.error_message.as_deref())
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            error_code: ErrorCode::decode(r, version)?,
            error_message: r.nullable_string("error_message")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::testing::{request_round_trip, response_round_trip};

    #[test]
    fn round_trips() {
        request_round_trip(AlterTopicConfigsRequest {
            topic: "orders".into(),
            configs: vec![
                ConfigEntry::new("retention_bytes", "1073741824"),
                ConfigEntry {
                    key: "flush".into(),
                    value: None,
                },
            ],
        });
        response_round_trip(AlterTopicConfigsResponse {
            error_code: ErrorCode::InvalidConfig,
            error_message: Some("unknown key flsh".into()),
        });
    }
}
