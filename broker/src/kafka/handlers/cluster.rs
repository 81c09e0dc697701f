//! DescribeCluster v0-1: on a single broker, itself as the controller; in a cluster, the
//! unfenced brokers serving Kafka clients (at their Kafka addresses) and the controller,
//! from the metadata image.

use kafka_protocol::messages::describe_cluster_request::DescribeClusterRequest;
use kafka_protocol::messages::describe_cluster_response::{
    DescribeClusterBroker, DescribeClusterResponse,
};
use kafka_protocol::messages::BrokerId;

use super::kstr;
use super::metadata::{cluster_brokers, cluster_id};
use crate::cluster::routing::wire_id;
use crate::kafka::KafkaCtx;
use crate::server::handlers::metadata::NODE_ID;

/// Answers a DescribeCluster request.
pub fn describe(ctx: &KafkaCtx, _req: DescribeClusterRequest) -> DescribeClusterResponse {
    let mut response = DescribeClusterResponse::default();
    response.cluster_id = kstr(cluster_id(ctx));
    let Some(cluster) = &ctx.broker.cluster else {
        let mut broker = DescribeClusterBroker::default();
        broker.broker_id = BrokerId(NODE_ID);
        broker.host = kstr(ctx.advertised.host.clone());
        broker.port = i32::from(ctx.advertised.port);
        response.controller_id = BrokerId(NODE_ID);
        response.brokers = vec![broker];
        return response;
    };
    response.controller_id = BrokerId(cluster.status().controller.map_or(-1, wire_id));
    response.brokers = cluster_brokers(&cluster.image())
        .into_iter()
        .map(|b| {
            let mut out = DescribeClusterBroker::default();
            out.broker_id = b.node_id;
            out.host = b.host;
            out.port = b.port;
            out.rack = b.rack;
            out
        })
        .collect();
    response
}
