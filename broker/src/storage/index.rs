//! Sparse segment indexes: the offset index (relative offset -> file position) and the time
//! index (timestamp -> relative offset), one entry every `index_interval_bytes` of log.
//!
//! Both are a [`SparseIndex`] over fixed-size big-endian entries. The active segment keeps
//! its entries in memory and writes them out when it is rolled or the log is flushed or
//! closed; a closed segment's index is a read-only memory map of its file. Keys are strictly
//! increasing, so a lookup is a binary search; an index that fails [`SparseIndex::load`]'s
//! checks is rebuilt from the log by recovery.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::{PoisonError, RwLock};

use memmap2::Mmap;

use super::StorageError;

/// An offset relative to its segment's base offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RelativeOffset(pub u32);

/// A byte position inside a segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FilePosition(pub u32);

/// One fixed-size index entry with an ordered key.
pub trait IndexEntry: Copy {
    /// Encoded size in bytes.
    const BYTES: usize;
    /// The ordered key a lookup searches by.
    type Key: Ord + Copy;
    /// Decodes an entry from exactly `BYTES` bytes.
    fn decode(bytes: &[u8]) -> Self;
    /// Appends the encoding to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// The search key.
    fn key(&self) -> Self::Key;
    /// True when `self` may follow `prev` and stays inside a log of `log_bytes` bytes
    /// holding relative offsets below `offset_end`.
    fn follows(&self, prev: Option<&Self>, log_bytes: u64, offset_end: u64) -> bool;
}

/// Offset index entry: the batch starting at `relative_offset` begins at `position`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetEntry {
    /// Base offset of a batch, relative to the segment.
    pub relative_offset: RelativeOffset,
    /// Where that batch starts in the segment file.
    pub position: FilePosition,
}

/// Time index entry: every batch up to and including the one at `relative_offset` has
/// `max_timestamp <= timestamp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeEntry {
    /// Largest batch timestamp seen so far in the segment (ms).
    pub timestamp: i64,
    /// Base offset, relative to the segment, of the batch where it was recorded.
    pub relative_offset: RelativeOffset,
}

fn be_u32(bytes: &[u8]) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[..4]);
    u32::from_be_bytes(b)
}

fn be_i64(bytes: &[u8]) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[..8]);
    i64::from_be_bytes(b)
}

impl IndexEntry for OffsetEntry {
    const BYTES: usize = 8;
    type Key = RelativeOffset;
    fn decode(bytes: &[u8]) -> Self {
        OffsetEntry {
            relative_offset: RelativeOffset(be_u32(bytes)),
            position: FilePosition(be_u32(&bytes[4..])),
        }
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.relative_offset.0.to_be_bytes());
        out.extend_from_slice(&self.position.0.to_be_bytes());
    }
    fn key(&self) -> RelativeOffset {
        self.relative_offset
    }
    fn follows(&self, prev: Option<&Self>, log_bytes: u64, offset_end: u64) -> bool {
        let ordered = prev
            .is_none_or(|p| p.relative_offset < self.relative_offset && p.position < self.position);
        ordered
            && u64::from(self.position.0) < log_bytes
            && u64::from(self.relative_offset.0) < offset_end
    }
}

impl IndexEntry for TimeEntry {
    const BYTES: usize = 12;
    type Key = i64;
    fn decode(bytes: &[u8]) -> Self {
        TimeEntry {
            timestamp: be_i64(bytes),
            relative_offset: RelativeOffset(be_u32(&bytes[8..])),
        }
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.relative_offset.0.to_be_bytes());
    }
    fn key(&self) -> i64 {
        self.timestamp
    }
    fn follows(&self, prev: Option<&Self>, _log_bytes: u64, offset_end: u64) -> bool {
        let ordered = prev.is_none_or(|p| {
            p.timestamp < self.timestamp && p.relative_offset <= self.relative_offset
        });
        ordered && u64::from(self.relative_offset.0) < offset_end
    }
}

/// Where an index's entries live.
enum IndexBytes {
    /// The active segment's entries, appended in memory.
    Memory(Vec<u8>),
    /// A closed segment's index file, mapped read-only.
    Mapped(Mmap),
}

impl IndexBytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            IndexBytes::Memory(v) => v,
            IndexBytes::Mapped(m) => m,
        }
    }
}

/// A sparse index of `E` entries with strictly increasing keys.
pub struct SparseIndex<E: IndexEntry> {
    bytes: RwLock<IndexBytes>,
    entry: PhantomData<E>,
}

/// The offset index of a segment.
pub type OffsetIndex = SparseIndex<OffsetEntry>;
/// The time index of a segment.
pub type TimeIndex = SparseIndex<TimeEntry>;

impl<E: IndexEntry> SparseIndex<E> {
    /// An empty in-memory index.
    pub fn new() -> Self {
        Self::from_bytes(IndexBytes::Memory(Vec::new()))
    }

