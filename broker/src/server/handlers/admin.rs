//! Topic administration: CreateTopics, DeleteTopics, DescribeTopicConfigs,
//! AlterTopicConfigs. Creating and deleting touch files, so they run on the blocking pool.

use std::collections::BTreeMap;
use std::sync::Arc;

use rill_protocol::api::alter_topic_configs::{
    AlterTopicConfigsRequest, AlterTopicConfigsResponse,
};
use rill_protocol::api::common::{ConfigEntry, TopicResult};
use rill_protocol::api::create_topics::{
    CreateTopicsRequest, CreateTopicsResponse, DEFAULT_NUM_PARTITIONS,
};
use rill_protocol::api::delete_topics::{DeleteTopicsRequest, DeleteTopicsResponse};
use rill_protocol::api::describe_topic_configs::{
    DescribeTopicConfigsRequest, DescribeTopicConfigsResponse, TopicConfigs,
};
use rill_protocol::error_code::ErrorCode;

use super::errors::topic_error_code;
use super::run_blocking;
use crate::cluster::admin::{self as cluster_admin, NewTopic};
use crate::security::acl::AclOperation;
use crate::security::Access;
use crate::server::BrokerCtx;
use crate::storage::now_ms;
use crate::topics::{
    config as topic_config, is_internal_name, validate_client_name, validate_name, TopicError,
};

fn result(name: String, outcome: Result<(), TopicError>) -> TopicResult {
    match outcome {
        Ok(()) => TopicResult {
            name,
            error_code: ErrorCode::None,
            error_message: None,
        },
        Err(e) => TopicResult {
            name,
            error_code: topic_error_code(&e),
            error_message: Some(e.to_string()),
        },
    }
}

/// The result of a topic the principal may not touch.
fn refused(name: String, operation: AclOperation) -> TopicResult {
    TopicResult {
        name,
        error_code: ErrorCode::TopicAuthorizationFailed,
        error_message: Some(format!("not authorized to {operation} this topic")),
    }
}

/// Creates each topic in the request (or only validates, with `validate_only`); needs
/// Create on the cluster or the topic.
pub async fn create_topics(
    ctx: &Arc<BrokerCtx>,
    req: CreateTopicsRequest,
    access: &Access,
) -> CreateTopicsResponse {
    let mut topics = Vec::with_capacity(req.topics.len());
    for topic in req.topics {
        if !super::metadata::may_create(access, &topic.name) {
            topics.push(refused(topic.name, AclOperation::Create));
            continue;
        }
        let overrides: BTreeMap<String, String> = topic
            .configs
            .into_iter()
            .filter_map(|c| c.value.map(|v| (c.key, v)))
            .collect();
        let partitions = match topic.num_partitions {
            DEFAULT_NUM_PARTITIONS => Ok(None),
            n => u32::try_from(n)
                .map(Some)
                .map_err(|_| TopicError::InvalidPartitions(i64::from(n))),
        };
        if let Some(cluster) = &ctx.cluster {
            let new_topic = NewTopic {
                name: topic.name.clone(),
                partitions: match partitions {
                    Ok(p) => p,
                    Err(e) => {
                        topics.push(result(topic.name, Err(e)));
                        continue;
                    }
                },
                replication_factor: Some(i32::from(topic.replication_factor)),
                configs: overrides,
                internal: false,
            };
            let timeout = cluster_admin::admin_timeout(req.timeout_ms);
            let outcome =
                cluster_admin::create_topic(ctx, cluster, new_topic, req.validate_only, timeout)
                    .await;
            topics.push(cluster_result(topic.name, outcome));
            continue;
        }
        let outcome = match partitions {
            Err(e) => Err(e),
            Ok(_) if is_internal_name(&topic.name) => validate_client_name(&topic.name),
            Ok(_) if req.validate_only => validate_only(ctx, &topic.name, &overrides),
            Ok(partitions) => {
                let name = topic.name.clone();
                run_blocking(ctx, move |ctx| {
                    ctx.topics.create(&name, partitions, overrides).map(|_| ())
                })
                .await
            }
        };
        topics.push(result(topic.name, outcome));
    }
    CreateTopicsResponse { topics }
}

