//! What a replicated partition's state machine asks of its log, beyond the ordinary
//! append: apply a committed write without an fsync of its own (the Raft log is the
//! durable copy), copy batches another replica already stamped, cut the log back to an
//! offset, start over empty at an offset, and fsync everything for a snapshot.
//!
//! Cutting and resetting rewrite the directory with the writer lock held and then open
//! it again with [`super::recovery`], so the result is exactly what a restart would see.
//! Files are never shortened in place while mapped: a reader holding an older segment
//! list keeps reading the old (unlinked) files, never a page past a file's end.

use std::fs::{self, File};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};
use std::time::Instant;

use rill_protocol::batch::{verify_crc, BatchError, BatchHeader};

use super::append::{now_ms, AppendInfo, Stamping};
use super::checkpoint;
use super::index::{remove_if_exists, RelativeOffset};
use super::log::Writer;
use super::producers::ProducerStates;
use super::recovery;
use super::segment::{Segment, STORED_BATCH_BYTES_MAX};
use super::{FlushPolicy, PartitionLog, StorageError};

impl PartitionLog {
    /// Appends a committed replicated write: [`Self::append_at`] (offsets stamped from the
    /// log end, idempotent sequences checked, the same refusals on every replica) but
    /// never fsyncs, whatever the topic's flush policy. Sealed segments are fsynced in the
    /// background; [`Self::sync`] makes everything durable. Blocking (may roll a segment).
    pub fn append_replicated(
        &self,
        batches: &mut [u8],
        now_ms: i64,
    ) -> Result<AppendInfo, StorageError> {
        let spans = self.split(batches)?;
        let writer = self.lock_writer()?;
        self.append_locked(
            writer,
            batches,
            &spans,
            now_ms,
            FlushPolicy::Os,
            Stamping::New,
        )
    }

    /// Appends batches copied from another replica's log, offsets as they are: the first
    /// must start at this log's end and each must follow the previous one, and every CRC
    /// must hold (the bytes crossed the network). Idempotent producers' state records them.
    /// Never fsyncs. Blocking.
    pub fn append_copied(&self, batches: &[u8]) -> Result<AppendInfo, StorageError> {
        self.verify_copied(batches)?;
        let spans = self.split_bounded(batches, STORED_BATCH_BYTES_MAX)?;
        let writer = self.lock_writer()?;
        let mut expected = writer.log_end_offset;
        for span in &spans {
            if span.header.base_offset != expected {
                return Err(StorageError::NotContinuing {
                    dir: self.dir.clone(),
                    base_offset: span.header.base_offset,
                    log_end_offset: expected,
                });
            }
            expected = span.header.next_offset();
        }
        let mut owned = batches.to_vec();
        self.append_locked(
            writer,
            &mut owned,
            &spans,
            now_ms(),
            FlushPolicy::Os,
            Stamping::Copied,
        )
    }

    /// Cuts the log back so that it ends at `offset`, which must be a batch boundary
    /// between the log start and end offsets. Later segments are deleted, the segment
    /// holding `offset` is rewritten with only the bytes before it, and the log is
    /// reopened (indexes and producer state rebuilt); the high watermark drops to
    /// `offset` before any file changes. Blocking (fsyncs).
    pub fn truncate_to(&self, offset: i64) -> Result<(), StorageError> {
        let mut writer = self.lock_writer()?;
        let log_end_offset = writer.log_end_offset;
        if offset == log_end_offset {
            return Ok(());
        }
        if offset < self.log_start_offset() || offset > log_end_offset {
            return Err(StorageError::OffsetOutOfRange {
                dir: self.dir.clone(),
                offset,
                log_start_offset: self.log_start_offset(),
                log_end_offset,
            });
        }
        let segments = self.snapshot();
        let Some(index) = segments.iter().rposition(|s| s.base_offset() <= offset) else {
            return Err(self.not_a_boundary(offset));
        };
        let holding = &segments[index];
        let position =
            batch_position(holding, offset).ok_or_else(|| self.not_a_boundary(offset))?;
        self.high_watermark.store(offset, Ordering::Release);
        // Highest first, so a crash part-way leaves a contiguous (longer) log behind.
        for later in segments[index + 1..].iter().rev() {
            later.delete_files()?;
        }
        rewrite_prefix(holding, position)?;
        tracing::warn!(
            dir = %self.dir.display(),
            from = log_end_offset,
            to = offset,
            "cut the log back (replica state machine)"
        );
        self.reopen(&mut writer)
    }

    /// Empties the log and starts it over at `offset` (a replica whose log ends below
    /// another replica's log start offset, which retention moved past it): every segment
    /// is deleted and one empty segment starts at `offset`. Blocking (fsyncs).
    pub fn reset_to(&self, offset: i64) -> Result<(), StorageError> {
        if offset < 0 {
            return Err(StorageError::OffsetOutOfRange {
                dir: self.dir.clone(),
                offset,
                log_start_offset: 0,
                log_end_offset: i64::MAX,
            });
        }
        let mut writer = self.lock_writer()?;
        let segments = self.snapshot();
        self.high_watermark
            .store(offset.min(writer.log_end_offset), Ordering::Release);
        for segment in segments.iter().rev() {
            segment.delete_files()?;
        }
        let path = checkpoint::CHECKPOINT_FILE;
        remove_if_exists(&self.dir.join(path))?;
        let capacity_bytes = self.config().capacity_bytes();
        drop(Segment::create(&self.dir, offset, capacity_bytes)?);
        tracing::warn!(
            dir = %self.dir.display(),
            log_start_offset = offset,
            "emptied the log to start over (replica catching up past retention)"
        );
        self.reopen(&mut writer)
    }

