//! Fetch: read each partition from its memory-mapped segments (the response borrows the
//! mapped pages; nothing is copied), within `partition_max_bytes` and the response's
//! `max_bytes`, and long-poll until `min_bytes` are available or `max_wait_ms` passes.
//!
//! The long poll parks on each partition's append notifier, registered before the data
//! is read, so an append between the read and the wait cannot be missed. No sleeping.
//!
//! A partition named more than once is read and answered once (its first mention counts),
//! so a request cannot multiply its reads or its response by repeating a name. The record
//! bytes a round reads are charged to the connection's buffer budget before they are
//! read ([`Charge`]): a fetch returns no more than the budgets have room for, except the
//! first batch, which is always returned whole once there is room for it.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rill_protocol::api::common::TopicPartitions;
use rill_protocol::api::fetch::{
    FetchPartition, FetchPartitionResponse, FetchRecords, FetchRequest, FetchResponse,
};
use rill_protocol::error_code::ErrorCode;
use tokio::sync::futures::Notified;
use tokio::time::Instant;

use super::errors::storage_error_code;
use crate::security::acl::AclOperation;
use crate::security::Access;
use crate::server::budget::Charge;
use crate::server::BrokerCtx;
use crate::topics::Partition;

/// Longest a fetch may park, whatever the client asks (bounds a request's lifetime).
pub const FETCH_MAX_WAIT_MS_MAX: u64 = 30_000;

/// One requested partition, resolved.
struct Target {
    topic_index: usize,
    request: FetchPartition,
    partition: Option<Arc<Partition>>,
    /// No Read on the topic: answered TOPIC_AUTHORIZATION_FAILED, never looked up.
    denied: bool,
    /// In a cluster, why this broker does not serve the partition (another leads it).
    not_served: Option<ErrorCode>,
}

/// Answers a Fetch request, waiting for data when asked to; `charge` is the request's
/// share of the connection's buffer budget, grown to hold the records read. Needs Read
/// on each topic.
pub async fn handle(
    ctx: &Arc<BrokerCtx>,
    req: FetchRequest,
    charge: &mut Charge,
    access: &Access,
) -> FetchResponse {
    let wait_ms = u64::try_from(req.max_wait_ms)
        .unwrap_or(0)
        .min(FETCH_MAX_WAIT_MS_MAX);
    let deadline = Instant::now() + Duration::from_millis(wait_ms);
    let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0);
    // A response must fit a frame whatever the client asks for.
    let max_bytes = usize::try_from(req.max_bytes)
        .unwrap_or(0)
        .min(ctx.config.max_batch_bytes());
    super::local_copy::await_local_topics(ctx, req.topics.iter().map(|t| t.name.as_str())).await;
    let (names, targets) = resolve(ctx, req.topics, access);
    let request_bytes = charge.bytes();
    loop {
        // Register interest before reading, so no append slips between read and wait.
        let mut waiters: Vec<Pin<Box<Notified<'_>>>> = targets
            .iter()
            .filter_map(|t| t.partition.as_ref())
            .filter_map(|p| p.log().ok())
            .map(|log| Box::pin(log.new_data().notified()))
            .collect();
        for w in &mut waiters {
            w.as_mut().enable();
        }
        let room = charge.grow_now(max_bytes);
        let (partitions, total_bytes, any_error) = read_all(ctx, &targets, room);
        // `min_bytes` 0 answers at once, data or not (as in Kafka).
        let satisfied = total_bytes >= min_bytes || any_error;
        if satisfied || Instant::now() >= deadline || waiters.is_empty() {
            // Only a first batch larger than the room can exceed it: wait for its room.
            charge.resize(request_bytes + total_bytes).await;
            count_fetched(&targets, &partitions);
            return assemble(names, partitions);
        }
        // Parked fetches hold no room for records.
        charge.shrink_to(request_bytes);
        // Either an append woke us or the deadline passed; the next round reads again
        // and answers with whatever is there once the deadline is behind us.
        let _ = tokio::time::timeout_at(deadline, futures::future::select_all(waiters)).await;
    }
}

/// Counts what the final answer serves, per partition (earlier long-poll rounds that
/// were not sent are not counted).
fn count_fetched(targets: &[Target], answers: &[(usize, FetchPartitionResponse)]) {
    for (target, (_, answer)) in targets.iter().zip(answers) {
        if let Some(partition) = &target.partition {
            partition.stats.fetched(&answer.records);
        }
    }
}

