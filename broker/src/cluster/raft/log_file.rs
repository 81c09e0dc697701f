//! The metadata log on disk: one append-only file, `<data_dir>/cluster/log`, of records
//! `[u32 LE payload length][u32 LE CRC32 of payload][payload: the entry as JSON]`.
//!
//! Invariants: the file holds whole records with increasing indexes; every write is
//! fsynced before the call returns. Recovery reads records until the first torn,
//! damaged or out-of-order one and cuts the file there (logging how much it cut), so a
//! damaged tail is never served. Entries up to the `purged` marker are dropped; the file
//! is rewritten without them once they are most of it. Blocking: call on the blocking
//! pool.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::types::{Entry, LogId};

/// Largest entry the log stores (its JSON), so a damaged length cannot make recovery
/// allocate more.
pub const MAX_ENTRY_BYTES: usize = 4 * 1024 * 1024;

/// Purged records kept in the file before it is rewritten without them.
const PURGED_RECORDS_MAX: usize = 1024;

const HEADER_BYTES: u64 = 8;

/// The open log file and where each of its live records starts.
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    file: File,
    end_bytes: u64,
    /// Byte offset of each record still in the file, by log index (purged ones too,
    /// until the file is rewritten).
    positions: BTreeMap<u64, u64>,
}

/// What [`LogFile::open`] found.
#[derive(Debug)]
pub struct Recovered {
    /// The log, ready for appends.
    pub file: LogFile,
    /// Every whole record, in index order.
    pub entries: Vec<Entry>,
    /// Bytes cut off the end (a torn or damaged tail).
    pub cut_bytes: u64,
}

impl LogFile {
    /// Opens (or creates) the log at `path` and recovers it.
    pub fn open(path: &Path) -> io::Result<Recovered> {
        let mut file = std::os::unix::fs::OpenOptionsExt::mode(
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false),
            0o600,
        )
        .open(path)?;
        let len_bytes = file.metadata()?.len();
        let (entries, positions, good_bytes) = scan(&mut file)?;
        let cut_bytes = len_bytes - good_bytes;
        if cut_bytes > 0 {
            tracing::warn!(
                path = %path.display(),
                cut_bytes,
                kept_entries = entries.len(),
                "metadata log: cut a torn or damaged tail off"
            );
            file.set_len(good_bytes)?;
            file.sync_all()?;
        }
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
        let log = LogFile {
            path: path.to_path_buf(),
            file,
            end_bytes: good_bytes,
            positions,
        };
        Ok(Recovered {
            file: log,
            entries,
            cut_bytes,
        })
    }

    /// Appends `entries` after the last record and fsyncs.
    pub fn append(&mut self, entries: &[Entry]) -> io::Result<()> {
        let mut buf = Vec::new();
        let mut at = self.end_bytes;
        let mut new_positions = Vec::with_capacity(entries.len());
        for entry in entries {
            let start = buf.len();
            encode(entry, &mut buf)?;
            new_positions.push((entry.log_id.index, at));
            at += (buf.len() - start) as u64;
        }
        self.file.seek(SeekFrom::Start(self.end_bytes))?;
        if let Err(e) = self
            .file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data())
        {
            // Leave no partial record behind for the next append to follow.
            let _ = self.file.set_len(self.end_bytes);
            return Err(e);
        }
        self.end_bytes = at;
        self.positions.extend(new_positions);
        Ok(())
    }

    /// Removes the records from index `from` on, and fsyncs.
    pub fn truncate(&mut self, from: u64) -> io::Result<()> {
        let Some((_, offset)) = self.positions.range(from..).next() else {
            return Ok(());
        };
        let offset = *offset;
        self.file.set_len(offset)?;
        self.file.sync_all()?;
        self.end_bytes = offset;
        self.positions.split_off(&from);
        Ok(())
    }

    /// Forgets records up to `upto` (the `purged` marker is already durable). Empties
    /// the file when nothing live is left, rewrites it when purged records are most
    /// of it; `live` are the entries after `upto`.
    pub fn purge(&mut self, upto: LogId, live: &[Entry]) -> io::Result<()> {
        let purged = self.positions.range(..=upto.index).count();
        if purged == 0 {
            return Ok(());
        }
        if self
            .positions
            .range(upto.index.saturating_add(1)..)
            .next()
            .is_none()
        {
            self.file.set_len(0)?;
            self.file.sync_all()?;
            self.end_bytes = 0;
            self.positions.clear();
        } else if purged > PURGED_RECORDS_MAX && purged > live.len() {
            self.rewrite(live)?;
        }
        Ok(())
    }

    /// Replaces the file with one holding only `live`.
    fn rewrite(&mut self, live: &[Entry]) -> io::Result<()> {
        let mut buf = Vec::new();
        let mut positions = BTreeMap::new();
        for entry in live {
            positions.insert(entry.log_id.index, buf.len() as u64);
            encode(entry, &mut buf)?;
        }
        crate::durable_file::replace(&self.path, &buf, crate::durable_file::Access::OwnerOnly)
            .map_err(|e| io::Error::new(e.source.kind(), e.to_string()))?;
        self.file = OpenOptions::new().read(true).write(true).open(&self.path)?;
        self.end_bytes = buf.len() as u64;
        self.positions = positions;
        Ok(())
    }

    /// Bytes in the file.
    pub fn len_bytes(&self) -> u64 {
        self.end_bytes
    }
}

