//! Topic administration in a cluster: CreateTopics, DeleteTopics, config changes and
//! auto-creation become metadata commands proposed to the controller, never local file
//! work. The proposing broker makes the decisions (a random topic id, replica placement
//! over the live brokers) so every broker applies the same record; then it waits until
//! its own local topics caught up ([`super::reconcile`]) when it hosts the topic, so a
//! client that produces right after a successful create finds the partition here.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rill_protocol::error_code::ErrorCode;

use super::command::{ApplyError, MetadataCommand};
use super::image::MetadataImage;
use super::placement::{self, PlacementError};
use super::{Cluster, ClusterError, NodeId};
use crate::server::handlers::errors::topic_error_code;
use crate::server::BrokerCtx;
use crate::topics::{config as topic_config, validate_client_name, validate_name, TopicError};

/// Longest an admin request waits for the controller and the local catch-up when the
/// client gives no timeout.
pub const ADMIN_TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);
/// Shortest wait, whatever the client asks (a timeout of 0 means "use the default").
const ADMIN_TIMEOUT_MIN: Duration = Duration::from_millis(100);

/// Why a topic change through the controller did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The name, partition count or settings are invalid.
    #[error(transparent)]
    Topic(#[from] TopicError),
    /// The replicas cannot be placed (more copies than live brokers...).
    #[error(transparent)]
    Placement(#[from] PlacementError),
    /// The replication factor is outside 1..=16.
    #[error("invalid replication factor {0}: use 1 to {max} (or -1 for the broker default)", max = crate::config::cluster::REPLICATION_FACTOR_MAX)]
    ReplicationFactor(i32),
    /// The quorum did not commit the change, or refused it.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// Committed, but this broker's local copy did not follow in time.
    #[error("the change is committed but this broker has not applied it locally within {timeout_ms} ms; retry to check")]
    NotApplied {
        /// How long it waited.
        timeout_ms: u64,
    },
}

impl AdminError {
    /// The wire code a client sees.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            AdminError::Topic(e) => topic_error_code(e),
            AdminError::Placement(_) | AdminError::ReplicationFactor(_) => {
                ErrorCode::InvalidReplicationFactor
            }
            AdminError::Cluster(e) => cluster_error_code(e),
            AdminError::NotApplied { .. } => ErrorCode::RequestTimedOut,
        }
    }
}

/// The wire code of a failed proposal: refusals by what they mean, retriable failures as
/// NOT_CONTROLLER / REQUEST_TIMED_OUT so clients retry.
pub fn cluster_error_code(e: &ClusterError) -> ErrorCode {
    match e {
        ClusterError::Rejected(ApplyError::TopicExists(_)) => ErrorCode::TopicAlreadyExists,
        ClusterError::Rejected(ApplyError::UnknownTopic(_)) => ErrorCode::UnknownTopicOrPartition,
        // A replica on a broker that left between placement and commit: place again.
        ClusterError::Rejected(ApplyError::UnknownBroker(_)) => ErrorCode::NotController,
        ClusterError::Rejected(_) => ErrorCode::InvalidRequest,
        ClusterError::NoController | ClusterError::Network { .. } => ErrorCode::NotController,
        ClusterError::Timeout { .. } => ErrorCode::RequestTimedOut,
        ClusterError::Shutdown => ErrorCode::BrokerNotAvailable,
        ClusterError::Storage(_) | ClusterError::Raft(_) | ClusterError::Config(_) => {
            ErrorCode::UnknownServerError
        }
    }
}

/// Proposes `command` within [`ADMIN_TIMEOUT_DEFAULT`]; a failure as the wire code
/// and message a client gets.
pub async fn propose_for_client(
    cluster: &Cluster,
    command: MetadataCommand,
) -> Result<(), (ErrorCode, String)> {
    let failed = |e: ClusterError| (cluster_error_code(&e), e.to_string());
    match tokio::time::timeout(ADMIN_TIMEOUT_DEFAULT, cluster.propose(command)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(failed(e)),
        Err(_) => Err(failed(ClusterError::Timeout {
            controller: cluster.status().controller,
            timeout_ms: crate::config::duration_ms(ADMIN_TIMEOUT_DEFAULT),
        })),
    }
}

/// A topic to create.
#[derive(Debug, Clone)]
pub struct NewTopic {
    /// Its name.
    pub name: String,
    /// Partitions; `None` for the broker default.
    pub partitions: Option<u32>,
    /// Copies of each partition; `None` (or -1 on the wire) for the broker default.
    pub replication_factor: Option<i32>,
    /// Settings overriding the broker defaults.
    pub configs: BTreeMap<String, String>,
    /// One of the broker's own topics (`__consumer_offsets`).
    pub internal: bool,
}

