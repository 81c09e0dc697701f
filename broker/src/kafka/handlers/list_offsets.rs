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
use crate::security::Access;
use crate::server::handlers::list_offsets as native_handler;

/// First ListOffsets version whose answer carries the leader epoch.
const LEADER_EPOCH_VERSION_MIN: i16 = 4;

/// Answers a ListOffsets request.
pub async fn handle(
    ctx: &Arc<KafkaCtx>,
    req: ListOffsetsRequest,
    version: i16,
    access: &Access,
) -> ListOffsetsResponse {
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
    let answer = native_handler::handle(&ctx.broker, native_req, access).await;
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
                    // The field arrived in v4 (the codec refuses it set before).
                    if version >= LEADER_EPOCH_VERSION_MIN && p.offset >= 0 {
                        r.leader_epoch = 0;
                    }
                    r
                })
                .collect();
            out
        })
        .collect();
    response
}
