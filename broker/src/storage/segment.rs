//! One segment: a `.log` file of record batches plus its offset and time indexes.
//!
//! The writer appends with positioned writes (`pwrite`) into a file pre-sized to the
//! segment's capacity, so a single read-only map covers every byte the segment will ever
//! hold and never needs remapping; readers slice that map. Invariants: bytes below
//! `committed_bytes` are whole batches that are never rewritten while mapped; index entries
//! point below `committed_bytes`; a sealed segment's file is truncated to its real length.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use memmap2::{MmapOptions, MmapRaw};
use rill_protocol::batch::{BatchHeader, BATCH_HEADER_BYTES};

use super::index::{
    remove_if_exists, FilePosition, OffsetEntry, OffsetIndex, RelativeOffset, TimeEntry, TimeIndex,
};
use super::StorageError;

/// Digits in a segment file name (`00000000000000000000.log`).
const FILE_NAME_DIGITS: usize = 20;
/// Bound on a stored batch's length when reading it back: any length a segment can hold.
/// (The configured `max_batch_bytes` applies to appends; lowering it must not make recovery
/// cut batches that were valid when written.)
pub const STORED_BATCH_BYTES_MAX: usize = i32::MAX as usize;
/// Extension of segment log files.
pub const LOG_EXTENSION: &str = "log";

/// The three file paths of a segment.
#[derive(Debug, Clone)]
pub struct SegmentPaths {
    /// The record batches.
    pub log: PathBuf,
    /// The offset index.
    pub index: PathBuf,
    /// The time index.
    pub time_index: PathBuf,
}

impl SegmentPaths {
    /// Paths of the segment starting at `base_offset` in `dir`.
    pub fn new(dir: &Path, base_offset: i64) -> Self {
        let stem = format!("{base_offset:0width$}", width = FILE_NAME_DIGITS);
        SegmentPaths {
            log: dir.join(format!("{stem}.{LOG_EXTENSION}")),
            index: dir.join(format!("{stem}.index")),
            time_index: dir.join(format!("{stem}.timeindex")),
        }
    }

    /// Removes the three files, those that exist.
    pub fn remove_all(&self) -> Result<(), StorageError> {
        remove_if_exists(&self.log)?;
        remove_if_exists(&self.index)?;
        remove_if_exists(&self.time_index)
    }
}

/// Parses a segment file name into its base offset (`None` for any other file).
pub fn parse_log_file_name(name: &str) -> Option<i64> {
    let stem = name.strip_suffix(".log")?;
    let all_digits = stem.len() == FILE_NAME_DIGITS && stem.bytes().all(|b| b.is_ascii_digit());
    all_digits.then(|| stem.parse().ok()).flatten()
}

/// The file's modification time in ms since the epoch (`i64::MIN` if unknown).
fn modified_ms(file: &File) -> i64 {
    file.metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(i64::MIN, |d| {
            i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
        })
}

/// Index-building state carried from batch to batch (by the writer and by recovery).
#[derive(Debug, Clone, Copy)]
pub struct IndexCursor {
    /// Log bytes appended since the last offset index entry.
    pub bytes_since_entry: u64,
    /// Largest batch `max_timestamp` in the segment so far.
    pub max_timestamp: i64,
    /// Timestamp of the last time index entry.
    pub last_time_entry: i64,
    /// Relative offset of the last batch appended.
    pub last_batch: Option<RelativeOffset>,
}

impl IndexCursor {
    /// The state of an empty segment: its first batch gets an index entry.
    pub fn new(interval_bytes: u32) -> Self {
        IndexCursor {
            bytes_since_entry: u64::from(interval_bytes),
            max_timestamp: i64::MIN,
            last_time_entry: i64::MIN,
            last_batch: None,
        }
    }
}