/// The distinct topic names (in first-seen order) and the distinct partitions to read: a
/// topic or partition named again is merged into, or dropped for, its first mention.
fn resolve(
    ctx: &BrokerCtx,
    topics: Vec<TopicPartitions<FetchPartition>>,
    access: &Access,
) -> (Vec<String>, Vec<Target>) {
    let mut names: Vec<String> = Vec::new();
    let mut topic_indexes: HashMap<String, usize> = HashMap::new();
    let mut seen: HashMap<usize, std::collections::HashSet<i32>> = HashMap::new();
    let mut targets = Vec::new();
    let leadership = super::errors::leadership(ctx);
    for topic in topics {
        let topic_index = *topic_indexes.entry(topic.name.clone()).or_insert_with(|| {
            names.push(topic.name.clone());
            names.len() - 1
        });
        let denied = !access.topic(&topic.name, AclOperation::Read);
        let resolved = match denied {
            true => None,
            false => ctx.topics.get(&topic.name),
        };
        let seen = seen.entry(topic_index).or_default();
        for request in topic.partitions {
            if !seen.insert(request.partition) {
                continue;
            }
            let not_served = match denied {
                true => None,
                false => {
                    super::errors::route(ctx, leadership.as_deref(), &topic.name, request.partition)
                        .err()
                }
            };
            let partition = resolved
                .as_ref()
                .filter(|_| not_served.is_none())
                .and_then(|t| t.partition(request.partition).cloned());
            // Led here per the image, but not made locally yet: retriable.
            let not_served = match (&partition, &leadership) {
                (None, Some(_)) if !denied && not_served.is_none() => {
                    Some(ErrorCode::LeaderNotAvailable)
                }
                _ => not_served,
            };
            targets.push(Target {
                topic_index,
                request,
                partition,
                denied,
                not_served,
            });
        }
    }
    (names, targets)
}

/// Reads every target within the response budget; returns the per-partition answers,
/// the record bytes in them, and whether any partition failed.
fn read_all(
    ctx: &BrokerCtx,
    targets: &[Target],
    max_bytes: usize,
) -> (Vec<(usize, FetchPartitionResponse)>, usize, bool) {
    let mut budget = max_bytes;
    let mut total = 0;
    let mut any_error = false;
    let mut out = Vec::with_capacity(targets.len());
    for target in targets {
        let answer = read_one(ctx, target, budget, total == 0);
        let bytes = answer.records.len();
        any_error |= answer.error_code != ErrorCode::None;
        total += bytes;
        budget = budget.saturating_sub(bytes);
        out.push((target.topic_index, answer));
    }
    (out, total, any_error)
}

/// Reads one partition. `first` lets the first non-empty partition exceed the budget by
/// one batch, so a consumer always makes progress (as Kafka does).
fn read_one(
    _ctx: &BrokerCtx,
    target: &Target,
    budget: usize,
    first: bool,
) -> FetchPartitionResponse {
    let req = &target.request;
    let mut answer = FetchPartitionResponse {
        partition: req.partition,
        error_code: ErrorCode::None,
        high_watermark: -1,
        last_stable_offset: -1,
        log_start_offset: -1,
        records: FetchRecords::new(),
    };
    let Some(partition) = &target.partition else {
        answer.error_code = match (target.denied, target.not_served) {
            (true, _) => ErrorCode::TopicAuthorizationFailed,
            (false, Some(code)) => code,
            (false, None) => ErrorCode::UnknownTopicOrPartition,
        };
        return answer;
    };
    let log = match partition.log() {
        Ok(log) => log,
        Err(e) => {
            answer.error_code = storage_error_code(&e);
            return answer;
        }
    };
    answer.high_watermark = log.high_watermark();
    answer.last_stable_offset = answer.high_watermark;
    answer.log_start_offset = log.log_start_offset();
    let partition_max = usize::try_from(req.partition_max_bytes).unwrap_or(0);
    let limit = partition_max.min(budget);
    if limit == 0 && !first {
        return answer;
    }
    match log.read(req.fetch_offset, limit.max(1)) {
        Ok(read) => {
            answer.high_watermark = read.high_watermark;
            answer.last_stable_offset = read.high_watermark;
            answer.log_start_offset = read.log_start_offset;
            let bytes = read.records.len();
            // Only the response's first data may exceed the budget (by one batch).
            if first || bytes <= limit {
                answer.records = FetchRecords::from_chunks(vec![read.records]);
            }
        }
        Err(e) => answer.error_code = storage_error_code(&e),
    }
    answer
}

fn assemble(names: Vec<String>, partitions: Vec<(usize, FetchPartitionResponse)>) -> FetchResponse {
    let mut topics: Vec<TopicPartitions<FetchPartitionResponse>> = names
        .into_iter()
        .map(|name| TopicPartitions {
            name,
            partitions: Vec::new(),
        })
        .collect();
    for (topic_index, answer) in partitions {
        if let Some(topic) = topics.get_mut(topic_index) {
            topic.partitions.push(answer);
        }
    }
    FetchResponse {
        throttle_time_ms: 0,
        error_code: ErrorCode::None,
        topics,
    }
}
