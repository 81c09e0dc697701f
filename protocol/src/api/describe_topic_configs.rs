//! DescribeTopicConfigs: the effective settings of topics (`rill topic describe`).
//!
//! ```text
//! request:  topics array<string>
//! response: topics array<TopicConfigs>
//! ```

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::common::ConfigEntry;
use super::{ApiKey, Message};

/// Asks for the settings of topics.
///
/// ```text
/// topics array<string>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeTopicConfigsRequest {
    /// The topics to describe.
    pub topics: Vec<String>,
}

/// The settings of each requested topic.
///
/// ```text
/// topics array<TopicConfigs>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeTopicConfigsResponse {
    /// One entry per requested topic.
    pub topics: Vec<TopicConfigs>,
}

/// One topic's effective settings.
///
/// ```text
/// name string | error_code i16 | configs array<ConfigEntry>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfigs {
    /// The topic.
    pub name: String,
    /// e.g. [`ErrorCode::UnknownTopicOrPartition`].
    pub error_code: ErrorCode,
    /// Every setting with its effective value.
    pub configs: Vec<ConfigEntry>,
}

impl Wire for TopicConfigs {
    const MIN_BYTES: usize = 2 + 2 + 4;

    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_string("topic name", &self.name)?;
        self.error_code.encode(version, out)?;
        out.put_array("configs", &self.configs, version)
    }

    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            name: r.string("topic name")?,
            error_code: ErrorCode::decode(r, version)?,
            configs: r.array("configs", version)?,
        })
    }
}

impl Message for DescribeTopicConfigsRequest {
    const API_KEY: ApiKey = ApiKey::DescribeTopicConfigs;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_array("topics", &self.topics, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            topics: r.array("topics", version)?,
        })
    }
}

impl Message for DescribeTopicConfigsResponse {
    const API_KEY: ApiKey = ApiKey::DescribeTopicConfigs;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_array("topics", &self.topics, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            topics: r.array("topics", version)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::testing::{request_round_trip, response_round_trip};

    #[test]
    fn round_trips() {
        request_round_trip(DescribeTopicConfigsRequest {
            topics: vec!["orders".into()],
        });
        response_round_trip(DescribeTopicConfigsResponse {
            topics: vec![TopicConfigs {
                name: "orders".into(),
                error_code: ErrorCode::None,
                configs: vec![ConfigEntry::new("segment_bytes", "1073741824")],
            }],
        });
    }
}
