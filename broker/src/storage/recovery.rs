//! Opening a partition directory: trust what the checkpoint vouches for, scan the rest.
//!
//! Segments listed in the recovery checkpoint with their exact size are trusted; their
//! indexes are loaded and validated (and rebuilt from the log when missing or invalid).
//! Every later segment is scanned batch by batch: header bounds, CRC-32C, a known
//! compression codec, offsets increasing. The log is truncated at the first torn or corrupt batch, later segments are
//! deleted, and a warning says what was cut. A zero-filled tail (a pre-sized segment that
//! was not sealed) marks the end of the log without a warning. Invariant afterwards: every
//! segment ends on a batch boundary and the last one is the active segment.
//!
//! Of a batch's bytes only `base_offset` and `partition_leader_epoch` lie outside the CRC;
//! base offsets are checked for contiguity, while a damaged leader epoch cannot be detected
//! by the format (a single broker never reads it).

use std::fs;
use std::path::Path;

use rill_protocol::batch::{verify_crc, BatchError, BatchHeader, Compression, BATCH_HEADER_BYTES};

use super::checkpoint::{self, Checkpoint, CheckpointEntry};
use super::index::{remove_if_exists, OffsetIndex, RelativeOffset, TimeIndex};
use super::segment::{
    parse_log_file_name, IndexCursor, Segment, SegmentPaths, STORED_BATCH_BYTES_MAX,
};
use super::{LogConfig, StorageError};

/// What recovery hands to the log.
pub struct Recovered {
    /// All segments, oldest first; the last is active (pre-sized, indexes writable).
    pub segments: Vec<Segment>,
    /// Index state of the active segment.
    pub cursor: IndexCursor,
    /// Offset the next appended record gets.
    pub log_end_offset: i64,
    /// Timestamp of the active segment's first batch, for time-based rolling.
    pub active_first_timestamp: Option<i64>,
    /// Bytes of torn or corrupt data cut off (the unused zero-filled tail of a pre-sized
    /// segment is not counted).
    pub truncated_bytes: u64,
}

/// Why a scan stopped before the end of the file.
#[derive(Debug)]
enum ScanStop {
    /// Only zero bytes remain: the unused part of a pre-sized segment.
    ZeroTail,
    /// A batch is torn or corrupt.
    Corrupt(BatchError),
    /// A batch's base offset is not the previous batch's next offset (the writer assigns
    /// offsets contiguously, so anything else is corruption).
    OffsetNotContiguous { base_offset: i64, expected: i64 },
}

impl std::fmt::Display for ScanStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanStop::ZeroTail => f.write_str("zero-filled tail"),
            ScanStop::Corrupt(e) => write!(f, "{e}"),
            ScanStop::OffsetNotContiguous {
                base_offset,
                expected,
            } => {
                write!(f, "base offset {base_offset} where {expected} was expected")
            }
        }
    }
}

/// The result of scanning one segment.
struct Scan {
    valid_bytes: u64,
    next_offset: i64,
    cursor: IndexCursor,
    first_timestamp: Option<i64>,
    stop: Option<ScanStop>,
}

