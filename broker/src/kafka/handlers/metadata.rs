//! Metadata: this broker at its advertised address, and each topic with its id and
//! partitions, from the native Metadata handler. The broker's internal topics are not
//! listed: their records are Rill's own, not a Kafka client's.

use std::sync::Arc;

use kafka_protocol::messages::metadata_request::MetadataRequest;
use kafka_protocol::messages::metadata_response::{
    MetadataResponse, MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, TopicName};
use rill_protocol::api::metadata as native;
use rill_protocol::error_code::ErrorCode;
use uuid::Uuid;

use super::kstr;
use crate::cluster::image::MetadataImage;
use crate::cluster::routing::wire_id;
use crate::kafka::topic_id::{find_name, id_of, UNKNOWN_TOPIC_ID};
use crate::kafka::KafkaCtx;
use crate::security::acl::{AclOperation, ResourceType};
use crate::security::Access;
use crate::server::handlers::metadata::{self as native_handler, NODE_ID};

/// The cluster id reported to clients (one broker, one cluster).
pub const CLUSTER_ID: &str = "rill";
/// The operations that apply to a topic.
const TOPIC_OPERATIONS: &[AclOperation] = &[
    AclOperation::Read,
    AclOperation::Write,
    AclOperation::Create,
    AclOperation::Delete,
    AclOperation::Alter,
    AclOperation::Describe,
    AclOperation::DescribeConfigs,
    AclOperation::AlterConfigs,
];
/// The operations that apply to the cluster.
const CLUSTER_OPERATIONS: &[AclOperation] = &[
    AclOperation::Create,
    AclOperation::Alter,
    AclOperation::Describe,
    AclOperation::ClusterAction,
    AclOperation::DescribeConfigs,
    AclOperation::AlterConfigs,
    AclOperation::IdempotentWrite,
];

/// Kafka's authorized-operations bit set (bit n for the operation numbered n) of what
/// `access` permits on the resource.
fn authorized_operations(
    access: &Access,
    resource_type: ResourceType,
    name: &str,
    operations: &[AclOperation],
) -> i32 {
    operations
        .iter()
        .filter(|op| access.permits(resource_type, name, **op))
        .fold(0, |set, op| set | (1 << op.code()))
}

/// Answers a Metadata request.
/// Topics named by id are resolved only when the principal may describe them, so an id
/// tells nothing about a topic it may not see.
pub async fn handle(
    ctx: &Arc<KafkaCtx>,
    req: MetadataRequest,
    version: i16,
    access: &Access,
) -> MetadataResponse {
    let mut unknown_ids = Vec::new();
    // v0 asks for every topic with an empty list; v1+ with a null one.
    let names = match req.topics {
        None => None,
        Some(topics) if version == 0 && topics.is_empty() => None,
        Some(topics) => Some(
            topics
                .into_iter()
                .filter_map(|t| match t.name {
                    Some(name) => Some(name.0.to_string()),
                    None => {
                        let found = find_name(&ctx.broker, t.topic_id).filter(|name| {
                            access.permits(ResourceType::Topic, name, AclOperation::Describe)
                        });
                        if found.is_none() {
                            unknown_ids.push(t.topic_id);
                        }
                        found
                    }
                })
                .collect(),
        ),
    };
    let listing_all = names.is_none();
    let topic_ops = req.include_topic_authorized_operations;
    let cluster_ops = req.include_cluster_authorized_operations;
    let native_req = native::MetadataRequest {
        topics: names,
        // v0-3 always allow auto-creation (the field arrived in v4; the codec fills true).
        allow_auto_topic_creation: req.allow_auto_topic_creation,
    };
    let answer = native_handler::handle(&ctx.broker, native_req, access).await;
    let mut response = MetadataResponse::default();
    let image = ctx.broker.cluster.as_ref().map(|c| c.image());
    response.brokers = match &image {
        Some(image) => cluster_brokers(image),
        None => vec![broker(ctx)],
    };
    response.cluster_id = Some(kstr(cluster_id(ctx)));
    response.controller_id = BrokerId(answer.controller_id);
    if cluster_ops && (8..=10).contains(&version) {
        response.cluster_authorized_operations = authorized_operations(
            access,
            ResourceType::Cluster,
            rill_protocol::api::acls::CLUSTER_RESOURCE_NAME,
            CLUSTER_OPERATIONS,
        );
    }
    response.topics = answer
        .topics
        .into_iter()
        .filter(|t| !(listing_all && t.is_internal))
        .map(|t| {
            let ops = (topic_ops && version >= 8 && t.error_code == ErrorCode::None).then(|| {
                authorized_operations(access, ResourceType::Topic, &t.name, TOPIC_OPERATIONS)
            });
            let mut out = topic(ctx, image.as_deref(), t);
            if let Some(ops) = ops {
                out.topic_authorized_operations = ops;
            }
            out
        })
        .collect();
    response
        .topics
        .extend(unknown_ids.into_iter().map(unknown_topic_id));
    response
}

