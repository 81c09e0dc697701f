//! Metadata: this broker, and each topic's partitions with their offsets. Unknown topics
//! are created on request when both the client and the broker allow it.
//!
//! With authorization on, a listing of every topic leaves out those the principal may not
//! Describe, and a topic named without Describe is answered TOPIC_AUTHORIZATION_FAILED
//! whether it exists or not, so neither answer tells whether it exists. Auto-creation
//! needs Create on the cluster or the topic.

use std::sync::Arc;

use rill_protocol::api::metadata::{
    BrokerInfo, MetadataRequest, MetadataResponse, PartitionMetadata, TopicMetadata,
};
use rill_protocol::error_code::ErrorCode;

use super::errors::topic_error_code;
use super::run_blocking;
use crate::security::acl::{AclOperation, ResourceType};
use crate::security::Access;
use crate::server::BrokerCtx;
use crate::topics::{is_internal_name, Topic};

/// The id of a single (unclustered) broker.
pub const NODE_ID: i32 = 0;

/// Answers a Metadata request.
pub async fn handle(
    ctx: &Arc<BrokerCtx>,
    req: MetadataRequest,
    access: &Access,
) -> MetadataResponse {
    if let Some(cluster) = &ctx.cluster {
        return super::metadata_cluster::handle(ctx, cluster, req, access).await;
    }
    let topics = match req.topics {
        None => ctx
            .topics
            .list()
            .iter()
            .filter(|t| access.permits(ResourceType::Topic, &t.name, AclOperation::Describe))
            .map(|t| describe(t))
            .collect(),
        Some(names) => {
            let names = super::unique(names);
            let mut out = Vec::with_capacity(names.len());
            for name in names {
                if !access.topic(&name, AclOperation::Describe) {
                    out.push(missing(name, ErrorCode::TopicAuthorizationFailed));
                    continue;
                }
                out.push(lookup(ctx, name, req.allow_auto_topic_creation, access).await);
            }
            out
        }
    };
    MetadataResponse {
        brokers: vec![BrokerInfo {
            node_id: NODE_ID,
            host: ctx.native_advertised().0,
            port: i32::from(ctx.native_advertised().1),
            rack: None,
        }],
        controller_id: NODE_ID,
        topics,
    }
}

async fn lookup(
    ctx: &Arc<BrokerCtx>,
    name: String,
    allow_create: bool,
    access: &Access,
) -> TopicMetadata {
    if let Some(topic) = ctx.topics.get(&name) {
        return describe(&topic);
    }
    if !(allow_create && ctx.config.auto_create_topics) || is_internal_name(&name) {
        return missing(name, ErrorCode::UnknownTopicOrPartition);
    }
    if !may_create(access, &name) {
        return missing(name, ErrorCode::TopicAuthorizationFailed);
    }
    let wanted = name.clone();
    match run_blocking(ctx, move |ctx| ctx.topics.get_or_create(&wanted)).await {
        Ok(topic) => describe(&topic),
        Err(e) => missing(name, topic_error_code(&e)),
    }
}

/// Whether `access` may create the topic: Create on the cluster or on the topic.
pub fn may_create(access: &Access, name: &str) -> bool {
    access.cluster_permits(AclOperation::Create) || access.topic(name, AclOperation::Create)
}

fn missing(name: String, error_code: ErrorCode) -> TopicMetadata {
    TopicMetadata {
        error_code,
        name,
        is_internal: false,
        partitions: Vec::new(),
    }
}

/// The metadata of one topic.
pub fn describe(topic: &Topic) -> TopicMetadata {
    TopicMetadata {
        error_code: ErrorCode::None,
        name: topic.name.to_string(),
        is_internal: topic.is_internal(),
        partitions: topic
            .partitions
            .iter()
            .map(|p| match p.log() {
                Ok(log) => PartitionMetadata {
                    error_code: ErrorCode::None,
                    partition: p.index as i32,
                    leader: NODE_ID,
                    high_watermark: log.high_watermark(),
                    log_start_offset: log.log_start_offset(),
                    leader_epoch: 0,
                    replicas: vec![NODE_ID],
                    isr: vec![NODE_ID],
                },
                // Offline: no broker leads it (Kafka's answer for a partition whose only
                // replica's log directory failed).
                Err(_) => PartitionMetadata {
                    error_code: ErrorCode::LeaderNotAvailable,
                    partition: p.index as i32,
                    leader: -1,
                    high_watermark: -1,
                    log_start_offset: -1,
                    leader_epoch: 0,
                    replicas: vec![NODE_ID],
                    isr: Vec::new(),
                },
            })
            .collect(),
    }
}
