//! Which broker leads each assigned partition, for the consumer's fetches and offset
//! lookups.
//!
//! Learnt from Metadata for the assigned topics. A partition answering
//! `NOT_LEADER_OR_FOLLOWER` (or another "ask metadata again" error), or a broken
//! connection to its leader, marks the map stale; the next `poll` asks again, at most
//! once per `reconnect_backoff`, and fetching resumes at the same position from the new
//! leader.

use std::collections::{BTreeSet, HashMap};

use rill_protocol::error_code::ErrorCode;
use tokio::time::Instant;

use super::Consumer;
use crate::error::{ClientError, Result};
use crate::record::TopicPartition;

/// The consumer's map from partition to leader.
#[derive(Debug, Default)]
pub(crate) struct LeaderMap {
    /// Leader node id by partition (`-1`: none now).
    pub(crate) leaders: HashMap<TopicPartition, i32>,
    /// Why metadata described no partitions of a topic (e.g. it does not exist).
    topic_errors: HashMap<String, ErrorCode>,
    /// Something moved: ask metadata before the next fetch.
    pub(crate) stale: bool,
    /// When metadata was last asked (rate limit).
    last_refresh: Option<Instant>,
}

impl LeaderMap {
    /// The leader of `tp`, if known and present.
    pub(crate) fn leader(&self, tp: &TopicPartition) -> Option<i32> {
        self.leaders.get(tp).copied().filter(|&node| node >= 0)
    }
}

/// Whether a partition error code means its leader moved or is away.
pub(crate) fn leader_moved(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NotLeaderOrFollower
            | ErrorCode::LeaderNotAvailable
            | ErrorCode::UnknownTopicOrPartition
            | ErrorCode::KafkaStorageError
            | ErrorCode::BrokerNotAvailable
    )
}

impl Consumer {
    /// Refreshes the leaders of the assigned partitions when the map is stale or lacks
    /// one of them, at most once per `reconnect_backoff`. A failure is logged and left
    /// for the next poll (fetches of the partitions whose leader is known go on).
    /// Cancel-safe.
    pub(crate) async fn ensure_leaders(&mut self) {
        let missing = self
            .positions
            .keys()
            .any(|tp| self.leaders.leader(tp).is_none());
        if !self.leaders.stale && !missing {
            return;
        }
        let backoff = self.config.connection.reconnect_backoff;
        if self
            .leaders
            .last_refresh
            .is_some_and(|at| at.elapsed() < backoff)
        {
            return;
        }
        if let Err(error) = self.refresh_leaders().await {
            tracing::debug!(%error, "cannot look up partition leaders; retrying");
        }
    }

    /// Asks any broker who leads the partitions of the assigned topics.
    pub(crate) async fn refresh_leaders(&mut self) -> Result<()> {
        self.leaders.last_refresh = Some(Instant::now());
        let topics: BTreeSet<String> = self
            .positions
            .keys()
            .map(|tp| tp.topic.to_string())
            .collect();
        if topics.is_empty() {
            return Ok(());
        }
        let response = self
            .brokers
            .metadata(Some(topics.into_iter().collect()), false)
            .await?;
        let mut leaders = HashMap::new();
        let mut topic_errors = HashMap::new();
        for topic in &response.topics {
            if topic.error_code != ErrorCode::None {
                topic_errors.insert(topic.name.clone(), topic.error_code);
                continue;
            }
            for p in &topic.partitions {
                let leader = match p.error_code {
                    ErrorCode::None => p.leader,
                    _ => -1,
                };
                leaders.insert(TopicPartition::new(topic.name.clone(), p.partition), leader);
            }
        }
        self.leaders.leaders = leaders;
        self.leaders.topic_errors = topic_errors;
        self.leaders.stale = false;
        Ok(())
    }

    /// The leader of `tp`, asking metadata first when it is not known.
    pub(crate) async fn leader_of(&mut self, tp: &TopicPartition) -> Result<i32> {
        if let Some(node) = self.leaders.leader(tp) {
            return Ok(node);
        }
        self.refresh_leaders().await?;
        if let Some(node) = self.leaders.leader(tp) {
            return Ok(node);
        }
        // The topic's own error (e.g. UNKNOWN_TOPIC_OR_PARTITION), or a partition that
        // exists without a leader now.
        let topic_error = self.leaders.topic_errors.get(&*tp.topic).copied();
        let known = self.leaders.leaders.contains_key(tp);
        Err(match (topic_error, known) {
            (Some(code), _) => {
                ClientError::broker(code, tp.topic.to_string(), Some(tp.partition), None)
            }
            (None, false) => ClientError::broker(
                ErrorCode::UnknownTopicOrPartition,
                tp.topic.to_string(),
                Some(tp.partition),
                None,
            ),
            (None, true) => ClientError::broker(
                ErrorCode::LeaderNotAvailable,
                tp.topic.to_string(),
                Some(tp.partition),
                Some(format!(
                    "partition {tp} has no leader now (its broker is down or a new leader is \
                     being chosen); try again shortly"
                )),
            ),
        })
    }
}