/// The wait a client's `timeout_ms` asks for (0 or less: the default), at least 100 ms.
pub fn admin_timeout(timeout_ms: i32) -> Duration {
    match u64::try_from(timeout_ms) {
        Ok(ms) if ms > 0 => Duration::from_millis(ms).max(ADMIN_TIMEOUT_MIN),
        _ => ADMIN_TIMEOUT_DEFAULT,
    }
}

/// Creates `topic` through the controller (or only checks it, with `validate_only`).
pub async fn create_topic(
    ctx: &Arc<BrokerCtx>,
    cluster: &Cluster,
    topic: NewTopic,
    validate_only: bool,
    timeout: Duration,
) -> Result<(), AdminError> {
    let (command, assignments) = plan_create(ctx, &cluster.image(), &topic)?;
    if validate_only {
        return Ok(());
    }
    let id = match &command {
        MetadataCommand::CreateTopic { id, .. } => *id,
        _ => 0,
    };
    propose(cluster, command, timeout).await?;
    if assignments
        .iter()
        .flatten()
        .any(|r| *r == cluster.node_id())
    {
        let (name, local) = (topic.name.clone(), ctx.clone());
        wait_applied(ctx, timeout, move |image| {
            image.topics.get(&name).is_some_and(|t| t.id == id) && local.topics.get(&name).is_some()
        })
        .await?;
    }
    Ok(())
}

/// Checks `topic` and decides its id and placement: the CreateTopic command and its
/// replica lists.
fn plan_create(
    ctx: &BrokerCtx,
    image: &MetadataImage,
    topic: &NewTopic,
) -> Result<(MetadataCommand, Vec<Vec<NodeId>>), AdminError> {
    if topic.internal {
        validate_name(&topic.name)?;
    } else {
        validate_client_name(&topic.name)?;
    }
    let defaults = ctx.topics.defaults();
    let partitions = topic.partitions.unwrap_or(defaults.partitions);
    if partitions == 0 || partitions > crate::config::PARTITIONS_MAX {
        return Err(TopicError::InvalidPartitions(i64::from(partitions)).into());
    }
    topic_config::log_config(&defaults, &topic.configs, ctx.config.max_batch_bytes())?;
    if image.topics.contains_key(&topic.name) {
        return Err(ClusterError::Rejected(ApplyError::TopicExists(topic.name.clone())).into());
    }
    let replication_factor = match topic.replication_factor {
        None | Some(-1) => usize::from(ctx.config.default_replication_factor),
        Some(n) if (1..=i32::from(crate::config::cluster::REPLICATION_FACTOR_MAX)).contains(&n) => {
            n as usize
        }
        Some(n) => return Err(AdminError::ReplicationFactor(n)),
    };
    let live = image.live_brokers();
    let assignments = placement::assign(
        partitions as usize,
        replication_factor,
        &live,
        image.topics.len(),
    )?;
    let command = MetadataCommand::CreateTopic {
        name: topic.name.clone(),
        id: random_topic_id(),
        internal: topic.internal,
        configs: topic.configs.clone(),
        assignments: assignments.clone(),
    };
    Ok((command, assignments))
}

/// Deletes `name` through the controller.
pub async fn delete_topic(
    ctx: &Arc<BrokerCtx>,
    cluster: &Cluster,
    name: &str,
    timeout: Duration,
) -> Result<(), AdminError> {
    validate_client_name(name)?;
    let hosted = super::routing::hosts(&cluster.image(), name, cluster.node_id());
    let command = MetadataCommand::DeleteTopic {
        name: name.to_string(),
    };
    propose(cluster, command, timeout).await?;
    if hosted {
        let (name, local) = (name.to_string(), ctx.clone());
        wait_applied(ctx, timeout, move |image| {
            !image.topics.contains_key(&name) && local.topics.get(&name).is_none()
        })
        .await?;
    }
    Ok(())
}

