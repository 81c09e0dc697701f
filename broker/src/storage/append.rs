//! The write path: split the appended buffer into batches, stamp offsets, roll segments,
//! `pwrite` runs of batches, index them, then publish the new high watermark.
//!
//! Writes go through `pwrite` into the pre-sized segment file rather than `memcpy` into a
//! writable map: `benches/storage.rs` measures both on this machine (see
//! `benches/RESULTS.md`), and `pwrite` avoids a page fault per fresh page.

use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard, TryLockError};
use std::time::{SystemTime, UNIX_EPOCH};

use rill_protocol::batch::{set_base_offset, BatchError, BatchHeader};

use super::durability::{sync_in_background, OnSyncFailure};
use super::log::Writer;
use super::producers::SequenceCheck;
use super::segment::{IndexCursor, Segment};
use super::{FlushPolicy, PartitionLog, StorageError};

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset stamped on the first batch.
    pub base_offset: i64,
    /// Offset of the last record appended.
    pub last_offset: i64,
    /// The broker's clock when the batches were appended (ms since the epoch).
    pub log_append_time_ms: i64,
    /// Largest `max_timestamp` among the appended batches.
    pub max_timestamp: i64,
    /// Number of batches appended.
    pub batch_count: usize,
    /// True when the batch was a retry of one already in the log: nothing was written and
    /// the offsets are the original ones.
    pub duplicate: bool,
}

/// One batch of the appended buffer.
pub(super) struct Span {
    pub(super) start: usize,
    pub(super) header: BatchHeader,
}

/// How an append treats the batches' offsets and idempotent producers' sequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stamping {
    /// A new write: offsets stamped from the log end, sequences checked.
    New,
    /// Batches copied from another replica's log: their offsets already continue this
    /// log (checked by the caller) and are kept; sequences are recorded, not checked.
    Copied,
}

impl Span {
    fn end(&self) -> usize {
        self.start + self.header.total_bytes()
    }
}

