//! The recovery checkpoint file: which segments are known complete and on disk.
//!
//! ```text
//! magic "RLCK" | version u8 = 1 | clean u8 | log_end_offset i64 | count u32
//! | count x (base_offset i64, size_bytes u64) | crc32 u32 (crc32fast of all preceding bytes)
//! ```
//!
//! A clean shutdown lists every segment (the active one truncated to its real length) with
//! `clean = 1`, so the next open trusts all of them and scans nothing. While the log is open
//! the file lists only closed, fsynced segments with `clean = 0`, so a crash rescans just the
//! segments after them. It is replaced atomically (write to a temp file, fsync, rename).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::StorageError;

/// Name of the checkpoint file inside a partition directory.
pub const CHECKPOINT_FILE: &str = "recovery-checkpoint";
const CHECKPOINT_TMP_FILE: &str = "recovery-checkpoint.tmp";
const MAGIC: &[u8; 4] = b"RLCK";
const VERSION: u8 = 1;
const HEADER_BYTES: usize = 4 + 1 + 1 + 8 + 4;
const ENTRY_BYTES: usize = 16;
const CRC_BYTES: usize = 4;

/// A segment the checkpoint vouches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointEntry {
    /// The segment's base offset.
    pub base_offset: i64,
    /// Its exact file length.
    pub size_bytes: u64,
}

/// The decoded checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Written by a clean shutdown: every segment is listed, the last one included.
    pub clean: bool,
    /// The log end offset at the time of writing (meaningful when `clean`).
    pub log_end_offset: i64,
    /// Trusted segments, oldest first.
    pub segments: Vec<CheckpointEntry>,
}

impl Checkpoint {
    /// The listed size of the segment at `base_offset`.
    pub fn size_of(&self, base_offset: i64) -> Option<u64> {
        self.segments
            .iter()
            .find(|e| e.base_offset == base_offset)
            .map(|e| e.size_bytes)
    }

    fn encode(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(HEADER_BYTES + self.segments.len() * ENTRY_BYTES + CRC_BYTES);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(u8::from(self.clean));
        out.extend_from_slice(&self.log_end_offset.to_be_bytes());
        out.extend_from_slice(&(self.segments.len() as u32).to_be_bytes());
        for entry in &self.segments {
            out.extend_from_slice(&entry.base_offset.to_be_bytes());
            out.extend_from_slice(&entry.size_bytes.to_be_bytes());
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Decodes a checkpoint; `None` when the bytes are not a whole, intact checkpoint.
    fn decode(bytes: &[u8]) -> Option<Checkpoint> {
        let body_len = bytes.len().checked_sub(CRC_BYTES)?;
        let (body, crc) = bytes.split_at(body_len);
        if body.len() < HEADER_BYTES || crc32fast::hash(body).to_be_bytes() != crc {
            return None;
        }
        if &body[..4] != MAGIC || body[4] != VERSION || body[5] > 1 {
            return None;
        }
        let count = u32::from_be_bytes(body[14..18].try_into().ok()?) as usize;
        let entries = &body[HEADER_BYTES..];
        if entries.len() != count.checked_mul(ENTRY_BYTES)? {
            return None;
        }
        let segments = entries
            .chunks_exact(ENTRY_BYTES)
            .map(|c| {
                Some(CheckpointEntry {
                    base_offset: i64::from_be_bytes(c[..8].try_into().ok()?),
                    size_bytes: u64::from_be_bytes(c[8..].try_into().ok()?),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Checkpoint {
            clean: body[5] == 1,
            log_end_offset: i64::from_be_bytes(body[6..14].try_into().ok()?),
            segments,
        })
    }
}

/// Reads the checkpoint of `dir`. Missing gives `Ok(None)`; a corrupt or unreadable one is
/// reported with a warning and also gives `Ok(None)`: the checkpoint only saves work, so the
/// log is then scanned rather than left unopened.
pub fn read(dir: &Path) -> Result<Option<Checkpoint>, StorageError> {
    let path = dir.join(CHECKPOINT_FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "removing unreadable recovery checkpoint");
            discard(&path);
            return Ok(None);
        }
    };
    let checkpoint = Checkpoint::decode(&bytes);
    if checkpoint.is_none() {
        tracing::warn!(path = %path.display(), bytes = bytes.len(), "ignoring corrupt recovery checkpoint");
    }
    Ok(checkpoint)
}

/// Best-effort removal of an unreadable checkpoint (a file or, after damage, a directory)
/// so that the next [`write`] can put a good one in its place.
fn discard(path: &Path) {
    let removed = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        _ => fs::remove_file(path),
    };
    if let Err(e) = removed {
        tracing::warn!(path = %path.display(), error = %e, "could not remove the unreadable recovery checkpoint");
    }
}

/// Atomically replaces the checkpoint of `dir`.
pub fn write(dir: &Path, checkpoint: &Checkpoint) -> Result<(), StorageError> {
    let tmp: PathBuf = dir.join(CHECKPOINT_TMP_FILE);
    let path = dir.join(CHECKPOINT_FILE);
    let mut file = File::create(&tmp).map_err(StorageError::io("create checkpoint", &tmp))?;
    file.write_all(&checkpoint.encode())
        .map_err(StorageError::io("write checkpoint", &tmp))?;
    super::stats::timed(&super::stats::CHECKPOINT_FSYNC, || file.sync_data())
        .map_err(StorageError::io("fsync checkpoint", &tmp))?;
    fs::rename(&tmp, &path).map_err(StorageError::io("rename checkpoint", &path))?;
    sync_dir(dir)
}

/// fsyncs a directory so that creations, renames and removals in it are durable.
pub fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| super::stats::timed(&super::stats::CHECKPOINT_FSYNC, || d.sync_all()))
        .map_err(StorageError::io("fsync directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            clean: true,
            log_end_offset: 77,
            segments: vec![
                CheckpointEntry {
                    base_offset: 0,
                    size_bytes: 100,
                },
                CheckpointEntry {
                    base_offset: 40,
                    size_bytes: 200,
                },
            ],
        }
    }

    #[test]
    fn round_trips() {
        assert_eq!(Checkpoint::decode(&sample().encode()), Some(sample()));
    }

    #[test]
    fn any_flipped_byte_or_cut_is_rejected() {
        let bytes = sample().encode();
        for i in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0x40;
            assert_eq!(Checkpoint::decode(&flipped), None, "flip at {i}");
            assert_eq!(Checkpoint::decode(&bytes[..i]), None, "cut at {i}");
        }
    }

    #[test]
    fn write_then_read() -> Result<(), StorageError> {
        let dir = tempfile::tempdir().map_err(StorageError::io("tempdir", "/tmp"))?;
        assert_eq!(read(dir.path())?, None);
        write(dir.path(), &sample())?;
        assert_eq!(read(dir.path())?, Some(sample()));
        Ok(())
    }
}
