//! DescribeCluster v0-1: one broker, which is also the controller.

use kafka_protocol::messages::describe_cluster_request::DescribeClusterRequest;
use kafka_protocol::messages::describe_cluster_response::{
    DescribeClusterBroker, DescribeClusterResponse,
};
use kafka_protocol::messages::BrokerId;

use super::kstr;
use super::metadata::CLUSTER_ID;
use crate::kafka::KafkaCtx;
use crate::server::handlers::metadata::NODE_ID;

/// Answers a DescribeCluster request.
pub fn describe(ctx: &KafkaCtx, _req: DescribeClusterRequest) -> DescribeClusterResponse {
    let mut broker = DescribeClusterBroker::default();
    broker.broker_id = BrokerId(NODE_ID);
    broker.host = kstr(ctx.advertised.host.clone());
    broker.port = i32::from(ctx.advertised.port);
    let mut response = DescribeClusterResponse::default();
    response.cluster_id = kstr(CLUSTER_ID);
    response.controller_id = BrokerId(NODE_ID);
    response.brokers = vec![broker];
    response
}
