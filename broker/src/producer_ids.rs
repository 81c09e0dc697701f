//! Producer ids for idempotent producers, unique for the life of the data directory.
//!
//! Ids are handed out from blocks: the end of the current block is persisted
//! (`<data_dir>/producer-ids`, written atomically) before any id of it is given out, so a
//! restart — even after a crash — starts past every id ever issued.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use thiserror::Error;

/// File holding the first id of the next unissued block.
pub const PRODUCER_IDS_FILE: &str = "producer-ids";
/// Ids reserved per persisted block.
pub const PRODUCER_ID_BLOCK: i64 = 1000;

/// Why an id could not be issued.
#[derive(Debug, Error)]
pub enum ProducerIdError {
    /// The block file could not be read or written.
    #[error("producer id file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The block file holds something other than a number.
    #[error("producer id file {path} is damaged: `{content}`")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What it holds.
        content: String,
    },
}

#[derive(Debug)]
struct Block {
    next: i64,
    end: i64,
}

/// Issues producer ids.
#[derive(Debug)]
pub struct ProducerIds {
    path: PathBuf,
    block: Mutex<Block>,
}

impl ProducerIds {
    /// Opens the allocator of `data_dir`; the first id issued is past every id issued before.
    pub fn open(data_dir: &Path) -> Result<ProducerIds, ProducerIdError> {
        let path = data_dir.join(PRODUCER_IDS_FILE);
        let start = match fs::read_to_string(&path) {
            Ok(text) => text
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| ProducerIdError::Corrupt {
                    path: path.clone(),
                    content: text.chars().take(40).collect(),
                })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(source) => return Err(ProducerIdError::Io { path, source }),
        };
        Ok(ProducerIds {
            path,
            block: Mutex::new(Block {
                next: start,
                end: start,
            }),
        })
    }

    /// The next unused producer id. Blocking (persists a new block now and then).
    pub fn next_id(&self) -> Result<i64, ProducerIdError> {
        let mut block = self.block.lock().unwrap_or_else(|e| e.into_inner());
        if block.next >= block.end {
            let end = block.next + PRODUCER_ID_BLOCK;
            persist(&self.path, end)?;
            block.end = end;
        }
        let id = block.next;
        block.next += 1;
        Ok(id)
    }
}

fn persist(path: &Path, end: i64) -> Result<(), ProducerIdError> {
    let io = |source| ProducerIdError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut file = fs::File::create(&tmp).map_err(io)?;
    file.write_all(end.to_string().as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let ids = ProducerIds::open(dir.path()).unwrap();
        let first: Vec<i64> = (0..3).map(|_| ids.next_id().unwrap()).collect();
        assert_eq!(first, [0, 1, 2]);
        drop(ids);
        // A restart (clean or not) skips the rest of the persisted block.
        let ids = ProducerIds::open(dir.path()).unwrap();
        assert_eq!(ids.next_id().unwrap(), PRODUCER_ID_BLOCK);
        fs::write(dir.path().join(PRODUCER_IDS_FILE), "junk").unwrap();
        assert!(ProducerIds::open(dir.path()).is_err());
    }
}
