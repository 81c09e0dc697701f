//! One file of a partition group's Raft log: `raft-<first index, 20 digits>.log`, records
//! back to back:
//!
//! ```text
//! payload_len u32 LE | crc u32 LE | index u64 LE | term u64 LE | leader u64 LE | payload
//! ```
//!
//! `payload` is the entry in the [`super::codec`] form; the CRC-32 covers `index` to the
//! end of the payload. The header carries the log id so opening a log never decodes an
//! entry. Invariants: indexes in a file are contiguous from the file's first index; every
//! byte of a closed file was fsynced before the next file was created, so only the last
//! file can end in a torn record. Blocking: call on the blocking pool.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use openraft::{CommittedLeaderId, LogId};

use super::codec;
use super::types::Entry;

/// Bytes of a record's header.
pub const RECORD_HEADER_BYTES: u64 = 32;

/// Largest entry payload a record may hold: a produce request's batches (frames are
/// capped at 1 GiB by the broker's config) plus the entry's own fields. A damaged length
/// never allocates: a record must also end within its file before it is read.
pub const ENTRY_BYTES_MAX: u32 = (1 << 30) + (1 << 20);

const FILE_PREFIX: &str = "raft-";
const FILE_SUFFIX: &str = ".log";

/// Where one entry's record lies, and its log id (kept so the log's last id is known
/// after a truncate without reading the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// First index of the file holding it.
    pub file: u64,
    /// Byte position of the record's header.
    pub position: u64,
    /// Payload bytes.
    pub payload_len: u32,
    /// The entry's log id.
    pub log_id: LogId<u64>,
}

impl Location {
    /// Header and payload bytes.
    pub fn record_bytes(&self) -> u64 {
        RECORD_HEADER_BYTES + u64::from(self.payload_len)
    }

    /// Position after the record.
    pub fn end(&self) -> u64 {
        self.position + self.record_bytes()
    }
}

/// An open log file, shared by the writer and readers (all I/O is positioned).
#[derive(Debug)]
pub struct LogSegment {
    /// Index of its first entry (its name).
    pub first_index: u64,
    /// Its path.
    pub path: PathBuf,
    file: File,
}

/// What a scan of one file found.
#[derive(Debug)]
pub struct Scanned {
    /// Every whole, valid record, in order.
    pub locations: Vec<Location>,
    /// Where the valid records end.
    pub valid_bytes: u64,
    /// The file's length before any cut.
    pub file_bytes: u64,
    /// Why the scan stopped before the end of the file, if it did.
    pub stop: Option<String>,
}

impl LogSegment {
    /// The file name of the log file starting at `first_index`.
    pub fn file_name(first_index: u64) -> String {
        format!("{FILE_PREFIX}{first_index:020}{FILE_SUFFIX}")
    }

    /// The first index of a log file's name, `None` if it is not one.
    pub fn parse_file_name(name: &str) -> Option<u64> {
        let digits = name.strip_prefix(FILE_PREFIX)?.strip_suffix(FILE_SUFFIX)?;
        if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }

    /// Creates an empty log file in `dir` starting at `first_index` (the caller fsyncs
    /// the directory).
    pub fn create(dir: &Path, first_index: u64) -> io::Result<LogSegment> {
        let path = dir.join(Self::file_name(first_index));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        Ok(LogSegment {
            first_index,
            path,
            file,
        })
    }

    /// Opens an existing log file.
    pub fn open(dir: &Path, first_index: u64) -> io::Result<LogSegment> {
        let path = dir.join(Self::file_name(first_index));
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        Ok(LogSegment {
            first_index,
            path,
            file,
        })
    }

    /// Walks the records from the start. With `verify`, every payload's CRC is checked
    /// (the last file, which may end torn); without, only headers are read (closed
    /// files were fsynced whole; a damaged record there is found when it is read).
    pub fn scan(&self, verify: bool) -> io::Result<Scanned> {
        let file_bytes = self.file.metadata()?.len();
        let mut reader = BufReader::with_capacity(1 << 20, &self.file);
        reader.seek(SeekFrom::Start(0))?;
        let mut locations = Vec::new();
        let mut position = 0u64;
        let mut expected_index = self.first_index;
        let stop = loop {
            if position == file_bytes {
                break None;
            }
            if file_bytes - position < RECORD_HEADER_BYTES {
                break Some(format!("torn header at byte {position}"));
            }
            let mut header = [0u8; RECORD_HEADER_BYTES as usize];
            reader.read_exact(&mut header)?;
            let parsed = Header::parse(&header);
            if parsed.payload_len > ENTRY_BYTES_MAX {
                break Some(format!("length {} at byte {position}", parsed.payload_len));
            }
            let record_end = position + RECORD_HEADER_BYTES + u64::from(parsed.payload_len);
            if record_end > file_bytes {
                break Some(format!("torn record at byte {position}"));
            }
            if parsed.index != expected_index {
                break Some(format!(
                    "index {} at byte {position} where {expected_index} was expected",
                    parsed.index
                ));
            }
            if verify {
                let mut payload = vec![0u8; parsed.payload_len as usize];
                reader.read_exact(&mut payload)?;
                if parsed.crc != parsed.checksum(&payload) {
                    break Some(format!("checksum mismatch at byte {position}"));
                }
            } else {
                reader.seek_relative(i64::from(parsed.payload_len))?;
            }
            locations.push(Location {
                file: self.first_index,
                position,
                payload_len: parsed.payload_len,
                log_id: parsed.log_id(),
            });
            position = record_end;
            expected_index += 1;
        };
        Ok(Scanned {
            locations,
            valid_bytes: position,
            file_bytes,
            stop,
        })
    }

