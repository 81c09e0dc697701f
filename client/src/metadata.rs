//! Topic metadata the producer needs: how many partitions each topic has.
//!
//! [`MetadataCache`] remembers partition counts learnt from the Metadata API. A miss
//! asks the broker (creating the topic if `allow_auto_create_topics`), retrying
//! retriable answers (a topic being created has no partitions yet) with backoff until
//! a deadline; a produce error `UNKNOWN_TOPIC_OR_PARTITION` invalidates the entry so
//! the next send looks again.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use rill_protocol::api::metadata::{MetadataRequest, MetadataResponse, TopicMetadata};
use rill_protocol::api::ApiKey;
use rill_protocol::error_code::ErrorCode;
use tokio::time::Instant;

use crate::error::{ClientError, Result};
use crate::slot::ConnectionSlot;

/// Partition counts by topic.
#[derive(Debug, Default)]
pub(crate) struct MetadataCache {
    partitions: RwLock<HashMap<String, i32>>,
}

impl MetadataCache {
    /// The cached partition count of `topic`.
    pub(crate) fn partition_count(&self, topic: &str) -> Option<i32> {
        self.partitions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(topic)
            .copied()
    }

    /// Forgets `topic`, so the next lookup asks the broker.
    pub(crate) fn invalidate(&self, topic: &str) {
        self.partitions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(topic);
    }

    fn insert(&self, topic: &str, count: i32) {
        self.partitions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(topic.to_owned(), count);
    }

    /// The partition count of `topic`, from the cache or the broker.
    ///
    /// Retries retriable failures every `retry_backoff` until `max_wait` has passed,
    /// then returns the last error. Cancel-safe.
    pub(crate) async fn partition_count_or_fetch(
        &self,
        slot: &ConnectionSlot,
        topic: &str,
        allow_auto_create: bool,
        retry_backoff: Duration,
        max_wait: Duration,
    ) -> Result<i32> {
        if let Some(count) = self.partition_count(topic) {
            return Ok(count);
        }
        let deadline = Instant::now() + max_wait;
        loop {
            let error = match fetch_topic(slot, topic, allow_auto_create).await {
                Ok(count) => {
                    self.insert(topic, count);
                    return Ok(count);
                }
                Err(error) => error,
            };
            if !error.is_retriable() || Instant::now() + retry_backoff > deadline {
                return Err(error);
            }
            tracing::debug!(topic, %error, "metadata not ready; retrying");
            tokio::time::sleep(retry_backoff).await;
        }
    }
}

/// Asks the broker for one topic's partition count.
async fn fetch_topic(slot: &ConnectionSlot, topic: &str, allow_auto_create: bool) -> Result<i32> {
    let response = fetch(slot, Some(vec![topic.to_owned()]), allow_auto_create).await?;
    let metadata = find_topic(&response, topic)?;
    partition_count(metadata)
}

/// Sends a Metadata request for `topics` (`None` = all topics).
pub(crate) async fn fetch(
    slot: &ConnectionSlot,
    topics: Option<Vec<String>>,
    allow_auto_topic_creation: bool,
) -> Result<MetadataResponse> {
    let request = MetadataRequest {
        topics,
        allow_auto_topic_creation,
    };
    slot.call(&request).await
}

/// The entry for `topic` in a metadata response.
pub(crate) fn find_topic<'a>(
    response: &'a MetadataResponse,
    topic: &str,
) -> Result<&'a TopicMetadata> {
    response
        .topics
        .iter()
        .find(|t| t.name == topic)
        .ok_or_else(|| ClientError::MissingInResponse {
            api: ApiKey::Metadata,
            what: format!("topic {topic}"),
        })
}

/// The partition count of a topic entry, or its error. A topic without partitions yet
/// (being created) is a retriable `UNKNOWN_TOPIC_OR_PARTITION`.
pub(crate) fn partition_count(metadata: &TopicMetadata) -> Result<i32> {
    if metadata.error_code != ErrorCode::None {
        return Err(ClientError::broker(
            metadata.error_code,
            metadata.name.clone(),
            None,
            None,
        ));
    }
    let count = i32::try_from(metadata.partitions.len()).unwrap_or(i32::MAX);
    if count == 0 {
        return Err(ClientError::broker(
            ErrorCode::UnknownTopicOrPartition,
            metadata.name.clone(),
            None,
            Some("topic has no partitions yet".to_owned()),
        ));
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rill_protocol::api::metadata::PartitionMetadata;

    fn topic(name: &str, code: ErrorCode, partitions: i32) -> TopicMetadata {
        TopicMetadata {
            error_code: code,
            name: name.into(),
            is_internal: false,
            partitions: (0..partitions)
                .map(|p| PartitionMetadata {
                    error_code: ErrorCode::None,
                    partition: p,
                    leader: 0,
                    high_watermark: 0,
                    log_start_offset: 0,
                })
                .collect(),
        }
    }

    #[test]
    fn partition_counts_and_errors() {
        assert_eq!(partition_count(&topic("t", ErrorCode::None, 3)).unwrap(), 3);
        let empty = partition_count(&topic("t", ErrorCode::None, 0)).unwrap_err();
        assert!(empty.is_retriable());
        let bad = partition_count(&topic("t", ErrorCode::InvalidTopic, 0)).unwrap_err();
        assert_eq!(bad.error_code(), Some(ErrorCode::InvalidTopic));
        let cache = MetadataCache::default();
        cache.insert("t", 4);
        assert_eq!(cache.partition_count("t"), Some(4));
        cache.invalidate("t");
        assert_eq!(cache.partition_count("t"), None);
    }
}
