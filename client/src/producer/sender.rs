//! The sender task: drains ready batches into Produce requests and settles them.
//!
//! One task per producer. It hands each drain's batches to their leaders' lanes
//! ([`super::routing`]); a lane queues requests on its broker's connection one after
//! another, so the batches of a partition leave in order, and spawns one small task per
//! request to wait for the response; the connection's in-flight limit is the
//! back-pressure (the lane waits for a slot while records keep accumulating, bounded by
//! buffer memory).
//! Responses are settled per partition: success resolves every record future of the
//! batch, a retriable error puts the batch back (see the accumulator's ordering
//! invariant), anything else, or running out of retries or time, fails it.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use rill_protocol::api::common::TopicPartitions;
use rill_protocol::api::produce::{ProducePartition, ProduceRequest, ProduceResponse};
use rill_protocol::api::ApiKey;
use rill_protocol::error_code::ErrorCode;
use tokio::time::Instant;

use super::batch::ProducerBatch;
use super::routing::{leader_may_have_moved, request_refresh, Group, Lanes};
use super::{lock_partitioner, mirror_sticky, ProducerShared};
use crate::config::Acks;
use crate::connection::{PendingResponse, PendingWrite};
use crate::error::ClientError;
use crate::slot::ConnectionSlot;

/// Runs until the producer is closed and every batch has completed.
pub(super) async fn run(shared: Arc<ProducerShared>) {
    let accumulator = &shared.accumulator;
    let max_frame_bytes = shared.config.connection.max_frame_bytes;
    // Estimates are upper bounds; leave room for request and partition headers.
    let max_request_bytes = max_frame_bytes - max_frame_bytes / 16;
    let mut lanes = Lanes::default();
    loop {
        let hold = match &shared.idempotence {
            Some(idem) if idem.reset_pending() => {
                if accumulator.in_flight_total() == 0 {
                    match idem.reset(shared.brokers.any()).await {
                        Ok(()) => false,
                        Err(error) => {
                            tracing::warn!(%error, "cannot take a new producer id yet; retrying");
                            tokio::time::sleep(shared.config.retry_backoff).await;
                            true
                        }
                    }
                } else {
                    true // wait for the batches in flight to be answered first
                }
            }
            _ => false,
        };
        let drained = accumulator.drain(Instant::now(), max_request_bytes, hold);
        if !drained.expired.is_empty() {
            for mut batch in drained.expired {
                report_sequence_gap(&shared, &batch);
                let last_error = batch.last_error.take().map(|e| *e);
                let error = delivery_timeout(&batch, last_error);
                accumulator.record_failure(batch.record_count, &error);
                batch.fail(error);
            }
            accumulator.notify_completed();
        }
        if !drained.ready.is_empty() {
            rotate_sticky_partitions(&shared, &drained.ready);
            dispatch(&shared, &mut lanes, drained.ready);
            tokio::task::yield_now().await;
            continue;
        }
        if accumulator.is_finished() {
            return;
        }
        // While held for a new identity, look again every backoff: the reset may be
        // retried, and queued batches must still expire on time.
        let next_wake = if hold {
            let again = Instant::now() + shared.config.retry_backoff;
            Some(drained.next_wake.map_or(again, |at| at.min(again)))
        } else {
            drained.next_wake
        };
        match next_wake {
            Some(at) => {
                tokio::select! {
                    // Both are cancel-safe: a lost race only means one more drain.
                    () = accumulator.wait_for_work() => {}
                    () = tokio::time::sleep_until(at) => {}
                }
            }
            None => accumulator.wait_for_work().await,
        }
    }
}

/// A sequenced batch about to fail for good leaves a gap in its partition's sequence
/// numbers (later batches would be refused as out of sequence forever): the producer
/// must take a new identity.
fn report_sequence_gap(shared: &ProducerShared, batch: &ProducerBatch) {
    if let (Some(idem), Some(generation)) = (&shared.idempotence, batch.stamped_generation()) {
        idem.request_reset(generation);
    }
}