/// Opens (creating if needed) and recovers the partition directory `dir`.
pub fn recover(dir: &Path, config: &LogConfig) -> Result<Recovered, StorageError> {
    fs::create_dir_all(dir).map_err(StorageError::io("create log dir", dir))?;
    super::cleaner::swap::finish_interrupted_swaps(dir)?;
    let bases = list_segments(dir)?;
    let checkpoint = checkpoint::read(dir)?;
    let mut segments: Vec<(Segment, Tail)> = Vec::with_capacity(bases.len());
    let mut truncated_bytes = 0u64;
    for (i, &base) in bases.iter().enumerate() {
        let next_base = bases.get(i + 1).copied();
        let prev = segments.last().map(|(_, tail)| tail);
        if let Some(expected) = prev.map(|t| t.next_offset).filter(|&next| next != base) {
            if base < expected && never_written(dir, base)? {
                // A segment whose creation failed half-way (a roll that hit ENOSPC or
                // EMFILE) while its predecessor went on taking appends: it holds nothing.
                tracing::warn!(dir = %dir.display(), base_offset = base, "removing an empty segment left by a failed roll");
                SegmentPaths::new(dir, base).remove_all()?;
                continue;
            }
            tracing::warn!(dir = %dir.display(), base_offset = base, expected, "segment does not continue its predecessor; deleting it and later segments");
            truncated_bytes += delete_segments(dir, &bases[i..])?;
            break;
        }
        let mut segment = match Segment::open(dir, base) {
            Ok(segment) => segment,
            // Out of descriptors or memory, no permission, an I/O error: nothing says the
            // data is bad, so nothing is cut. The error fails this open (the partition
            // goes offline) and the next start tries again.
            Err(e) if !is_not_a_segment(&e) => return Err(e),
            Err(e) => {
                set_aside(dir, base, e)?;
                truncated_bytes += delete_segments(dir, &bases[i + 1..])?;
                break;
            }
        };
        let trusted_end = match prev.is_none_or(|t| t.trusted) {
            true => trusted_end(&segment, checkpoint.as_ref(), next_base),
            false => None,
        };
        let loaded = match trusted_end {
            Some(end) => load_trusted(&mut segment, end, config)?,
            None => None,
        };
        let (tail, keep_going) = match loaded {
            Some(tail) => (tail, true),
            None => {
                let (tail, keep_going, cut_bytes) =
                    scan_and_cut(&segment, config, trusted_end.is_some())?;
                truncated_bytes += cut_bytes;
                (tail, keep_going)
            }
        };
        segments.push((segment, tail));
        if !keep_going && next_base.is_some() {
            truncated_bytes += delete_segments(dir, &bases[i + 1..])?;
            break;
        }
    }
    let mut recovered = finish(dir, config, segments)?;
    recovered.truncated_bytes = truncated_bytes;
    Ok(recovered)
}

/// Where a segment ends, and what the writer needs to continue it.
struct Tail {
    next_offset: i64,
    cursor: IndexCursor,
    first_timestamp: Option<i64>,
    trusted: bool,
}

/// The end offset of `segment` if the checkpoint vouches for its exact size.
fn trusted_end(
    segment: &Segment,
    checkpoint: Option<&Checkpoint>,
    next_base: Option<i64>,
) -> Option<i64> {
    let checkpoint = checkpoint?;
    (checkpoint.size_of(segment.base_offset()) == Some(segment.committed_bytes()))
        .then(|| next_base.or(checkpoint.clean.then_some(checkpoint.log_end_offset)))
        .flatten()
}

