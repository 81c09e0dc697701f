//! The applied-index file (`applied` in the group's directory): one fixed-size record
//! per applied entry, appended right after the entry's segment append, never fsynced on
//! its own (a snapshot fsyncs it with the segments):
//!
//! ```text
//! index u64 LE | term u64 LE | leader u64 LE | first_offset i64 LE | end_offset i64 LE | crc u32 LE | 0u32
//! ```
//!
//! `first_offset`..`end_offset` is the partition log before and after the apply (equal
//! for entries that wrote nothing). On open, the entry applied last is the last record
//! whose `end_offset` the recovered segments reach: a crash between the segment append
//! and the record leaves the segments ahead, and the state machine cuts them back.
//! [`AppliedFile::compact`] rewrites the file from a snapshot's record on, which bounds it.
//! Blocking: call on the blocking pool.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use openraft::{CommittedLeaderId, LogId};

/// Bytes of one record.
pub const RECORD_BYTES: usize = 48;

/// Most records read at open (the file is compacted at every snapshot; 4 M records is
/// 192 MiB, far beyond what a snapshot interval leaves).
const RECORDS_MAX: u64 = 4 * 1024 * 1024;

/// One applied entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppliedRecord {
    /// The entry's log id.
    pub log_id: LogId<u64>,
    /// The partition's log end offset before the apply.
    pub first_offset: i64,
    /// The partition's log end offset after it.
    pub end_offset: i64,
}