/// A segment shared by the writer and readers.
pub struct Segment {
    base_offset: i64,
    paths: SegmentPaths,
    file: File,
    /// Read-only map of the first `map.len()` bytes; `None` for an empty sealed segment.
    map: Option<MmapRaw>,
    committed_bytes: AtomicU64,
    max_timestamp: AtomicI64,
    /// The broker's clock at the last append (ms); at open, the log file's mtime.
    last_append_ms: AtomicI64,
    synced: AtomicBool,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("base_offset", &self.base_offset)
            .field("committed_bytes", &self.committed_bytes())
            .finish()
    }
}

impl Segment {
    /// Creates an empty active segment at `base_offset`, pre-sized to `capacity_bytes`.
    pub fn create(dir: &Path, base_offset: i64, capacity_bytes: u64) -> Result<Self, StorageError> {
        let paths = SegmentPaths::new(dir, base_offset);
        remove_if_exists(&paths.index)?;
        remove_if_exists(&paths.time_index)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&paths.log)
            .map_err(StorageError::io("create segment", &paths.log))?;
        let log_path = paths.log.clone();
        let created = Self::from_parts(base_offset, paths, file, 0).and_then(|mut segment| {
            segment.presize(capacity_bytes)?;
            Ok(segment)
        });
        if created.is_err() {
            // Leave no empty segment behind: recovery would take it for part of the log.
            if let Err(e) = std::fs::remove_file(&log_path) {
                tracing::warn!(path = %log_path.display(), error = %e, "cannot remove a segment that failed to be created");
            }
        }
        created
    }

    /// Opens an existing segment file, mapping all `file_bytes` of it for recovery to scan.
    /// The indexes start empty; recovery loads or rebuilds them.
    pub fn open(dir: &Path, base_offset: i64) -> Result<Self, StorageError> {
        let paths = SegmentPaths::new(dir, base_offset);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&paths.log)
            .map_err(StorageError::io("open segment", &paths.log))?;
        let len = file
            .metadata()
            .map_err(StorageError::io("stat segment", &paths.log))?
            .len();
        Self::from_parts(base_offset, paths, file, len)
    }

    /// Wraps a written segment file (the cleaner's cleaned copy, about to replace the
    /// segment at `base_offset` in `dir`), mapping all of it. The indexes start empty.
    pub(crate) fn adopt(dir: &Path, base_offset: i64, file: File) -> Result<Self, StorageError> {
        let paths = SegmentPaths::new(dir, base_offset);
        let len = file
            .metadata()
            .map_err(StorageError::io("stat cleaned segment", &paths.log))?
            .len();
        Self::from_parts(base_offset, paths, file, len)
    }

    fn from_parts(
        base_offset: i64,
        paths: SegmentPaths,
        file: File,
        len: u64,
    ) -> Result<Self, StorageError> {
        // A new segment has seen no append yet; an existing one was last written when
        // its file was.
        let last_append_ms = if len == 0 {
            i64::MIN
        } else {
            modified_ms(&file)
        };
        let mut segment = Segment {
            base_offset,
            paths,
            file,
            map: None,
            committed_bytes: AtomicU64::new(len),
            max_timestamp: AtomicI64::new(i64::MIN),
            last_append_ms: AtomicI64::new(last_append_ms),
            synced: AtomicBool::new(false),
            offset_index: OffsetIndex::new(),
            time_index: TimeIndex::new(),
        };
        segment.remap(len)?;
        Ok(segment)
    }

    fn remap(&mut self, len: u64) -> Result<(), StorageError> {
        self.map = None;
        if len > 0 {
            let map = MmapOptions::new()
                .len(len as usize)
                .map_raw_read_only(&self.file)
                .map_err(StorageError::io("mmap segment", &self.paths.log))?;
            self.map = Some(map);
        }
        Ok(())
    }

    /// Grows the file (sparse) to `capacity_bytes` and maps all of it, making this the
    /// active segment. Only called before the segment is shared.
    pub fn presize(&mut self, capacity_bytes: u64) -> Result<(), StorageError> {
        let capacity_bytes = capacity_bytes.max(self.committed_bytes());
        self.file
            .set_len(capacity_bytes)
            .map_err(StorageError::io("presize segment", &self.paths.log))?;
        self.remap(capacity_bytes)
    }

    /// Base offset: the offset of the first record this segment can hold.
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// The segment's file paths.
    pub fn paths(&self) -> &SegmentPaths {
        &self.paths
    }

    /// Bytes of whole batches readers may see.
    pub fn committed_bytes(&self) -> u64 {
        self.committed_bytes.load(Ordering::Acquire)
    }

    /// Largest `max_timestamp` of any batch (`i64::MIN` when empty).
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp.load(Ordering::Acquire)
    }

    /// When the newest batch was appended, by the broker's clock (ms): recorded by the
    /// writer, or at open the log file's modification time, so it survives a restart.
    pub fn last_append_ms(&self) -> i64 {
        self.last_append_ms.load(Ordering::Acquire)
    }

    /// Records that a batch was appended at `now_ms` (the broker's clock).
    pub fn note_append(&self, now_ms: i64) {
        self.last_append_ms.fetch_max(now_ms, Ordering::AcqRel);
    }

    /// True once the log file is known to be on stable storage.
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// The offset index.
    pub fn offset_index(&self) -> &OffsetIndex {
        &self.offset_index
    }

    /// The time index.
    pub fn time_index(&self) -> &TimeIndex {
        &self.time_index
    }

    /// Bytes the segment can hold: the size it was created (and mapped) with. A batch
    /// never starts in one segment and ends past this.
    pub fn capacity_bytes(&self) -> u64 {
        self.mapped_bytes()
    }

    /// Where the first data (not a hole) at or after `from` lies: `Some(None)` for holes
    /// up to the end of the file, `None` when the file system cannot tell (SEEK_DATA).
    pub fn next_data(&self, from: u64) -> Option<Option<u64>> {
        use std::os::fd::AsRawFd;
        let from = libc::off_t::try_from(from).ok()?;
        // SAFETY: lseek on a descriptor this segment owns; it only moves its offset, which
        // no other code uses (all I/O is positioned).
        let found = unsafe { libc::lseek(self.file.as_raw_fd(), from, libc::SEEK_DATA) };
        if found >= 0 {
            return Some(u64::try_from(found).ok());
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::ENXIO) => Some(None),
            _ => None,
        }
    }

    /// Capacity of the read-only map.
    fn mapped_bytes(&self) -> u64 {
        self.map.as_ref().map_or(0, |m| m.len() as u64)
    }

    /// Borrows `[start, end)` of the mapped file. The range must lie below the committed
    /// length that the caller loaded (or, during recovery, below the scanned file length).
    pub fn bytes(&self, start: u64, end: u64) -> &[u8] {
        assert!(
            start <= end && end <= self.mapped_bytes(),
            "segment range outside the map"
        );
        let Some(map) = &self.map else {
            return &[];
        };
        // SAFETY: the range is inside the mapping (asserted above), and inside the file,
        // because callers only ask for committed bytes, which are never truncated away while
        // the segment is live. Committed bytes are never written again, so the shared
        // borrow sees immutable memory for its whole lifetime.
        unsafe {
            std::slice::from_raw_parts(map.as_ptr().add(start as usize), (end - start) as usize)
        }
    }

    /// A zero-copy `Bytes` over `[start, end)` that keeps the segment's map alive.
    pub fn slice(self: &Arc<Self>, start: u64, end: u64) -> Bytes {
        debug_assert!(end <= self.committed_bytes());
        Bytes::from_owner(MappedRange {
            segment: Arc::clone(self),
            start,
            end,
        })
    }

    /// Parses the header of the batch at `position` if a whole header lies below `end`.
    pub fn header_at(&self, position: u64, end: u64) -> Option<BatchHeader> {
        if position + BATCH_HEADER_BYTES as u64 > end {
            return None;
        }
        let header = BatchHeader::parse(self.bytes(position, end), STORED_BATCH_BYTES_MAX).ok()?;
        (position + header.total_bytes() as u64 <= end).then_some(header)
    }

    /// Writes `bytes` at `position` (not yet visible to readers).
    pub fn write_at(&self, position: u64, bytes: &[u8]) -> Result<(), StorageError> {
        debug_assert!(position + bytes.len() as u64 <= self.mapped_bytes());
        self.file
            .write_all_at(bytes, position)
            .map_err(StorageError::io("write segment", &self.paths.log))
    }

    /// Makes bytes up to `committed` visible to readers (after `write_at` and indexing).
    pub fn commit(&self, committed: u64, max_timestamp: i64) {
        debug_assert!(committed >= self.committed_bytes() && committed <= self.mapped_bytes());
        self.max_timestamp
            .fetch_max(max_timestamp, Ordering::AcqRel);
        self.committed_bytes.store(committed, Ordering::Release);
    }

    /// Records a batch written at `position` in the indexes, every `interval_bytes`.
    pub fn index_batch(
        &self,
        cursor: &mut IndexCursor,
        position: u64,
        header: &BatchHeader,
        interval_bytes: u32,
    ) {
        let relative = RelativeOffset((header.base_offset - self.base_offset) as u32);
        cursor.max_timestamp = cursor.max_timestamp.max(header.max_timestamp);
        if cursor.bytes_since_entry >= u64::from(interval_bytes) {
            self.offset_index.append(OffsetEntry {
                relative_offset: relative,
                position: FilePosition(position as u32),
            });
            self.append_time_entry(cursor, relative);
            cursor.bytes_since_entry = 0;
        }
        cursor.bytes_since_entry += header.total_bytes() as u64;
        cursor.last_batch = Some(relative);
    }

    fn append_time_entry(&self, cursor: &mut IndexCursor, relative: RelativeOffset) {
        if cursor.max_timestamp > cursor.last_time_entry {
            self.time_index.append(TimeEntry {
                timestamp: cursor.max_timestamp,
                relative_offset: relative,
            });
            cursor.last_time_entry = cursor.max_timestamp;
        }
    }

    /// Sets the state recovery found (sizes and timestamps of a scanned or trusted segment).
    pub fn set_recovered(&self, committed: u64, max_timestamp: i64) {
        self.committed_bytes.store(committed, Ordering::Release);
        self.max_timestamp.store(max_timestamp, Ordering::Release);
    }

    /// Replaces the indexes (recovery loaded them from disk).
    pub fn set_indexes(&mut self, offset_index: OffsetIndex, time_index: TimeIndex) {
        self.offset_index = offset_index;
        self.time_index = time_index;
    }

    /// Cuts the file to `len` bytes (recovery drops a torn tail; sealing drops the pre-sized
    /// zero tail).
    pub fn truncate_file(&self, len: u64) -> Result<(), StorageError> {
        self.file
            .set_len(len)
            .map_err(StorageError::io("truncate segment", &self.paths.log))
    }

    /// Closes the segment for appends: final time index entry, file cut to its real
    /// length, indexes written to disk (and mapped, when `map_indexes`).
    pub fn seal(&self, cursor: &mut IndexCursor, map_indexes: bool) -> Result<(), StorageError> {
        if let Some(last) = cursor.last_batch {
            self.append_time_entry(cursor, last);
        }
        self.truncate_file(self.committed_bytes())?;
        self.offset_index.persist(&self.paths.index, map_indexes)?;
        self.time_index.persist(&self.paths.time_index, map_indexes)
    }

    /// `fdatasync`s the log file.
    pub fn sync(&self) -> Result<(), StorageError> {
        #[cfg(test)]
        if sync_faults::fails(&self.paths.log) {
            return Err(StorageError::io("fsync segment", &self.paths.log)(
                std::io::Error::from_raw_os_error(libc::EIO),
            ));
        }
        super::stats::timed(&super::stats::SEGMENT_FSYNC, || self.file.sync_data())
            .map_err(StorageError::io("fsync segment", &self.paths.log))
    }

    /// fsyncs a sealed segment whole: its log file and its two index files. Only after this
    /// may the recovery checkpoint vouch for it (see [`Self::mark_synced`]).
    pub fn sync_sealed(&self) -> Result<(), StorageError> {
        self.sync()?;
        for path in [&self.paths.index, &self.paths.time_index] {
            let file = match File::open(path) {
                Ok(file) => file,
                // An index that was never written: recovery rebuilds it from the log.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StorageError::io("open index", path)(e)),
            };
            super::stats::timed(&super::stats::SEGMENT_FSYNC, || file.sync_data())
                .map_err(StorageError::io("fsync index", path))?;
        }
        Ok(())
    }

    /// Records that the segment is on stable storage (log and indexes, by
    /// [`Self::sync_sealed`], or trusted by recovery), so the recovery checkpoint may vouch
    /// for it.
    pub fn mark_synced(&self) {
        self.synced.store(true, Ordering::Release);
    }

    /// Removes the segment's three files; open maps stay valid until dropped.
    pub fn delete_files(&self) -> Result<(), StorageError> {
        std::fs::remove_file(&self.paths.log)
            .map_err(StorageError::io("remove segment", &self.paths.log))?;
        remove_if_exists(&self.paths.index)?;
        remove_if_exists(&self.paths.time_index)
    }
}

