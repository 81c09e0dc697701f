//! DescribeCluster (key 60): the cluster's brokers as this broker's metadata image knows
//! them (alive = not fenced, voter = in the metadata quorum), the controller, the
//! cluster id, the last applied metadata index and whether this broker's view is
//! stale. A single broker answers with itself alone. Needs Describe on the cluster.

use rill_protocol::api::describe_cluster::{ClusterBroker, DescribeClusterResponse};
use rill_protocol::error_code::ErrorCode;

use crate::cluster::routing::wire_id;
use crate::security::acl::AclOperation;
use crate::security::Access;
use crate::server::BrokerCtx;

/// The cluster id a single broker reports (as the Kafka listener does).
pub const SINGLE_BROKER_CLUSTER_ID: &str = "rill";

/// Answers a DescribeCluster request.
pub fn handle(ctx: &BrokerCtx, access: &Access) -> DescribeClusterResponse {
    if !access.cluster(AclOperation::Describe) {
        return DescribeClusterResponse {
            error_code: ErrorCode::ClusterAuthorizationFailed,
            cluster_id: String::new(),
            controller_id: -1,
            node_id: ctx.node_id(),
            metadata_applied: -1,
            metadata_stale: false,
            brokers: Vec::new(),
        };
    }
    let Some(cluster) = &ctx.cluster else {
        return single(ctx);
    };
    let status = cluster.status();
    let image = cluster.image();
    let brokers = image
        .brokers
        .iter()
        .map(|(id, b)| ClusterBroker {
            node_id: wire_id(*id),
            host: b.registration.host.clone(),
            port: i32::from(b.registration.port),
            rack: b.registration.rack.clone(),
            alive: !b.fenced,
            voter: status.voters.contains(id),
            inter_broker: b.registration.inter_broker.clone(),
        })
        .collect();
    DescribeClusterResponse {
        error_code: ErrorCode::None,
        cluster_id: image.cluster_id.clone(),
        controller_id: status.controller.map_or(-1, wire_id),
        node_id: ctx.node_id(),
        metadata_applied: status
            .applied_index
            .map_or(-1, |i| i64::try_from(i).unwrap_or(i64::MAX)),
        metadata_stale: status.stale,
        brokers,
    }
}

/// A single broker: itself, its own controller.
fn single(ctx: &BrokerCtx) -> DescribeClusterResponse {
    DescribeClusterResponse {
        error_code: ErrorCode::None,
        cluster_id: SINGLE_BROKER_CLUSTER_ID.to_string(),
        controller_id: ctx.node_id(),
        node_id: ctx.node_id(),
        metadata_applied: -1,
        metadata_stale: false,
        brokers: vec![ClusterBroker {
            node_id: ctx.node_id(),
            host: ctx.native_advertised().0,
            port: i32::from(ctx.native_advertised().1),
            rack: None,
            alive: true,
            voter: false,
            inter_broker: String::new(),
        }],
    }
}
