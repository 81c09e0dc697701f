//! DescribeConfigs v1-4 and IncrementalAlterConfigs v0-1 for topics (and a read-only
//! description of the broker), on the native topic settings.
//!
//! A topic is described with Kafka's full list of topic settings, so tools that expect
//! them find them: the five Rill implements (`retention.ms`, `retention.bytes`,
//! `segment.bytes`, `segment.ms`, and Rill's own `flush`) carry the topic's effective
//! values and can be altered; `max.message.bytes` is the broker's batch limit; the rest
//! report the fixed behaviour of a single Rill broker and are read-only.

use std::sync::Arc;

use kafka_protocol::messages::describe_configs_request::{
    DescribeConfigsRequest, DescribeConfigsResource,
};
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResponse, DescribeConfigsResult,
};
use kafka_protocol::messages::incremental_alter_configs_request::IncrementalAlterConfigsRequest;
use kafka_protocol::messages::incremental_alter_configs_response::{
    AlterConfigsResourceResponse, IncrementalAlterConfigsResponse,
};
use rill_protocol::api::alter_topic_configs::AlterTopicConfigsRequest;
use rill_protocol::api::common::ConfigEntry;
use rill_protocol::api::describe_topic_configs::DescribeTopicConfigsRequest;
use rill_protocol::error_code::ErrorCode;

use super::kstr;
use crate::kafka::KafkaCtx;
use crate::security::acl::AclOperation;
use crate::security::Access;
use crate::server::handlers::admin as native_handler;
use crate::topics::config as topic_config;

/// Kafka's resource types.
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
/// Kafka's config sources.
const SOURCE_DYNAMIC_TOPIC: i8 = 1;
const SOURCE_STATIC_BROKER: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;
/// Kafka's config types.
const TYPE_BOOLEAN: i8 = 1;
const TYPE_STRING: i8 = 2;
const TYPE_INT: i8 = 3;
const TYPE_LONG: i8 = 5;
const TYPE_DOUBLE: i8 = 6;
const TYPE_LIST: i8 = 7;
/// IncrementalAlterConfigs operations.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;

/// Kafka topic settings Rill does not implement, with the value that describes what a
/// single Rill broker does (read-only).
const FIXED_TOPIC_CONFIGS: &[(&str, &str, i8)] = &[
    ("cleanup.policy", "delete", TYPE_LIST),
    ("compression.type", "producer", TYPE_STRING),
    ("delete.retention.ms", "86400000", TYPE_LONG),
    ("file.delete.delay.ms", "60000", TYPE_LONG),
    ("flush.messages", "9223372036854775807", TYPE_LONG),
    ("flush.ms", "9223372036854775807", TYPE_LONG),
    ("follower.replication.throttled.replicas", "", TYPE_LIST),
    ("index.interval.bytes", "4096", TYPE_INT),
    ("leader.replication.throttled.replicas", "", TYPE_LIST),
    ("local.retention.bytes", "-2", TYPE_LONG),
    ("local.retention.ms", "-2", TYPE_LONG),
    ("max.compaction.lag.ms", "9223372036854775807", TYPE_LONG),
    ("message.downconversion.enable", "false", TYPE_BOOLEAN),
    (
        "message.timestamp.after.max.ms",
        "9223372036854775807",
        TYPE_LONG,
    ),
    (
        "message.timestamp.before.max.ms",
        "9223372036854775807",
        TYPE_LONG,
    ),
    ("message.timestamp.type", "CreateTime", TYPE_STRING),
    ("min.cleanable.dirty.ratio", "0.5", TYPE_DOUBLE),
    ("min.compaction.lag.ms", "0", TYPE_LONG),
    ("min.insync.replicas", "1", TYPE_INT),
    ("preallocate", "false", TYPE_BOOLEAN),
    ("remote.storage.enable", "false", TYPE_BOOLEAN),
    ("segment.index.bytes", "10485760", TYPE_INT),
    ("segment.jitter.ms", "0", TYPE_LONG),
    ("unclean.leader.election.enable", "false", TYPE_BOOLEAN),
];