/// Loads a trusted segment's indexes and walks the batch headers after the last index
/// entry. `Ok(None)` when the indexes or that tail do not hold up (the caller scans).
fn load_trusted(
    segment: &mut Segment,
    end_offset: i64,
    config: &LogConfig,
) -> Result<Option<Tail>, StorageError> {
    let size = segment.committed_bytes();
    let offset_span = end_offset.saturating_sub(segment.base_offset()).max(0) as u64;
    let paths = segment.paths().clone();
    let Some(offsets) = OffsetIndex::load(&paths.index, size, offset_span)? else {
        tracing::warn!(path = %paths.index.display(), "offset index missing or invalid; rebuilding it from the log");
        return Ok(None);
    };
    let Some(times) = TimeIndex::load(&paths.time_index, size, offset_span)? else {
        tracing::warn!(path = %paths.time_index.display(), "time index missing or invalid; rebuilding it from the log");
        return Ok(None);
    };
    let last_entry = offsets.last();
    let max_timestamp = times.last().map_or(i64::MIN, |e| e.timestamp);
    let start = last_entry.map_or(0, |e| u64::from(e.position.0));
    let mut cursor = IndexCursor::new(config.index_interval_bytes);
    cursor.bytes_since_entry = if last_entry.is_some() {
        size - start
    } else {
        cursor.bytes_since_entry
    };
    cursor.max_timestamp = max_timestamp;
    cursor.last_time_entry = max_timestamp;
    let expected_base = last_entry.map(|e| {
        segment
            .base_offset()
            .saturating_add(i64::from(e.relative_offset.0))
    });
    if expected_base
        .is_some_and(|b| segment.header_at(start, size).map(|h| h.base_offset) != Some(b))
    {
        tracing::warn!(path = %paths.index.display(), "offset index entry does not point at its batch; rebuilding the indexes from the log");
        return Ok(None);
    }
    let mut position = start;
    let mut next_offset = segment.base_offset();
    while position < size {
        let Some(header) = segment.header_at(position, size) else {
            return Ok(None);
        };
        cursor.last_batch = Some(RelativeOffset(
            header.base_offset.wrapping_sub(segment.base_offset()) as u32,
        ));
        next_offset = header.next_offset();
        position += header.total_bytes() as u64;
    }
    if size > 0 && next_offset != end_offset {
        return Ok(None);
    }
    let first_timestamp = segment.header_at(0, size).map(|h| h.max_timestamp);
    // Only now, so that a segment that falls back to a scan rebuilds fresh indexes.
    segment.set_indexes(offsets, times);
    segment.set_recovered(size, max_timestamp);
    segment.mark_synced();
    Ok(Some(Tail {
        next_offset: end_offset,
        cursor,
        first_timestamp,
        trusted: true,
    }))
}

/// Scans a segment, truncates it after its last valid batch, and says whether the log
/// may continue into the next segment and how many bytes of damaged data it cut.
fn scan_and_cut(
    segment: &Segment,
    config: &LogConfig,
    vouched: bool,
) -> Result<(Tail, bool, u64), StorageError> {
    let file_bytes = segment.committed_bytes();
    let scan = scan(segment, file_bytes, config);
    let cut_bytes = file_bytes - scan.valid_bytes;
    let (keep_going, damaged_bytes) = match &scan.stop {
        None => (true, 0),
        Some(ScanStop::ZeroTail) => {
            tracing::debug!(path = %segment.paths().log.display(), position = scan.valid_bytes, cut_bytes, "dropping zero-filled segment tail");
            (true, 0)
        }
        Some(stop) => {
            tracing::warn!(path = %segment.paths().log.display(), position = scan.valid_bytes, cut_bytes, reason = %stop, "truncating log at a torn or corrupt batch");
            (false, cut_bytes)
        }
    };
    if cut_bytes > 0 {
        segment.truncate_file(scan.valid_bytes)?;
    }
    segment.set_recovered(scan.valid_bytes, scan.cursor.max_timestamp);
    let tail = Tail {
        next_offset: scan.next_offset,
        cursor: scan.cursor,
        first_timestamp: scan.first_timestamp,
        trusted: vouched && scan.stop.is_none(),
    };
    Ok((tail, keep_going, damaged_bytes))
}

/// Walks and verifies batches from the start of the segment, rebuilding its indexes.
fn scan(segment: &Segment, file_bytes: u64, config: &LogConfig) -> Scan {
    let mut cursor = IndexCursor::new(config.index_interval_bytes);
    let mut position = 0u64;
    let mut next_offset = segment.base_offset();
    let mut first_timestamp = None;
    let stop = loop {
        if position == file_bytes {
            break None;
        }
        let rest = segment.bytes(position, file_bytes);
        if is_zero_tail(segment, position, rest) {
            break Some(ScanStop::ZeroTail);
        }
        let header = match check_batch(rest) {
            Ok(header) => header,
            Err(stop) => break Some(stop),
        };
        if header.base_offset != next_offset
            || header.last_offset().saturating_sub(segment.base_offset()) > i64::from(u32::MAX)
        {
            break Some(ScanStop::OffsetNotContiguous {
                base_offset: header.base_offset,
                expected: next_offset,
            });
        }
        segment.index_batch(&mut cursor, position, &header, config.index_interval_bytes);
        first_timestamp.get_or_insert(header.max_timestamp);
        next_offset = header.next_offset();
        position += header.total_bytes() as u64;
    };
    Scan {
        valid_bytes: position,
        next_offset,
        cursor,
        first_timestamp,
        stop,
    }
}