/// Test-only fault injection for fsyncs of segments in chosen directories: make them fail
/// with EIO, make them slow, and count them.
#[cfg(test)]
pub(crate) mod sync_faults {
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;
    use std::time::Duration;

    #[derive(Default)]
    struct Faults {
        failing: Vec<PathBuf>,
        slow: Vec<(PathBuf, Duration)>,
        counted: Vec<(PathBuf, u64)>,
    }

    static FAULTS: Mutex<Faults> = Mutex::new(Faults {
        failing: Vec::new(),
        slow: Vec::new(),
        counted: Vec::new(),
    });

    fn faults() -> std::sync::MutexGuard<'static, Faults> {
        FAULTS.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes every segment fsync under `dir` fail (until [`heal`]).
    pub(crate) fn fail_in(dir: &Path) {
        faults().failing.push(dir.to_path_buf());
    }

    /// Ends [`fail_in`] for `dir`.
    pub(crate) fn heal(dir: &Path) {
        faults().failing.retain(|d| d != dir);
    }

    /// Makes every segment fsync under `dir` take at least `delay`.
    pub(crate) fn slow_in(dir: &Path, delay: Duration) {
        faults().slow.push((dir.to_path_buf(), delay));
    }

    /// Starts counting the segment fsyncs under `dir` (see [`syncs_in`]).
    pub(crate) fn count_in(dir: &Path) {
        faults().counted.push((dir.to_path_buf(), 0));
    }