/// Appends `entry`'s record to `buf`.
fn encode(entry: &Entry, buf: &mut Vec<u8>) -> io::Result<()> {
    let payload = serde_json::to_vec(entry).map_err(io::Error::other)?;
    if payload.len() > MAX_ENTRY_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "metadata log entry {} is {} bytes, over the {MAX_ENTRY_BYTES} byte limit",
                entry.log_id.index,
                payload.len()
            ),
        ));
    }
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    buf.extend_from_slice(&payload);
    Ok(())
}

type Scanned = (Vec<Entry>, BTreeMap<u64, u64>, u64);

/// Reads whole, valid, contiguous records from the start; returns them, their
/// positions and where the good part of the file ends.
fn scan(file: &mut File) -> io::Result<Scanned> {
    file.seek(SeekFrom::Start(0))?;
    let mut reader = BufReader::new(&mut *file);
    let mut entries: Vec<Entry> = Vec::new();
    let mut positions = BTreeMap::new();
    let mut good_bytes = 0u64;
    while let Some(entry) = read_record(&mut reader)? {
        let Some(entry) = entry else { break };
        if let Some(last) = entries.last() {
            if entry.log_id.index <= last.log_id.index {
                tracing::warn!(
                    after = last.log_id.index,
                    found = entry.log_id.index,
                    "metadata log: out-of-order record"
                );
                break;
            }
        }
        positions.insert(entry.log_id.index, good_bytes);
        good_bytes = reader.stream_position()?;
        entries.push(entry);
    }
    Ok((entries, positions, good_bytes))
}

/// One record: `None` at a clean end of file, `Some(None)` for a torn or invalid one.
fn read_record(reader: &mut impl Read) -> io::Result<Option<Option<Entry>>> {
    let mut header = [0u8; HEADER_BYTES as usize];
    match read_full(reader, &mut header)? {
        0 => return Ok(None),
        n if n < header.len() => return Ok(Some(None)),
        _ => {}
    }
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len > MAX_ENTRY_BYTES {
        return Ok(Some(None));
    }
    let mut payload = Vec::new();
    reader.take(len as u64).read_to_end(&mut payload)?;
    if payload.len() < len || crc32fast::hash(&payload) != crc {
        return Ok(Some(None));
    }
    Ok(Some(serde_json::from_slice(&payload).ok()))
}