impl AppliedRecord {
    fn encode(&self) -> [u8; RECORD_BYTES] {
        let mut out = [0u8; RECORD_BYTES];
        out[0..8].copy_from_slice(&self.log_id.index.to_le_bytes());
        out[8..16].copy_from_slice(&self.log_id.leader_id.term.to_le_bytes());
        out[16..24].copy_from_slice(&self.log_id.leader_id.node_id.to_le_bytes());
        out[24..32].copy_from_slice(&self.first_offset.to_le_bytes());
        out[32..40].copy_from_slice(&self.end_offset.to_le_bytes());
        let crc = crc32fast::hash(&out[..40]);
        out[40..44].copy_from_slice(&crc.to_le_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Option<AppliedRecord> {
        let bytes: &[u8; RECORD_BYTES] = bytes.try_into().ok()?;
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let crc = u32::from_le_bytes([bytes[40], bytes[41], bytes[42], bytes[43]]);
        if crc != crc32fast::hash(&bytes[..40]) || bytes[44..48] != [0; 4] {
            return None;
        }
        Some(AppliedRecord {
            log_id: LogId::new(CommittedLeaderId::new(u64_at(8), u64_at(16)), u64_at(0)),
            first_offset: u64_at(24) as i64,
            end_offset: u64_at(32) as i64,
        })
    }
}

/// The open applied-index file.
#[derive(Debug)]
pub struct AppliedFile {
    path: PathBuf,
    file: File,
    len_bytes: u64,
}

impl AppliedFile {
    /// Opens (or creates) the file and reads its valid records, oldest first. Records
    /// after a torn or damaged one, or out of index order, are dropped (and cut off).
    pub fn open(dir: &Path) -> io::Result<(AppliedFile, Vec<AppliedRecord>)> {
        let path = dir.join("applied");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let file_bytes = file.metadata()?.len();
        let mut bytes = Vec::new();
        (&mut file)
            .take(RECORDS_MAX * RECORD_BYTES as u64)
            .read_to_end(&mut bytes)?;
        let mut records: Vec<AppliedRecord> = Vec::with_capacity(bytes.len() / RECORD_BYTES);
        for chunk in bytes.chunks(RECORD_BYTES) {
            let Some(record) = AppliedRecord::decode(chunk) else {
                break;
            };
            if records.last().is_some_and(|last| {
                record.log_id.index <= last.log_id.index || record.first_offset < last.end_offset
            }) {
                break;
            }
            records.push(record);
        }
        let len_bytes = (records.len() * RECORD_BYTES) as u64;
        if len_bytes < file_bytes {
            tracing::warn!(path = %path.display(), kept = records.len(), cut_bytes = file_bytes - len_bytes, "applied-index file: cutting a torn or damaged tail");
            file.set_len(len_bytes)?;
        }
        Ok((
            AppliedFile {
                path,
                file,
                len_bytes,
            },
            records,
        ))
    }

    /// Appends `records` (no fsync).
    pub fn append(&mut self, records: &[AppliedRecord]) -> io::Result<()> {
        let mut buf = Vec::with_capacity(records.len() * RECORD_BYTES);
        for record in records {
            buf.extend_from_slice(&record.encode());
        }
        if let Err(e) = self.file.write_all_at(&buf, self.len_bytes) {
            let _ = self.file.set_len(self.len_bytes);
            return Err(e);
        }
        self.len_bytes += buf.len() as u64;
        Ok(())
    }

    /// fsyncs the file.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Replaces the file, atomically and durably, with the records from the one of
    /// `from_index` on (the records before it are covered by a snapshot). `None` keeps
    /// only `keep` (a snapshot installed from another replica).
    pub fn compact(&mut self, from_index: u64, keep: Option<AppliedRecord>) -> io::Result<()> {
        let mut bytes = Vec::new();
        match keep {
            Some(record) => bytes.extend_from_slice(&record.encode()),
            None => {
                let mut all = vec![0u8; usize::try_from(self.len_bytes).map_err(io::Error::other)?];
                self.file.read_exact_at(&mut all, 0)?;
                for chunk in all.chunks(RECORD_BYTES) {
                    if AppliedRecord::decode(chunk).is_some_and(|r| r.log_id.index >= from_index) {
                        bytes.extend_from_slice(chunk);
                    }
                }
            }
        }
        crate::durable_file::replace(&self.path, &bytes, crate::durable_file::Access::Default)
            .map_err(|e| io::Error::new(e.source.kind(), e.to_string()))?;
        self.file = OpenOptions::new().read(true).write(true).open(&self.path)?;
        self.len_bytes = bytes.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(index: u64, first: i64, end: i64) -> AppliedRecord {
        AppliedRecord {
            log_id: LogId::new(CommittedLeaderId::new(2, 1), index),
            first_offset: first,
            end_offset: end,
        }
    }

    #[test]
    fn records_survive_reopen_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let (mut file, records) = AppliedFile::open(dir.path()).unwrap();
        assert!(records.is_empty());
        file.append(&[record(1, 0, 5), record(2, 5, 5), record(3, 5, 9)])
            .unwrap();
        drop(file);
        let path = dir.path().join("applied");
        let len = std::fs::metadata(&path).unwrap().len();
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 7).unwrap();
        drop(f);
        let (mut file, records) = AppliedFile::open(dir.path()).unwrap();
        assert_eq!(records, vec![record(1, 0, 5), record(2, 5, 5)]);
        file.append(&[record(3, 5, 8)]).unwrap();
        drop(file);
        let (_, records) = AppliedFile::open(dir.path()).unwrap();
        assert_eq!(records.last(), Some(&record(3, 5, 8)));
    }

    #[test]
    fn a_flipped_byte_ends_the_records_and_compaction_keeps_the_tail() {
        let dir = tempfile::tempdir().unwrap();
        let (mut file, _) = AppliedFile::open(dir.path()).unwrap();
        let all: Vec<AppliedRecord> = (1..=10)
            .map(|i| record(i, i as i64, i as i64 + 1))
            .collect();
        file.append(&all).unwrap();
        file.compact(7, None).unwrap();
        file.append(&[record(11, 11, 12)]).unwrap();
        drop(file);
        let (_, records) = AppliedFile::open(dir.path()).unwrap();
        let indexes: Vec<u64> = records.iter().map(|r| r.log_id.index).collect();
        assert_eq!(indexes, vec![7, 8, 9, 10, 11]);
        let path = dir.path().join("applied");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[RECORD_BYTES * 2 + 30] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let (_, records) = AppliedFile::open(dir.path()).unwrap();
        assert_eq!(records.len(), 2);
    }
}