    /// Segment fsyncs under `dir` since [`count_in`].
    pub(crate) fn syncs_in(dir: &Path) -> u64 {
        faults()
            .counted
            .iter()
            .find(|(d, _)| d == dir)
            .map_or(0, |(_, n)| *n)
    }

    /// Called by every segment fsync: counts it, delays it, and says whether it fails.
    pub(super) fn fails(log: &Path) -> bool {
        let delay = {
            let mut faults = faults();
            for (dir, n) in &mut faults.counted {
                if log.starts_with(dir) {
                    *n += 1;
                }
            }
            faults
                .slow
                .iter()
                .find(|(dir, _)| log.starts_with(dir))
                .map(|(_, delay)| *delay)
        };
        if let Some(delay) = delay {
            std::thread::sleep(delay);
        }
        faults().failing.iter().any(|dir| log.starts_with(dir))
    }
}

/// The owner behind a zero-copy `Bytes` of segment data.
struct MappedRange {
    segment: Arc<Segment>,
    start: u64,
    end: u64,
}

impl AsRef<[u8]> for MappedRange {
    fn as_ref(&self) -> &[u8] {
        self.segment.bytes(self.start, self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip() {
        let paths = SegmentPaths::new(Path::new("/d"), 42);
        let name = paths
            .log
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        assert_eq!(name, "00000000000000000042.log");
        assert_eq!(parse_log_file_name(name), Some(42));
        assert_eq!(parse_log_file_name("42.log"), None);
        assert_eq!(parse_log_file_name("00000000000000000042.index"), None);
        assert_eq!(parse_log_file_name("0000000000000000004x.log"), None);
    }
}
