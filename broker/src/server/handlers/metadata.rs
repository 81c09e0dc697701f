//! Metadata: this broker, and each topic's partitions with their offsets. Unknown topics
//! are created on request when both the client and the broker allow it.

use std::sync::Arc;

use rill_protocol::api::metadata::{
    BrokerInfo, MetadataRequest, MetadataResponse, PartitionMetadata, TopicMetadata,
};
use rill_protocol::error_code::ErrorCode;

use super::errors::topic_error_code;
use super::run_blocking;
use crate::server::BrokerCtx;
use crate::topics::{is_internal_name, Topic};

/// The id of this (single) broker.
pub const NODE_ID: i32 = 0;

/// Answers a Metadata request.
pub async fn handle(ctx: &Arc<BrokerCtx>, req: MetadataRequest) -> MetadataResponse {
    let topics = match req.topics {
        None => ctx.topics.list().iter().map(|t| describe(t)).collect(),
        Some(names) => {
            let names = super::unique(names);
            let mut out = Vec::with_capacity(names.len());
            for name in names {
                out.push(lookup(ctx, name, req.allow_auto_topic_creation).await);
            }
            out
        }
    };
    MetadataResponse {
        brokers: vec![BrokerInfo {
            node_id: NODE_ID,
            host: ctx.advertised.ip().to_string(),
            port: i32::from(ctx.advertised.port()),
        }],
        controller_id: NODE_ID,
        topics,
    }
}

async fn lookup(ctx: &Arc<BrokerCtx>, name: String, allow_create: bool) -> TopicMetadata {
    if let Some(topic) = ctx.topics.get(&name) {
        return describe(&topic);
    }
    if !(allow_create && ctx.config.auto_create_topics) || is_internal_name(&name) {
        return missing(name, ErrorCode::UnknownTopicOrPartition);
    }
    let wanted = name.clone();
    match run_blocking(ctx, move |ctx| ctx.topics.get_or_create(&wanted)).await {
        Ok(topic) => describe(&topic),
        Err(e) => missing(name, topic_error_code(&e)),
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
                },
                // Offline: no broker leads it (Kafka's answer for a partition whose only
                // replica's log directory failed).
                Err(_) => PartitionMetadata {
                    error_code: ErrorCode::LeaderNotAvailable,
                    partition: p.index as i32,
                    leader: -1,
                    high_watermark: -1,
                    log_start_offset: -1,
                },
            })
            .collect(),
    }
}
