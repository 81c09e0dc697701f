//! What a partition log knows about its own durability, shared with the threads that
//! fsync for it: whether writes stopped after a failed fsync, whether the recovery
//! checkpoint is stale, and the group-commit state of `flush = always`.
//!
//! Invariants: once `stopped` is set it is never cleared (a retried fsync proves nothing;
//! only a restart, which recovers from what the disk holds, clears it); `synced_end` only
//! grows, and every byte of the log below it was fsynced, with the directory entry of the
//! segment holding it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

use super::segment::Segment;
use super::StorageError;

/// Durability state of one log, behind an `Arc` so background syncs can reach it.
#[derive(Debug, Default)]
pub(crate) struct Durability {
    /// Why the log stopped taking writes (a failed fsync), once it has.
    stopped: OnceLock<String>,
    /// A segment was sealed or became synced since the checkpoint was last written.
    checkpoint_stale: AtomicBool,
    /// Serialises checkpoint writes (they share a temporary file name). Only background
    /// threads and blocking calls take it; appends never do.
    pub(crate) checkpoint_lock: Mutex<()>,
    /// Group commit under `flush = always`.
    group: Mutex<GroupSync>,
    /// Signalled whenever a group sync ends.
    group_done: Condvar,
}

/// Progress of the group commit.
#[derive(Debug, Default)]
pub(crate) struct GroupSync {
    /// Every offset below this is on stable storage.
    pub(crate) synced_end: i64,
    /// A thread is running an fsync for the group right now.
    pub(crate) syncing: bool,
}

impl Durability {
    /// State for a log whose first `synced_end` offsets are on disk (as recovered).
    pub(crate) fn new(synced_end: i64) -> Self {
        Durability {
            group: Mutex::new(GroupSync {
                synced_end,
                syncing: false,
            }),
            ..Durability::default()
        }
    }

    /// Why writes stopped, if they did.
    pub(crate) fn stopped(&self) -> Option<&str> {
        self.stopped.get().map(String::as_str)
    }

    /// Stops the log's writes for good (until a restart) after a failed fsync.
    pub(crate) fn stop(&self, dir: &std::path::Path, error: &StorageError) {
        if self.stopped.set(error.to_string()).is_ok() {
            tracing::error!(dir = %dir.display(), error = %error, "fsync failed: the partition takes no more writes until rilld restarts");
        }
        self.group_done.notify_all();
    }

    /// Marks the recovery checkpoint as needing a rewrite.
    pub(crate) fn mark_checkpoint_stale(&self) {
        self.checkpoint_stale.store(true, Ordering::Release);
    }

    /// Takes the "checkpoint is stale" flag (the caller rewrites the checkpoint, and puts
    /// the flag back if that fails).
    pub(crate) fn take_checkpoint_stale(&self) -> bool {
        self.checkpoint_stale.swap(false, Ordering::AcqRel)
    }

    /// Locks the group-commit state.
    pub(crate) fn lock_group(&self) -> MutexGuard<'_, GroupSync> {
        self.group.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until the running group sync ends (or the log stops).
    pub(crate) fn wait_group<'a>(
        &self,
        guard: MutexGuard<'a, GroupSync>,
    ) -> MutexGuard<'a, GroupSync> {
        self.group_done
            .wait(guard)
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes every thread waiting for a group sync.
    pub(crate) fn notify_group(&self) {
        self.group_done.notify_all();
    }
}

/// What a sealed segment's background fsync does when it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnSyncFailure {
    /// Stop the log's writes (`flush = every N ms`: the policy promised the bytes).
    StopWrites,
    /// Only report it (`flush = os`: the segment is never vouched for, so a restart scans it).
    Report,
}

/// fsyncs a sealed segment off the append path; once done, the segment may be listed in
/// the recovery checkpoint, which is marked stale so the next housekeeping round lists it.
/// Called from blocking threads only: if no thread can be spawned it syncs in place.
pub(crate) fn sync_in_background(
    dir: std::path::PathBuf,
    segment: Arc<Segment>,
    durability: Arc<Durability>,
    on_failure: OnSyncFailure,
) {
    let (dir2, segment2, durability2) =
        (dir.clone(), Arc::clone(&segment), Arc::clone(&durability));
    let spawned = std::thread::Builder::new()
        .name("rill-segment-sync".into())
        .spawn(move || sync_sealed(&dir2, &segment2, &durability2, on_failure));
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not spawn a segment sync thread; syncing in place");
        sync_sealed(&dir, &segment, &durability, on_failure);
    }
}

/// fsyncs a sealed segment and records the outcome.
fn sync_sealed(
    dir: &std::path::Path,
    segment: &Segment,
    durability: &Durability,
    on_failure: OnSyncFailure,
) {
    match segment.sync_sealed() {
        Ok(()) => {
            segment.mark_synced();
            durability.mark_checkpoint_stale();
        }
        Err(e) if on_failure == OnSyncFailure::StopWrites => durability.stop(dir, &e),
        Err(e) => {
            tracing::error!(dir = %dir.display(), error = %e, "background fsync of a sealed segment failed; a restart will scan it")
        }
    }
}
