//! The record accumulator: per-partition queues of batches between `send` and the
//! sender task.
//!
//! `send` appends into the newest open batch of its partition (or starts one); the
//! sender task [`Accumulator::drain`]s at most one ready batch per partition per
//! request. A batch is ready when it is full (another batch queued behind it, or
//! `batch_bytes` reached), when `linger` has passed since its first record, when a
//! `flush` covers it, or when the producer is closing.
//!
//! Invariants:
//! - Memory: every record holds buffer-memory permits (its estimated size) from
//!   [`Accumulator::try_reserve`] or [`Accumulator::reserve_until`] until its batch
//!   completes, so queued bytes never exceed `buffer_memory_bytes`; `send` waits for
//!   permits.
//! - Order: batches of a partition leave in creation order. A batch that failed with a
//!   retriable error goes back to the front (ordered by id) and its partition is limited
//!   to one batch in flight until a batch succeeds, so no later batch overtakes it.
//! - The lock is a `std::sync::Mutex` held only for short bookkeeping, never across
//!   an `.await`.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rill_protocol::batch::{Compression, RecordSource};
use tokio::sync::{Notify, Semaphore, TryAcquireError};
use tokio::time::Instant;

use super::batch::ProducerBatch;
use super::delivery::DeliveryFuture;
use super::memory::Reservation;
use super::partition_key::{BorrowedPartition, PartitionKey};
use crate::error::ClientError;
use crate::fast_map::FastMap;
use crate::record::TopicPartition;

/// Settings the accumulator needs (a slice of `ProducerConfig`).
#[derive(Debug, Clone)]
pub(crate) struct AccumulatorConfig {
    /// A batch is full at this many (estimated) bytes.
    pub(crate) batch_bytes: usize,
    /// How long a non-full batch waits for more records.
    pub(crate) linger: Duration,
    /// Codec for new batches.
    pub(crate) compression: Compression,
    /// Bound on bytes held by queued and in-flight records.
    pub(crate) buffer_memory_bytes: usize,
    /// Batches of one partition in flight at once (when not retrying).
    pub(crate) max_in_flight_per_partition: usize,
    /// A batch not acknowledged this long after its first record fails.
    pub(crate) delivery_timeout: Duration,
}

/// What an append did, for the partitioner.
#[derive(Debug)]
pub(crate) struct Appended {
    /// The record's delivery future.
    pub(crate) future: DeliveryFuture,
    /// The record started a new batch because the previous open batch was full.
    pub(crate) previous_batch_full: bool,
}

/// What one drain produced.
#[derive(Debug, Default)]
pub(crate) struct Drained {
    /// Ready batches, at most one per partition, in creation order per partition.
    pub(crate) ready: Vec<ProducerBatch>,
    /// Batches whose delivery timeout passed while queued; the caller fails them.
    pub(crate) expired: Vec<ProducerBatch>,
    /// When the next queued batch becomes ready by linger or backoff, if any.
    pub(crate) next_wake: Option<Instant>,
}

#[derive(Debug, Default)]
struct PartitionQueue {
    batches: VecDeque<ProducerBatch>,
    in_flight: usize,
    retrying: bool,
}

#[derive(Debug, Default)]
struct State {
    partitions: FastMap<TopicPartition, PartitionQueue>,
    next_batch_id: u64,
    /// Ids of batches not yet completed (queued or in flight).
    incomplete: BTreeSet<u64>,
    /// Batches with an id at or below this are ready regardless of linger.
    flush_up_to: Option<u64>,
    closed: bool,
    /// Rotates the partition drain order so no partition starves under a size cap.
    drain_start: usize,
    /// Records that failed and no `flush`/`close` has reported yet.
    failures: Failures,
    /// Buffers of completed batches for new ones (at most [`SPARE_BUFFERS_MAX`]), so
    /// a busy producer encodes into memory it already touched.
    spare_buffers: Vec<Vec<u8>>,
}

/// Completed batches' buffers kept for reuse, beyond `buffer_memory_bytes` (each at
/// most twice `batch_bytes`).
const SPARE_BUFFERS_MAX: usize = 4;

/// Failed deliveries not yet reported by `flush` or `close` (bounded: counts and the
/// first error only).
#[derive(Debug, Default)]
struct Failures {
    records: u64,
    batches: u64,
    first: Option<ClientError>,
}

