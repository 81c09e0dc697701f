//! What the cleaner remembers about one log: where its dirty section starts.
//!
//! Persisted as `<partition dir>/cleaner-checkpoint`:
//!
//! ```text
//! magic "RLCC" | version u8 = 1 | first_dirty_offset i64 | crc32 u32 (crc32fast of the rest)
//! ```
//!
//! It is written (temp file, fsync, rename, directory fsync) only after a whole pass
//! swapped in every segment it cleaned, so a crash mid-pass makes the next pass redo it.
//! A missing or damaged file only costs work: everything from the log start is dirty.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::storage::checkpoint::sync_dir;
use crate::storage::StorageError;

/// File name of the cleaner checkpoint inside a partition directory.
pub const CLEANER_CHECKPOINT_FILE: &str = "cleaner-checkpoint";
const TMP_FILE: &str = "cleaner-checkpoint.tmp";
const MAGIC: &[u8; 4] = b"RLCC";
const VERSION: u8 = 1;
const FILE_BYTES: usize = 4 + 1 + 8 + 4;

/// The cleaner's per-log state, owned by the log.
#[derive(Debug, Default)]
pub struct CleanerState {
    /// Offsets below this were cleaned by a finished pass.
    first_dirty_offset: AtomicI64,
    /// Dirty ratio of the last look, in millionths (for metrics and describe).
    dirty_ratio_ppm: AtomicU64,
    /// Held for a whole pass: one pass per log at a time.
    pub(crate) pass: Mutex<()>,
}

impl CleanerState {
    /// Loads the state of the log in `dir` (fresh when there is none or it is damaged).
    pub fn load(dir: &Path) -> CleanerState {
        let path = dir.join(CLEANER_CHECKPOINT_FILE);
        let first_dirty = match fs::read(&path) {
            Ok(bytes) => decode(&bytes).unwrap_or_else(|| {
                tracing::warn!(path = %path.display(), "ignoring a damaged cleaner checkpoint; the whole log counts as dirty");
                0
            }),
            Err(_) => 0,
        };
        CleanerState {
            first_dirty_offset: AtomicI64::new(first_dirty),
            ..CleanerState::default()
        }
    }

    /// Where the dirty section starts (before clamping to the log start).
    pub fn first_dirty_offset(&self) -> i64 {
        self.first_dirty_offset.load(Ordering::Acquire)
    }

    /// Records a finished pass durably, then in memory.
    pub fn advance(&self, dir: &Path, first_dirty_offset: i64) -> Result<(), StorageError> {
        store(dir, first_dirty_offset)?;
        self.first_dirty_offset
            .store(first_dirty_offset, Ordering::Release);
        Ok(())
    }

    /// The dirty ratio last computed.
    pub fn dirty_ratio(&self) -> f64 {
        self.dirty_ratio_ppm.load(Ordering::Relaxed) as f64 / 1e6
    }

    pub(crate) fn set_dirty_ratio(&self, ratio: f64) {
        let ppm = (ratio.clamp(0.0, 1.0) * 1e6) as u64;
        self.dirty_ratio_ppm.store(ppm, Ordering::Relaxed);
    }
}

fn decode(bytes: &[u8]) -> Option<i64> {
    if bytes.len() != FILE_BYTES || &bytes[..4] != MAGIC || bytes[4] != VERSION {
        return None;
    }
    let (body, crc) = bytes.split_at(FILE_BYTES - 4);
    if crc32fast::hash(body).to_be_bytes() != crc {
        return None;
    }
    Some(i64::from_be_bytes(body[5..13].try_into().ok()?))
}

fn store(dir: &Path, first_dirty_offset: i64) -> Result<(), StorageError> {
    let mut bytes = Vec::with_capacity(FILE_BYTES);
    bytes.extend_from_slice(MAGIC);
    bytes.push(VERSION);
    bytes.extend_from_slice(&first_dirty_offset.to_be_bytes());
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_be_bytes());
    let tmp = dir.join(TMP_FILE);
    let path = dir.join(CLEANER_CHECKPOINT_FILE);
    let mut file =
        File::create(&tmp).map_err(StorageError::io("create cleaner checkpoint", &tmp))?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_data())
        .map_err(StorageError::io("write cleaner checkpoint", &tmp))?;
    fs::rename(&tmp, &path).map_err(StorageError::io("rename cleaner checkpoint", &path))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(CleanerState::load(dir.path()).first_dirty_offset(), 0);
        let state = CleanerState::load(dir.path());
        state.advance(dir.path(), 1234).unwrap();
        assert_eq!(CleanerState::load(dir.path()).first_dirty_offset(), 1234);
        let path = dir.path().join(CLEANER_CHECKPOINT_FILE);
        let mut bytes = fs::read(&path).unwrap();
        bytes[7] ^= 1;
        fs::write(&path, bytes).unwrap();
        assert_eq!(CleanerState::load(dir.path()).first_dirty_offset(), 0);
    }
}
