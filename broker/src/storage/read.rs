//! The read path: find the segment and position of an offset (segment list binary search,
//! sparse index floor, short header scan) and hand out whole batches as a zero-copy `Bytes`
//! over the segment's memory map. Never returns a byte at or beyond the high watermark.

use std::sync::Arc;

use bytes::Bytes;

use super::index::RelativeOffset;
use super::segment::Segment;
use super::{PartitionLog, StorageError};

/// What a fetch gets back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadResult {
    /// Whole batches from one segment, starting with the batch containing the requested
    /// offset; borrows the segment's mapped pages.
    pub records: Bytes,
    /// The high watermark when the read started.
    pub high_watermark: i64,
    /// The log start offset when the read started.
    pub log_start_offset: i64,
}

impl PartitionLog {
    /// Reads whole batches starting with the one containing `offset`, up to `max_bytes`,
    /// except that the first batch is returned whole even when larger (so consumers always
    /// progress). `offset == high_watermark` gives empty records; an offset below the log
    /// start or above the high watermark is [`StorageError::OffsetOutOfRange`].
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadResult, StorageError> {
        let high_watermark = self.high_watermark();
        let segments = self.snapshot();
        let log_start_offset = self.log_start_offset();
        let result = |records| ReadResult {
            records,
            high_watermark,
            log_start_offset,
        };
        let first = segments.partition_point(|s| s.base_offset() <= offset);
        if offset < log_start_offset || offset > high_watermark || first == 0 {
            return Err(StorageError::OffsetOutOfRange {
                dir: self.dir.clone(),
                offset,
                log_start_offset,
                log_end_offset: high_watermark,
            });
        }
        if offset == high_watermark {
            return Ok(result(Bytes::new()));
        }
        for segment in &segments[first - 1..] {
            let records = read_segment(segment, offset, max_bytes, high_watermark)?;
            if !records.is_empty() {
                return Ok(result(records));
            }
        }
        Ok(result(Bytes::new()))
    }

    /// The first batch whose `max_timestamp >= timestamp`, as `(base_offset, max_timestamp)`;
    /// `None` when every visible batch is older.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, StorageError> {
        let high_watermark = self.high_watermark();
        for segment in self.snapshot().iter() {
            if segment.max_timestamp() < timestamp || segment.base_offset() >= high_watermark {
                continue;
            }
            let visible_relative =
                (high_watermark - 1 - segment.base_offset()).min(i64::from(u32::MAX)) as u32;
            let from = segment
                .time_index()
                .below(timestamp)
                .map_or(0, |e| e.relative_offset.0.min(visible_relative));
            let end = segment.committed_bytes();
            let mut position = scan_start(segment, RelativeOffset(from), end);
            while let Some(header) = segment.header_at(position, end) {
                if header.base_offset >= high_watermark {
                    break;
                }
                if header.max_timestamp >= timestamp {
                    return Ok(Some((header.base_offset, header.max_timestamp)));
                }
                position += header.total_bytes() as u64;
            }
            check_ends_on_boundary(segment, position, end)?;
        }
        Ok(None)
    }
}

/// Reads from one segment; empty when the segment holds nothing at or after `offset`.
fn read_segment(
    segment: &Arc<Segment>,
    offset: i64,
    max_bytes: usize,
    high_watermark: i64,
) -> Result<Bytes, StorageError> {
    let end = segment.committed_bytes();
    let relative = (offset - segment.base_offset()).clamp(0, i64::from(u32::MAX)) as u32;
    let mut position = scan_start(segment, RelativeOffset(relative), end);
    let start = loop {
        let Some(header) = segment.header_at(position, end) else {
            check_ends_on_boundary(segment, position, end)?;
            return Ok(Bytes::new());
        };
        if header.base_offset >= high_watermark {
            return Ok(Bytes::new());
        }
        if header.last_offset() >= offset {
            break position;
        }
        position += header.total_bytes() as u64;
    };
    position = start;
    while let Some(header) = segment.header_at(position, end) {
        let next = position + header.total_bytes() as u64;
        let over_budget = position > start && next - start > max_bytes as u64;
        if header.base_offset >= high_watermark || over_budget {
            break;
        }
        position = next;
    }
    Ok(segment.slice(start, position))
}

/// Where a walk for `relative` may start below `end`: the floor offset index entry's
/// position when the batch there has the entry's offset, else 0. A damaged index entry then
/// costs a longer walk, never a wrong batch.
fn scan_start(segment: &Segment, relative: RelativeOffset, end: u64) -> u64 {
    let Some(entry) = segment.offset_index().floor(relative) else {
        return 0;
    };
    let position = u64::from(entry.position.0);
    let expected = segment.base_offset() + i64::from(entry.relative_offset.0);
    match segment.header_at(position, end) {
        Some(header) if header.base_offset == expected => position,
        _ => {
            tracing::warn!(path = %segment.paths().log.display(), position, "offset index entry does not point at its batch; walking from the segment start");
            0
        }
    }
}

/// A header walk that stopped before `end` found bytes that are not a batch.
fn check_ends_on_boundary(segment: &Segment, position: u64, end: u64) -> Result<(), StorageError> {
    if position < end {
        return Err(StorageError::CorruptSegment {
            path: segment.paths().log.clone(),
            position,
        });
    }
    Ok(())
}