    /// fsyncs every byte of the log: each sealed segment not yet known to be on disk
    /// (log and indexes), the active segment and the directory, then refreshes the
    /// recovery checkpoint. A failed fsync stops the log's writes, as any other.
    /// Blocking; the writer lock is not held across the fsyncs.
    pub fn sync(&self) -> Result<(), StorageError> {
        let active = {
            let mut writer = self.lock_writer()?;
            writer.unflushed = false;
            writer.last_flush = Instant::now();
            Arc::clone(&writer.active)
        };
        let segments = self.snapshot();
        for segment in segments.iter() {
            if Arc::ptr_eq(segment, &active) || segment.is_synced() {
                continue;
            }
            segment
                .sync_sealed()
                .inspect_err(|e| self.durability.stop(&self.dir, e))?;
            segment.mark_synced();
        }
        active
            .sync()
            .inspect_err(|e| self.durability.stop(&self.dir, e))?;
        checkpoint::sync_dir(&self.dir)?;
        self.write_checkpoint()
    }

    /// Checks that `buf` is whole batches with valid CRCs.
    fn verify_copied(&self, buf: &[u8]) -> Result<(), StorageError> {
        let invalid = |position, source| StorageError::InvalidBatch {
            dir: self.dir.clone(),
            position,
            source,
        };
        let mut position = 0;
        while position < buf.len() {
            let rest = &buf[position..];
            let header = BatchHeader::parse(rest, STORED_BATCH_BYTES_MAX)
                .map_err(|e| invalid(position, e))?;
            let batch = rest.get(..header.total_bytes()).ok_or_else(|| {
                invalid(
                    position,
                    BatchError::Incomplete {
                        need: header.total_bytes(),
                        have: rest.len(),
                    },
                )
            })?;
            verify_crc(batch).map_err(|e| invalid(position, e))?;
            position += batch.len();
        }
        Ok(())
    }

    fn not_a_boundary(&self, offset: i64) -> StorageError {
        StorageError::NotBatchBoundary {
            dir: self.dir.clone(),
            offset,
        }
    }

    /// Opens the directory again after a cut or reset (writer lock held): recovery's view
    /// replaces the writer state, the segment list, both offsets and producer state.
    fn reopen(&self, writer: &mut MutexGuard<'_, Writer>) -> Result<(), StorageError> {
        let config = self.config();
        let recovered = match recovery::recover(&self.dir, &config) {
            Ok(recovered) => recovered,
            Err(e) => {
                // The files no longer match the writer's state: take no more writes.
                self.durability.stop(&self.dir, &e);
                return Err(e);
            }
        };
        let segments: Vec<Arc<Segment>> = recovered.segments.into_iter().map(Arc::new).collect();
        let (Some(first), Some(active)) = (segments.first(), segments.last()) else {
            unreachable!("recovery always yields an active segment");
        };
        let log_start_offset = first.base_offset();
        **writer = Writer {
            active: Arc::clone(active),
            cursor: recovered.cursor,
            log_end_offset: recovered.log_end_offset,
            active_first_timestamp: recovered.active_first_timestamp,
            last_flush: Instant::now(),
            unflushed: false,
            closed: false,
            unsynced: Vec::new(),
            dir_unsynced: false,
            producers: ProducerStates::rebuild(&segments),
        };
        self.publish_segments(segments);
        self.log_start_offset
            .store(log_start_offset, Ordering::Release);
        self.high_watermark
            .store(recovered.log_end_offset, Ordering::Release);
        {
            let mut group = self.durability.lock_group();
            group.synced_end = group.synced_end.min(recovered.log_end_offset);
        }
        self.new_data.notify_waiters();
        Ok(())
    }
}

/// Byte position of the batch starting at `offset` in `segment`, or of its end when
/// `offset` is where the segment's batches end; `None` when no batch starts there.
fn batch_position(segment: &Segment, offset: i64) -> Option<u64> {
    let end = segment.committed_bytes();
    let relative = u32::try_from(offset - segment.base_offset()).unwrap_or(u32::MAX);
    let floor = segment.offset_index().floor(RelativeOffset(relative));
    let mut position = floor.map_or(0, |entry| u64::from(entry.position.0));
    let mut next_offset = floor.map_or(segment.base_offset(), |entry| {
        segment.base_offset() + i64::from(entry.relative_offset.0)
    });
    loop {
        let Some(header) = segment.header_at(position, end) else {
            return (position == end && next_offset == offset).then_some(position);
        };
        if header.base_offset == offset {
            return Some(position);
        }
        if header.base_offset > offset {
            return None;
        }
        next_offset = header.next_offset();
        position += header.total_bytes() as u64;
    }
}

/// Replaces `segment`'s log file with a copy of its first `len` bytes (written to a
/// temporary file, fsynced, renamed over it, directory fsynced) and removes its index
/// files, which recovery rebuilds. The old file stays intact for readers still mapping it.
fn rewrite_prefix(segment: &Segment, len: u64) -> Result<(), StorageError> {
    let paths = segment.paths();
    let mut tmp = paths.log.clone().into_os_string();
    tmp.push(".cut");
    let tmp = PathBuf::from(tmp);
    let copy = || -> io::Result<()> {
        let mut from = File::open(&paths.log)?;
        let mut to = File::create(&tmp)?;
        let copied = io::copy(&mut io::Read::take(&mut from, len), &mut to)?;
        if copied != len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("copied {copied} of {len} bytes"),
            ));
        }
        to.sync_all()?;
        fs::rename(&tmp, &paths.log)
    };
    copy().map_err(StorageError::io("rewrite cut segment", &paths.log))?;
    remove_if_exists(&paths.index)?;
    remove_if_exists(&paths.time_index)?;
    let dir = paths.log.parent().unwrap_or(std::path::Path::new("."));
    checkpoint::sync_dir(dir)
}
