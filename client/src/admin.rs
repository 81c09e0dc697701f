//! [`Admin`]: topic management (create, delete, list, describe, alter configs),
//! consumer group management ([`groups`]) and ACLs ([`acls`]).
//!
//! Each call is one or a few requests on self-healing connections (to any broker, or to
//! the partition leaders and group coordinators that answer for what it asks); a per-topic
//! error from the broker comes back as [`ClientError::Broker`] naming the topic.

mod acls;
mod cluster;
mod groups;
mod reassign;
mod users;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rill_protocol::api::alter_topic_configs::AlterTopicConfigsRequest;
use rill_protocol::api::broker_status::BrokerStatusRequest;
use rill_protocol::api::common::{ConfigEntry, TopicResult};
use rill_protocol::api::create_topics::{CreatableTopic, CreateTopicsRequest};
use rill_protocol::api::delete_topics::DeleteTopicsRequest;
use rill_protocol::api::describe_topic_configs::DescribeTopicConfigsRequest;
use rill_protocol::api::fetch::READ_UNCOMMITTED;
use rill_protocol::error_code::ErrorCode;

use crate::brokers::Brokers;
use crate::config::ConnectionConfig;
use crate::error::{ClientError, Result};
use crate::metadata;
use crate::offsets::{list_offsets_from_reachable_leaders, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};
use crate::record::TopicPartition;
use crate::slot::ConnectionSlot;

pub use cluster::{ClusterBrokerDescription, ClusterDescription};
pub use groups::{
    GroupDescription, GroupListing, GroupMemberDescription, GroupPartitionOffset, OffsetReset,
    ResetOffset,
};
pub use reassign::PartitionMove;
pub use users::UserListing;

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// Topic name.
    pub name: String,
    /// Number of partitions (at least 1).
    pub partitions: i32,
    /// Topic settings (e.g. `retention_ms`), the broker's defaults otherwise.
    pub configs: Vec<(String, String)>,
    /// Copies of each partition on a cluster; `None` takes the broker's default.
    pub replication_factor: Option<i16>,
}

impl NewTopic {
    /// A topic with `partitions` partitions and default settings.
    pub fn new(name: impl Into<String>, partitions: i32) -> Self {
        Self {
            name: name.into(),
            partitions,
            configs: Vec::new(),
            replication_factor: None,
        }
    }

    /// Sets the replication factor (copies of each partition, across brokers).
    pub fn with_replication_factor(mut self, replication_factor: i16) -> Self {
        self.replication_factor = Some(replication_factor);
        self
    }

    /// Adds a topic setting.
    pub fn with_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.push((key.into(), value.into()));
        self
    }
}

/// A topic as listed by [`Admin::list_topics`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicListing {
    /// Topic name.
    pub name: String,
    /// Number of partitions.
    pub partitions: i32,
    /// Whether the topic is Rill's own (e.g. `__consumer_offsets`).
    pub is_internal: bool,
}

/// One partition in a [`TopicDescription`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionDescription {
    /// Partition index.
    pub partition: i32,
    /// Node id of the leader (-1 if none).
    pub leader: i32,
    /// The leader's epoch: grows each time leadership of the partition moves.
    pub leader_epoch: i32,
    /// Node ids of the brokers that hold a copy, the preferred leader first.
    pub replicas: Vec<i32>,
    /// Node ids of the replicas in sync with the leader.
    pub isr: Vec<i32>,
    /// First offset still in the log (ListOffsets earliest).
    pub earliest_offset: i64,
    /// Offset the next record will get (ListOffsets latest).
    pub latest_offset: i64,
    /// High watermark from the Metadata API.
    pub high_watermark: i64,
    /// Why the partition cannot be used now, from the Metadata API (e.g.
    /// `LEADER_NOT_AVAILABLE` for a partition whose storage is offline); its offsets are
    /// then -1.
    pub error: Option<ErrorCode>,
}

/// Everything [`Admin::describe_topic`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    /// Topic name.
    pub name: String,
    /// Whether the topic is Rill's own.
    pub is_internal: bool,
    /// Partitions in index order.
    pub partitions: Vec<PartitionDescription>,
    /// Effective settings, by name.
    pub configs: BTreeMap<String, Option<String>>,
}

