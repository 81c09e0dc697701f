//! [`Producer`]: batches records per partition and keeps requests in flight.
//!
//! `send` picks the partition (explicit, key hash, or sticky), waits for buffer memory,
//! and encodes the record into its partition's open batch in the
//! [`accumulator`](self::accumulator). A background *sender* task drains ready batches
//! (full, lingered, flushed), groups them into one Produce request per partition
//! leader per drain, keeps up to `max_in_flight` requests in flight on each leader's
//! connection, and retries retriable failures with backoff within `delivery_timeout`,
//! without letting a later batch of a partition overtake an earlier one. A leader that
//! moved (`NOT_LEADER_OR_FOLLOWER`) or cannot be reached makes the sender refresh
//! metadata and send the batch again, unchanged (same producer id, epoch and sequence),
//! to the new leader.

mod accumulator;
mod batch;
mod delivery;
mod idempotence;
mod memory;
mod partition_key;
mod routing;
mod send_error;
mod sender;
#[cfg(test)]
mod tests;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use delivery::DeliveryFuture;
pub use send_error::SendError;

use self::accumulator::{Accumulator, AccumulatorConfig};
use self::idempotence::Idempotence;
use self::memory::Reservation;
use self::partition_key::BorrowedPartition;
use crate::brokers::Brokers;
use crate::clock::now_ms;
use crate::config::ProducerConfig;
use crate::error::{ClientError, Result};
use crate::metadata::{MetadataCache, TopicInfo};
use crate::partitioner::{partition_for_key, StickyPartitioner};
use crate::record::ProducerRecord;

/// The name [`ClientError::Closed`] gives this handle.
const HANDLE: &str = "producer";

/// State shared by the producer handle and its sender task.
#[derive(Debug)]
struct ProducerShared {
    config: ProducerConfig,
    /// Connections to the brokers, by node id (partition leaders).
    brokers: Brokers,
    metadata: MetadataCache,
    accumulator: Accumulator,
    partitioner: Mutex<StickyPartitioner>,
    /// Producer id and sequences when producing idempotently.
    idempotence: Option<Idempotence>,
    /// Topics whose leaders must be looked up again (see [`routing`]).
    refresh: Mutex<routing::RefreshState>,
}

/// An asynchronous, batching producer.
///
/// Share it between tasks behind an `Arc`; every method takes `&self`. Dropping it
/// without [`Producer::close`] still delivers what was queued (the sender task drains
/// in the background), but nobody learns the outcome.
#[derive(Debug)]
pub struct Producer {
    shared: Arc<ProducerShared>,
    sender: Mutex<Option<JoinHandle<()>>>,
}