/// A batch leaving moves keyless records of its topic to another partition.
/// Metadata older than `metadata_max_age` is asked for again here (off the `send`
/// path, in the background), so partitions that moved or came back are noticed.
fn rotate_sticky_partitions(shared: &Arc<ProducerShared>, batches: &[ProducerBatch]) {
    let mut partitioner = lock_partitioner(shared);
    for batch in batches {
        let topic = &batch.tp.topic;
        if shared
            .metadata
            .is_stale(topic, shared.config.metadata_max_age)
        {
            request_refresh(shared, topic);
        }
        if let Some(info) = shared.metadata.topic(topic) {
            partitioner.on_batch_sealed_avoiding(
                topic,
                batch.tp.partition,
                info.count,
                info.unavailable(),
            );
            mirror_sticky(&partitioner, topic, &info);
        }
    }
}

/// Seals the batches and hands them to their leaders' lanes.
fn dispatch(shared: &Arc<ProducerShared>, lanes: &mut Lanes, batches: Vec<ProducerBatch>) {
    let mut sealed: Group = Vec::with_capacity(batches.len());
    for mut batch in batches {
        match batch.seal(shared.idempotence.as_ref()) {
            Ok(bytes) => sealed.push((batch, bytes)),
            Err(error) => settle_failure(shared, batch, error),
        }
    }
    if sealed.is_empty() {
        return;
    }
    sealed.sort_by(|(a, _), (b, _)| a.tp.cmp(&b.tp));
    lanes.route(shared, sealed);
}

/// Queues one Produce request for `group` on `slot` (its leader) and spawns its
/// settlement. Waits for the connection and an in-flight slot.
pub(super) async fn send_group(shared: &Arc<ProducerShared>, slot: &ConnectionSlot, group: Group) {
    let request = produce_request(shared, &group);
    let batches: Vec<ProducerBatch> = group.into_iter().map(|(batch, _)| batch).collect();
    let connection = match slot.get().await {
        Ok(connection) => connection,
        Err(error) => return settle_all(shared, batches, &error),
    };
    if shared.config.acks == Acks::None {
        match connection.send_without_response(&request).await {
            Ok(pending) => {
                tokio::spawn(settle_unacknowledged(Arc::clone(shared), pending, batches));
            }
            Err(error) => settle_all(shared, batches, &error),
        }
        return;
    }
    let timeout = shared.config.connection.request_timeout;
    match connection.send_request(&request, timeout).await {
        Ok(pending) => {
            tokio::spawn(settle_response(Arc::clone(shared), pending, batches));
        }
        Err(error) => settle_all(shared, batches, &error),
    }
}

/// One Produce request carrying one batch per partition, grouped by topic
/// (`sealed` is sorted by topic and partition).
fn produce_request(shared: &ProducerShared, sealed: &[(ProducerBatch, Bytes)]) -> ProduceRequest {
    let mut topics: Vec<TopicPartitions<ProducePartition>> = Vec::new();
    for (batch, bytes) in sealed {
        let partition = ProducePartition {
            partition: batch.tp.partition,
            records: bytes.clone(),
        };
        match topics.last_mut() {
            Some(topic) if *topic.name == *batch.tp.topic => topic.partitions.push(partition),
            _ => topics.push(TopicPartitions {
                name: batch.tp.topic.to_string(),
                partitions: vec![partition],
            }),
        }
    }
    let timeout_ms = shared.config.connection.request_timeout.as_millis();
    ProduceRequest {
        transactional_id: None,
        acks: shared.config.acks.as_i16(),
        timeout_ms: i32::try_from(timeout_ms).unwrap_or(i32::MAX),
        topics,
    }
}

/// `acks=0`: written means done; offsets are unknown (-1).
async fn settle_unacknowledged(
    shared: Arc<ProducerShared>,
    pending: PendingWrite,
    batches: Vec<ProducerBatch>,
) {
    match pending.wait().await {
        Ok(()) => {
            for batch in batches {
                settle_success(&shared, batch, -1, -1);
            }
        }
        Err(error) => settle_all(&shared, batches, &error),
    }
}