/// What [`Admin::status`] reports about a broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerStatus {
    /// The broker's id.
    pub node_id: i32,
    /// The broker's version.
    pub version: String,
    /// Time since the broker started.
    pub uptime: std::time::Duration,
    /// Topics hosted.
    pub topics: i32,
    /// Partitions hosted.
    pub partitions: i32,
    /// Client connections open (this one included).
    pub connections_open: i32,
    /// The broker's data directory.
    pub data_dir: String,
}

/// First pause before asking a partition's offsets again after a retriable answer.
const OFFSETS_RETRY_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);
/// Last pause (the attempts double up to it: 100 + 200 + 400 + 800 ms).
const OFFSETS_RETRY_BACKOFF_MAX: std::time::Duration = std::time::Duration::from_millis(800);

/// Pause before retrying what a broker refused with NOT_CONTROLLER.
const NOT_CONTROLLER_BACKOFF: std::time::Duration = std::time::Duration::from_millis(250);

/// Administrative client.
#[derive(Debug)]
pub struct Admin {
    /// Connections to the brokers (partition leaders answer offsets).
    brokers: Brokers,
    /// The connection to any broker, for everything else.
    slot: Arc<ConnectionSlot>,
    timeout_ms: i32,
}

impl Admin {
    /// Validates `config` and connects to the bootstrap broker.
    pub async fn connect(config: ConnectionConfig) -> Result<Admin> {
        config.validate()?;
        let timeout_ms = i32::try_from(config.request_timeout.as_millis()).unwrap_or(i32::MAX);
        let brokers = Brokers::new(config.clone(), "admin client");
        let slot = Arc::clone(brokers.any());
        slot.get().await?;
        Ok(Admin {
            brokers,
            slot,
            timeout_ms,
        })
    }

    /// Creates topics; fails with the first topic the broker refused.
    pub async fn create_topics(&self, topics: Vec<NewTopic>) -> Result<()> {
        let topics = topics
            .into_iter()
            .map(|t| CreatableTopic {
                name: t.name,
                num_partitions: t.partitions,
                configs: t
                    .configs
                    .into_iter()
                    .map(|(key, value)| ConfigEntry::new(key, value))
                    .collect(),
                replication_factor: t
                    .replication_factor
                    .unwrap_or(rill_protocol::api::create_topics::DEFAULT_REPLICATION_FACTOR),
            })
            .collect();
        let mut request = CreateTopicsRequest {
            topics,
            timeout_ms: self.timeout_ms,
            validate_only: false,
        };
        let mut waited = std::time::Duration::ZERO;
        loop {
            let results = self.slot.call(&request).await?.topics;
            let Some(retry) = self.refused_for_no_controller(results, &mut waited).await? else {
                return Ok(());
            };
            request.topics.retain(|t| retry.contains(&t.name));
        }
    }

    /// The topics `results` refused with NOT_CONTROLLER (an election is under way), to
    /// send again after a pause, as Kafka's admin client does; `None` when every topic
    /// succeeded. Fails with the first other refusal, or with NOT_CONTROLLER once the
    /// request timeout is spent.
    async fn refused_for_no_controller(
        &self,
        results: Vec<TopicResult>,
        waited: &mut std::time::Duration,
    ) -> Result<Option<Vec<String>>> {
        let retry: Vec<String> = results
            .iter()
            .filter(|r| r.error_code == ErrorCode::NotController)
            .map(|r| r.name.clone())
            .collect();
        if retry.is_empty() || !self.wait_for_controller(waited).await {
            return check_results(results).map(|()| None);
        }
        check_results(
            results
                .into_iter()
                .filter(|r| r.error_code != ErrorCode::NotController)
                .collect(),
        )?;
        Ok(Some(retry))
    }

    /// Sleeps before a retry of what found no controller; `false` once the request
    /// timeout is spent.
    async fn wait_for_controller(&self, waited: &mut std::time::Duration) -> bool {
        let budget = std::time::Duration::from_millis(u64::try_from(self.timeout_ms).unwrap_or(0));
        if *waited >= budget {
            return false;
        }
        tokio::time::sleep(NOT_CONTROLLER_BACKOFF).await;
        *waited += NOT_CONTROLLER_BACKOFF;
        true
    }