/// This broker as Kafka clients should dial it.
pub fn broker(ctx: &KafkaCtx) -> MetadataResponseBroker {
    let mut b = MetadataResponseBroker::default();
    b.node_id = BrokerId(NODE_ID);
    b.host = kstr(ctx.advertised.host.clone());
    b.port = i32::from(ctx.advertised.port);
    b
}

fn unknown_topic_id(id: Uuid) -> MetadataResponseTopic {
    let mut t = MetadataResponseTopic::default();
    t.error_code = UNKNOWN_TOPIC_ID;
    t.topic_id = id;
    t
}

/// The cluster id Kafka clients see: the image's in a cluster, else [`CLUSTER_ID`].
pub fn cluster_id(ctx: &KafkaCtx) -> String {
    ctx.broker
        .cluster
        .as_ref()
        .map(|c| c.image().cluster_id.clone())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| CLUSTER_ID.to_string())
}

/// The unfenced brokers that serve Kafka clients, at their Kafka addresses.
pub fn cluster_brokers(image: &MetadataImage) -> Vec<MetadataResponseBroker> {
    image
        .brokers
        .iter()
        .filter(|(_, b)| !b.fenced)
        .filter_map(|(id, b)| {
            let (host, port) = b.registration.kafka.clone()?;
            let mut out = MetadataResponseBroker::default();
            out.node_id = BrokerId(wire_id(*id));
            out.host = kstr(host);
            out.port = i32::from(port);
            out.rack = b.registration.rack.clone().map(kstr);
            Some(out)
        })
        .collect()
}

fn topic(
    ctx: &KafkaCtx,
    image: Option<&MetadataImage>,
    t: native::TopicMetadata,
) -> MetadataResponseTopic {
    let mut out = MetadataResponseTopic::default();
    out.error_code = t.error_code.code();
    if t.error_code == ErrorCode::None {
        out.topic_id = id_of(&ctx.broker, &t.name);
    }
    out.name = Some(TopicName(kstr(t.name)));
    out.is_internal = t.is_internal;
    out.partitions = t
        .partitions
        .into_iter()
        .map(|p| match image {
            Some(image) => cluster_partition(image, p),
            None => partition(p),
        })
        .collect();
    out
}

/// A partition as the image describes it; replicas on fenced brokers are offline.
fn cluster_partition(
    image: &MetadataImage,
    p: native::PartitionMetadata,
) -> MetadataResponsePartition {
    let mut out = MetadataResponsePartition::default();
    out.error_code = p.error_code.code();
    out.partition_index = p.partition;
    out.leader_id = BrokerId(p.leader);
    out.leader_epoch = p.leader_epoch;
    out.offline_replicas = p
        .replicas
        .iter()
        .filter(|r| !u64::try_from(**r).is_ok_and(|id| image.is_alive(id)))
        .map(|r| BrokerId(*r))
        .collect();
    out.replica_nodes = p.replicas.into_iter().map(BrokerId).collect();
    out.isr_nodes = p.isr.into_iter().map(BrokerId).collect();
    out
}

fn partition(p: native::PartitionMetadata) -> MetadataResponsePartition {
    let mut out = MetadataResponsePartition::default();
    out.error_code = p.error_code.code();
    out.partition_index = p.partition;
    out.leader_id = BrokerId(p.leader);
    out.leader_epoch = 0;
    out.replica_nodes = vec![BrokerId(NODE_ID)];
    if p.leader == NODE_ID {
        out.isr_nodes = vec![BrokerId(NODE_ID)];
    } else {
        out.offline_replicas = vec![BrokerId(NODE_ID)];
    }
    out
}