/// Reads until `buf` is full or the end of file; returns how many bytes it read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, EntryPayload};

    use super::*;
    use crate::cluster::raft::types::Proposal;
    use crate::cluster::MetadataCommand;

    fn entry(index: u64) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(Proposal {
                id: u128::from(index),
                command: MetadataCommand::DeleteTopic {
                    name: format!("t{index}"),
                },
            }),
        }
    }

    fn indexes(entries: &[Entry]) -> Vec<u64> {
        entries.iter().map(|e| e.log_id.index).collect()
    }

    #[test]
    fn appends_survive_reopen_and_truncate_cuts_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut log = LogFile::open(&path).unwrap().file;
        log.append(&[entry(0), entry(1), entry(2)]).unwrap();
        log.append(&[entry(3)]).unwrap();
        drop(log);
        let mut recovered = LogFile::open(&path).unwrap();
        assert_eq!(indexes(&recovered.entries), [0, 1, 2, 3]);
        assert_eq!(recovered.cut_bytes, 0);
        recovered.file.truncate(2).unwrap();
        recovered.file.append(&[entry(2)]).unwrap();
        drop(recovered);
        let recovered = LogFile::open(&path).unwrap();
        assert_eq!(indexes(&recovered.entries), [0, 1, 2]);
    }

    #[test]
    fn a_torn_tail_is_cut_and_appends_continue() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut log = LogFile::open(&path).unwrap().file;
        log.append(&[entry(0), entry(1), entry(2)]).unwrap();
        let len = log.len_bytes();
        drop(log);
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(len - 5).unwrap();
        drop(file);
        let mut recovered = LogFile::open(&path).unwrap();
        assert_eq!(indexes(&recovered.entries), [0, 1]);
        assert!(recovered.cut_bytes > 0);
        recovered.file.append(&[entry(2), entry(3)]).unwrap();
        drop(recovered);
        assert_eq!(
            indexes(&LogFile::open(&path).unwrap().entries),
            [0, 1, 2, 3]
        );
    }

    #[test]
    fn a_flipped_byte_cuts_the_log_at_that_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut log = LogFile::open(&path).unwrap().file;
        log.append(&[entry(0)]).unwrap();
        let second_at = log.len_bytes();
        log.append(&[entry(1), entry(2)]).unwrap();
        drop(log);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[second_at as usize + 12] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let recovered = LogFile::open(&path).unwrap();
        assert_eq!(indexes(&recovered.entries), [0]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), second_at);
    }

    #[test]
    fn a_huge_length_prefix_is_cut_not_allocated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut log = LogFile::open(&path).unwrap().file;
        log.append(&[entry(0)]).unwrap();
        let end = log.len_bytes();
        drop(log);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&u32::MAX.to_le_bytes()).unwrap();
        file.write_all(&[0; 12]).unwrap();
        drop(file);
        let recovered = LogFile::open(&path).unwrap();
        assert_eq!(indexes(&recovered.entries), [0]);
        assert_eq!(recovered.file.len_bytes(), end);
    }

    #[test]
    fn purging_everything_empties_the_file_and_rewrites_keep_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut log = LogFile::open(&path).unwrap().file;
        log.append(&[entry(0), entry(1)]).unwrap();
        log.purge(LogId::new(CommittedLeaderId::new(1, 1), 5), &[])
            .unwrap();
        assert_eq!(log.len_bytes(), 0);
        let all: Vec<Entry> = (6..6 + PURGED_RECORDS_MAX as u64 + 10).map(entry).collect();
        log.append(&all).unwrap();
        let upto = all[PURGED_RECORDS_MAX + 5].log_id;
        let live = &all[PURGED_RECORDS_MAX + 6..];
        log.purge(upto, live).unwrap();
        log.append(&[entry(upto.index + live.len() as u64 + 1)])
            .unwrap();
        drop(log);
        let recovered = LogFile::open(&path).unwrap();
        let mut want = indexes(live);
        want.push(upto.index + live.len() as u64 + 1);
        assert_eq!(indexes(&recovered.entries), want);
    }
}