/// True when `rest` (the segment from `position` to its end) holds only zeros: the
/// pre-sized, never-written tail of an active segment. The file system is asked first
/// whether any data lies there at all (a hole reads as zeros), so a 1 GiB pre-sized
/// segment is not read page by page; only where data exists are the bytes looked at.
fn is_zero_tail(segment: &Segment, position: u64, rest: &[u8]) -> bool {
    let probe = &rest[..rest.len().min(BATCH_HEADER_BYTES)];
    if !probe.iter().all(|&b| b == 0) {
        return false;
    }
    // The block holding `position` may carry the last batch's end: read up to the next
    // 4 KiB boundary, then ask about the rest.
    const BLOCK: u64 = 4096;
    let end = position + rest.len() as u64;
    let boundary = ((position / BLOCK) + 1) * BLOCK;
    let head = usize::try_from(boundary.min(end) - position).unwrap_or(rest.len());
    if !rest[..head].iter().all(|&b| b == 0) {
        return false;
    }
    if boundary >= end {
        return true;
    }
    match segment.next_data(boundary) {
        // Holes only: zeros without reading them.
        Some(None) => true,
        Some(Some(data)) if data >= end => true,
        // Data somewhere (or the file system cannot say): look from where it starts.
        Some(Some(data)) => {
            let skip = usize::try_from(data.saturating_sub(position)).unwrap_or(rest.len());
            rest[skip.min(rest.len())..].iter().all(|&b| b == 0)
        }
        None => rest[head..].iter().all(|&b| b == 0),
    }
}

/// Checks that `rest` starts with a whole batch whose CRC matches.
fn check_batch(rest: &[u8]) -> Result<BatchHeader, ScanStop> {
    let header = BatchHeader::parse(rest, STORED_BATCH_BYTES_MAX).map_err(ScanStop::Corrupt)?;
    let batch =
        rest.get(..header.total_bytes())
            .ok_or(ScanStop::Corrupt(BatchError::Incomplete {
                need: header.total_bytes(),
                have: rest.len(),
            }))?;
    verify_crc(batch).map_err(ScanStop::Corrupt)?;
    // Produce never stores an unknown codec, and a consumer could not read past one.
    Compression::from_attributes(header.attributes).map_err(ScanStop::Corrupt)?;
    Ok(header)
}

/// Seals and syncs scanned closed segments, makes the last segment active, and clears
/// the clean flag of the checkpoint.
fn finish(
    dir: &Path,
    config: &LogConfig,
    mut segments: Vec<(Segment, Tail)>,
) -> Result<Recovered, StorageError> {
    let (mut active, tail) = match segments.pop() {
        Some(last) => last,
        None => {
            let cursor = IndexCursor::new(config.index_interval_bytes);
            let tail = Tail {
                next_offset: 0,
                cursor,
                first_timestamp: None,
                trusted: false,
            };
            (Segment::create(dir, 0, config.capacity_bytes())?, tail)
        }
    };
    for (segment, closed_tail) in &mut segments {
        if !segment.is_synced() {
            // Sealed (cut to length, indexes written) before the fsync, so that what the
            // checkpoint then vouches for is what the disk holds.
            segment.seal(&mut closed_tail.cursor, true)?;
            segment.sync_sealed()?;
            segment.mark_synced();
        }
    }
    active.presize(config.capacity_bytes())?;
    active.offset_index().make_writable();
    active.time_index().make_writable();
    assert!(
        active
            .offset_index()
            .last()
            .is_none_or(|e| u64::from(e.position.0) < active.committed_bytes()),
        "index entry beyond the end of the recovered log"
    );
    let mut segments: Vec<Segment> = segments.into_iter().map(|(segment, _)| segment).collect();
    write_open_checkpoint(dir, &segments, tail.next_offset)?;
    segments.push(active);
    Ok(Recovered {
        segments,
        cursor: tail.cursor,
        log_end_offset: tail.next_offset,
        active_first_timestamp: tail.first_timestamp.filter(|&ts| ts >= 0),
        truncated_bytes: 0,
    })
}