/// Answers a DescribeConfigs request.
pub async fn describe(
    ctx: &Arc<KafkaCtx>,
    req: DescribeConfigsRequest,
    access: &Access,
) -> DescribeConfigsResponse {
    let mut response = DescribeConfigsResponse::default();
    for resource in req.resources {
        let mut result = DescribeConfigsResult::default();
        result.resource_type = resource.resource_type;
        result.resource_name = resource.resource_name.clone();
        match resource.resource_type {
            RESOURCE_TOPIC => match topic_configs(ctx, &resource, access).await {
                Ok(configs) => result.configs = filtered(configs, &resource),
                Err(code) => {
                    result.error_code = code.code();
                    result.error_message = Some(kstr(code.description()));
                }
            },
            RESOURCE_BROKER if !access.cluster(AclOperation::DescribeConfigs) => {
                let code = ErrorCode::ClusterAuthorizationFailed;
                result.error_code = code.code();
                result.error_message = Some(kstr(code.description()));
            }
            RESOURCE_BROKER => result.configs = filtered(broker_configs(ctx), &resource),
            other => {
                result.error_code = ErrorCode::InvalidRequest.code();
                result.error_message =
                    Some(kstr(format!("resource type {other} has no configs here")));
            }
        }
        response.results.push(result);
    }
    response
}

fn filtered(
    configs: Vec<DescribeConfigsResourceResult>,
    resource: &DescribeConfigsResource,
) -> Vec<DescribeConfigsResourceResult> {
    match &resource.configuration_keys {
        None => configs,
        Some(keys) => configs
            .into_iter()
            .filter(|c| keys.contains(&c.name))
            .collect(),
    }
}

fn entry(
    name: &str,
    value: String,
    read_only: bool,
    source: i8,
    kind: i8,
) -> DescribeConfigsResourceResult {
    let mut c = DescribeConfigsResourceResult::default();
    c.name = kstr(name);
    c.value = Some(kstr(value));
    c.read_only = read_only;
    c.config_source = source;
    c.config_type = kind;
    c
}

async fn topic_configs(
    ctx: &Arc<KafkaCtx>,
    resource: &DescribeConfigsResource,
    access: &Access,
) -> Result<Vec<DescribeConfigsResourceResult>, ErrorCode> {
    let name = resource.resource_name.to_string();
    let native = native_handler::describe_configs(
        &ctx.broker,
        DescribeTopicConfigsRequest {
            topics: vec![name.clone()],
        },
        access,
    );
    let topic = native
        .topics
        .into_iter()
        .next()
        .ok_or(ErrorCode::UnknownTopicOrPartition)?;
    if topic.error_code != ErrorCode::None {
        return Err(topic.error_code);
    }
    let overrides = ctx
        .broker
        .topics
        .get(&name)
        .map(|t| t.overrides.clone())
        .unwrap_or_default();
    let mut configs: Vec<DescribeConfigsResourceResult> = topic
        .configs
        .into_iter()
        .map(|c| {
            let source = if overrides.contains_key(&c.key) {
                SOURCE_DYNAMIC_TOPIC
            } else {
                SOURCE_DEFAULT
            };
            let kind = if c.key == topic_config::FLUSH {
                TYPE_STRING
            } else {
                TYPE_LONG
            };
            entry(&c.key, c.value.unwrap_or_default(), false, source, kind)
        })
        .collect();
    let max_message = ctx.broker.config.max_batch_bytes().to_string();
    configs.push(entry(
        "max.message.bytes",
        max_message,
        true,
        SOURCE_STATIC_BROKER,
        TYPE_INT,
    ));
    configs.extend(
        FIXED_TOPIC_CONFIGS
            .iter()
            .map(|&(k, v, t)| entry(k, v.to_string(), true, SOURCE_DEFAULT, t)),
    );
    configs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(configs)
}

