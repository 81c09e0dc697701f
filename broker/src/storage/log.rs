//! `PartitionLog`: one partition's ordered list of segments, the last one active.
//!
//! Ownership: the writer state (active segment, log end offset, index cursor) sits behind a
//! `Mutex` that appends hold only to stamp offsets and copy bytes. Readers never take it:
//! they load the high watermark (an atomic the writer stores after the bytes and index
//! entries are in place) and then clone an `Arc` snapshot of the segment list from a
//! `RwLock` held for that clone only. A reader therefore never sees a byte beyond the
//! published high watermark, and a retained snapshot keeps deleted segments' maps valid.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Instant;

use tokio::sync::Notify;

use super::checkpoint::{self, Checkpoint, CheckpointEntry};
use super::cleaner::CleanerState;
use super::durability::Durability;
use super::producers::ProducerStates;
use super::recovery::{self, write_open_checkpoint};
use super::segment::{IndexCursor, Segment};
use super::{FlushPolicy, LogConfig, StorageError};

/// The segments readers see, oldest first; replaced whole on roll and retention.
pub(crate) type SegmentList = Arc<Vec<Arc<Segment>>>;

/// State only the appending thread touches.
pub(crate) struct Writer {
    pub(crate) active: Arc<Segment>,
    pub(crate) cursor: IndexCursor,
    pub(crate) log_end_offset: i64,
    pub(crate) active_first_timestamp: Option<i64>,
    pub(crate) last_flush: Instant,
    pub(crate) unflushed: bool,
    pub(crate) closed: bool,
    /// Segments written since the last group sync (`flush = always`), oldest first.
    pub(crate) unsynced: Vec<Arc<Segment>>,
    /// A segment was created since the last group sync: the directory needs an fsync.
    pub(crate) dir_unsynced: bool,
    /// Idempotent producers' recent sequences.
    pub(crate) producers: ProducerStates,
}

/// An append-only, segmented partition log in one directory.
///
/// `Send + Sync`: share it behind an `Arc`; appends are serialised internally, reads run
/// concurrently with them and with each other.
pub struct PartitionLog {
    pub(crate) dir: PathBuf,
    /// Swapped whole by [`PartitionLog::set_config`]; readers clone the `Arc`.
    pub(crate) config: RwLock<Arc<LogConfig>>,
    pub(crate) writer: Mutex<Writer>,
    pub(crate) segments: RwLock<SegmentList>,
    pub(crate) high_watermark: AtomicI64,
    pub(crate) log_start_offset: AtomicI64,
    pub(crate) new_data: Notify,
    /// Stopped writes, checkpoint staleness and group commit; shared with sync threads.
    pub(crate) durability: Arc<Durability>,
    /// Damaged bytes recovery cut off when this log was opened.
    pub(crate) recovery_truncated_bytes: u64,
    /// Where compaction stands (see [`super::cleaner`]).
    pub(crate) cleaner: CleanerState,
}

impl std::fmt::Debug for PartitionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionLog")
            .field("dir", &self.dir)
            .field("log_start_offset", &self.log_start_offset())
            .field("high_watermark", &self.high_watermark())
            .finish()
    }
}

