//! ListOffsets: the earliest offset, the latest (high watermark), or the first offset
//! whose batch holds a timestamp at or after the one asked for.

use rill_protocol::api::common::TopicPartitions;
use rill_protocol::api::list_offsets::{
    ListOffsetsPartition, ListOffsetsPartitionResponse, ListOffsetsRequest, ListOffsetsResponse,
    EARLIEST_TIMESTAMP, LATEST_TIMESTAMP,
};
use rill_protocol::error_code::ErrorCode;

use crate::server::BrokerCtx;

/// Answers a ListOffsets request.
pub fn handle(ctx: &BrokerCtx, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|topic| TopicPartitions {
            partitions: topic
                .partitions
                .iter()
                .map(|p| lookup(ctx, &topic.name, p))
                .collect(),
            name: topic.name,
        })
        .collect();
    ListOffsetsResponse { topics }
}

fn lookup(ctx: &BrokerCtx, topic: &str, p: &ListOffsetsPartition) -> ListOffsetsPartitionResponse {
    let answer = |error_code, timestamp, offset| ListOffsetsPartitionResponse {
        partition: p.partition,
        error_code,
        timestamp,
        offset,
    };
    let Ok(partition) = ctx.topics.partition(topic, p.partition) else {
        return answer(ErrorCode::UnknownTopicOrPartition, -1, -1);
    };
    let log = &partition.log;
    match p.timestamp {
        EARLIEST_TIMESTAMP => answer(ErrorCode::None, -1, log.log_start_offset()),
        LATEST_TIMESTAMP => answer(ErrorCode::None, -1, log.high_watermark()),
        ts if ts < 0 => answer(ErrorCode::InvalidRequest, -1, -1),
        ts => match log.offset_for_timestamp(ts) {
            Ok(Some((offset, timestamp))) => answer(ErrorCode::None, timestamp, offset),
            // No record at or after the timestamp: Kafka answers -1 / -1.
            Ok(None) => answer(ErrorCode::None, -1, -1),
            Err(e) => answer(super::errors::storage_error_code(&e), -1, -1),
        },
    }
}
