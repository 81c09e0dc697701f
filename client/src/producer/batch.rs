//! One producer batch: the records of one partition on their way to the broker.
//!
//! A batch is *open* while records are appended (encoded straight into a
//! [`BatchBuilder`]), then *sealed* once: compressed and framed into the RecordBatch
//! bytes that every attempt (first send and retries) reuses unchanged. It holds the
//! buffer memory of its records, given back exactly when the batch completes (or is
//! dropped), and the one completion every record's [`DeliveryFuture`] shares; a batch
//! dropped unanswered answers its records with [`ClientError::Closed`].

use std::sync::Arc;

use bytes::Bytes;
use rill_protocol::batch::{BatchBuilder, Compression, RecordSource};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::delivery::{BatchAck, BatchCompletion, DeliveryFuture};
use super::idempotence::Idempotence;
use super::memory::Reservation;
use crate::error::ClientError;
use crate::record::TopicPartition;

/// Bytes reserved up front for a new batch's buffer; it grows past this as needed, so
/// a partition holding one small record does not pin a whole `batch_bytes`.
const BATCH_INITIAL_CAPACITY_BYTES_MAX: usize = 64 * 1024;

/// The records of one partition, appended in order, completed together.
#[derive(Debug)]
pub(crate) struct ProducerBatch {
    /// Creation order across the whole producer; `flush` waits by this id.
    pub(crate) id: u64,
    /// Destination partition.
    pub(crate) tp: TopicPartition,
    /// Encoder while open; `None` once sealed.
    builder: Option<BatchBuilder>,
    /// The RecordBatch bytes once sealed.
    encoded: Option<Bytes>,
    /// The idempotent identity generation the bytes were stamped under, if any.
    stamped: Option<u64>,
    /// An attempt went unanswered (connection lost, timeout): the broker may have
    /// written it, so it must not be stamped again under a new identity.
    pub(crate) maybe_written: bool,
    /// Estimated bytes of the appended records (what batch sizing compares).
    pub(crate) size_bytes: usize,
    /// Records appended.
    pub(crate) record_count: usize,
    /// When the first record arrived: linger and delivery timeout count from here.
    pub(crate) created: Instant,
    /// Send attempts so far.
    pub(crate) attempts: u32,
    /// Why the last attempt failed (reported if the delivery timeout passes while the
    /// batch waits for its retry).
    pub(crate) last_error: Option<Box<ClientError>>,
    /// Not to be sent again before this instant (retry backoff).
    pub(crate) retry_at: Option<Instant>,
    /// The producer's buffer memory, given `memory_permits` back on drop.
    memory: Arc<Semaphore>,
    /// Buffer memory held by the records.
    memory_permits: usize,
    /// Completes every record's future; shared with them.
    completion: Arc<BatchCompletion>,
}

impl ProducerBatch {
    /// An empty open batch.
    pub(crate) fn new(
        id: u64,
        tp: TopicPartition,
        compression: Compression,
        batch_bytes: usize,
        memory: Arc<Semaphore>,
        spare_buffer: Option<Vec<u8>>,
        now: Instant,
    ) -> Self {
        let builder = match spare_buffer {
            Some(buffer) => BatchBuilder::with_buffer(compression, buffer),
            None => {
                let capacity = batch_bytes.min(BATCH_INITIAL_CAPACITY_BYTES_MAX);
                BatchBuilder::with_capacity(compression, capacity)
            }
        };
        Self {
            id,
            tp,
            builder: Some(builder),
            encoded: None,
            stamped: None,
            maybe_written: false,
            size_bytes: 0,
            record_count: 0,
            created: now,
            attempts: 0,
            last_error: None,
            retry_at: None,
            memory,
            memory_permits: 0,
            completion: Arc::new(BatchCompletion::default()),
        }
    }

    /// True if a record of `record_bytes` fits under `batch_bytes` (an empty open batch
    /// takes any record, so one record larger than `batch_bytes` still gets sent).
    pub(crate) fn has_room(&self, record_bytes: usize, batch_bytes: usize) -> bool {
        self.builder.is_some()
            && (self.record_count == 0 || self.size_bytes + record_bytes <= batch_bytes)
    }