/// Shared between the producer handle (appends, flush, close) and the sender task.
#[derive(Debug)]
pub(crate) struct Accumulator {
    config: AccumulatorConfig,
    memory: Arc<Semaphore>,
    state: Mutex<State>,
    /// Wakes the sender: a new or full batch, a retry queued, a flush, a close.
    sender_wake: Notify,
    /// Wakes `flush`/`close` waiters when a batch completes.
    batch_completed: Notify,
}

impl Accumulator {
    /// An empty accumulator.
    pub(crate) fn new(config: AccumulatorConfig) -> Self {
        let memory = Arc::new(Semaphore::new(config.buffer_memory_bytes));
        Self {
            config,
            memory,
            state: Mutex::new(State::default()),
            sender_wake: Notify::new(),
            batch_completed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves only counters behind; keep going.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes `record_bytes` of buffer memory if they are free now (`None` if not).
    pub(crate) fn try_reserve(
        &self,
        record_bytes: usize,
    ) -> Result<Option<Reservation<'_>>, ClientError> {
        let permits = self.permits_for(record_bytes)?;
        match self.memory.try_acquire_many(permits) {
            Ok(permit) => Ok(Some(Reservation::new(&self.memory, permit))),
            Err(TryAcquireError::Closed) => Err(ClientError::Closed { handle: "producer" }),
            Err(TryAcquireError::NoPermits) => Ok(None),
        }
    }

    /// Waits for `record_bytes` of buffer memory until `deadline` (`send`'s
    /// `max_block`, counted from `since`).
    ///
    /// Cancel-safe: dropping the future before it resolves takes no memory.
    pub(crate) async fn reserve_until(
        &self,
        record_bytes: usize,
        since: Instant,
        deadline: Instant,
    ) -> Result<Reservation<'_>, ClientError> {
        let permits = self.permits_for(record_bytes)?;
        let acquire = self.memory.acquire_many(permits);
        match tokio::time::timeout_at(deadline, acquire).await {
            Ok(Ok(permit)) => Ok(Reservation::new(&self.memory, permit)),
            Ok(Err(_)) => Err(ClientError::Closed { handle: "producer" }),
            Err(_) => Err(ClientError::MaxBlockExceeded {
                waited: Instant::now().saturating_duration_since(since),
                waiting_for: format!(
                    "{record_bytes} bytes of buffer memory (buffer_memory_bytes {})",
                    self.config.buffer_memory_bytes
                ),
            }),
        }
    }

    /// The permits `record_bytes` take; a record larger than all the memory never fits.
    fn permits_for(&self, record_bytes: usize) -> Result<u32, ClientError> {
        let too_large = || ClientError::RecordTooLarge {
            size_bytes: record_bytes,
            max_bytes: self.config.buffer_memory_bytes,
        };
        if record_bytes > self.config.buffer_memory_bytes {
            return Err(too_large());
        }
        u32::try_from(record_bytes).map_err(|_| too_large())
    }