/// The broker's settings in Kafka's names (read-only: they change with rilld's flags).
fn broker_configs(ctx: &KafkaCtx) -> Vec<DescribeConfigsResourceResult> {
    let c = &ctx.broker.config;
    let d = &c.topic_defaults;
    let limit = |v: Option<u64>| v.map_or("-1".to_string(), |v| v.to_string());
    let advertised = format!(
        "PLAINTEXT://{}:{}",
        ctx.advertised.host, ctx.advertised.port
    );
    let listen = c
        .kafka_listen
        .map(|a| format!("PLAINTEXT://{a}"))
        .unwrap_or_default();
    [
        ("broker.id", "0".to_string(), TYPE_INT),
        ("advertised.listeners", advertised, TYPE_STRING),
        ("listeners", listen, TYPE_STRING),
        ("num.partitions", d.partitions.to_string(), TYPE_INT),
        (
            "auto.create.topics.enable",
            c.auto_create_topics.to_string(),
            TYPE_BOOLEAN,
        ),
        ("log.retention.ms", limit(d.retention_ms), TYPE_LONG),
        ("log.retention.bytes", limit(d.retention_bytes), TYPE_LONG),
        ("log.segment.bytes", d.segment_bytes.to_string(), TYPE_INT),
        ("log.roll.ms", d.segment_ms.to_string(), TYPE_LONG),
        (
            "message.max.bytes",
            c.max_batch_bytes().to_string(),
            TYPE_INT,
        ),
        (
            "socket.request.max.bytes",
            c.max_frame_bytes.to_string(),
            TYPE_INT,
        ),
        ("default.replication.factor", "1".to_string(), TYPE_INT),
        (
            "offsets.topic.replication.factor",
            "1".to_string(),
            TYPE_INT,
        ),
        ("min.insync.replicas", "1".to_string(), TYPE_INT),
        (
            "group.min.session.timeout.ms",
            c.groups.session_timeout_ms_min.to_string(),
            TYPE_INT,
        ),
        (
            "group.max.session.timeout.ms",
            c.groups.session_timeout_ms_max.to_string(),
            TYPE_INT,
        ),
        (
            "group.max.size",
            c.groups.members_per_group_max.to_string(),
            TYPE_INT,
        ),
    ]
    .into_iter()
    .map(|(k, v, t)| entry(k, v, true, SOURCE_STATIC_BROKER, t))
    .collect()
}

/// Answers an IncrementalAlterConfigs request: SET and DELETE of the topic settings Rill
/// implements (each resource all or nothing, through the native alter).
pub async fn incremental_alter(
    ctx: &Arc<KafkaCtx>,
    req: IncrementalAlterConfigsRequest,
    access: &Access,
) -> IncrementalAlterConfigsResponse {
    let mut response = IncrementalAlterConfigsResponse::default();
    for resource in req.resources {
        let mut out = AlterConfigsResourceResponse::default();
        out.resource_type = resource.resource_type;
        out.resource_name = resource.resource_name.clone();
        let outcome = match changes(&resource) {
            _ if !may_alter(access, &resource) => {
                let code = match resource.resource_type {
                    RESOURCE_TOPIC => ErrorCode::TopicAuthorizationFailed,
                    _ => ErrorCode::ClusterAuthorizationFailed,
                };
                Err((code, code.description().to_string()))
            }
            Err(message) => Err((ErrorCode::InvalidConfig, message)),
            Ok(_) if req.validate_only => Ok(()),
            Ok(configs) => {
                let native_req = AlterTopicConfigsRequest {
                    topic: resource.resource_name.to_string(),
                    configs,
                };
                let answer = native_handler::alter_configs(&ctx.broker, native_req, access).await;
                match answer.error_code {
                    ErrorCode::None => Ok(()),
                    code => Err((code, answer.error_message.unwrap_or_default())),
                }
            }
        };
        if let Err((code, message)) = outcome {
            out.error_code = code.code();
            out.error_message = Some(kstr(message));
        }
        response.responses.push(out);
    }
    response
}

/// AlterConfigs on the topic, or on the cluster for a broker resource.
fn may_alter(
    access: &Access,
    resource: &kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource,
) -> bool {
    match resource.resource_type {
        RESOURCE_TOPIC => access.topic(&resource.resource_name, AclOperation::AlterConfigs),
        _ => access.cluster(AclOperation::AlterConfigs),
    }
}

/// The native changes of one resource, or why they cannot be made.
fn changes(
    resource: &kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource,
) -> Result<Vec<ConfigEntry>, String> {
    if resource.resource_type != RESOURCE_TOPIC {
        return Err("only topic settings can be altered (broker settings are rilld flags)".into());
    }
    resource
        .configs
        .iter()
        .map(|c| {
            let key = c.name.to_string();
            if !topic_config::KNOWN_KEYS.contains(&key.as_str()) {
                return Err(format!(
                    "`{key}` cannot be changed on Rill; alterable: {}",
                    topic_config::KNOWN_KEYS.join(", ")
                ));
            }
            match c.config_operation {
                OP_SET => Ok(ConfigEntry {
                    key,
                    value: Some(c.value.as_ref().map(|v| v.to_string()).unwrap_or_default()),
                }),
                OP_DELETE => Ok(ConfigEntry { key, value: None }),
                op => Err(format!(
                    "operation {op} (APPEND/SUBTRACT) does not apply to `{key}`"
                )),
            }
        })
        .collect()
}
