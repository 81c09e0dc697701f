//! The write path: split the appended buffer into batches, stamp offsets, roll segments,
//! `pwrite` runs of batches, index them, then publish the new high watermark.
//!
//! Writes go through `pwrite` into the pre-sized segment file rather than `memcpy` into a
//! writable map: `benches/storage.rs` measures both on this machine (see
//! `benches/RESULTS.md`), and `pwrite` avoids a page fault per fresh page.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rill_protocol::batch::{set_base_offset, BatchError, BatchHeader};

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
struct Span {
    start: usize,
    header: BatchHeader,
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
    /// and publishes the new high watermark once the bytes are readable.
    pub fn append(&self, batches: &mut [u8]) -> Result<AppendInfo, StorageError> {
        self.append_at(batches, now_ms())
    }

    /// [`Self::append`] with an explicit clock (ms), for time-based rolling in tests.
    pub fn append_at(&self, batches: &mut [u8], now_ms: i64) -> Result<AppendInfo, StorageError> {
        let spans = self.split(batches)?;
        let mut writer = self.lock_writer()?;
        if let Some(duplicate) = self.check_sequences(&writer, &spans, now_ms)? {
            return Ok(duplicate);
        }
        let base_offset = writer.log_end_offset;
        let mut run_start = 0;
        let mut position = writer.active.committed_bytes();
        for i in 0..spans.len() {
            if position > 0 && self.needs_roll(&writer, position, &spans[i].header, now_ms) {
                let run = &spans[run_start..i];
                if let Err(e) = self.write_run(&mut writer, batches, run, now_ms) {
                    let run_base = run_base_offset(batches, run, writer.log_end_offset);
                    return Err(self.abort_append(&mut writer, run_base, e));
                }
                if let Err(e) = self.roll(&mut writer) {
                    let written_end = writer.log_end_offset;
                    return Err(self.abort_append(&mut writer, written_end, e));
                }
                run_start = i;
                position = 0;
            }
            set_base_offset(&mut batches[spans[i].start..], writer.log_end_offset);
            writer.log_end_offset += i64::from(spans[i].header.last_offset_delta) + 1;
            position += spans[i].header.total_bytes() as u64;
        }
        let run = &spans[run_start..];
        if let Err(e) = self.write_run(&mut writer, batches, run, now_ms) {
            let run_base = run_base_offset(batches, run, writer.log_end_offset);
            return Err(self.abort_append(&mut writer, run_base, e));
        }
        if self.config().flush == FlushPolicy::Always {
            if let Err(e) = writer.active.sync() {
                // After a failed fsync the kernel may drop the dirty pages and forget the
                // error, so a retried fsync proves nothing: this append is neither made
                // visible nor acknowledged (nor remembered for idempotent retries), and the
                // log stops taking writes until a restart recovers it from the disk.
                tracing::error!(dir = %self.dir.display(), error = %e, "fsync failed: the partition takes no more writes until rilld restarts");
                writer.writes_stopped = Some(e.to_string());
                return Err(e);
            }
        } else {
            writer.unflushed = true;
        }
        for span in &spans {
            let mut header = span.header;
            header.base_offset = be_base_offset(&batches[span.start..]);
            writer.producers.record(&header);
        }
        let log_end_offset = writer.log_end_offset;
        self.high_watermark.store(log_end_offset, Ordering::Release);
        drop(writer);
        self.new_data.notify_waiters();
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

    /// Ends a failed append: the log ends at `end_offset`, after the last batch whose bytes
    /// were written (earlier runs of this append stay, like any appended batch), so the next
    /// append continues there without a gap. Returns `error` for the caller.
    fn abort_append(
        &self,
        writer: &mut Writer,
        end_offset: i64,
        error: StorageError,
    ) -> StorageError {
        writer.log_end_offset = end_offset;
        if end_offset > self.high_watermark() {
            self.high_watermark.store(end_offset, Ordering::Release);
            self.new_data.notify_waiters();
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
    fn split(&self, buf: &[u8]) -> Result<Vec<Span>, StorageError> {
        let invalid = |position, source| StorageError::InvalidBatch {
            dir: self.dir.clone(),
            position,
            source,
        };
        let mut spans = Vec::new();
        let mut start = 0;
        while start < buf.len() {
            let header = BatchHeader::parse(&buf[start..], self.config().max_batch_bytes)
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
    /// is smaller when `segment_bytes` was raised since), its first batch is `segment_ms` older than this one (record time,
    /// as Kafka does, so replayed old data does not roll on every batch), or the batch's
    /// offsets would not fit a relative `u32`.
    fn needs_roll(
        &self,
        writer: &Writer,
        position: u64,
        header: &BatchHeader,
        now_ms: i64,
    ) -> bool {
        let limit = u64::from(self.config().segment_bytes).min(writer.active.capacity_bytes());
        let full = position + header.total_bytes() as u64 > limit;
        let age_ms = writer.active_first_timestamp.map_or(0, |first| {
            batch_time_ms(header, now_ms).saturating_sub(first)
        });
        let old = age_ms >= self.config().segment_ms as i64;
        let last_relative = writer.log_end_offset + i64::from(header.last_offset_delta)
            - writer.active.base_offset();
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
    ) -> Result<(), StorageError> {
        let (Some(first), Some(last)) = (spans.first(), spans.last()) else {
            return Ok(());
        };
        let active = Arc::clone(&writer.active);
        let mut position = active.committed_bytes();
        active.write_at(position, &buf[first.start..last.end()])?;
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
    /// never leaves a sealed segment taking appends.
    fn roll(&self, writer: &mut Writer) -> Result<(), StorageError> {
        let segment = Segment::create(
            &self.dir,
            writer.log_end_offset,
            self.config().capacity_bytes(),
        )?;
        let sealed = Arc::clone(&writer.active);
        let flush = self.config().flush;
        let mut sealing = sealed.seal(&mut writer.cursor, true);
        if sealing.is_ok() && flush == FlushPolicy::Always {
            sealing = sealed.sync();
            if let Err(e) = &sealing {
                // As for an append's fsync (see `append_at`): nothing proves the data
                // reached the disk, and a retried fsync would prove nothing.
                tracing::error!(dir = %self.dir.display(), error = %e, "fsync failed at a segment roll: the partition takes no more writes until rilld restarts");
                writer.writes_stopped = Some(e.to_string());
            }
        }
        if let Err(e) = sealing {
            sealed.offset_index().make_writable();
            sealed.time_index().make_writable();
            if let Err(cleanup) = segment.delete_files() {
                tracing::warn!(error = %cleanup, "cannot remove the segment of a failed roll");
            }
            return Err(e);
        }
        match flush {
            FlushPolicy::Always => sealed.mark_synced(),
            FlushPolicy::Interval(_) => sync_in_background(Arc::clone(&sealed)),
            // The policy leaves durability to the OS: a sealed segment is as durable as it
            // will get, so the checkpoint may vouch for it (it survives a process crash).
            FlushPolicy::Os => sealed.mark_synced(),
        }
        writer.rolled_since_checkpoint = true;
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

/// fsyncs a sealed segment off the append path; recovery checkpoints record it once done.
fn sync_in_background(segment: Arc<Segment>) {
    let spawned = std::thread::Builder::new()
        .name("rill-segment-sync".into())
        .spawn(move || match segment.sync() {
            Ok(()) => segment.mark_synced(),
            Err(e) => tracing::error!(error = %e, "background fsync of a sealed segment failed"),
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not spawn the segment sync thread");
    }
}