/// Milliseconds since the Unix epoch by the system clock.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl PartitionLog {
    /// Appends one or more whole batches whose CRCs the caller already verified. Stamps
    /// their base offsets in place (contiguously from the log end offset), writes them,
    /// and publishes the new high watermark once the bytes are readable (and, under
    /// [`FlushPolicy::Always`], once a group fsync covers them). Blocking: may roll a
    /// segment or wait for an fsync, so async callers use a blocking thread (or try
    /// [`Self::try_append_inline`] first).
    pub fn append(&self, batches: &mut [u8]) -> Result<AppendInfo, StorageError> {
        self.append_at(batches, now_ms())
    }

    /// [`Self::append`] with an explicit clock (ms), for time-based rolling in tests.
    pub fn append_at(&self, batches: &mut [u8], now_ms: i64) -> Result<AppendInfo, StorageError> {
        let flush = self.config().flush;
        let spans = self.split(batches)?;
        let writer = self.lock_writer()?;
        self.append_locked(writer, batches, &spans, now_ms, flush, Stamping::New)
    }

    /// The append a tokio worker may run itself: it never waits for the writer lock,
    /// never fsyncs and never rolls a segment (file creation, truncation, index writes).
    /// `Ok(None)` when it would have to (the lock is busy, the policy is
    /// [`FlushPolicy::Always`], or the batches do not fit the active segment): `batches`
    /// is then untouched and the caller runs [`Self::append`] on a blocking thread.
    pub fn try_append_inline(
        &self,
        batches: &mut [u8],
    ) -> Result<Option<AppendInfo>, StorageError> {
        let flush = self.config().flush;
        if flush == FlushPolicy::Always {
            return Ok(None);
        }
        let spans = self.split(batches)?;
        let writer = match self.writer.try_lock() {
            Ok(writer) => writer,
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        };
        let writer = self.check_writer(writer)?;
        let now_ms = now_ms();
        if self.append_needs_roll(&writer, &spans, now_ms) {
            return Ok(None);
        }
        self.append_locked(writer, batches, &spans, now_ms, flush, Stamping::New)
            .map(Some)
    }

    pub(super) fn append_locked(
        &self,
        mut writer: MutexGuard<'_, Writer>,
        batches: &mut [u8],
        spans: &[Span],
        now_ms: i64,
        flush: FlushPolicy,
        stamping: Stamping,
    ) -> Result<AppendInfo, StorageError> {
        let duplicate = match stamping {
            Stamping::New => self.check_sequences(&writer, spans, now_ms)?,
            Stamping::Copied => None,
        };
        if let Some(duplicate) = duplicate {
            drop(writer);
            if flush == FlushPolicy::Always {
                // The original may still wait for its fsync: answer once it is durable.
                self.sync_through(duplicate.last_offset + 1)?;
            }
            return Ok(duplicate);
        }
        let base_offset = writer.log_end_offset;
        let mut run_start = 0;
        let mut position = writer.active.committed_bytes();
        for i in 0..spans.len() {
            let log_end_offset = writer.log_end_offset;
            if position > 0
                && self.needs_roll(&writer, position, log_end_offset, &spans[i].header, now_ms)
            {
                let run = &spans[run_start..i];
                if let Err(e) = self.write_run(&mut writer, batches, run, now_ms, flush) {
                    let run_base = run_base_offset(batches, run, writer.log_end_offset);
                    return Err(self.abort_append(&mut writer, run_base, e, flush));
                }
                if let Err(e) = self.roll(&mut writer, flush) {
                    let written_end = writer.log_end_offset;
                    return Err(self.abort_append(&mut writer, written_end, e, flush));
                }
                run_start = i;
                position = 0;
            }
            set_base_offset(&mut batches[spans[i].start..], writer.log_end_offset);
            writer.log_end_offset += i64::from(spans[i].header.last_offset_delta) + 1;
            position += spans[i].header.total_bytes() as u64;
        }
        let run = &spans[run_start..];
        if let Err(e) = self.write_run(&mut writer, batches, run, now_ms, flush) {
            let run_base = run_base_offset(batches, run, writer.log_end_offset);
            return Err(self.abort_append(&mut writer, run_base, e, flush));
        }
        for span in spans {
            let mut header = span.header;
            header.base_offset = be_base_offset(&batches[span.start..]);
            writer.producers.record(&header);
        }
        let log_end_offset = writer.log_end_offset;
        if flush == FlushPolicy::Always {
            // Acknowledged (and visible) only once a group fsync covers it. If that fsync
            // fails, the log stops taking writes, so the recorded producer state can
            // never answer a retry of this batch as a duplicate.
            drop(writer);
            self.sync_through(log_end_offset)?;
        } else {
            self.high_watermark
                .fetch_max(log_end_offset, Ordering::AcqRel);
            drop(writer);
            self.new_data.notify_waiters();
        }
        Ok(AppendInfo {
            base_offset,
            last_offset: log_end_offset - 1,
            log_append_time_ms: now_ms,
            max_timestamp: spans
                .iter()
                .map(|s| s.header.max_timestamp)
                .max()
                .unwrap_or(i64::MIN),
            batch_count: spans.len(),
            duplicate: false,
        })
    }

    /// True when some batch of `spans` could not join the active segment without a roll.
    fn append_needs_roll(&self, writer: &Writer, spans: &[Span], now_ms: i64) -> bool {
        let mut position = writer.active.committed_bytes();
        let mut log_end_offset = writer.log_end_offset;
        spans.iter().any(|span| {
            let roll = position > 0
                && self.needs_roll(writer, position, log_end_offset, &span.header, now_ms);
            position += span.header.total_bytes() as u64;
            log_end_offset += i64::from(span.header.last_offset_delta) + 1;
            roll
        })
    }

    /// Ends a failed append: the log ends at `end_offset`, after the last batch whose bytes
    /// were written (earlier runs of this append stay, like any appended batch), so the next
    /// append continues there without a gap. Under [`FlushPolicy::Always`] those bytes are
    /// not published here: only a group fsync that covers them publishes them. Returns
    /// `error` for the caller.
    fn abort_append(
        &self,
        writer: &mut Writer,
        end_offset: i64,
        error: StorageError,
        flush: FlushPolicy,
    ) -> StorageError {
        writer.log_end_offset = end_offset;
        if flush != FlushPolicy::Always {
            self.publish_high_watermark(end_offset);
        }
        tracing::warn!(dir = %self.dir.display(), log_end_offset = end_offset, error = %error, "append failed");
        error
    }

    /// Checks idempotent batches against the producer state: `Some` answers a retried
    /// duplicate with its original offsets; an out-of-sequence or fenced batch is an error.
    /// An idempotent producer must send one batch per append, so the check is exact.
    fn check_sequences(
        &self,
        writer: &Writer,
        spans: &[Span],
        now_ms: i64,
    ) -> Result<Option<AppendInfo>, StorageError> {
        let Some(idempotent) = spans.iter().find(|s| s.header.producer_id >= 0) else {
            return Ok(None);
        };
        let producer_id = idempotent.header.producer_id;
        if spans.len() > 1 {
            return Err(StorageError::IdempotentMultiBatch {
                dir: self.dir.clone(),
                producer_id,
                batches: spans.len(),
            });
        }
        let header = &idempotent.header;
        match writer.producers.check(header) {
            Ok(SequenceCheck::Append) => Ok(None),
            Ok(SequenceCheck::Duplicate {
                base_offset,
                last_offset,
            }) => Ok(Some(AppendInfo {
                base_offset,
                last_offset,
                log_append_time_ms: now_ms,
                max_timestamp: header.max_timestamp,
                batch_count: 0,
                duplicate: true,
            })),
            Err(source) => Err(StorageError::Sequence {
                dir: self.dir.clone(),
                producer_id,
                source,
            }),
        }
    }

    /// Splits `buf` into whole batches, checking each header's bounds (not the CRC).
    pub(super) fn split(&self, buf: &[u8]) -> Result<Vec<Span>, StorageError> {
        self.split_bounded(buf, self.config().max_batch_bytes)
    }

    /// [`Self::split`] with batches up to `max_batch_bytes` each.
    pub(super) fn split_bounded(
        &self,
        buf: &[u8],
        max_batch_bytes: usize,
    ) -> Result<Vec<Span>, StorageError> {
        let invalid = |position, source| StorageError::InvalidBatch {
            dir: self.dir.clone(),
            position,
            source,
        };
        let mut spans = Vec::new();
        let mut start = 0;
        while start < buf.len() {
            let header = BatchHeader::parse(&buf[start..], max_batch_bytes)
                .map_err(|e| invalid(start, e))?;
            let end = start + header.total_bytes();
            if end > buf.len() {
                return Err(invalid(
                    start,
                    BatchError::Incomplete {
                        need: header.total_bytes(),
                        have: buf.len() - start,
                    },
                ));
            }
            debug_assert!(rill_protocol::batch::verify_crc(&buf[start..end]).is_ok());
            spans.push(Span { start, header });
            start = end;
        }
        if spans.is_empty() {
            return Err(StorageError::EmptyAppend {
                dir: self.dir.clone(),
            });
        }
        Ok(spans)
    }

    /// True when a batch of `header` cannot join the active segment at `position`: the
    /// segment is full (by `segment_bytes`, or by the capacity it was created with, which
    /// is smaller when `segment_bytes` was raised since), its first batch is [`super::LogConfig::roll_age_ms`] older than this one (record time,
    /// as Kafka does, so replayed old data does not roll on every batch), or the batch's
    /// offsets would not fit a relative `u32`.
    fn needs_roll(
        &self,
        writer: &Writer,
        position: u64,
        log_end_offset: i64,
        header: &BatchHeader,
        now_ms: i64,
    ) -> bool {
        let limit = u64::from(self.config().segment_bytes).min(writer.active.capacity_bytes());
        let full = position + header.total_bytes() as u64 > limit;
        let age_ms = writer.active_first_timestamp.map_or(0, |first| {
            batch_time_ms(header, now_ms).saturating_sub(first)
        });
        let old = age_ms >= i64::try_from(self.config().roll_age_ms()).unwrap_or(i64::MAX);
        let last_relative =
            log_end_offset + i64::from(header.last_offset_delta) - writer.active.base_offset();
        full || old || last_relative > i64::from(u32::MAX)
    }

    /// Writes the (already stamped) batches of `spans` at the end of the active segment,
    /// indexes them, and makes them visible to readers of the segment.
    fn write_run(
        &self,
        writer: &mut Writer,
        buf: &[u8],
        spans: &[Span],
        now_ms: i64,
        flush: FlushPolicy,
    ) -> Result<(), StorageError> {
        let (Some(first), Some(last)) = (spans.first(), spans.last()) else {
            return Ok(());
        };
        let active = Arc::clone(&writer.active);
        let mut position = active.committed_bytes();
        active.write_at(position, &buf[first.start..last.end()])?;
        match flush {
            FlushPolicy::Always => push_unsynced(writer, &active),
            FlushPolicy::Interval(_) | FlushPolicy::Os => writer.unflushed = true,
        }
        let mut max_timestamp = i64::MIN;
        for span in spans {
            let mut header = span.header;
            header.base_offset = be_base_offset(&buf[span.start..]);
            active.index_batch(
                &mut writer.cursor,
                position,
                &header,
                self.config().index_interval_bytes,
            );
            writer
                .active_first_timestamp
                .get_or_insert(batch_time_ms(&header, now_ms));
            max_timestamp = max_timestamp.max(header.max_timestamp);
            position += header.total_bytes() as u64;
        }
        active.note_append(now_ms);
        active.commit(position, max_timestamp);
        debug_assert!(active
            .offset_index()
            .last()
            .is_none_or(|e| u64::from(e.position.0) < position));
        Ok(())
    }

    /// Starts a new segment at the log end offset and seals the active one.
    ///
    /// The new segment is created first: if that fails (ENOSPC, EMFILE...), nothing has
    /// changed and the next append tries again. If sealing then fails, the new segment is
    /// removed and the old one stays active with in-memory indexes, so a failed roll
    /// never leaves a sealed segment taking appends. Nothing is fsynced here (the writer
    /// lock is held): under [`FlushPolicy::Always`] the sealed segment and the directory
    /// entry of the new one join the next group sync, which every append into the new
    /// segment waits for; under the other policies the sealed segment is fsynced in the
    /// background, and only then listed in the recovery checkpoint.
    fn roll(&self, writer: &mut Writer, flush: FlushPolicy) -> Result<(), StorageError> {
        let segment = Segment::create(
            &self.dir,
            writer.log_end_offset,
            self.config().capacity_bytes(),
        )?;
        let sealed = Arc::clone(&writer.active);
        if let Err(e) = sealed.seal(&mut writer.cursor, true) {
            sealed.offset_index().make_writable();
            sealed.time_index().make_writable();
            if let Err(cleanup) = segment.delete_files() {
                tracing::warn!(error = %cleanup, "cannot remove the segment of a failed roll");
            }
            return Err(e);
        }
        let background = |on_failure| {
            let durability = Arc::clone(&self.durability);
            sync_in_background(
                self.dir.clone(),
                Arc::clone(&sealed),
                durability,
                on_failure,
            );
        };
        match flush {
            FlushPolicy::Always => {
                push_unsynced(writer, &sealed);
                writer.dir_unsynced = true;
            }
            FlushPolicy::Interval(_) => background(OnSyncFailure::StopWrites),
            FlushPolicy::Os => background(OnSyncFailure::Report),
        }
        self.durability.mark_checkpoint_stale();
        let segment = Arc::new(segment);
        let mut segments = self.snapshot().to_vec();
        segments.push(Arc::clone(&segment));
        self.publish_segments(segments);
        writer.active = segment;
        writer.cursor = IndexCursor::new(self.config().index_interval_bytes);
        writer.active_first_timestamp = None;
        tracing::debug!(dir = %self.dir.display(), base_offset = writer.log_end_offset, "rolled segment");
        Ok(())
    }
}

/// Adds `segment` to the segments the next group sync covers (once).
fn push_unsynced(writer: &mut Writer, segment: &Arc<Segment>) {
    if !writer.unsynced.iter().any(|s| Arc::ptr_eq(s, segment)) {
        writer.unsynced.push(Arc::clone(segment));
    }
}

/// The time a batch counts for in time-based rolling: its `max_timestamp`, or the broker
/// clock when the producer set none (negative).
fn batch_time_ms(header: &BatchHeader, now_ms: i64) -> i64 {
    if header.max_timestamp >= 0 {
        header.max_timestamp
    } else {
        now_ms
    }
}

/// The stamped base offset of the first batch of `run`, or `otherwise` for an empty run.
fn run_base_offset(buf: &[u8], run: &[Span], otherwise: i64) -> i64 {
    run.first()
        .map_or(otherwise, |span| be_base_offset(&buf[span.start..]))
}

/// The base offset field of a stamped batch.
fn be_base_offset(batch: &[u8]) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&batch[..8]);
    i64::from_be_bytes(b)
}