impl Producer {
    /// Validates `config`, connects to the bootstrap broker (so a wrong address fails
    /// here, not at the first send) and starts the sender task.
    pub async fn connect(config: ProducerConfig) -> Result<Producer> {
        config.validate()?;
        let accumulator = Accumulator::new(AccumulatorConfig {
            batch_bytes: config.batch_bytes,
            linger: config.linger,
            compression: config.compression,
            buffer_memory_bytes: config.buffer_memory_bytes,
            max_in_flight_per_partition: config.connection.max_in_flight,
            delivery_timeout: config.delivery_timeout,
        });
        let brokers = Brokers::new(config.connection.clone(), HANDLE);
        brokers.any().get().await?;
        let idempotence = match config.idempotent() {
            true => Some(Idempotence::init(brokers.any()).await?),
            false => None,
        };
        let shared = Arc::new(ProducerShared {
            config,
            brokers,
            metadata: MetadataCache::default(),
            accumulator,
            partitioner: Mutex::new(StickyPartitioner::new()),
            idempotence,
            refresh: Mutex::new(routing::RefreshState::default()),
        });
        let sender = tokio::spawn(sender::run(Arc::clone(&shared)));
        Ok(Producer {
            shared,
            sender: Mutex::new(Some(sender)),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &ProducerConfig {
        &self.shared.config
    }

    /// Queues `record` and returns the future of its delivery.
    ///
    /// Awaiting `send` waits for the topic's metadata (the first time) and for buffer
    /// memory when `buffer_memory_bytes` is in use, which is how the producer pushes
    /// back on a caller faster than the broker; both waits together last at most
    /// `max_block` (then [`ClientError::MaxBlockExceeded`]). Awaiting the returned
    /// [`DeliveryFuture`] waits for the broker's acknowledgement and yields the record's
    /// partition and offset:
    ///
    /// ```no_run
    /// # async fn demo(producer: &rill_client::Producer) -> rill_client::Result<()> {
    /// use rill_client::ProducerRecord;
    /// let delivery = producer.send(ProducerRecord::new("events", "hello")).await?;
    /// let metadata = delivery.await?;
    /// println!("written at {}-{}@{}", metadata.topic, metadata.partition, metadata.offset);
    /// # Ok(()) }
    /// ```
    ///
    /// When the record cannot be queued (closed producer, too large, `max_block`
    /// passed, unknown partition), the [`SendError`] hands it back with the reason.
    ///
    /// Cancel-safe: if the `send` future is dropped before it resolves, the record was
    /// not queued.
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture, SendError> {
        match self.queue(&record).await {
            Ok(delivery) => Ok(delivery),
            Err(error) => Err(SendError::new(error, record)),
        }
    }

    /// Queues `record`: partition, buffer memory, then the append, which encodes the
    /// record from its fields straight into the batch. Reads the clock for waiting
    /// only when it has to wait.
    async fn queue(&self, record: &ProducerRecord) -> Result<DeliveryFuture> {
        let shared = &self.shared;
        let config = &shared.config;
        let mut blocked_since = None;
        let cached = shared
            .metadata
            .with_topic(&record.topic, |info| lock_free_partition(record, info));
        let partition = match cached {
            Some(Ok(Some(partition))) => partition,
            Some(Err(error)) => return Err(error),
            Some(Ok(None)) | None => {
                if cached.is_none() {
                    blocked_since = Some(Instant::now());
                }
                // Boxed: the slow path's future (a Metadata round trip) would otherwise
                // make every `send` future large to build and move.
                let info = Box::pin(shared.metadata.topic_or_fetch(
                    &shared.brokers,
                    &record.topic,
                    config.allow_auto_create_topics,
                    config.retry_backoff,
                    config.max_block,
                ))
                .await?;
                self.choose_partition(record, &info)?
            }
        };
        let record_bytes = record.estimated_size_bytes();
        if record_bytes > config.connection.max_frame_bytes {
            return Err(ClientError::RecordTooLarge {
                size_bytes: record_bytes,
                max_bytes: config.connection.max_frame_bytes,
            });
        }
        let memory = match shared.accumulator.try_reserve(record_bytes)? {
            Some(memory) => memory,
            None => {
                let since = blocked_since.unwrap_or_else(Instant::now);
                let deadline = since + config.max_block;
                Box::pin(
                    shared
                        .accumulator
                        .reserve_until(record_bytes, since, deadline),
                )
                .await?
            }
        };
        self.append(record, partition, memory, record_bytes)
    }

    /// Appends the record to its partition's open batch (no await from here on).
    fn append(
        &self,
        record: &ProducerRecord,
        partition: i32,
        memory: Reservation<'_>,
        record_bytes: usize,
    ) -> Result<DeliveryFuture> {
        let shared = &self.shared;
        let timestamp = record.timestamp.unwrap_or_else(now_ms);
        let topic = &record.topic;
        let appended = shared.accumulator.append(
            BorrowedPartition { topic, partition },
            timestamp,
            record,
            record_bytes,
            memory,
            Instant::now,
        )?;
        if appended.previous_batch_full {
            if let Some(info) = shared.metadata.topic(topic) {
                let mut partitioner = self.lock_partitioner();
                partitioner.on_batch_sealed_avoiding(
                    topic,
                    partition,
                    info.count,
                    info.unavailable(),
                );
                mirror_sticky(&partitioner, topic, &info);
            }
        }
        Ok(appended.future)
    }

    /// The record's partition: the one it names, its key's (over all partitions, so a
    /// key always maps to the same one), or the sticky choice among the available ones.
    fn choose_partition(&self, record: &ProducerRecord, info: &TopicInfo) -> Result<i32> {
        if let Some(partition) = lock_free_partition(record, info)? {
            return Ok(partition);
        }
        let mut partitioner = self.lock_partitioner();
        let chosen = partitioner.partition_avoiding(&record.topic, info.count, info.unavailable());
        info.sticky.store(chosen, Ordering::Relaxed);
        Ok(chosen)
    }

    fn lock_partitioner(&self) -> std::sync::MutexGuard<'_, StickyPartitioner> {
        lock_partitioner(&self.shared)
    }

    /// Sends everything queued so far without waiting for `linger`, and waits until
    /// each of those records is acknowledged or has failed. Records that failed since
    /// the last `flush` or `close` reported them make it return
    /// [`ClientError::DeliveryFailed`] (how many, and the first error); each record's
    /// own future says why it failed. Cancel-safe: dropping it only stops waiting.
    pub async fn flush(&self) -> Result<()> {
        self.shared.accumulator.flush().await;
        match self.shared.accumulator.take_failures() {
            Some(failed) => Err(failed),
            None => Ok(()),
        }
    }

    /// Delivers what is queued, then stops the sender task and closes its connections.
    /// Like `close` on every handle: idempotent, returns `Ok` once closed (or
    /// [`ClientError::DeliveryFailed`] if records failed since the last report, as
    /// [`Producer::flush`]), and later calls (`send`) fail with [`ClientError::Closed`].
    pub async fn close(&self) -> Result<()> {
        self.shared.accumulator.close();
        let handle = self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = handle {
            // A panicked sender already failed its batches by dropping them.
            if let Err(error) = handle.await {
                tracing::error!(%error, "producer sender task failed");
            }
        }
        self.shared.brokers.close().await;
        match self.shared.accumulator.take_failures() {
            Some(failed) => Err(failed),
            None => Ok(()),
        }
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        // The sender delivers what is queued, then exits.
        self.shared.accumulator.close();
    }
}

/// The record's partition when it can be chosen without the partitioner's lock (an
/// explicit partition, a key, or a valid sticky copy); `Ok(None)` when the partitioner
/// must choose. Runs under the metadata cache's read lock, so it takes no lock itself.
fn lock_free_partition(record: &ProducerRecord, info: &TopicInfo) -> Result<Option<i32>> {
    let num_partitions = info.count;
    match (record.partition, &record.key) {
        (Some(partition), _) if (0..num_partitions).contains(&partition) => Ok(Some(partition)),
        (Some(partition), _) => Err(ClientError::InvalidPartition {
            topic: record.topic.to_string(),
            partition,
            num_partitions,
        }),
        (None, Some(key)) => Ok(Some(partition_for_key(key, num_partitions))),
        (None, None) => Ok(cached_sticky(info)),
    }
}

/// The sticky partition mirrored in the topic's metadata entry, if still valid.
fn cached_sticky(info: &TopicInfo) -> Option<i32> {
    let cached = info.sticky.load(Ordering::Relaxed);
    let valid = (0..info.count).contains(&cached) && !info.unavailable().contains(&cached);
    valid.then_some(cached)
}

/// Copies the partitioner's choice for `topic` into its metadata entry (see
/// [`TopicInfo::sticky`]); called with the partitioner locked, after it may have moved.
fn mirror_sticky(partitioner: &StickyPartitioner, topic: &str, info: &TopicInfo) {
    let current = partitioner.current(topic).unwrap_or(-1);
    info.sticky.store(current, Ordering::Relaxed);
}

fn lock_partitioner(shared: &ProducerShared) -> std::sync::MutexGuard<'_, StickyPartitioner> {
    shared.partitioner.lock().unwrap_or_else(|p| p.into_inner())
}