    /// Waits for memory with no practical deadline (tests).
    #[cfg(test)]
    pub(crate) async fn reserve(
        &self,
        record_bytes: usize,
    ) -> Result<Reservation<'_>, ClientError> {
        if let Some(permit) = self.try_reserve(record_bytes)? {
            return Ok(permit);
        }
        let now = Instant::now();
        let far = now + Duration::from_secs(3600);
        self.reserve_until(record_bytes, now, far).await
    }

    /// Buffers of completed batches waiting for new batches.
    #[cfg(test)]
    pub(crate) fn spare_buffer_count(&self) -> usize {
        self.lock().spare_buffers.len()
    }

    /// Buffer memory not currently held by records.
    #[cfg(test)]
    pub(crate) fn available_memory_bytes(&self) -> usize {
        self.memory.available_permits()
    }

    /// Appends `record`, created at `timestamp` (ms), to the open batch of `partition`,
    /// starting a batch if needed; one lock and one hash lookup. `now` is called only
    /// when a batch starts (its linger counts from there), so most records do not read
    /// the clock.
    pub(crate) fn append<R: RecordSource + ?Sized>(
        &self,
        key: BorrowedPartition<'_>,
        timestamp: i64,
        record: &R,
        record_bytes: usize,
        memory: Reservation<'_>,
        now: impl FnOnce() -> Instant,
    ) -> Result<Appended, ClientError> {
        let batch_bytes = self.config.batch_bytes;
        let mut guard = self.lock();
        let state = &mut *guard;
        if state.closed {
            return Err(ClientError::Closed { handle: "producer" });
        }
        let next_id = state.next_batch_id;
        // Looked up by borrowed parts: the topic's `Arc` is cloned only for a new queue
        // or a new batch, not per record.
        let queue = match state.partitions.get_mut(&key as &dyn PartitionKey) {
            Some(queue) => queue,
            None => state.partitions.entry(key.to_owned_key()).or_default(),
        };
        let last = queue.batches.back();
        let last_open = last.is_some_and(|b| !b.is_sealed());
        let fits = last.is_some_and(|b| b.has_room(record_bytes, batch_bytes));
        if !fits {
            let batch = ProducerBatch::new(
                next_id,
                key.to_owned_key(),
                self.config.compression,
                batch_bytes,
                Arc::clone(&self.memory),
                state.spare_buffers.pop(),
                now(),
            );
            queue.batches.push_back(batch);
        }
        let Some(batch) = queue.batches.back_mut() else {
            return Err(ClientError::BatchSealed);
        };
        let appended = batch.append(timestamp, record, record_bytes, memory);
        let now_full = batch.size_bytes >= batch_bytes;
        if !fits {
            if appended.is_err() {
                // Leave no empty batch behind (nothing would ever complete it).
                queue.batches.pop_back();
            } else {
                state.next_batch_id += 1;
                state.incomplete.insert(next_id);
            }
        }
        drop(guard);
        let future = appended?;
        if !fits || now_full {
            self.sender_wake.notify_one();
        }
        Ok(Appended {
            future,
            previous_batch_full: !fits && last_open,
        })
    }

    /// Takes the ready batches (at most one per partition, stopping once `max_bytes`
    /// of estimated record bytes are taken, but always at least one batch).
    /// With `hold`, only expires batches: nothing is handed out (the producer waits for
    /// a new idempotent identity).
    pub(crate) fn drain(&self, now: Instant, max_bytes: usize, hold: bool) -> Drained {
        let mut state = self.lock();
        let mut drained = Drained::default();
        let mut keys: Vec<TopicPartition> = state.partitions.keys().cloned().collect();
        keys.sort_unstable();
        if !keys.is_empty() {
            let start = state.drain_start % keys.len();
            keys.rotate_left(start);
            state.drain_start = state.drain_start.wrapping_add(1);
        }
        let (flush_up_to, closed) = (state.flush_up_to, state.closed);
        let mut taken_bytes = 0usize;
        for key in keys {
            let Some(queue) = state.partitions.get_mut(&key) else {
                continue;
            };
            self.expire(queue, now, &mut drained.expired);
            if hold {
                continue;
            }
            let Some(front) = queue.batches.front() else {
                continue;
            };
            let limit = if queue.retrying {
                1
            } else {
                self.config.max_in_flight_per_partition
            };
            if queue.in_flight >= limit {
                continue;
            }
            match self.ready_at(front, queue.batches.len(), flush_up_to, closed) {
                Some(at) if at <= now => {}
                Some(at) => {
                    drained.next_wake = Some(drained.next_wake.map_or(at, |w| w.min(at)));
                    continue;
                }
                None => continue,
            }
            if taken_bytes > 0 && taken_bytes + front.size_bytes > max_bytes {
                continue;
            }
            if let Some(batch) = queue.batches.pop_front() {
                taken_bytes += batch.size_bytes;
                queue.in_flight += 1;
                drained.ready.push(batch);
            }
        }
        for batch in &drained.expired {
            state.incomplete.remove(&batch.id);
        }
        drained
    }

    /// Moves queued batches past their delivery timeout to `expired`.
    fn expire(&self, queue: &mut PartitionQueue, now: Instant, expired: &mut Vec<ProducerBatch>) {
        let timeout = self.config.delivery_timeout;
        while queue
            .batches
            .front()
            .is_some_and(|b| now.saturating_duration_since(b.created) >= timeout)
        {
            if let Some(batch) = queue.batches.pop_front() {
                expired.push(batch);
            }
        }
    }

    /// When `front` becomes sendable; `None` if it waits for something else.
    fn ready_at(
        &self,
        front: &ProducerBatch,
        queued: usize,
        flush_up_to: Option<u64>,
        closed: bool,
    ) -> Option<Instant> {
        let forced = queued > 1
            || front.is_sealed()
            || front.size_bytes >= self.config.batch_bytes
            || closed
            || flush_up_to.is_some_and(|id| front.id <= id);
        let linger_at = if forced {
            front.created
        } else {
            front.created + self.config.linger
        };
        Some(match front.retry_at {
            Some(retry_at) => retry_at.max(linger_at),
            None => linger_at,
        })
    }

    /// Puts a batch that failed with a retriable error back at the front of its queue,
    /// to be sent again after `backoff`.
    pub(crate) fn reenqueue(&self, mut batch: ProducerBatch, backoff: Duration, now: Instant) {
        batch.attempts += 1;
        batch.retry_at = Some(now + backoff);
        let mut state = self.lock();
        let queue = state.partitions.entry(batch.tp.clone()).or_default();
        queue.in_flight = queue.in_flight.saturating_sub(1);
        queue.retrying = true;
        let position = queue
            .batches
            .iter()
            .position(|b| b.id > batch.id)
            .unwrap_or(queue.batches.len());
        queue.batches.insert(position, batch);
        drop(state);
        self.sender_wake.notify_one();
    }

    /// Records that in-flight batch `id` of `tp` is finished (acknowledged or finally
    /// failed, its futures already resolved); keeps its `buffer` for a new batch.
    pub(crate) fn finish(
        &self,
        id: u64,
        tp: &TopicPartition,
        succeeded: bool,
        buffer: Option<Vec<u8>>,
    ) {
        let mut state = self.lock();
        if let Some(buffer) = buffer {
            let small = buffer.capacity() <= self.config.batch_bytes.saturating_mul(2);
            if small && state.spare_buffers.len() < SPARE_BUFFERS_MAX {
                state.spare_buffers.push(buffer);
            }
        }
        if let Some(queue) = state.partitions.get_mut(tp) {
            queue.in_flight = queue.in_flight.saturating_sub(1);
            if succeeded {
                queue.retrying = false;
            }
            if queue.batches.is_empty() && queue.in_flight == 0 {
                state.partitions.remove(tp);
            }
        }
        state.incomplete.remove(&id);
        drop(state);
        self.batch_completed.notify_waiters();
        self.sender_wake.notify_one();
    }

    /// Counts a batch of `records` that failed for good with `error`, for the next
    /// `flush` or `close` to report.
    pub(crate) fn record_failure(&self, records: usize, error: &ClientError) {
        let mut state = self.lock();
        let failures = &mut state.failures;
        failures.records += records as u64;
        failures.batches += 1;
        if failures.first.is_none() {
            failures.first = Some(error.clone());
        }
    }

    /// The failures since the last report, as one error (`None` if there were none);
    /// each failure is reported once.
    pub(crate) fn take_failures(&self) -> Option<ClientError> {
        let failures = std::mem::take(&mut self.lock().failures);
        let first = failures.first?;
        Some(ClientError::DeliveryFailed {
            failed_records: failures.records,
            failed_batches: failures.batches,
            first_error: Box::new(first),
        })
    }

    /// Batches sent and not yet answered, over all partitions.
    pub(crate) fn in_flight_total(&self) -> usize {
        self.lock().partitions.values().map(|q| q.in_flight).sum()
    }

    /// Wakes `flush` waiters after expired batches (already removed from `incomplete`)
    /// were failed.
    pub(crate) fn notify_completed(&self) {
        self.batch_completed.notify_waiters();
    }

    /// Waits until every batch created before the call has completed, making them
    /// ready at once. Cancel-safe (dropping it only stops waiting).
    pub(crate) async fn flush(&self) {
        let target = {
            let mut state = self.lock();
            let Some(target) = state.next_batch_id.checked_sub(1) else {
                return;
            };
            state.flush_up_to = Some(state.flush_up_to.map_or(target, |f| f.max(target)));
            target
        };
        self.sender_wake.notify_one();
        self.wait_completed_up_to(target).await;
    }

    async fn wait_completed_up_to(&self, target: u64) {
        loop {
            let completed = self.batch_completed.notified();
            tokio::pin!(completed);
            completed.as_mut().enable();
            let done = self
                .lock()
                .incomplete
                .first()
                .is_none_or(|&oldest| oldest > target);
            if done {
                return;
            }
            completed.await;
        }
    }

    /// Refuses new records and makes everything queued ready; `send`s waiting for
    /// memory fail with `ProducerClosed`.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.memory.close();
        self.sender_wake.notify_one();
    }

    /// True once closed and every batch completed: the sender may stop.
    pub(crate) fn is_finished(&self) -> bool {
        let state = self.lock();
        state.closed && state.incomplete.is_empty()
    }

    /// Wakes the sender to drain again (e.g. after new metadata arrived).
    pub(crate) fn wake_sender(&self) {
        self.sender_wake.notify_one();
    }

    /// Waits for a reason to drain again (see `sender_wake`). Cancel-safe.
    pub(crate) async fn wait_for_work(&self) {
        self.sender_wake.notified().await;
    }
}

#[cfg(test)]
#[path = "accumulator_tests.rs"]
mod tests;