impl PartitionLog {
    /// Opens the log in `dir`, creating the directory if missing and recovering it: the
    /// fast path after a clean shutdown, a scan of unvouched segments after a crash.
    pub fn open(dir: impl AsRef<Path>, config: LogConfig) -> Result<PartitionLog, StorageError> {
        config.validate()?;
        let dir = dir.as_ref().to_path_buf();
        let recovered = recovery::recover(&dir, &config)?;
        let segments: Vec<Arc<Segment>> = recovered.segments.into_iter().map(Arc::new).collect();
        let (Some(first), Some(active)) = (segments.first(), segments.last()) else {
            unreachable!("recovery always yields an active segment");
        };
        let log_start_offset = first.base_offset();
        let writer = Writer {
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
        Ok(PartitionLog {
            dir: dir.clone(),
            config: RwLock::new(Arc::new(config)),
            writer: Mutex::new(writer),
            segments: RwLock::new(Arc::new(segments)),
            high_watermark: AtomicI64::new(recovered.log_end_offset),
            log_start_offset: AtomicI64::new(log_start_offset),
            new_data: Notify::new(),
            durability: Arc::new(Durability::new(recovered.log_end_offset)),
            recovery_truncated_bytes: recovered.truncated_bytes,
            cleaner: CleanerState::load(&dir),
        })
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The log's current configuration.
    pub fn config(&self) -> Arc<LogConfig> {
        Arc::clone(&self.config.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the configuration of a live log (retention, flush policy, segment size
    /// and age); the next append, roll and retention round use it.
    pub fn set_config(&self, config: LogConfig) -> Result<(), StorageError> {
        config.validate()?;
        *self.config.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(config);
        Ok(())
    }

    /// First offset still in the log (advances when retention deletes segments).
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset.load(Ordering::Acquire)
    }

    /// Offset after the last record readers may see. On a single broker this is also the
    /// log end offset: an append publishes it once its bytes (and fsync, for
    /// [`FlushPolicy::Always`]) are done.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// Offset the next appended record will get (equal to [`Self::high_watermark`] between
    /// appends).
    pub fn log_end_offset(&self) -> i64 {
        self.high_watermark()
    }

    /// Signalled (`notify_waiters`) after every append that moved the high watermark. To
    /// wait without missing a wakeup, create and `enable` a `notified()` future before
    /// checking the high watermark, or use [`Self::wait_for_data`].
    pub fn new_data(&self) -> &Notify {
        &self.new_data
    }

    /// Resolves once the high watermark is above `offset`. Cancel-safe: dropping the future
    /// loses nothing, so it can sit in a `select!` with a long-poll timeout.
    pub async fn wait_for_data(&self, offset: i64) {
        loop {
            let notified = self.new_data.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.high_watermark() > offset {
                return;
            }
            notified.await;
        }
    }

    /// Bytes of torn or corrupt data that recovery cut off when this log was opened.
    pub fn recovery_truncated_bytes(&self) -> u64 {
        self.recovery_truncated_bytes
    }

    /// Total bytes of all segments.
    pub fn size_bytes(&self) -> u64 {
        self.snapshot().iter().map(|s| s.committed_bytes()).sum()
    }

    /// Number of segments, the active one included.
    pub fn segment_count(&self) -> usize {
        self.snapshot().len()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.snapshot().iter().map(|s| s.base_offset()).collect()
    }

    /// A snapshot of the segment list, taken without blocking the writer for long.
    pub(crate) fn snapshot(&self) -> SegmentList {
        Arc::clone(&self.segments.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the segment list readers see.
    pub(crate) fn publish_segments(&self, segments: Vec<Arc<Segment>>) {
        *self
            .segments
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(segments);
    }

    /// Locks the writer, failing if the log was closed.
    pub(crate) fn lock_writer(&self) -> Result<MutexGuard<'_, Writer>, StorageError> {
        self.check_writer(self.writer.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Passes the locked writer on, failing if the log was closed or stopped.
    pub(crate) fn check_writer<'a>(
        &self,
        writer: MutexGuard<'a, Writer>,
    ) -> Result<MutexGuard<'a, Writer>, StorageError> {
        if writer.closed {
            return Err(StorageError::Closed {
                dir: self.dir.clone(),
            });
        }
        if let Some(reason) = self.durability.stopped() {
            return Err(self.writes_stopped(reason));
        }
        Ok(writer)
    }

    /// The error of an append to a log whose writes stopped.
    pub(crate) fn writes_stopped(&self, reason: &str) -> StorageError {
        StorageError::WritesStopped {
            dir: self.dir.clone(),
            reason: reason.to_owned(),
        }
    }

    /// fsyncs the active segment and records the synced closed segments in the recovery
    /// checkpoint, so that a crash rescans as little as possible. The writer lock is not
    /// held across the fsync.
    pub fn flush(&self) -> Result<(), StorageError> {
        let active = {
            let mut writer = self.lock_writer()?;
            writer.unflushed = false;
            writer.last_flush = Instant::now();
            Arc::clone(&writer.active)
        };
        self.sync_or_stop(&active)?;
        self.write_checkpoint()
    }

    /// fsyncs `segment`; a failure stops the log's writes (a retried fsync proves nothing,
    /// since the kernel may have dropped the dirty pages and forgotten the error).
    fn sync_or_stop(&self, segment: &Segment) -> Result<(), StorageError> {
        segment
            .sync()
            .inspect_err(|e| self.durability.stop(&self.dir, e))
    }

    /// Rewrites the (not clean) recovery checkpoint listing the synced closed segments.
    /// Takes the checkpoint lock, never the writer lock.
    pub(crate) fn write_checkpoint(&self) -> Result<(), StorageError> {
        let _serialised = self
            .durability
            .checkpoint_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let segments = self.snapshot();
        let closed = &segments[..segments.len().saturating_sub(1)];
        let written = write_open_checkpoint(
            self.dir(),
            closed.iter().map(|s| &**s),
            self.high_watermark(),
        );
        if written.is_err() {
            // Retried by the next housekeeping round.
            self.durability.mark_checkpoint_stale();
        }
        written
    }

    /// Flushes when the [`FlushPolicy::Interval`] has elapsed since the last flush. Under
    /// any policy it also refreshes the recovery checkpoint once a segment was sealed or
    /// synced since, so that a crash rescans only what is not on disk. Returns whether it
    /// flushed. The broker calls this periodically, for every log, from a background
    /// thread. A failed flush stops the log's writes, as under [`FlushPolicy::Always`].
    pub fn flush_if_due(&self) -> Result<bool, StorageError> {
        let (due, active) = {
            let mut writer = match self.lock_writer() {
                Ok(writer) => writer,
                // Nothing to flush; the failure was reported when it happened.
                Err(StorageError::WritesStopped { .. }) => return Ok(false),
                Err(e) => return Err(e),
            };
            let due = match self.config().flush {
                FlushPolicy::Interval(every) => {
                    writer.unflushed && writer.last_flush.elapsed() >= every
                }
                FlushPolicy::Always | FlushPolicy::Os => false,
            };
            if due {
                writer.unflushed = false;
                writer.last_flush = Instant::now();
            }
            (due, Arc::clone(&writer.active))
        };
        if due {
            self.sync_or_stop(&active)?;
        }
        if self.durability.take_checkpoint_stale() || due {
            self.write_checkpoint()?;
        }
        Ok(due)
    }

    /// Clean shutdown: seals the active segment (cut to its real length, indexes written),
    /// fsyncs every segment the clean checkpoint will vouch for (sealed segments whose
    /// background sync has not finished included) and the directory, then writes a clean
    /// checkpoint so the next open scans nothing. Further appends fail with
    /// [`StorageError::Closed`]; reads keep working. If an fsync fails, no clean checkpoint
    /// is written (the next open scans) and the log's writes stop.
    pub fn close(&self) -> Result<(), StorageError> {
        let log_end_offset = {
            let mut writer = self.lock_writer()?;
            let Writer { active, cursor, .. } = &mut *writer;
            active.seal(cursor, false)?;
            writer.closed = true;
            writer.log_end_offset
        };
        let segments = self.snapshot();
        for segment in segments.iter() {
            let active = segment.base_offset() == segments[segments.len() - 1].base_offset();
            if active || !segment.is_synced() {
                segment
                    .sync_sealed()
                    .inspect_err(|e| self.durability.stop(&self.dir, e))?;
                segment.mark_synced();
            }
        }
        checkpoint::sync_dir(self.dir())?;
        let entries = segments
            .iter()
            .map(|s| CheckpointEntry {
                base_offset: s.base_offset(),
                size_bytes: s.committed_bytes(),
            })
            .collect();
        let clean = Checkpoint {
            clean: true,
            log_end_offset,
            segments: entries,
        };
        let _serialised = self
            .durability
            .checkpoint_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        checkpoint::write(self.dir(), &clean)
    }

    /// Stops appends without writing anything: the log's directory is about to be
    /// deleted. Reads keep working on what is mapped.
    pub fn close_for_delete(&self) {
        self.writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed = true;
    }

    /// Closes the log for appends and removes its directory with every file in it.
    pub fn delete(&self) -> Result<(), StorageError> {
        self.close_for_delete();
        // Unlinked without the writer lock: appends fail fast with `Closed` meanwhile.
        std::fs::remove_dir_all(&self.dir).map_err(StorageError::io("delete log dir", &self.dir))
    }
}