/// The result of a topic change through the controller.
fn cluster_result(name: String, outcome: Result<(), cluster_admin::AdminError>) -> TopicResult {
    match outcome {
        Ok(()) => TopicResult {
            name,
            error_code: ErrorCode::None,
            error_message: None,
        },
        Err(e) => TopicResult {
            name,
            error_code: e.error_code(),
            error_message: Some(e.to_string()),
        },
    }
}

fn validate_only(
    ctx: &BrokerCtx,
    name: &str,
    overrides: &BTreeMap<String, String>,
) -> Result<(), TopicError> {
    validate_name(name)?;
    if ctx.topics.get(name).is_some() {
        return Err(TopicError::AlreadyExists(name.to_string()));
    }
    topic_config::log_config(
        &ctx.topics.defaults(),
        overrides,
        ctx.config.max_frame_bytes,
    )?;
    Ok(())
}

/// Deletes each named topic and its data (Delete on the topic).
pub async fn delete_topics(
    ctx: &Arc<BrokerCtx>,
    req: DeleteTopicsRequest,
    access: &Access,
) -> DeleteTopicsResponse {
    let mut topics = Vec::with_capacity(req.topic_names.len());
    for name in req.topic_names {
        if !access.topic(&name, AclOperation::Delete) {
            topics.push(refused(name, AclOperation::Delete));
            continue;
        }
        if is_internal_name(&name) {
            topics.push(result(name.clone(), validate_client_name(&name)));
            continue;
        }
        if let Some(cluster) = &ctx.cluster {
            let timeout = cluster_admin::admin_timeout(req.timeout_ms);
            let outcome = cluster_admin::delete_topic(ctx, cluster, &name, timeout).await;
            topics.push(cluster_result(name, outcome));
            continue;
        }
        let doomed = name.clone();
        let outcome = run_blocking(ctx, move |ctx| {
            ctx.topics.delete(&doomed)?;
            // Every group's committed offsets go with the topic: a topic re-created under
            // this name starts with none. (A failure here is retried at the next start.)
            if let Err(e) = ctx.groups.forget_topic(&ctx.topics, &doomed, now_ms()) {
                tracing::warn!(topic = %doomed, error = %e, "could not delete the committed offsets of a deleted topic; they are deleted at the next start");
            }
            Ok(())
        })
        .await;
        topics.push(result(name, outcome));
    }
    DeleteTopicsResponse { topics }
}

/// The effective settings of each topic (DescribeConfigs on the topic).
pub fn describe_configs(
    ctx: &BrokerCtx,
    req: DescribeTopicConfigsRequest,
    access: &Access,
) -> DescribeTopicConfigsResponse {
    let topics = super::unique(req.topics)
        .into_iter()
        .map(|name| match ctx.topics.get(&name) {
            _ if !access.topic(&name, AclOperation::DescribeConfigs) => TopicConfigs {
                name,
                error_code: ErrorCode::TopicAuthorizationFailed,
                configs: Vec::new(),
            },
            None if ctx.cluster.is_some() => describe_from_image(ctx, name),
            Some(topic) => TopicConfigs {
                name,
                error_code: ErrorCode::None,
                configs: topic_config::describe_topic(&topic)
                    .into_iter()
                    .chain(dirty_ratio(&topic))
                    .map(|(key, value)| ConfigEntry {
                        key,
                        value: Some(value),
                    })
                    .collect(),
            },
            None => TopicConfigs {
                name,
                error_code: ErrorCode::UnknownTopicOrPartition,
                configs: Vec::new(),
            },
        })
        .collect();
    DescribeTopicConfigsResponse { topics }
}

