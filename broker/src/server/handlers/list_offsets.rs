//! ListOffsets: the earliest offset, the latest (high watermark), or the first offset
//! whose batch holds a timestamp at or after the one asked for.

use std::collections::HashSet;
use std::sync::Arc;

use rill_protocol::api::common::TopicPartitions;
use rill_protocol::api::list_offsets::{
    ListOffsetsPartition, ListOffsetsPartitionResponse, ListOffsetsRequest, ListOffsetsResponse,
    EARLIEST_TIMESTAMP, LATEST_TIMESTAMP,
};
use rill_protocol::batch::BatchIter;
use rill_protocol::error_code::ErrorCode;

use crate::security::acl::AclOperation;
use crate::security::Access;
use crate::server::BrokerCtx;
use crate::storage::PartitionLog;

/// The first record at or after `timestamp` inside the batch at `batch_offset` (the time
/// index only knows batches), as `(offset, timestamp)`; `None` if the batch cannot be read.
fn first_record_at(log: &PartitionLog, batch_offset: i64, timestamp: i64) -> Option<(i64, i64)> {
    let read = log.read(batch_offset, 1).ok()?;
    let max_batch_bytes = log.config().max_batch_bytes;
    let batch = BatchIter::new(read.records, max_batch_bytes).next()?.ok()?;
    batch
        .records()
        .ok()?
        .filter_map(Result::ok)
        .find(|r| r.timestamp >= timestamp)
        .map(|r| (r.offset, r.timestamp))
}

/// Answers a ListOffsets request. A timestamp lookup reads (and may decompress) a batch,
/// so the work runs on the blocking pool, and a partition named twice is answered
/// `INVALID_REQUEST` the second time (as Kafka does) instead of being looked up again.
/// Needs Describe on each topic.
pub async fn handle(
    ctx: &Arc<BrokerCtx>,
    req: ListOffsetsRequest,
    access: &Access,
) -> ListOffsetsResponse {
    super::local_copy::await_local_topics(ctx, req.topics.iter().map(|t| t.name.as_str())).await;
    let ctx = Arc::clone(ctx);
    let access = access.clone();
    let answered = tokio::task::spawn_blocking(move || lookup_all(&ctx, req, &access)).await;
    answered.unwrap_or_else(|e| {
        tracing::error!(error = %e, "ListOffsets task failed");
        ListOffsetsResponse { topics: Vec::new() }
    })
}

fn lookup_all(ctx: &BrokerCtx, req: ListOffsetsRequest, access: &Access) -> ListOffsetsResponse {
    let mut seen = HashSet::new();
    let leadership = super::errors::leadership(ctx);
    let topics = req
        .topics
        .into_iter()
        .map(|topic| {
            let allowed = access.topic(&topic.name, AclOperation::Describe);
            (topic, allowed)
        })
        .map(|(topic, allowed)| TopicPartitions {
            partitions: topic
                .partitions
                .iter()
                .map(|p| {
                    if !allowed {
                        ListOffsetsPartitionResponse {
                            partition: p.partition,
                            error_code: ErrorCode::TopicAuthorizationFailed,
                            timestamp: -1,
                            offset: -1,
                        }
                    } else if seen.insert((topic.name.clone(), p.partition)) {
                        match super::errors::route(
                            ctx,
                            leadership.as_deref(),
                            &topic.name,
                            p.partition,
                        ) {
                            Ok(()) if ctx.topics.get(&topic.name).is_none() => {
                                ListOffsetsPartitionResponse {
                                    partition: p.partition,
                                    error_code: ErrorCode::LeaderNotAvailable,
                                    timestamp: -1,
                                    offset: -1,
                                }
                            }
                            Ok(()) => lookup(ctx, &topic.name, p),
                            Err(error_code) => ListOffsetsPartitionResponse {
                                partition: p.partition,
                                error_code,
                                timestamp: -1,
                                offset: -1,
                            },
                        }
                    } else {
                        ListOffsetsPartitionResponse {
                            partition: p.partition,
                            error_code: ErrorCode::InvalidRequest,
                            timestamp: -1,
                            offset: -1,
                        }
                    }
                })
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
    let log = match partition.log() {
        Ok(log) => log,
        Err(e) => return answer(super::errors::storage_error_code(&e), -1, -1),
    };
    match p.timestamp {
        EARLIEST_TIMESTAMP => answer(ErrorCode::None, -1, log.log_start_offset()),
        LATEST_TIMESTAMP => answer(ErrorCode::None, -1, log.high_watermark()),
        ts if ts < 0 => answer(ErrorCode::InvalidRequest, -1, -1),
        ts => match log.offset_for_timestamp(ts) {
            Ok(Some((batch_offset, batch_max))) => {
                let (offset, timestamp) =
                    first_record_at(log, batch_offset, ts).unwrap_or((batch_offset, batch_max));
                answer(ErrorCode::None, timestamp, offset)
            }
            // No record at or after the timestamp: Kafka answers -1 / -1.
            Ok(None) => answer(ErrorCode::None, -1, -1),
            Err(e) => answer(super::errors::storage_error_code(&e), -1, -1),
        },
    }
}
