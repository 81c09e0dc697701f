//! CreatePartitions v0-3: grows topics (never shrinks them). On a single broker, replica
//! assignments may name only broker 0; in a cluster the controller places the new
//! partitions (manual assignments are refused).

use std::sync::Arc;

use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsRequest, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_partitions_response::{
    CreatePartitionsResponse, CreatePartitionsTopicResult,
};
use rill_protocol::error_code::ErrorCode;

use super::kstr;
use crate::kafka::KafkaCtx;
use crate::security::acl::AclOperation;
use crate::security::Access;
use crate::server::handlers::errors::topic_error_code;
use crate::server::handlers::metadata::NODE_ID;
use crate::server::handlers::run_blocking;
use crate::topics::validate_client_name;

/// Answers a CreatePartitions request.
/// Needs Alter on each topic.
pub async fn create(
    ctx: &Arc<KafkaCtx>,
    req: CreatePartitionsRequest,
    access: &Access,
) -> CreatePartitionsResponse {
    let mut response = CreatePartitionsResponse::default();
    for topic in req.topics {
        let name = topic.name.0.to_string();
        let elsewhere = topic
            .assignments
            .iter()
            .flatten()
            .any(|a| a.broker_ids.iter().any(|b| b.0 != NODE_ID));
        let outcome = if !access.topic(&name, AclOperation::Alter) {
            let code = ErrorCode::TopicAuthorizationFailed;
            Err((code, code.description().to_string()))
        } else if let Some(cluster) = &ctx.broker.cluster {
            in_cluster(ctx, cluster, &name, &topic, req.validate_only).await
        } else if elsewhere {
            Err((
                ErrorCode::InvalidRequest,
                "assignments may name only broker 0".to_string(),
            ))
        } else if let Err(e) = validate_client_name(&name) {
            Err((topic_error_code(&e), e.to_string()))
        } else if req.validate_only {
            validate(ctx, &name, topic.count)
        } else {
            let total = u32::try_from(topic.count).unwrap_or(0);
            let wanted = name.clone();
            run_blocking(&ctx.broker, move |b| {
                b.topics.add_partitions(&wanted, total)
            })
            .await
            .map(|_| ())
            .map_err(|e| (topic_error_code(&e), e.to_string()))
        };
        let mut result = CreatePartitionsTopicResult::default();
        result.name = topic.name;
        if let Err((code, message)) = outcome {
            result.error_code = code.code();
            result.error_message = Some(kstr(message));
        }
        response.results.push(result);
    }
    response
}

fn validate(ctx: &KafkaCtx, name: &str, count: i32) -> Result<(), (ErrorCode, String)> {
    let Some(topic) = ctx.broker.topics.get(name) else {
        return Err((
            ErrorCode::UnknownTopicOrPartition,
            format!("unknown topic `{name}`"),
        ));
    };
    let current = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
    if count <= current {
        return Err((
            ErrorCode::InvalidPartitions,
            format!("topic `{name}` has {current} partitions; a topic can only grow"),
        ));
    }
    Ok(())
}

/// Grows a topic through the controller.
async fn in_cluster(
    ctx: &Arc<KafkaCtx>,
    cluster: &crate::cluster::Cluster,
    name: &str,
    topic: &CreatePartitionsTopic,
    validate_only: bool,
) -> Result<(), (ErrorCode, String)> {
    if topic.assignments.as_ref().is_some_and(|a| !a.is_empty()) {
        return Err((
            ErrorCode::InvalidRequest,
            "manual replica assignments are not supported in a Rill cluster: give only the count"
                .to_string(),
        ));
    }
    let total = u32::try_from(topic.count).unwrap_or(0);
    let timeout = crate::cluster::admin::ADMIN_TIMEOUT_DEFAULT;
    crate::cluster::admin::add_partitions(&ctx.broker, cluster, name, total, validate_only, timeout)
        .await
        .map_err(|e| (e.error_code(), e.to_string()))
}