    /// Creates one topic: shorthand for [`Admin::create_topics`].
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: &[(&str, &str)],
    ) -> Result<()> {
        let mut topic = NewTopic::new(name, partitions);
        for (key, value) in configs {
            topic = topic.with_config(*key, *value);
        }
        self.create_topics(vec![topic]).await
    }

    /// Deletes topics and all their data; fails with the first topic refused.
    pub async fn delete_topics(&self, names: &[&str]) -> Result<()> {
        let mut request = DeleteTopicsRequest {
            topic_names: names.iter().map(|n| (*n).to_owned()).collect(),
            timeout_ms: self.timeout_ms,
        };
        let mut waited = std::time::Duration::ZERO;
        loop {
            let results = self.slot.call(&request).await?.topics;
            let Some(retry) = self.refused_for_no_controller(results, &mut waited).await? else {
                return Ok(());
            };
            request.topic_names.retain(|t| retry.contains(t));
        }
    }

    /// Every topic, sorted by name.
    pub async fn list_topics(&self) -> Result<Vec<TopicListing>> {
        let response = metadata::fetch(&self.brokers, None, false).await?;
        let mut topics: Vec<TopicListing> = response
            .topics
            .into_iter()
            .filter(|t| t.error_code == ErrorCode::None)
            .map(|t| TopicListing {
                partitions: i32::try_from(t.partitions.len()).unwrap_or(i32::MAX),
                name: t.name,
                is_internal: t.is_internal,
            })
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }

    /// Partitions with their offsets, and the topic's effective settings (empty when
    /// the principal may not describe them: DescribeConfigs, with ACLs on).
    pub async fn describe_topic(&self, name: &str) -> Result<TopicDescription> {
        let topics = Some(vec![name.to_owned()]);
        let mut response = metadata::fetch(&self.brokers, topics.clone(), false).await?;
        // A broker cut off from the controller, or just restarted, answers partitions
        // leaderless that other brokers know the leaders of: ask each other broker once
        // (metadata rotates to the next after such an answer) and keep the best view.
        for _ in 1..self.brokers.known_count() {
            let missing = crate::brokers::leaderless_partitions(&response);
            if missing == 0 {
                break;
            }
            match metadata::fetch(&self.brokers, topics.clone(), false).await {
                Ok(other) if crate::brokers::leaderless_partitions(&other) < missing => {
                    response = other
                }
                _ => {}
            }
        }
        let topic = metadata::find_topic(&response, name)?;
        metadata::partition_count(topic)?;
        // Offsets are looked up for the partitions that can answer; the others keep -1.
        let tps: Vec<TopicPartition> = topic
            .partitions
            .iter()
            .filter(|p| p.error_code == ErrorCode::None)
            .map(|p| TopicPartition::new(name, p.partition))
            .collect();
        let earliest: Vec<_> = tps
            .iter()
            .map(|tp| (tp.clone(), EARLIEST_TIMESTAMP))
            .collect();
        let latest: Vec<_> = tps
            .iter()
            .map(|tp| (tp.clone(), LATEST_TIMESTAMP))
            .collect();
        let leaders: HashMap<TopicPartition, i32> = topic
            .partitions
            .iter()
            .map(|p| (TopicPartition::new(name, p.partition), p.leader))
            .collect();
        let brokers = &self.brokers;
        // A topic just created on a cluster may not be open on its leaders yet (they
        // answer UNKNOWN_TOPIC_OR_PARTITION for a moment): retriable answers are asked
        // again a few times.
        let mut backoff = OFFSETS_RETRY_BACKOFF;
        let (earliest, latest, configs) = loop {
            let answer = tokio::try_join!(
                list_offsets_from_reachable_leaders(brokers, &leaders, READ_UNCOMMITTED, &earliest),
                list_offsets_from_reachable_leaders(brokers, &leaders, READ_UNCOMMITTED, &latest),
                self.describe_configs_if_allowed(name),
            );
            match answer {
                Err(error) if error.is_retriable() && backoff <= OFFSETS_RETRY_BACKOFF_MAX => {
                    tracing::debug!(topic = name, %error, "offsets not ready; asking again");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
                answer => break answer?,
            }
        };
        let ((earliest, unreachable), (latest, _)) = (earliest, latest);
        let mut partitions: Vec<PartitionDescription> = topic
            .partitions
            .iter()
            .map(|p| {
                let tp = TopicPartition::new(name, p.partition);
                if unreachable.contains(&tp) {
                    // Its leader is down but not fenced yet: metadata still names it.
                    return PartitionDescription {
                        partition: p.partition,
                        leader: p.leader,
                        leader_epoch: p.leader_epoch,
                        replicas: p.replicas.clone(),
                        isr: p.isr.clone(),
                        earliest_offset: -1,
                        latest_offset: -1,
                        high_watermark: -1,
                        error: Some(ErrorCode::BrokerNotAvailable),
                    };
                }
                PartitionDescription {
                    partition: p.partition,
                    leader: p.leader,
                    leader_epoch: p.leader_epoch,
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                    earliest_offset: earliest
                        .get(&tp)
                        .copied()
                        .flatten()
                        .unwrap_or(p.log_start_offset),
                    latest_offset: latest
                        .get(&tp)
                        .copied()
                        .flatten()
                        .unwrap_or(p.high_watermark),
                    high_watermark: p.high_watermark,
                    error: (p.error_code != ErrorCode::None).then_some(p.error_code),
                }
            })
            .collect();
        partitions.sort_by_key(|p| p.partition);
        Ok(TopicDescription {
            name: topic.name.clone(),
            is_internal: topic.is_internal,
            partitions,
            configs,
        })
    }

    /// The topic's settings, or none when the broker's ACLs let this principal describe
    /// the topic but not its settings (Describe without DescribeConfigs): the partitions
    /// and offsets are still worth answering with.
    async fn describe_configs_if_allowed(
        &self,
        name: &str,
    ) -> Result<BTreeMap<String, Option<String>>> {
        match self.describe_configs(name).await {
            Err(e) if e.error_code() == Some(ErrorCode::TopicAuthorizationFailed) => {
                Ok(BTreeMap::new())
            }
            outcome => outcome,
        }
    }

    async fn describe_configs(&self, name: &str) -> Result<BTreeMap<String, Option<String>>> {
        let request = DescribeTopicConfigsRequest {
            topics: vec![name.to_owned()],
        };
        let response = self.slot.call(&request).await?;
        let topic = response
            .topics
            .into_iter()
            .find(|t| t.name == name)
            .ok_or_else(|| ClientError::MissingInResponse {
                api: rill_protocol::api::ApiKey::DescribeTopicConfigs,
                what: format!("topic {name}"),
            })?;
        if topic.error_code != ErrorCode::None {
            return Err(ClientError::broker(topic.error_code, name, None, None));
        }
        Ok(topic
            .configs
            .into_iter()
            .map(|c| (c.key, c.value))
            .collect())
    }

    /// Changes topic settings; a `None` value resets a setting to the broker default.
    pub async fn alter_topic_config(
        &self,
        name: &str,
        configs: Vec<(String, Option<String>)>,
    ) -> Result<()> {
        let request = AlterTopicConfigsRequest {
            topic: name.to_owned(),
            configs: configs
                .into_iter()
                .map(|(key, value)| ConfigEntry { key, value })
                .collect(),
        };
        let response = self.slot.call(&request).await?;
        if response.error_code != ErrorCode::None {
            return Err(ClientError::broker(
                response.error_code,
                name,
                None,
                response.error_message,
            ));
        }
        Ok(())
    }

    /// The broker's status: version, uptime, topics, partitions, connections.
    pub async fn status(&self) -> Result<BrokerStatus> {
        let r = self.slot.call(&BrokerStatusRequest).await?;
        if r.error_code != ErrorCode::None {
            return Err(ClientError::broker(r.error_code, "", None, None));
        }
        Ok(BrokerStatus {
            node_id: r.node_id,
            version: r.version,
            uptime: std::time::Duration::from_millis(u64::try_from(r.uptime_ms).unwrap_or(0)),
            topics: r.topics,
            partitions: r.partitions,
            connections_open: r.connections_open,
            data_dir: r.data_dir,
        })
    }

    /// Closes its connections. Like `close` on every handle: idempotent, returns
    /// `Ok` once closed, and later calls fail with [`ClientError::Closed`].
    pub async fn close(&self) -> Result<()> {
        self.brokers.close().await;
        Ok(())
    }
}

/// The first per-topic error in `results`, if any.
fn check_results(results: Vec<TopicResult>) -> Result<()> {
    match results
        .into_iter()
        .find(|r| r.error_code != ErrorCode::None)
    {
        Some(r) => Err(ClientError::broker(
            r.error_code,
            r.name,
            None,
            r.error_message,
        )),
        None => Ok(()),
    }
}