    fn from_bytes(bytes: IndexBytes) -> Self {
        SparseIndex {
            bytes: RwLock::new(bytes),
            entry: PhantomData,
        }
    }

    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        let guard = self.bytes.read().unwrap_or_else(PoisonError::into_inner);
        f(guard.as_slice())
    }

    /// Maps the index file at `path` and checks it against a segment of `log_bytes` bytes
    /// holding relative offsets below `offset_end`: size a multiple of the entry size, keys
    /// increasing, entries inside the log. `Ok(None)` when missing or invalid.
    pub fn load(
        path: &Path,
        log_bytes: u64,
        offset_end: u64,
    ) -> Result<Option<Self>, StorageError> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StorageError::io("open index", path)(e)),
        };
        let len = file
            .metadata()
            .map_err(StorageError::io("stat index", path))?
            .len();
        if len % E::BYTES as u64 != 0 {
            return Ok(None);
        }
        let bytes = if len == 0 {
            IndexBytes::Memory(Vec::new())
        } else {
            // SAFETY: index files of closed segments are written once (then fsynced) before
            // being mapped, and only replaced by recovery, which never maps the old file again.
            IndexBytes::Mapped(
                unsafe { Mmap::map(&file) }.map_err(StorageError::io("mmap index", path))?,
            )
        };
        let index = Self::from_bytes(bytes);
        Ok(index.is_valid(log_bytes, offset_end).then_some(index))
    }

    fn is_valid(&self, log_bytes: u64, offset_end: u64) -> bool {
        self.with_bytes(|bytes| {
            let mut prev: Option<E> = None;
            for chunk in bytes.chunks_exact(E::BYTES) {
                let entry = E::decode(chunk);
                if !entry.follows(prev.as_ref(), log_bytes, offset_end) {
                    return false;
                }
                prev = Some(entry);
            }
            true
        })
    }

    /// Appends an entry to an in-memory index. Entries must keep their keys increasing.
    pub fn append(&self, entry: E) {
        let mut guard = self.bytes.write().unwrap_or_else(PoisonError::into_inner);
        match &mut *guard {
            IndexBytes::Memory(v) => {
                debug_assert!(
                    v.len() < E::BYTES || {
                        let last = E::decode(&v[v.len() - E::BYTES..]);
                        last.key() < entry.key()
                    }
                );
                entry.encode(v);
            }
            IndexBytes::Mapped(_) => debug_assert!(false, "append to a closed segment's index"),
        }
    }

    /// Turns a mapped index back into an in-memory one so the active segment can append.
    pub fn make_writable(&self) {
        let mut guard = self.bytes.write().unwrap_or_else(PoisonError::into_inner);
        if let IndexBytes::Mapped(map) = &*guard {
            *guard = IndexBytes::Memory(map.to_vec());
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.with_bytes(|b| b.len() / E::BYTES)
    }

    /// True when the index has no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The last entry, if any.
    pub fn last(&self) -> Option<E> {
        self.with_bytes(|b| b.len().checked_sub(E::BYTES).map(|at| E::decode(&b[at..])))
    }

    /// The entry with the largest key `<= key`.
    pub fn floor(&self, key: E::Key) -> Option<E> {
        self.with_bytes(|b| {
            let entry_at = |i: usize| E::decode(&b[i * E::BYTES..]);
            let first_above = partition(b.len() / E::BYTES, |i| entry_at(i).key() <= key);
            first_above.checked_sub(1).map(entry_at)
        })
    }

    /// The entry with the largest key `< key`.
    pub fn below(&self, key: E::Key) -> Option<E> {
        self.with_bytes(|b| {
            let entry_at = |i: usize| E::decode(&b[i * E::BYTES..]);
            let first_not_below = partition(b.len() / E::BYTES, |i| entry_at(i).key() < key);
            first_not_below.checked_sub(1).map(entry_at)
        })
    }

    /// Writes the entries to `path` (replacing it), fsyncs, and switches to a read-only
    /// map of the file so that a closed segment's index costs no heap.
    /// An index that is mapped already is its file: persisting it again does nothing (and
    /// must not rewrite the file under its own map).
    pub fn persist(&self, path: &Path, map_after: bool) -> Result<(), StorageError> {
        let mut guard = self.bytes.write().unwrap_or_else(PoisonError::into_inner);
        if matches!(*guard, IndexBytes::Mapped(_)) {
            return Ok(());
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(StorageError::io("create index", path))?;
        // Not fsynced here (the writer lock may be held): `Segment::sync_sealed` syncs the
        // index files with the log before any checkpoint vouches for the segment.
        file.write_all(guard.as_slice())
            .map_err(StorageError::io("write index", path))?;
        if map_after && !guard.as_slice().is_empty() {
            // SAFETY: the file was just written and is never modified again while mapped.
            let map = unsafe { Mmap::map(&file) }.map_err(StorageError::io("mmap index", path))?;
            *guard = IndexBytes::Mapped(map);
        }
        Ok(())
    }
}

impl<E: IndexEntry> Default for SparseIndex<E> {
    fn default() -> Self {
        Self::new()
    }
}

/// Index of the first `i` in `0..count` for which `pred` is false (`pred` monotone).
fn partition(count: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0usize, count);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Removes an index file if present (used when a segment is deleted).
pub fn remove_if_exists(path: &Path) -> Result<(), StorageError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(StorageError::io("remove index", path)(e))
        }
        _ => Ok(()),
    }
}
