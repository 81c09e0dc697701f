//! Produce v3-9: each partition's RecordBatch v2 bytes go, as sent, to the native
//! produce handler (validation of structure, CRC and records, idempotent sequence
//! checks, auto-creation, the append). `acks=0` gets no response.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::produce_request::ProduceRequest;
use kafka_protocol::messages::produce_response::{
    PartitionProduceResponse, ProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::TopicName;
use rill_protocol::api::common::TopicPartitions;
use rill_protocol::api::produce as native;

use super::kstr;
use crate::kafka::KafkaCtx;
use crate::security::Access;
use crate::server::handlers::produce as native_handler;

/// Answers a Produce request; `None` for `acks=0`, which gets no response.
pub async fn handle(
    ctx: &Arc<KafkaCtx>,
    req: ProduceRequest,
    peer: SocketAddr,
    access: &Access,
) -> Option<ProduceResponse> {
    let acks = req.acks;
    let native_req = native::ProduceRequest {
        transactional_id: req.transactional_id.map(|id| id.0.to_string()),
        acks,
        timeout_ms: req.timeout_ms,
        topics: req
            .topic_data
            .into_iter()
            .map(|t| TopicPartitions {
                name: t.name.0.to_string(),
                partitions: t
                    .partition_data
                    .into_iter()
                    .map(|p| native::ProducePartition {
                        partition: p.index,
                        records: p.records.unwrap_or_else(Bytes::new),
                    })
                    .collect(),
            })
            .collect(),
    };
    let answer = native_handler::handle(&ctx.broker, native_req, peer, access).await;
    if acks == native::ACKS_NONE {
        return None;
    }
    let mut response = ProduceResponse::default();
    response.responses = answer.topics.into_iter().map(topic).collect();
    Some(response)
}

fn topic(t: TopicPartitions<native::ProducePartitionResponse>) -> TopicProduceResponse {
    let mut out = TopicProduceResponse::default();
    out.name = TopicName(kstr(t.name));
    out.partition_responses = t
        .partitions
        .into_iter()
        .map(|p| {
            let mut r = PartitionProduceResponse::default();
            r.index = p.partition;
            r.error_code = p.error_code.code();
            r.base_offset = p.base_offset;
            r.log_append_time_ms = p.log_append_time_ms;
            r.log_start_offset = p.log_start_offset;
            r.error_message = p.error_message.map(kstr);
            r
        })
        .collect();
    out
}
