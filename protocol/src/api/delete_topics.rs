//! DeleteTopics: delete topics and all their partitions.
//!
//! ```text
//! request:  topic_names array<string> | timeout_ms i32
//! response: topics array<TopicResult>
//! ```

use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader};

use super::common::TopicResult;
use super::{ApiKey, Message};

/// Deletes topics.
///
/// ```text
/// topic_names array<string> | timeout_ms i32
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteTopicsRequest {
    /// The topics to delete.
    pub topic_names: Vec<String>,
    /// How long the broker may take before answering.
    pub timeout_ms: i32,
}

/// One result per requested topic.
///
/// ```text
/// topics array<TopicResult>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteTopicsResponse {
    /// Per-topic outcome.
    pub topics: Vec<TopicResult>,
}

impl Message for DeleteTopicsRequest {
    const API_KEY: ApiKey = ApiKey::DeleteTopics;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_array("topic_names", &self.topic_names, version)?;
        out.put_i32(self.timeout_ms);
        Ok(())
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            topic_names: r.array("topic_names", version)?,
            timeout_ms: r.i32("timeout_ms")?,
        })
    }
}

impl Message for DeleteTopicsResponse {
    const API_KEY: ApiKey = ApiKey::DeleteTopics;
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
    use crate::error_code::ErrorCode;

    #[test]
    fn round_trips() {
        request_round_trip(DeleteTopicsRequest {
            topic_names: vec!["a".into(), "b".into()],
            timeout_ms: 1000,
        });
        response_round_trip(DeleteTopicsResponse {
            topics: vec![TopicResult {
                name: "a".into(),
                error_code: ErrorCode::UnknownTopicOrPartition,
                error_message: None,
            }],
        });
    }
}