/// The settings of a topic this clustered broker holds no copy of, from the image.
fn describe_from_image(ctx: &BrokerCtx, name: String) -> TopicConfigs {
    let image = ctx.cluster.as_ref().map(|c| c.image());
    let Some(topic) = image.as_ref().and_then(|i| i.topics.get(&name)) else {
        return TopicConfigs {
            name,
            error_code: ErrorCode::UnknownTopicOrPartition,
            configs: Vec::new(),
        };
    };
    let defaults = ctx.topics.defaults();
    let described =
        topic_config::log_config(&defaults, &topic.configs, ctx.config.max_batch_bytes())
            .map(|config| topic_config::describe(&config))
            .and_then(|mut all| {
                all.extend(
                    crate::topics::TimestampPolicy::from_overrides(&topic.configs)?.describe(),
                );
                Ok(all)
            });
    match described {
        Ok(all) => TopicConfigs {
            name,
            error_code: ErrorCode::None,
            configs: all
                .into_iter()
                .map(|(key, value)| ConfigEntry {
                    key,
                    value: Some(value),
                })
                .collect(),
        },
        Err(e) => TopicConfigs {
            name,
            error_code: topic_error_code(&e),
            configs: Vec::new(),
        },
    }
}

/// A compacted topic's `dirty.ratio` (read-only): the highest dirty ratio among its
/// partitions as of the cleaner's last look, with three decimals.
fn dirty_ratio(topic: &crate::topics::Topic) -> Option<(String, String)> {
    if !topic.log_config.compaction.policy.compacts() {
        return None;
    }
    let highest = topic
        .partitions
        .iter()
        .filter_map(|p| p.log().ok().map(|log| log.dirty_ratio()))
        .fold(0.0f64, f64::max);
    Some((DIRTY_RATIO_KEY.to_string(), format!("{highest:.3}")))
}

/// The read-only describe entry carrying a compacted topic's dirty ratio.
pub const DIRTY_RATIO_KEY: &str = "dirty.ratio";

/// Changes a topic's settings; a `null` value returns a key to the broker default.
/// Needs AlterConfigs on the topic.
pub async fn alter_configs(
    ctx: &Arc<BrokerCtx>,
    req: AlterTopicConfigsRequest,
    access: &Access,
) -> AlterTopicConfigsResponse {
    if !access.topic(&req.topic, AclOperation::AlterConfigs) {
        return AlterTopicConfigsResponse {
            error_code: ErrorCode::TopicAuthorizationFailed,
            error_message: Some("not authorized to AlterConfigs this topic".into()),
        };
    }
    let changes = req.configs.into_iter().map(|c| (c.key, c.value)).collect();
    let topic = req.topic;
    // The broker's own topics are off-limits, as for delete and produce: a retention
    // set on `__consumer_offsets` would delete the groups' committed offsets.
    if let Err(e) = validate_client_name(&topic) {
        return AlterTopicConfigsResponse {
            error_code: topic_error_code(&e),
            error_message: Some(e.to_string()),
        };
    }
    if let Some(cluster) = &ctx.cluster {
        let timeout = cluster_admin::ADMIN_TIMEOUT_DEFAULT;
        return match cluster_admin::alter_topic_configs(ctx, cluster, &topic, changes, timeout)
            .await
        {
            Ok(()) => AlterTopicConfigsResponse {
                error_code: ErrorCode::None,
                error_message: None,
            },
            Err(e) => AlterTopicConfigsResponse {
                error_code: e.error_code(),
                error_message: Some(e.to_string()),
            },
        };
    }
    let outcome = run_blocking(ctx, move |ctx| ctx.topics.alter(&topic, changes)).await;
    match outcome {
        Ok(_) => AlterTopicConfigsResponse {
            error_code: ErrorCode::None,
            error_message: None,
        },
        Err(e) => AlterTopicConfigsResponse {
            error_code: topic_error_code(&e),
            error_message: Some(e.to_string()),
        },
    }
}
