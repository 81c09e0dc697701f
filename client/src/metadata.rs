//! Topic metadata the producer needs: how many partitions each topic has, which broker
//! leads each partition, and which of them have no leader (offline storage, or their
//! broker is down), which keyless records avoid.
//!
//! [`MetadataCache`] remembers partition counts learnt from the Metadata API. A miss
//! asks the broker (creating the topic if `allow_auto_create_topics`), retrying
//! retriable answers (a topic being created has no partitions yet) with backoff until
//! a deadline; a produce error `UNKNOWN_TOPIC_OR_PARTITION` invalidates the entry so
//! the next send looks again.

use std::sync::atomic::AtomicI32;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rill_protocol::api::metadata::{MetadataResponse, TopicMetadata};
use rill_protocol::api::ApiKey;
use rill_protocol::error_code::ErrorCode;
use tokio::time::Instant;

use crate::brokers::Brokers;
use crate::error::{ClientError, Result};
use crate::fast_map::FastMap;

/// What the producer knows of a topic.
#[derive(Debug, Clone)]
pub(crate) struct TopicInfo {
    /// Number of partitions.
    pub(crate) count: i32,
    /// Partitions the broker reported without a leader (their storage is offline);
    /// `None` when every partition is available, the usual case.
    pub(crate) unavailable: Option<Arc<[i32]>>,
    /// The leader's node id of each partition, by partition (`-1`: none now).
    pub(crate) leaders: Arc<[i32]>,
    /// Why a partition without a leader has none, as the broker said (e.g.
    /// `KAFKA_STORAGE_ERROR`); `None` when every partition has one.
    pub(crate) errors: Option<Arc<[(i32, ErrorCode)]>>,
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

    /// Why `partition` has no leader, as the broker said (`LEADER_NOT_AVAILABLE` when
    /// it gave no reason).
    pub(crate) fn leaderless_code(&self, partition: i32) -> ErrorCode {
        self.errors
            .as_deref()
            .and_then(|errors| errors.iter().find(|(p, _)| *p == partition))
            .map_or(ErrorCode::LeaderNotAvailable, |(_, code)| *code)
    }

    /// The node id leading `partition`, if it has a leader now.
    pub(crate) fn leader(&self, partition: i32) -> Option<i32> {
        let index = usize::try_from(partition).ok()?;
        self.leaders.get(index).copied().filter(|&node| node >= 0)
    }

    #[cfg(test)]
    pub(crate) fn new(count: i32, unavailable: &[i32]) -> TopicInfo {
        TopicInfo {
            count,
            unavailable: (!unavailable.is_empty()).then(|| Arc::from(unavailable)),
            leaders: (0..count)
                .map(|p| if unavailable.contains(&p) { -1 } else { 0 })
                .collect(),
            errors: None,
            sticky: Arc::new(AtomicI32::new(-1)),
            fetched: Instant::now(),
        }
    }
}

/// Topic metadata by topic.
#[derive(Debug, Default)]
pub(crate) struct MetadataCache {
    topics: RwLock<FastMap<String, TopicInfo>>,
    /// When [`MetadataCache::refresh`] last asked a broker (rate limit).
    last_refresh: std::sync::Mutex<Option<Instant>>,
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

    /// Whether the broker described `topic` more than `max_age` ago.
    pub(crate) fn is_stale(&self, topic: &str, max_age: Duration) -> bool {
        self.with_topic(topic, |info| info.fetched.elapsed() > max_age)
            .unwrap_or(false)
    }

    pub(crate) fn insert(&self, topic: &str, info: TopicInfo) {
        self.topics
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(topic.to_owned(), info);
    }

    /// Asks any broker again for `topics` (a leader moved or went away), at most once
    /// per `min_interval`: calls within it return at once and keep what is cached.
    /// Topics the broker does not describe (deleted, unknown) are forgotten.
    pub(crate) async fn refresh(
        &self,
        brokers: &Brokers,
        topics: Vec<String>,
        min_interval: Duration,
    ) -> Result<()> {
        {
            let mut last = self.last_refresh.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|at| at.elapsed() < min_interval) {
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        let response = fetch(brokers, Some(topics.clone()), false).await?;
        for topic in &topics {
            match find_topic(&response, topic).and_then(topic_info) {
                Ok(info) => self.insert(topic, info),
                Err(error) => {
                    tracing::debug!(topic, %error, "topic not described; forgetting it");
                    self.invalidate(topic);
                }
            }
        }
        Ok(())
    }

    /// The metadata of `topic`, from the cache or the broker.
    ///
    /// Retries retriable failures every `retry_backoff` until `max_wait` has passed,
    /// then returns the last error. Cancel-safe.
    pub(crate) async fn topic_or_fetch(
        &self,
        brokers: &Brokers,
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
            let error = match fetch_topic(brokers, topic, allow_auto_create).await {
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

/// Asks any broker for one topic's metadata.
async fn fetch_topic(brokers: &Brokers, topic: &str, allow_auto_create: bool) -> Result<TopicInfo> {
    let response = fetch(brokers, Some(vec![topic.to_owned()]), allow_auto_create).await?;
    let metadata = find_topic(&response, topic)?;
    topic_info(metadata)
}

/// What the producer keeps of a topic's metadata entry.
pub(crate) fn topic_info(metadata: &TopicMetadata) -> Result<TopicInfo> {
    let count = partition_count(metadata)?;
    let unavailable: Vec<i32> = metadata
        .partitions
        .iter()
        .filter(|p| p.error_code != ErrorCode::None || p.leader < 0)
        .map(|p| p.partition)
        .collect();
    let errors: Vec<(i32, ErrorCode)> = metadata
        .partitions
        .iter()
        .filter(|p| p.error_code != ErrorCode::None)
        .map(|p| (p.partition, p.error_code))
        .collect();
    let mut leaders = vec![-1; usize::try_from(count).unwrap_or(0)];
    for p in &metadata.partitions {
        let available = p.error_code == ErrorCode::None && p.leader >= 0;
        if let Some(slot) = usize::try_from(p.partition)
            .ok()
            .and_then(|i| leaders.get_mut(i))
        {
            *slot = if available { p.leader } else { -1 };
        }
    }
    Ok(TopicInfo {
        count,
        unavailable: (!unavailable.is_empty()).then(|| Arc::from(unavailable)),
        leaders: Arc::from(leaders),
        errors: (!errors.is_empty()).then(|| Arc::from(errors)),
        sticky: Arc::new(AtomicI32::new(-1)),
        fetched: Instant::now(),
    })
}

/// Sends a Metadata request for `topics` (`None` = all topics) to any broker, learning
/// the brokers it lists.
pub(crate) async fn fetch(
    brokers: &Brokers,
    topics: Option<Vec<String>>,
    allow_auto_topic_creation: bool,
) -> Result<MetadataResponse> {
    brokers.metadata(topics, allow_auto_topic_creation).await
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
        assert!(!cache.is_stale("t", Duration::from_secs(60)), "fresh");
        assert!(cache.is_stale("t", Duration::ZERO), "stale");
        assert_eq!(cache.topic("t").unwrap().leader(2), Some(0));
        cache.insert("t", TopicInfo::new(4, &[1]));
        assert_eq!(cache.topic("t").unwrap().unavailable(), [1]);
        cache.invalidate("t");
        assert!(cache.topic("t").is_none());
    }
}
