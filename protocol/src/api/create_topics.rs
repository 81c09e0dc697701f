//! CreateTopics: create topics with a partition count and per-topic configs.
//!
//! ```text
//! request:  topics array<CreatableTopic> | timeout_ms i32 | validate_only bool
//! response: topics array<TopicResult>
//! ```

use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::common::{ConfigEntry, TopicResult};
use super::{ApiKey, Message};

/// Partition count meaning "use the broker's default".
pub const DEFAULT_NUM_PARTITIONS: i32 = -1;

/// `replication_factor` asking for the broker's default.
pub const DEFAULT_REPLICATION_FACTOR: i16 = -1;

/// Creates topics.
///
/// ```text
/// topics array<CreatableTopic> | timeout_ms i32 | validate_only bool
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTopicsRequest {
    /// The topics to create.
    pub topics: Vec<CreatableTopic>,
    /// How long the broker may take before answering.
    pub timeout_ms: i32,
    /// Check the request without creating anything.
    pub validate_only: bool,
}

/// One topic to create.
///
/// ```text
/// name string | num_partitions i32 | configs array<ConfigEntry>
/// | replication_factor i16 (v1+)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatableTopic {
    /// The topic name.
    pub name: String,
    /// Partition count, or [`DEFAULT_NUM_PARTITIONS`].
    pub num_partitions: i32,
    /// Topic-level settings overriding the broker defaults.
    pub configs: Vec<ConfigEntry>,
    /// Copies of each partition, or [`DEFAULT_REPLICATION_FACTOR`] for the broker's
    /// default (sent from version 1; version 0 means the default).
    pub replication_factor: i16,
}

/// One result per requested topic.
///
/// ```text
/// topics array<TopicResult>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTopicsResponse {
    /// Per-topic outcome, e.g. [`crate::error_code::ErrorCode::TopicAlreadyExists`].
    pub topics: Vec<TopicResult>,
}

impl Wire for CreatableTopic {
    const MIN_BYTES: usize = 2 + 4 + 4;

    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_string("topic name", &self.name)?;
        out.put_i32(self.num_partitions);
        out.put_array("configs", &self.configs, version)?;
        if version >= 1 {
            out.put_i16(self.replication_factor);
        }
        Ok(())
    }

    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            name: r.string("topic name")?,
            num_partitions: r.i32("num_partitions")?,
            configs: r.array("configs", version)?,
            replication_factor: if version >= 1 {
                r.i16("replication_factor")?
            } else {
                DEFAULT_REPLICATION_FACTOR
            },
        })
    }
}

impl Message for CreateTopicsRequest {
    const API_KEY: ApiKey = ApiKey::CreateTopics;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 1;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_array("topics", &self.topics, version)?;
        out.put_i32(self.timeout_ms);
        out.put_bool(self.validate_only);
        Ok(())
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            topics: r.array("topics", version)?,
            timeout_ms: r.i32("timeout_ms")?,
            validate_only: r.bool("validate_only")?,
        })
    }
}

impl Message for CreateTopicsResponse {
    const API_KEY: ApiKey = ApiKey::CreateTopics;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 1;

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
    use crate::error_code::ErrorCode;

    #[test]
    fn round_trips() {
        request_round_trip(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "orders".into(),
                num_partitions: DEFAULT_NUM_PARTITIONS,
                configs: vec![ConfigEntry::new("retention_ms", "60000")],
                replication_factor: 3,
            }],
            timeout_ms: 5000,
            validate_only: false,
        });
        response_round_trip(CreateTopicsResponse {
            topics: vec![TopicResult {
                name: "orders".into(),
                error_code: ErrorCode::TopicAlreadyExists,
                error_message: Some("exists".into()),
            }],
        });
    }
}