/// Waits for the Produce response and settles each batch by its partition's answer.
async fn settle_response(
    shared: Arc<ProducerShared>,
    pending: PendingResponse<ProduceResponse>,
    batches: Vec<ProducerBatch>,
) {
    let response = match pending.wait().await {
        Ok(response) => response,
        Err(error) => return settle_all(&shared, batches, &error),
    };
    let answers: HashMap<(&str, i32), _> = response
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| ((t.name.as_str(), p.partition), p))
        })
        .collect();
    for batch in batches {
        let answer = answers
            .get(&(&*batch.tp.topic, batch.tp.partition))
            .copied();
        match answer {
            Some(p) if p.error_code == ErrorCode::None => {
                settle_success(&shared, batch, p.base_offset, p.log_append_time_ms);
            }
            Some(p) => {
                let error = ClientError::broker(
                    p.error_code,
                    batch.tp.topic.to_string(),
                    Some(batch.tp.partition),
                    p.error_message.clone(),
                );
                settle_failure(&shared, batch, error);
            }
            None => {
                let error = ClientError::MissingInResponse {
                    api: ApiKey::Produce,
                    what: format!("partition {}", batch.tp),
                };
                settle_failure(&shared, batch, error);
            }
        }
    }
}

fn settle_success(
    shared: &ProducerShared,
    batch: ProducerBatch,
    base_offset: i64,
    log_append_time_ms: i64,
) {
    let (id, tp) = (batch.id, batch.tp.clone());
    let buffer = batch.complete(base_offset, log_append_time_ms);
    shared.accumulator.finish(id, &tp, true, buffer);
}

pub(super) fn settle_all(
    shared: &Arc<ProducerShared>,
    batches: Vec<ProducerBatch>,
    error: &ClientError,
) {
    for batch in batches {
        settle_failure(shared, batch, error.clone());
    }
}

/// Retries `batch` if the error and its budget allow, else fails its records.
pub(super) fn settle_failure(
    shared: &Arc<ProducerShared>,
    batch: ProducerBatch,
    error: ClientError,
) {
    let config = &shared.config;
    let now = Instant::now();
    let elapsed = now.saturating_duration_since(batch.created);
    let time_left = elapsed + config.retry_backoff < config.delivery_timeout;
    // Errors that mean the partition map changed: look again before the retry.
    if leader_may_have_moved(&error) {
        request_refresh(shared, &batch.tp.topic);
    }
    // With idempotence a batch refused as out of sequence followed a batch that is being
    // retried (the broker never saw it); resending it in order is safe.
    let retriable = error.is_retriable()
        || (shared.idempotence.is_some()
            && error.error_code() == Some(ErrorCode::OutOfOrderSequence));
    let mut batch = batch;
    if matches!(
        error,
        ClientError::ConnectionLost { .. } | ClientError::Timeout { .. }
    ) || error.error_code() == Some(ErrorCode::RequestTimedOut)
    {
        batch.maybe_written = true;
    }
    if retriable && batch.attempts < config.retries && time_left {
        tracing::debug!(tp = %batch.tp, attempt = batch.attempts + 1, %error, "retrying batch");
        batch.last_error = Some(Box::new(error));
        shared
            .accumulator
            .reenqueue(batch, config.retry_backoff, now);
        return;
    }
    let error = if retriable && !time_left {
        delivery_timeout(&batch, Some(error))
    } else {
        error
    };
    report_sequence_gap(shared, &batch);
    let (id, tp) = (batch.id, batch.tp.clone());
    shared
        .accumulator
        .record_failure(batch.record_count, &error);
    batch.fail(error);
    shared.accumulator.finish(id, &tp, false, None);
}

fn delivery_timeout(batch: &ProducerBatch, last_error: Option<ClientError>) -> ClientError {
    ClientError::DeliveryTimeout {
        topic: batch.tp.topic.to_string(),
        partition: batch.tp.partition,
        elapsed: batch.created.elapsed(),
        attempts: batch.attempts + 1,
        last_error: last_error.map(Box::new),
    }
}