    /// Encodes `record`, created at `timestamp` (ms), into the batch; on success the
    /// batch keeps `memory` until it completes. Returns the future of its delivery.
    pub(crate) fn append<R: RecordSource + ?Sized>(
        &mut self,
        timestamp: i64,
        record: &R,
        record_bytes: usize,
        memory: Reservation<'_>,
    ) -> Result<DeliveryFuture, ClientError> {
        // `let else`, not `ok_or`: an eagerly built error is dropped on every append.
        let Some(builder) = self.builder.as_mut() else {
            return Err(ClientError::BatchSealed);
        };
        let index = builder
            .append_from(timestamp, record)
            .map_err(|cause| ClientError::Batch {
                topic: self.tp.topic.to_string(),
                partition: self.tp.partition,
                cause,
            })?;
        self.size_bytes += record_bytes;
        self.record_count += 1;
        self.memory_permits += memory.keep();
        Ok(DeliveryFuture::new(
            Arc::clone(&self.completion),
            index,
            timestamp,
        ))
    }

    /// True once the batch stopped taking records.
    pub(crate) fn is_sealed(&self) -> bool {
        self.builder.is_none()
    }

    /// Closes the batch to appends and encodes it (compressing if configured); the
    /// bytes are kept for retries, so sealing again returns them unchanged. With an
    /// idempotent producer the batch takes the partition's next sequence numbers here.
    pub(crate) fn seal(&mut self, idempotence: Option<&Idempotence>) -> Result<Bytes, ClientError> {
        if let Some(encoded) = &self.encoded {
            let stale = match (idempotence, self.stamped) {
                (Some(idem), Some(generation)) => idem.generation() != generation,
                _ => false,
            };
            if !stale {
                return Ok(encoded.clone());
            }
            // Sealed under an identity the producer has since replaced: the same
            // records, stamped with the new identity's next sequence.
            let Some(idem) = idempotence else {
                return Ok(encoded.clone());
            };
            if self.maybe_written {
                return Err(ClientError::DeliveryUncertain {
                    topic: self.tp.topic.to_string(),
                    partition: self.tp.partition,
                });
            }
            let stamp = idem.reserve(&self.tp, self.record_count);
            let restamped = restamp(encoded, stamp);
            self.stamped = Some(stamp.generation);
            self.encoded = Some(restamped.clone());
            return Ok(restamped);
        }
        let mut builder = self.builder.take().ok_or(ClientError::BatchSealed)?;
        if let Some(idempotence) = idempotence {
            let stamp = idempotence.reserve(&self.tp, self.record_count);
            builder =
                builder.with_producer(stamp.producer_id, stamp.producer_epoch, stamp.base_sequence);
            self.stamped = Some(stamp.generation);
        }
        let encoded = builder.build().map_err(|cause| ClientError::Batch {
            topic: self.tp.topic.to_string(),
            partition: self.tp.partition,
            cause,
        })?;
        self.encoded = Some(encoded.clone());
        Ok(encoded)
    }

    /// The identity generation this batch's sequence numbers belong to, if sequenced.
    pub(crate) fn stamped_generation(&self) -> Option<u64> {
        self.stamped
    }

    /// Resolves every record's future with the broker's answer and frees the memory;
    /// returns the batch's buffer for a new batch when nothing else holds it.
    pub(crate) fn complete(mut self, base_offset: i64, log_append_time_ms: i64) -> Option<Vec<u8>> {
        let ack = BatchAck {
            topic: Arc::clone(&self.tp.topic),
            partition: self.tp.partition,
            base_offset,
            log_append_time_ms,
        };
        // Nobody may be waiting (fire-and-forget sends); that is fine.
        self.completion.complete(Ok(ack));
        let encoded = self.encoded.take()?;
        encoded.try_into_mut().ok().map(Vec::from)
    }

    /// Fails every record's future with `error` and frees the memory.
    pub(crate) fn fail(self, error: ClientError) {
        self.completion.complete(Err(error));
    }
}

impl Drop for ProducerBatch {
    fn drop(&mut self) {
        if !self.completion.is_complete() {
            // Dropped without an answer: the producer went away.
            self.completion
                .complete(Err(ClientError::Closed { handle: "producer" }));
        }
        self.memory.add_permits(self.memory_permits);
    }
}

/// `batch` with its producer id, epoch and base sequence replaced and its CRC recomputed
/// (all three fields lie inside the CRC).
fn restamp(batch: &Bytes, stamp: super::idempotence::Stamp) -> Bytes {
    let mut bytes = batch.to_vec();
    if bytes.len() >= rill_protocol::batch::BATCH_HEADER_BYTES {
        bytes[43..51].copy_from_slice(&stamp.producer_id.to_be_bytes());
        bytes[51..53].copy_from_slice(&stamp.producer_epoch.to_be_bytes());
        bytes[53..57].copy_from_slice(&stamp.base_sequence.to_be_bytes());
        let crc = rill_protocol::batch::compute_crc(&bytes);
        bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    }
    Bytes::from(bytes)
}
