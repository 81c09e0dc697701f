//! Topic metadata the producer needs: how many partitions each topic has, and which of
//! them have no leader (offline storage), which keyless records avoid.
//!
//! [`MetadataCache`] remembers partition counts learnt from the Metadata API. A miss
//! asks the broker (creating the topic if `allow_auto_create_topics`), retrying
//! retriable answers (a topic being created has no partitions yet) with backoff until
//! a deadline; a produce error `UNKNOWN_TOPIC_OR_PARTITION` invalidates the entry so
//! the next send looks again.

use std::sync::atomic::AtomicI32;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rill_protocol::api::metadata::{MetadataRequest, MetadataResponse, TopicMetadata};
use rill_protocol::api::ApiKey;
use rill_protocol::error_code::ErrorCode;
use tokio::time::Instant;

use crate::error::{ClientError, Result};
use crate::fast_map::FastMap;
use crate::slot::ConnectionSlot;

/// What the producer knows of a topic.
#[derive(Debug, Clone)]
pub(crate) struct TopicInfo {
    /// Number of partitions.
    pub(crate) count: i32,
    /// Partitions the broker reported without a leader (their storage is offline);
    /// `None` when every partition is available, the usual case.
    pub(crate) unavailable: Option<Arc<[i32]>>,
    /// A copy of the sticky partitioner's current choice for keyless records of this
    /// topic (`-1`: none yet), shared by every clone of this entry, so `send` reads it
    /// without taking the partitioner's lock. The partitioner stays the source of truth
    /// and writes it whenever its choice changes.
    pub(crate) sticky: Arc<AtomicI32>,
    /// When the broker said so.
    fetched: Instant,
}

impl TopicInfo {
    /// The unavailable partitions, empty when there are none.
    pub(crate) fn unavailable(&self) -> &[i32] {
        self.unavailable.as_deref().unwrap_or_default()
    }

    #[cfg(test)]
    pub(crate) fn new(count: i32, unavailable: &[i32]) -> TopicInfo {
        TopicInfo {
            count,
            unavailable: (!unavailable.is_empty()).then(|| Arc::from(unavailable)),
            sticky: Arc::new(AtomicI32::new(-1)),
            fetched: Instant::now(),
        }
    }
}

/// Topic metadata by topic.
#[derive(Debug, Default)]
pub(crate) struct MetadataCache {
    topics: RwLock<FastMap<String, TopicInfo>>,
}

impl MetadataCache {
    /// The cached metadata of `topic`.
    pub(crate) fn topic(&self, topic: &str) -> Option<TopicInfo> {
        self.topics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(topic)
            .cloned()
    }

    /// `read` applied to the cached metadata of `topic` under the read lock, without
    /// cloning the entry (`None` if not cached). `read` must not take other locks.
    pub(crate) fn with_topic<T>(
        &self,
        topic: &str,
        read: impl FnOnce(&TopicInfo) -> T,
    ) -> Option<T> {
        self.topics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(topic)
            .map(read)
    }

    /// Forgets `topic`, so the next lookup asks the broker.
    pub(crate) fn invalidate(&self, topic: &str) {
        self.topics
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(topic);
    }

    /// Forgets `topic` if the broker described it more than `max_age` ago, so that
    /// partitions that became available again (or unavailable) are noticed.
    pub(crate) fn expire(&self, topic: &str, max_age: Duration) {
        let stale = self
            .topics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(topic)
            .is_some_and(|info| info.fetched.elapsed() > max_age);
        if stale {
            self.invalidate(topic);
        }
    }

    pub(crate) fn insert(&self, topic: &str, info: TopicInfo) {
        self.topics
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(topic.to_owned(), info);
    }

    /// The metadata of `topic`, from the cache or the broker.
    ///
    /// Retries retriable failures every `retry_backoff` until `max_wait` has passed,
    /// then returns the last error. Cancel-safe.
    pub(crate) async fn topic_or_fetch(
        &self,
        slot: &ConnectionSlot,
        topic: &str,
        allow_auto_create: bool,
        retry_backoff: Duration,
        max_wait: Duration,
    ) -> Result<TopicInfo> {
        if let Some(info) = self.topic(topic) {
            return Ok(info);
        }
        let deadline = Instant::now() + max_wait;
        loop {
            let error = match fetch_topic(slot, topic, allow_auto_create).await {
                Ok(info) => {
                    self.insert(topic, info.clone());
                    return Ok(info);
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

/// Asks the broker for one topic's metadata.
async fn fetch_topic(
    slot: &ConnectionSlot,
    topic: &str,
    allow_auto_create: bool,
) -> Result<TopicInfo> {
    let response = fetch(slot, Some(vec![topic.to_owned()]), allow_auto_create).await?;
    let metadata = find_topic(&response, topic)?;
    let count = partition_count(metadata)?;
    let unavailable: Vec<i32> = metadata
        .partitions
        .iter()
        .filter(|p| p.error_code != ErrorCode::None || p.leader < 0)
        .map(|p| p.partition)
        .collect();
    Ok(TopicInfo {
        count,
        unavailable: (!unavailable.is_empty()).then(|| Arc::from(unavailable)),
        sticky: Arc::new(AtomicI32::new(-1)),
        fetched: Instant::now(),
    })
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
                    leader_epoch: 0,
                    replicas: vec![0],
                    isr: vec![0],
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
        cache.insert("t", TopicInfo::new(4, &[]));
        assert_eq!(cache.topic("t").map(|i| i.count), Some(4));
        cache.expire("t", Duration::from_secs(60));
        assert!(cache.topic("t").is_some(), "fresh entries stay");
        cache.expire("t", Duration::ZERO);
        assert!(cache.topic("t").is_none(), "stale entries go");
        cache.insert("t", TopicInfo::new(4, &[1]));
        assert_eq!(cache.topic("t").unwrap().unavailable(), [1]);
        cache.invalidate("t");
        assert!(cache.topic("t").is_none());
    }
}
