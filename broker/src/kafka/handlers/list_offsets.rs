//! ListOffsets v1-7: earliest (-2), latest (-1) or by timestamp, from the native handler.

use std::sync::Arc;

use kafka_protocol::messages::list_offsets_request::ListOffsetsRequest;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::TopicName;
use rill_protocol::api::common::TopicPartitions;
use rill_protocol::api::list_offsets as native;

use super::kstr;
use crate::kafka::KafkaCtx;
use crate::server::handlers::list_offsets as native_handler;

/// Answers a ListOffsets request.
pub async fn handle(ctx: &Arc<KafkaCtx>, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let native_req = native::ListOffsetsRequest {
        isolation_level: req.isolation_level,
        topics: req
            .topics
            .into_iter()
            .map(|t| TopicPartitions {
                name: t.name.0.to_string(),
                partitions: t
                    .partitions
                    .into_iter()
                    .map(|p| native::ListOffsetsPartition {
                        partition: p.partition_index,
                        timestamp: p.timestamp,
                    })
                    .collect(),
            })
            .collect(),
    };
    let answer = native_handler::handle(&ctx.broker, native_req).await;
    let mut response = ListOffsetsResponse::default();
    response.topics = answer
        .topics
        .into_iter()
        .map(|t| {
            let mut out = ListOffsetsTopicResponse::default();
            out.name = TopicName(kstr(t.name));
            out.partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let mut r = ListOffsetsPartitionResponse::default();
                    r.partition_index = p.partition;
                    r.error_code = p.error_code.code();
                    r.timestamp = p.timestamp;
                    r.offset = p.offset;
                    r.leader_epoch = if p.offset >= 0 { 0 } else { -1 };
                    r
                })
                .collect();
            out
        })
        .collect();
    response
}
