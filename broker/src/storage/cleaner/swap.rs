//! Swapping a cleaned segment in, crash-safely, and finishing an interrupted swap at start.
//!
//! On disk, with `X` the segment's base offset:
//! 1. `X.log.cleaned` is written and fsynced (a crash here: recovery deletes it, the old
//!    segment stays);
//! 2. under the writer lock: the old indexes are unlinked (recovery rebuilds missing ones),
//!    `X.log.cleaned` is renamed to `X.log.swap` (from now on the copy is known complete:
//!    recovery finishes the swap), then `X.log.swap` is renamed over `X.log` (atomic), and
//!    the new segment replaces the old one in the list readers snapshot;
//! 3. the directory is fsynced and the new indexes are written.
//!
//! So after a crash at any point the directory holds either the old or the new `X.log`,
//! each a whole segment covering the same offsets. Readers that took a snapshot before
//! step 2 keep the old segment's file and map: unlinked, they stay valid until dropped.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use super::failpoint;
use super::rewrite::{remove_quietly, Cleaned};
use crate::storage::checkpoint::sync_dir;
use crate::storage::index::remove_if_exists;
use crate::storage::segment::{parse_log_file_name, IndexCursor, Segment, SegmentPaths};
use crate::storage::{PartitionLog, StorageError};

/// Swaps `cleaned` in for `old`; `Ok(false)` when `old` is no longer a closed segment of
/// the log (retention deleted it meanwhile), in which case the copy is discarded.
pub fn swap_in(
    log: &PartitionLog,
    old: &Arc<Segment>,
    cleaned: Cleaned,
) -> Result<bool, StorageError> {
    let interval = log.config().index_interval_bytes;
    let cleaned_path = cleaned.path.clone();
    let prepared = prepare(log.dir(), old.base_offset(), cleaned, interval);
    let (new, mut cursor) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            remove_quietly(&cleaned_path);
            return Err(e);
        }
    };
    failpoint::hit("cleaned-written");
    let new = Arc::new(new);
    let replaced = replace(log, old, &new, &cleaned_path);
    if !matches!(replaced, Ok(true)) {
        remove_quietly(&cleaned_path);
    }
    if !replaced? {
        return Ok(false);
    }
    sync_dir(log.dir())?;
    new.seal(&mut cursor, true)?;
    failpoint::hit("indexes-written");
    drop_orphan_indexes(log, &new)?;
    Ok(true)
}

/// Retention may have deleted the new segment while its indexes were being written (it
/// deletes under the writer lock, before or after this check): remove what it missed.
fn drop_orphan_indexes(log: &PartitionLog, new: &Arc<Segment>) -> Result<(), StorageError> {
    let Ok(_writer) = log.lock_writer() else {
        return Ok(());
    };
    if log.snapshot().iter().any(|s| Arc::ptr_eq(s, new)) {
        return Ok(());
    }
    remove_if_exists(&new.paths().index)?;
    remove_if_exists(&new.paths().time_index)
}

/// Maps the cleaned file as the segment at `base_offset` and indexes it.
fn prepare(
    dir: &Path,
    base_offset: i64,
    cleaned: Cleaned,
    interval_bytes: u32,
) -> Result<(Segment, IndexCursor), StorageError> {
    let segment = Segment::adopt(dir, base_offset, cleaned.file)?;
    let mut cursor = IndexCursor::new(interval_bytes);
    let end = cleaned.bytes;
    let mut position = 0;
    while let Some(header) = segment.header_at(position, end) {
        segment.index_batch(&mut cursor, position, &header, interval_bytes);
        position += header.total_bytes() as u64;
    }
    if position != end {
        return Err(StorageError::CorruptSegment {
            path: cleaned.path,
            position,
        });
    }
    segment.set_recovered(end, cursor.max_timestamp);
    segment.mark_synced();
    Ok((segment, cursor))
}

/// Step 2, under the writer lock. False when `old` is gone or active.
fn replace(
    log: &PartitionLog,
    old: &Arc<Segment>,
    new: &Arc<Segment>,
    cleaned_path: &Path,
) -> Result<bool, StorageError> {
    let _writer = log.lock_writer()?;
    let segments = log.snapshot();
    let Some(at) = segments.iter().position(|s| Arc::ptr_eq(s, old)) else {
        return Ok(false);
    };
    if at + 1 == segments.len() {
        return Ok(false);
    }
    let paths = old.paths();
    remove_if_exists(&paths.index)?;
    remove_if_exists(&paths.time_index)?;
    let swap = swap_path(&paths.log);
    fs::rename(cleaned_path, &swap).map_err(StorageError::io("rename cleaned segment", &swap))?;
    failpoint::hit("swap-renamed");
    if let Err(e) = fs::rename(&swap, &paths.log) {
        remove_quietly(&swap);
        return Err(StorageError::io("swap cleaned segment", &paths.log)(e));
    }
    failpoint::hit("log-replaced");
    let mut list = segments.to_vec();
    list[at] = Arc::clone(new);
    log.publish_segments(list);
    log.durability.mark_checkpoint_stale();
    Ok(true)
}

fn swap_path(log: &Path) -> std::path::PathBuf {
    let mut name = log.to_path_buf().into_os_string();
    name.push(".swap");
    name.into()
}

/// Called by recovery before it lists segments: deletes `*.log.cleaned` (incomplete
/// copies) and finishes every `X.log.swap` (complete copies) by renaming it over `X.log`,
/// or deletes it when `X.log` is gone (retention removed that segment).
pub fn finish_interrupted_swaps(dir: &Path) -> Result<(), StorageError> {
    let mut changed = false;
    for entry in fs::read_dir(dir).map_err(StorageError::io("list log dir", dir))? {
        let entry = entry.map_err(StorageError::io("list log dir", dir))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            if name.ends_with(".cleaned") || name.ends_with(".swap") {
                tracing::warn!(path = %path.display(), "ignoring a cleaner file name that is not a regular file");
            }
            continue;
        }
        if let Some(log_name) = name.strip_suffix(".cleaned") {
            if parse_log_file_name(log_name).is_some() {
                tracing::warn!(path = %path.display(), "removing a cleaned segment that a crash left unfinished");
                remove_if_exists(&path)?;
                changed = true;
            }
        } else if let Some(log_name) = name.strip_suffix(".swap") {
            let Some(base) = parse_log_file_name(log_name) else {
                continue;
            };
            finish_swap(dir, base, &path)?;
            changed = true;
        }
    }
    if changed {
        sync_dir(dir)?;
    }
    Ok(())
}

fn finish_swap(dir: &Path, base: i64, swap: &Path) -> Result<(), StorageError> {
    let paths = SegmentPaths::new(dir, base);
    if !paths.log.exists() {
        tracing::warn!(path = %swap.display(), "removing a cleaned segment whose original was deleted");
        return remove_if_exists(swap);
    }
    tracing::warn!(path = %paths.log.display(), "finishing a cleaned segment swap that a crash interrupted");
    remove_if_exists(&paths.index)?;
    remove_if_exists(&paths.time_index)?;
    fs::rename(swap, &paths.log).map_err(StorageError::io("finish segment swap", &paths.log))
}
