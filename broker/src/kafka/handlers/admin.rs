//! CreateTopics v2-7 and DeleteTopics v1-6, through the native admin handlers (which
//! run the file work on the blocking pool). One broker holds one replica of each
//! partition: a replication factor above 1 is refused, as are replica assignments that
//! name another broker.

use std::sync::Arc;

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreateTopicsRequest};
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicResult, CreateTopicsResponse,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicsRequest;
use kafka_protocol::messages::delete_topics_response::{
    DeletableTopicResult, DeleteTopicsResponse,
};
use kafka_protocol::messages::TopicName;
use rill_protocol::api::common::{ConfigEntry, TopicResult};
use rill_protocol::api::{create_topics as native_create, delete_topics as native_delete};
use rill_protocol::error_code::ErrorCode;

use super::kstr;
use crate::kafka::topic_id::{find_name, id_of, UNKNOWN_TOPIC_ID};
use crate::kafka::KafkaCtx;
use crate::security::acl::{AclOperation, ResourceType};
use crate::security::Access;
use crate::server::handlers::admin as native_handler;
use crate::server::handlers::metadata::NODE_ID;

/// Answers a CreateTopics request.
pub async fn create_topics(
    ctx: &Arc<KafkaCtx>,
    req: CreateTopicsRequest,
    access: &Access,
) -> CreateTopicsResponse {
    let mut refused = Vec::new();
    let mut accepted = Vec::new();
    for topic in req.topics {
        let name = topic.name.0.to_string();
        match creatable(&topic, ctx.broker.cluster.is_some()) {
            Ok(num_partitions) => accepted.push(native_create::CreatableTopic {
                name,
                num_partitions,
                configs: topic
                    .configs
                    .into_iter()
                    .map(|c| ConfigEntry {
                        key: c.name.to_string(),
                        value: c.value.map(|v| v.to_string()),
                    })
                    .collect(),
                replication_factor: topic.replication_factor,
            }),
            Err((code, message)) => refused.push(TopicResult {
                name,
                error_code: code,
                error_message: Some(message.to_string()),
            }),
        }
    }
    let native_req = native_create::CreateTopicsRequest {
        topics: accepted,
        timeout_ms: req.timeout_ms,
        validate_only: req.validate_only,
    };
    let answer = native_handler::create_topics(&ctx.broker, native_req, access).await;
    let mut response = CreateTopicsResponse::default();
    response.topics = answer
        .topics
        .into_iter()
        .chain(refused)
        .map(|r| created(ctx, r))
        .collect();
    response
}

/// The partition count to create, or why the topic cannot be created on one broker.
fn creatable(topic: &CreatableTopic, clustered: bool) -> Result<i32, (ErrorCode, &'static str)> {
    if clustered {
        // The controller places replicas; the count is checked against live brokers there.
        if !topic.assignments.is_empty() {
            return Err((
                ErrorCode::InvalidRequest,
                "manual replica assignments are not supported in a Rill cluster: give num_partitions and replication_factor",
            ));
        }
        return Ok(topic.num_partitions);
    }
    if topic.replication_factor > 1 {
        return Err((
            ErrorCode::InvalidReplicationFactor,
            "this broker runs alone: replication factor must be 1 (or -1 for the default)",
        ));
    }
    if topic.assignments.is_empty() {
        return Ok(topic.num_partitions);
    }
    let only_here = topic
        .assignments
        .iter()
        .all(|a| a.broker_ids.iter().all(|b| b.0 == NODE_ID));
    if !only_here || topic.num_partitions != native_create::DEFAULT_NUM_PARTITIONS {
        return Err((
            ErrorCode::InvalidRequest,
            "replica assignments may name only broker 0, without num_partitions",
        ));
    }
    Ok(i32::try_from(topic.assignments.len()).unwrap_or(i32::MAX))
}

fn created(ctx: &KafkaCtx, r: TopicResult) -> CreatableTopicResult {
    let mut out = CreatableTopicResult::default();
    out.error_code = r.error_code.code();
    out.error_message = r.error_message.map(kstr);
    let image_topic = ctx
        .broker
        .cluster
        .as_ref()
        .and_then(|c| c.image().topics.get(&r.name).cloned());
    match (ctx.broker.topics.get(&r.name), image_topic) {
        (_, Some(topic)) if r.error_code == ErrorCode::None => {
            out.topic_id = id_of(&ctx.broker, &r.name);
            out.num_partitions = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
            out.replication_factor = topic
                .partitions
                .first()
                .map_or(-1, |p| i16::try_from(p.replicas.len()).unwrap_or(i16::MAX));
        }
        (Some(topic), None) if r.error_code == ErrorCode::None => {
            out.topic_id = id_of(&ctx.broker, &r.name);
            out.num_partitions = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
            out.replication_factor = 1;
        }
        _ => {
            out.num_partitions = -1;
            out.replication_factor = -1;
        }
    }
    out.name = TopicName(kstr(r.name));
    out
}

/// Answers a DeleteTopics request (v6 may name topics by id).
pub async fn delete_topics(
    ctx: &Arc<KafkaCtx>,
    req: DeleteTopicsRequest,
    version: i16,
    access: &Access,
) -> DeleteTopicsResponse {
    let mut names: Vec<String> = req
        .topic_names
        .into_iter()
        .map(|n| n.0.to_string())
        .collect();
    let mut unknown_ids = Vec::new();
    if version >= 6 {
        for t in req.topics {
            match t.name {
                Some(name) => names.push(name.0.to_string()),
                // An id resolves only for a principal that may see the topic.
                None => match find_name(&ctx.broker, t.topic_id).filter(|name| {
                    access.permits(ResourceType::Topic, name, AclOperation::Describe)
                }) {
                    Some(name) => names.push(name),
                    None => unknown_ids.push(t.topic_id),
                },
            }
        }
    }
    let native_req = native_delete::DeleteTopicsRequest {
        topic_names: names,
        timeout_ms: req.timeout_ms,
    };
    let answer = native_handler::delete_topics(&ctx.broker, native_req, access).await;
    let mut response = DeleteTopicsResponse::default();
    response.responses = answer
        .topics
        .into_iter()
        .map(|r| {
            let mut out = DeletableTopicResult::default();
            out.topic_id = id_of(&ctx.broker, &r.name);
            out.error_code = r.error_code.code();
            out.error_message = r.error_message.map(kstr);
            out.name = Some(TopicName(kstr(r.name)));
            out
        })
        .collect();
    response.responses.extend(unknown_ids.into_iter().map(|id| {
        let mut out = DeletableTopicResult::default();
        out.topic_id = id;
        out.error_code = UNKNOWN_TOPIC_ID;
        out
    }));
    response
}
