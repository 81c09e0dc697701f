//! Metadata on a clustered broker, served from the metadata image: every unfenced
//! broker, the controller, and per partition its leader, leader epoch, replicas and
//! in-sync replicas. A partition without a leader, or any partition while this broker's
//! metadata is stale (no controller heard from lately), is answered
//! LEADER_NOT_AVAILABLE (retriable) instead of leadership that may be old. Offsets
//! (high watermark, log start) are filled for the partitions this broker leads, -1
//! elsewhere. Unknown topics are auto-created through the controller.

use std::sync::Arc;

use rill_protocol::api::metadata::{
    BrokerInfo, MetadataRequest, MetadataResponse, PartitionMetadata, TopicMetadata,
};
use rill_protocol::error_code::ErrorCode;

use crate::cluster::admin::{self, NewTopic};
use crate::cluster::image::{MetadataImage, PartitionRecord, TopicRecord};
use crate::cluster::routing::{wire_id, Leadership};
use crate::cluster::{ApplyError, Cluster, ClusterError};
use crate::security::acl::{AclOperation, ResourceType};
use crate::security::Access;
use crate::server::BrokerCtx;
use crate::topics::is_internal_name;

/// Answers a Metadata request from the image.
pub async fn handle(
    ctx: &Arc<BrokerCtx>,
    cluster: &Cluster,
    req: MetadataRequest,
    access: &Access,
) -> MetadataResponse {
    let mut view = Leadership::of(cluster);
    let topics = match req.topics {
        None => view
            .image()
            .topics
            .iter()
            .filter(|(name, _)| access.permits(ResourceType::Topic, name, AclOperation::Describe))
            .map(|(name, topic)| describe(ctx, &view, name, topic))
            .collect(),
        Some(names) => {
            let names = super::unique(names);
            let mut out = Vec::with_capacity(names.len());
            for name in names {
                if !access.topic(&name, AclOperation::Describe) {
                    out.push(missing(name, ErrorCode::TopicAuthorizationFailed));
                    continue;
                }
                if !view.image().topics.contains_key(&name) {
                    match auto_create(ctx, cluster, &name, req.allow_auto_topic_creation, access)
                        .await
                    {
                        Ok(()) => view = Leadership::of(cluster),
                        Err(code) => {
                            out.push(missing(name, code));
                            continue;
                        }
                    }
                }
                match view.image().topics.get(&name) {
                    Some(topic) => out.push(describe(ctx, &view, &name, topic)),
                    None => out.push(missing(name, ErrorCode::LeaderNotAvailable)),
                }
            }
            out
        }
    };
    MetadataResponse {
        brokers: brokers(view.image()),
        controller_id: cluster.status().controller.map_or(-1, wire_id),
        topics,
    }
}

/// Every unfenced broker at its native address, by node id.
pub fn brokers(image: &MetadataImage) -> Vec<BrokerInfo> {
    image
        .brokers
        .iter()
        .filter(|(_, b)| !b.fenced)
        .map(|(id, b)| BrokerInfo {
            node_id: wire_id(*id),
            host: b.registration.host.clone(),
            port: i32::from(b.registration.port),
            rack: b.registration.rack.clone(),
        })
        .collect()
}

/// Creates `name` through the controller when the client and the broker allow it; the
/// error code to answer otherwise.
async fn auto_create(
    ctx: &Arc<BrokerCtx>,
    cluster: &Cluster,
    name: &str,
    allowed: bool,
    access: &Access,
) -> Result<(), ErrorCode> {
    if !(allowed && ctx.config.auto_create_topics) || is_internal_name(name) {
        return Err(ErrorCode::UnknownTopicOrPartition);
    }
    if !super::metadata::may_create(access, name) {
        return Err(ErrorCode::TopicAuthorizationFailed);
    }
    create_with_defaults(ctx, cluster, name).await
}

/// Creates `name` with the broker defaults through the controller (auto-creation on
/// Metadata and Produce); a topic created meanwhile by someone else counts as success.
pub async fn create_with_defaults(
    ctx: &Arc<BrokerCtx>,
    cluster: &Cluster,
    name: &str,
) -> Result<(), ErrorCode> {
    let topic = NewTopic {
        name: name.to_string(),
        partitions: None,
        replication_factor: None,
        configs: Default::default(),
        internal: false,
    };
    match admin::create_topic(ctx, cluster, topic, false, admin::ADMIN_TIMEOUT_DEFAULT).await {
        Ok(()) => Ok(()),
        Err(admin::AdminError::Cluster(ClusterError::Rejected(ApplyError::TopicExists(_)))) => {
            Ok(())
        }
        Err(e) => {
            tracing::debug!(topic = name, error = %e, "auto-creating a topic failed");
            Err(e.error_code())
        }
    }
}

fn missing(name: String, error_code: ErrorCode) -> TopicMetadata {
    TopicMetadata {
        error_code,
        name,
        is_internal: false,
        partitions: Vec::new(),
    }
}

/// One topic of the image.
fn describe(ctx: &BrokerCtx, view: &Leadership, name: &str, topic: &TopicRecord) -> TopicMetadata {
    let local = ctx.topics.get(name);
    TopicMetadata {
        error_code: ErrorCode::None,
        name: name.to_string(),
        is_internal: topic.internal,
        partitions: topic
            .partitions
            .iter()
            .enumerate()
            .map(|(index, p)| {
                let index = i32::try_from(index).unwrap_or(i32::MAX);
                let offsets = view.check(name, index).ok().and_then(|()| {
                    local
                        .as_ref()?
                        .partition(index)?
                        .log()
                        .ok()
                        .map(|log| (log.high_watermark(), log.log_start_offset()))
                });
                partition(view, index, p, offsets)
            })
            .collect(),
    }
}

fn partition(
    view: &Leadership,
    index: i32,
    p: &PartitionRecord,
    offsets: Option<(i64, i64)>,
) -> PartitionMetadata {
    let ids = |nodes: &[u64]| nodes.iter().map(|n| wire_id(*n)).collect::<Vec<_>>();
    let leader = p.leader.filter(|_| !view.is_stale());
    let (high_watermark, log_start_offset) = offsets.unwrap_or((-1, -1));
    PartitionMetadata {
        error_code: if leader.is_some() {
            ErrorCode::None
        } else {
            ErrorCode::LeaderNotAvailable
        },
        partition: index,
        leader: leader.map_or(-1, wire_id),
        high_watermark,
        log_start_offset,
        leader_epoch: p.leader_epoch,
        replicas: ids(&p.replicas),
        isr: ids(&p.isr),
    }
}
