//! Group commit for `flush = always`: appends write under the writer lock, release it, and
//! then wait here until an `fdatasync` that covers their bytes completes. One thread at a
//! time runs the sync for everyone: it takes the log end and the list of written segments
//! under the writer lock (briefly), fsyncs them (and the directory, after a roll) without
//! any lock held, then publishes the high watermark through that end and wakes the
//! waiters. Appends that arrived during the sync are covered by the next one, so N
//! concurrent appends cost about two fsyncs, not N.
//!
//! A failed sync stops the log's writes (see [`super::StorageError::WritesStopped`]):
//! nothing it was to cover is published or acknowledged.

use std::sync::{Arc, PoisonError};

use super::checkpoint::sync_dir;
use super::segment::Segment;
use super::{PartitionLog, StorageError};

/// What one group sync must make durable.
struct SyncBatch {
    /// Log end offset when the batch was taken: everything below it is written.
    end_offset: i64,
    /// Segments written since the previous sync, each with whether it is sealed.
    segments: Vec<(Arc<Segment>, bool)>,
    /// A segment was created, so the directory entry needs an fsync too.
    sync_dir: bool,
}

impl PartitionLog {
    /// Blocks until every offset below `end_offset` is on stable storage, running the
    /// group's fsync if no other thread is; the high watermark then covers `end_offset`.
    /// Blocking: call it from a blocking thread, never a tokio worker.
    pub(crate) fn sync_through(&self, end_offset: i64) -> Result<(), StorageError> {
        let durability = &self.durability;
        let mut group = durability.lock_group();
        loop {
            if let Some(reason) = durability.stopped() {
                return Err(self.writes_stopped(reason));
            }
            if group.synced_end >= end_offset {
                return Ok(());
            }
            if group.syncing {
                group = durability.wait_group(group);
                continue;
            }
            group.syncing = true;
            drop(group);
            let outcome = self.sync_group();
            group = durability.lock_group();
            group.syncing = false;
            match outcome {
                Ok(synced_end) => {
                    group.synced_end = group.synced_end.max(synced_end);
                    self.publish_high_watermark(group.synced_end);
                    durability.notify_group();
                }
                Err(e) => {
                    drop(group);
                    durability.stop(&self.dir, &e);
                    return Err(e);
                }
            }
        }
    }

    /// Takes what the next sync must cover, then fsyncs it with no lock held.
    fn sync_group(&self) -> Result<i64, StorageError> {
        let batch = self.take_sync_batch();
        if batch.sync_dir {
            sync_dir(&self.dir)?;
        }
        for (segment, sealed) in &batch.segments {
            if *sealed {
                segment.sync_sealed()?;
                segment.mark_synced();
                self.durability.mark_checkpoint_stale();
            } else {
                segment.sync()?;
            }
        }
        Ok(batch.end_offset)
    }

    fn take_sync_batch(&self) -> SyncBatch {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let active = Arc::clone(&writer.active);
        let segments = writer
            .unsynced
            .drain(..)
            .map(|s| {
                let sealed = !Arc::ptr_eq(&s, &active);
                (s, sealed)
            })
            .collect();
        SyncBatch {
            end_offset: writer.log_end_offset,
            segments,
            sync_dir: std::mem::take(&mut writer.dir_unsynced),
        }
    }

    /// Moves the high watermark up to `offset` (never down) and wakes long-polling readers.
    pub(crate) fn publish_high_watermark(&self, offset: i64) {
        let previous = self
            .high_watermark
            .fetch_max(offset, std::sync::atomic::Ordering::AcqRel);
        if offset > previous {
            self.new_data.notify_waiters();
        }
    }
}