/// Grows `name` to `total` partitions through the controller (or only checks it, with
/// `validate_only`): the new partitions get as many replicas as the topic's first one,
/// placed over the live brokers.
pub async fn add_partitions(
    ctx: &Arc<BrokerCtx>,
    cluster: &Cluster,
    name: &str,
    total: u32,
    validate_only: bool,
    timeout: Duration,
) -> Result<(), AdminError> {
    validate_client_name(name)?;
    let image = cluster.image();
    let topic = image
        .topics
        .get(name)
        .ok_or_else(|| TopicError::UnknownTopic(name.to_string()))?;
    let current = topic.partitions.len();
    if (total as usize) <= current || total > crate::config::PARTITIONS_MAX {
        return Err(TopicError::InvalidPartitions(i64::from(total)).into());
    }
    let replication_factor = topic.partitions.first().map_or(1, |p| p.replicas.len());
    let assignments = placement::assign(
        total as usize - current,
        replication_factor,
        &image.live_brokers(),
        image.topics.len() + current,
    )?;
    if validate_only {
        return Ok(());
    }
    let hosted = assignments
        .iter()
        .flatten()
        .any(|r| *r == cluster.node_id())
        || super::routing::hosts(&image, name, cluster.node_id());
    let command = MetadataCommand::AddPartitions {
        name: name.to_string(),
        assignments,
    };
    propose(cluster, command, timeout).await?;
    if hosted {
        let (name, local) = (name.to_string(), ctx.clone());
        wait_applied(ctx, timeout, move |_| {
            local
                .topics
                .get(&name)
                .is_some_and(|t| t.partitions.len() >= total as usize)
        })
        .await?;
    }
    Ok(())
}

/// Changes a topic's settings through the controller (`None` returns a key to the
/// broker default).
pub async fn alter_topic_configs(
    ctx: &Arc<BrokerCtx>,
    cluster: &Cluster,
    name: &str,
    changes: Vec<(String, Option<String>)>,
    timeout: Duration,
) -> Result<(), AdminError> {
    validate_client_name(name)?;
    let image = cluster.image();
    let topic = image
        .topics
        .get(name)
        .ok_or_else(|| TopicError::UnknownTopic(name.to_string()))?;
    let mut wanted = topic.configs.clone();
    let mut set = BTreeMap::new();
    let mut remove = Vec::new();
    for (key, value) in changes {
        match value {
            Some(value) => {
                wanted.insert(key.clone(), value.clone());
                set.insert(key, value);
            }
            None => {
                wanted.remove(&key);
                remove.push(key);
            }
        }
    }
    topic_config::log_config(
        &ctx.topics.defaults(),
        &wanted,
        ctx.config.max_batch_bytes(),
    )?;
    let hosted = super::routing::hosts(&image, name, cluster.node_id());
    let command = MetadataCommand::AlterTopicConfigs {
        name: name.to_string(),
        set,
        remove,
    };
    propose(cluster, command, timeout).await?;
    if hosted {
        let (name, local) = (name.to_string(), ctx.clone());
        wait_applied(ctx, timeout, move |image| {
            image.topics.get(&name).is_some_and(|t| t.configs == wanted)
                && local
                    .topics
                    .get(&name)
                    .is_some_and(|t| t.overrides == wanted)
        })
        .await?;
    }
    Ok(())
}

/// Proposes `command`, giving up after `timeout`.
async fn propose(
    cluster: &Cluster,
    command: MetadataCommand,
    timeout: Duration,
) -> Result<(), ClusterError> {
    match tokio::time::timeout(timeout, cluster.propose(command)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(ClusterError::Timeout {
            controller: cluster.status().controller,
            timeout_ms: crate::config::duration_ms(timeout),
        }),
    }
}

async fn wait_applied(
    ctx: &BrokerCtx,
    timeout: Duration,
    done: impl FnMut(&MetadataImage) -> bool,
) -> Result<(), AdminError> {
    if ctx.reconciled.wait_for(timeout, done).await {
        Ok(())
    } else {
        Err(AdminError::NotApplied {
            timeout_ms: crate::config::duration_ms(timeout),
        })
    }
}

/// A fresh random topic id (a version-4 UUID, as Kafka's), from the OS's generator.
fn random_topic_id() -> u128 {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    // The system generator fails only if the OS has no entropy source at all; the
    // clock then still makes ids distinct enough for names that are unique anyway.
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = nanos.to_be_bytes();
    }
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .as_u128()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_ids_are_random_v4_uuids() {
        let (a, b) = (random_topic_id(), random_topic_id());
        assert_ne!(a, b);
        assert_eq!(uuid::Uuid::from_u128(a).get_version_num(), 4);
    }

    #[test]
    fn timeouts_default_and_floor() {
        assert_eq!(admin_timeout(0), ADMIN_TIMEOUT_DEFAULT);
        assert_eq!(admin_timeout(-5), ADMIN_TIMEOUT_DEFAULT);
        assert_eq!(admin_timeout(1), ADMIN_TIMEOUT_MIN);
        assert_eq!(admin_timeout(5000), Duration::from_secs(5));
    }
}