/// Writes the checkpoint of an open log: closed synced segments only, not clean.
pub fn write_open_checkpoint<'a>(
    dir: &Path,
    closed: impl IntoIterator<Item = &'a Segment>,
    log_end_offset: i64,
) -> Result<(), StorageError> {
    let segments = closed
        .into_iter()
        .take_while(|s| s.is_synced())
        .map(|s| CheckpointEntry {
            base_offset: s.base_offset(),
            size_bytes: s.committed_bytes(),
        })
        .collect();
    checkpoint::write(
        dir,
        &Checkpoint {
            clean: false,
            log_end_offset,
            segments,
        },
    )
}

/// Base offsets of the segment files in `dir`, ascending.
fn list_segments(dir: &Path) -> Result<Vec<i64>, StorageError> {
    let mut bases = Vec::new();
    for entry in fs::read_dir(dir).map_err(StorageError::io("list log dir", dir))? {
        let entry = entry.map_err(StorageError::io("list log dir", dir))?;
        if let Some(base) = entry.file_name().to_str().and_then(parse_log_file_name) {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// True when opening a segment failed because the file is not a segment file at all (a
/// directory in its place), the one failure that recovery repairs by setting it aside.
fn is_not_a_segment(error: &StorageError) -> bool {
    matches!(
        error,
        StorageError::Io { source, .. } if source.raw_os_error() == Some(libc::EISDIR)
    )
}

/// True if the segment file at `base` is empty or begins with a zero batch header: it was
/// created (and perhaps pre-sized) but never written, so it holds no record.
fn never_written(dir: &Path, base: i64) -> Result<bool, StorageError> {
    use std::io::Read;
    let path = SegmentPaths::new(dir, base).log;
    let file = fs::File::open(&path).map_err(StorageError::io("open segment", &path))?;
    let mut head = Vec::with_capacity(BATCH_LOG_OVERHEAD);
    file.take(BATCH_LOG_OVERHEAD as u64)
        .read_to_end(&mut head)
        .map_err(StorageError::io("read segment", &path))?;
    Ok(head.iter().all(|&b| b == 0))
}

/// Base offset and batch length: the first bytes of any batch.
const BATCH_LOG_OVERHEAD: usize = 12;

/// Renames a segment that cannot be opened to `<name>.log.damaged` (kept for inspection,
/// no longer part of the log) so that the partition opens without it; fails with `error`
/// only if the file cannot even be moved.
fn set_aside(dir: &Path, base: i64, error: StorageError) -> Result<(), StorageError> {
    let paths = SegmentPaths::new(dir, base);
    let mut damaged = paths.log.clone().into_os_string();
    damaged.push(".damaged");
    tracing::error!(path = %paths.log.display(), error = %error, "cannot open segment; setting it aside and truncating the log before it");
    fs::rename(&paths.log, &damaged).map_err(|_| error)?;
    remove_if_exists(&paths.index)?;
    remove_if_exists(&paths.time_index)
}

/// Deletes whole segments that recovery cut off; returns the bytes they held.
fn delete_segments(dir: &Path, bases: &[i64]) -> Result<u64, StorageError> {
    let mut deleted_bytes = 0;
    for &base in bases {
        let segment = Segment::open(dir, base)?;
        deleted_bytes += segment.committed_bytes();
        tracing::warn!(path = %segment.paths().log.display(), bytes = segment.committed_bytes(), "deleting segment after a truncated one");
        segment.delete_files()?;
    }
    Ok(deleted_bytes)
}
