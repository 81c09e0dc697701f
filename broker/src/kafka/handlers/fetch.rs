//! Fetch v4-12: the native fetch (memory-mapped reads of whole stored batches from the
//! one that holds `fetch_offset`, long-polled on `max_wait_ms` / `min_bytes`). Fetch
//! sessions are not kept: every answer has session id 0, so clients send full requests.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::FetchRequest;
use kafka_protocol::messages::fetch_response::{
    FetchResponse, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{BrokerId, TopicName};
use rill_protocol::api::common::TopicPartitions;
use rill_protocol::api::fetch as native;

use super::kstr;
use crate::kafka::KafkaCtx;
use crate::security::Access;
use crate::server::budget::{ByteBudget, Charge};
use crate::server::handlers::fetch as native_handler;

/// Answers a Fetch request.
pub async fn handle(ctx: &Arc<KafkaCtx>, req: FetchRequest, access: &Access) -> FetchResponse {
    let native_req = native::FetchRequest {
        max_wait_ms: req.max_wait_ms,
        min_bytes: req.min_bytes,
        max_bytes: req.max_bytes,
        isolation_level: req.isolation_level,
        topics: req
            .topics
            .into_iter()
            .map(|t| TopicPartitions {
                name: t.topic.0.to_string(),
                partitions: t
                    .partitions
                    .into_iter()
                    .map(|p| native::FetchPartition {
                        partition: p.partition,
                        fetch_offset: p.fetch_offset,
                        partition_max_bytes: p.partition_max_bytes,
                    })
                    .collect(),
            })
            .collect(),
    };
    // A Kafka connection runs one request at a time, so its own budget is this request's;
    // the records read still count against the broker-wide buffer budget.
    let config = &ctx.broker.config;
    let connection = ByteBudget::new(
        config.max_connection_buffer_bytes,
        config.max_frame_bytes + rill_protocol::frame::FRAME_PREFIX_BYTES,
    );
    let mut charge = Charge::for_request(&connection, &ctx.broker.buffers, 1).await;
    let answer = native_handler::handle(&ctx.broker, native_req, &mut charge, access).await;
    let mut response = FetchResponse::default();
    response.error_code = answer.error_code.code();
    response.session_id = 0;
    response.responses = answer.topics.into_iter().map(topic).collect();
    response
}

fn topic(t: TopicPartitions<native::FetchPartitionResponse>) -> FetchableTopicResponse {
    let mut out = FetchableTopicResponse::default();
    out.topic = TopicName(kstr(t.name));
    out.partitions = t.partitions.into_iter().map(partition).collect();
    out
}

fn partition(p: native::FetchPartitionResponse) -> PartitionData {
    let mut out = PartitionData::default();
    out.partition_index = p.partition;
    out.error_code = p.error_code.code();
    out.high_watermark = p.high_watermark;
    out.last_stable_offset = p.last_stable_offset;
    out.log_start_offset = p.log_start_offset;
    out.preferred_read_replica = BrokerId(-1);
    out.aborted_transactions = Some(Vec::new());
    out.records = Some(records(p.records));
    out
}

/// The stored batches as one buffer: a single chunk is passed as is (no copy); several
/// are joined once (the codec copies the records into the frame either way).
fn records(records: native::FetchRecords) -> Bytes {
    match records.chunks() {
        [] => Bytes::new(),
        [one] => one.clone(),
        chunks => {
            let mut joined = BytesMut::with_capacity(records.len());
            for chunk in chunks {
                joined.extend_from_slice(chunk);
            }
            joined.freeze()
        }
    }
}
