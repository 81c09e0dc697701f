//! The background work of a clustered broker: the routing cache's refresher and the
//! reconcile task on every broker, and on
//! the controller the creation of `__consumer_offsets` once the cluster has formed (its
//! partition leaders coordinate the consumer groups).

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use super::admin::{self, NewTopic};
use super::Cluster;
use crate::group::offsets::{offsets_topic_configs, CLUSTER_OFFSETS_PARTITIONS};
use crate::group::OFFSETS_TOPIC;
use crate::server::BrokerCtx;
use crate::shutdown::ShutdownListener;

/// How often the controller checks that the internal topics exist (also on every new
/// image).
const INTERNAL_TOPICS_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Replicas of `__consumer_offsets` (Kafka's `offsets.topic.replication.factor`), at
/// most the cluster's brokers.
const OFFSETS_REPLICATION_FACTOR: usize = 3;

/// Starts the cluster tasks of a clustered broker (none for a single broker).
pub fn spawn(
    ctx: &Arc<BrokerCtx>,
    shutdown: &ShutdownListener,
) -> Vec<tokio::task::JoinHandle<()>> {
    let Some(cluster) = ctx.cluster.clone() else {
        return Vec::new();
    };
    let routing = {
        let (ctx, cluster, shutdown) = (ctx.clone(), cluster.clone(), shutdown.clone());
        async move {
            if let Some(cache) = &ctx.routing {
                cache.run(cluster, shutdown).await;
            }
        }
    };
    vec![
        tokio::spawn(routing),
        tokio::spawn(super::reconcile::run(ctx.clone(), shutdown.clone())),
        tokio::spawn(super::credentials::seed(
            ctx.clone(),
            cluster.clone(),
            shutdown.clone(),
        )),
        tokio::spawn(crate::replication::offsets::run_reloader(
            ctx.clone(),
            shutdown.clone(),
        )),
        tokio::spawn(create_internal_topics(
            ctx.clone(),
            cluster,
            shutdown.clone(),
        )),
    ]
}

/// On the controller: proposes `__consumer_offsets` while the image lacks it, with
/// replication factor min(default, live brokers).
async fn create_internal_topics(
    ctx: Arc<BrokerCtx>,
    cluster: Cluster,
    mut shutdown: ShutdownListener,
) {
    let mut images = cluster.subscribe();
    let mut tick = tokio::time::interval(INTERNAL_TOPICS_CHECK_INTERVAL);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            changed = images.changed() => if changed.is_err() { return },
            _ = shutdown.recv() => return,
        }
        if let Err(e) = ensure_offsets_topic(&ctx, &cluster).await {
            warn!(error = %e, "cannot create {OFFSETS_TOPIC} yet; retrying");
        }
    }
}

/// Creates `__consumer_offsets` if this broker is the controller and it is missing.
async fn ensure_offsets_topic(
    ctx: &Arc<BrokerCtx>,
    cluster: &Cluster,
) -> Result<(), admin::AdminError> {
    let image = cluster.image();
    let live = image.live_brokers().len();
    if !cluster.is_controller() || image.topics.contains_key(OFFSETS_TOPIC) || live == 0 {
        return Ok(());
    }
    // Kafka's offsets.topic.replication.factor is 3: replicate the groups' offsets on
    // up to three brokers (never fewer than the default replication factor asks),
    // once that many are alive, so the coordinator's death loses no commit.
    let wanted = usize::from(ctx.config.default_replication_factor)
        .max(OFFSETS_REPLICATION_FACTOR)
        .min(image.brokers.len().max(cluster.status().voters.len()));
    if live < wanted {
        return Ok(());
    }
    let replication_factor = wanted;
    let topic = NewTopic {
        name: OFFSETS_TOPIC.to_string(),
        partitions: Some(CLUSTER_OFFSETS_PARTITIONS),
        replication_factor: Some(replication_factor as i32),
        configs: offsets_topic_configs(),
        internal: true,
    };
    match admin::create_topic(ctx, cluster, topic, false, admin::ADMIN_TIMEOUT_DEFAULT).await {
        Ok(()) => {
            info!(
                replication_factor,
                "created {OFFSETS_TOPIC} for the cluster's consumer groups"
            );
            Ok(())
        }
        Err(admin::AdminError::Cluster(super::ClusterError::Rejected(
            super::ApplyError::TopicExists(_),
        ))) => Ok(()),
        Err(e) => Err(e),
    }
}