    /// Writes `bytes` at `position`.
    pub fn write_at(&self, position: u64, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all_at(bytes, position)
    }

    /// `fdatasync`s the file.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Cuts the file to `len` bytes and fsyncs it.
    pub fn truncate(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)?;
        self.file.sync_all()
    }

    /// Reads and decodes the consecutive records `locations` (all in this file, in
    /// order, back to back) with one read, checking each CRC and log id.
    pub fn read(&self, locations: &[Location]) -> io::Result<Vec<Entry>> {
        let (Some(first), Some(last)) = (locations.first(), locations.last()) else {
            return Ok(Vec::new());
        };
        let len = usize::try_from(last.end() - first.position).map_err(io::Error::other)?;
        let mut buf = vec![0u8; len];
        self.file.read_exact_at(&mut buf, first.position)?;
        let mut entries = Vec::with_capacity(locations.len());
        for location in locations {
            let start =
                usize::try_from(location.position - first.position).map_err(io::Error::other)?;
            let record = &buf[start..start + location.record_bytes() as usize];
            entries.push(self.decode_record(record, location)?);
        }
        Ok(entries)
    }

    fn decode_record(&self, record: &[u8], location: &Location) -> io::Result<Entry> {
        let damaged = |what: String| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: record of index {} at byte {} is damaged ({what})",
                    self.path.display(),
                    location.log_id.index,
                    location.position
                ),
            )
        };
        let mut header = [0u8; RECORD_HEADER_BYTES as usize];
        header.copy_from_slice(&record[..RECORD_HEADER_BYTES as usize]);
        let parsed = Header::parse(&header);
        let payload = &record[RECORD_HEADER_BYTES as usize..];
        if parsed.crc != parsed.checksum(payload) {
            return Err(damaged("checksum mismatch".into()));
        }
        if parsed.log_id() != location.log_id {
            return Err(damaged(format!("log id {}", parsed.log_id())));
        }
        let entry: Entry = codec::decode(payload).map_err(|e| damaged(e.to_string()))?;
        if entry.log_id != location.log_id {
            return Err(damaged(format!("payload holds log id {}", entry.log_id)));
        }
        Ok(entry)
    }

    /// Deletes the file (readers holding it keep reading the unlinked file).
    pub fn delete(&self) -> io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Appends `entry`'s record to `out`; returns its payload length.
pub fn encode_record(entry: &Entry, out: &mut Vec<u8>) -> io::Result<u32> {
    let start = out.len();
    out.resize(start + RECORD_HEADER_BYTES as usize, 0);
    codec::encode_into(entry, out).map_err(io::Error::other)?;
    let payload_len = out.len() - start - RECORD_HEADER_BYTES as usize;
    let payload_len = u32::try_from(payload_len)
        .ok()
        .filter(|&len| len <= ENTRY_BYTES_MAX)
        .ok_or_else(|| {
            out.truncate(start);
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "log entry {} is {payload_len} bytes, over the {ENTRY_BYTES_MAX} byte limit",
                    entry.log_id.index
                ),
            )
        })?;
    let header = Header {
        payload_len,
        crc: 0,
        index: entry.log_id.index,
        term: entry.log_id.leader_id.term,
        leader: entry.log_id.leader_id.node_id,
    };
    let crc = header.checksum(&out[start + RECORD_HEADER_BYTES as usize..]);
    header.write(crc, &mut out[start..start + RECORD_HEADER_BYTES as usize]);
    Ok(payload_len)
}

/// First indexes of the log files in `dir`, ascending.
pub fn list(dir: &Path) -> io::Result<Vec<u64>> {
    let mut firsts = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(first) = entry
            .file_name()
            .to_str()
            .and_then(LogSegment::parse_file_name)
        {
            firsts.push(first);
        }
    }
    firsts.sort_unstable();
    Ok(firsts)
}

/// fsyncs a directory (after creating or deleting files in it).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A record's header.
struct Header {
    payload_len: u32,
    crc: u32,
    index: u64,
    term: u64,
    leader: u64,
}

impl Header {
    fn parse(bytes: &[u8; RECORD_HEADER_BYTES as usize]) -> Header {
        let u32_at = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(b)
        };
        Header {
            payload_len: u32_at(0),
            crc: u32_at(4),
            index: u64_at(8),
            term: u64_at(16),
            leader: u64_at(24),
        }
    }

    fn write(&self, crc: u32, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.payload_len.to_le_bytes());
        out[4..8].copy_from_slice(&crc.to_le_bytes());
        out[8..16].copy_from_slice(&self.index.to_le_bytes());
        out[16..24].copy_from_slice(&self.term.to_le_bytes());
        out[24..32].copy_from_slice(&self.leader.to_le_bytes());
    }

    /// CRC-32 of the log id fields and the payload.
    fn checksum(&self, payload: &[u8]) -> u32 {
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&self.index.to_le_bytes());
        hasher.update(&self.term.to_le_bytes());
        hasher.update(&self.leader.to_le_bytes());
        hasher.update(payload);
        hasher.finalize()
    }

    fn log_id(&self) -> LogId<u64> {
        LogId::new(CommittedLeaderId::new(self.term, self.leader), self.index)
    }
}
