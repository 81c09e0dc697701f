//! Walking the records section of a batch: [`RecordIter`] and the checks it shares with
//! validation.
//!
//! The walk checks every record ([`super::record`] checks each record's own fields) and,
//! across records: offset deltas strictly increase and stay within
//! `0..=last_offset_delta`, exactly `record_count` records are present, and no bytes
//! follow the last one. The first error ends the walk.

use bytes::Bytes;

use super::header::BatchHeader;
use super::record::{decode_raw, RawRecord, Record, RECORD_MIN_BYTES};
use super::BatchError;

/// The cross-record state of a walk over one records section.
#[derive(Debug, Clone)]
pub(crate) struct RecordWalker {
    pos: usize,
    index: usize,
    record_count: usize,
    last_offset_delta: i32,
    previous_offset_delta: Option<i32>,
    finished: bool,
}

impl RecordWalker {
    /// A walk over records starting at `start` in the buffer later passed to `next_raw`.
    pub(crate) fn new(header: &BatchHeader, start: usize) -> RecordWalker {
        RecordWalker {
            pos: start,
            index: 0,
            record_count: usize::try_from(header.record_count).unwrap_or(0),
            last_offset_delta: header.last_offset_delta,
            previous_offset_delta: None,
            finished: false,
        }
    }

    /// Records not yet walked, capped by what the remaining bytes can hold.
    pub(crate) fn remaining_bound(&self, data_len: usize) -> usize {
        if self.finished {
            return 0;
        }
        let left = self.record_count - self.index;
        left.min(data_len.saturating_sub(self.pos) / RECORD_MIN_BYTES)
    }

    fn bad(&self, reason: &'static str) -> BatchError {
        BatchError::BadRecord {
            index: self.index,
            position: self.pos,
            reason,
        }
    }

    /// The next record, the error that ends the walk, or `None` after the last record
    /// (once the trailing-bytes check passed).
    pub(crate) fn next_raw(&mut self, data: &[u8]) -> Option<Result<RawRecord, BatchError>> {
        if self.finished {
            return None;
        }
        let result = self.step(data);
        if !matches!(result, Some(Ok(_))) {
            self.finished = true;
        }
        result
    }

    fn step(&mut self, data: &[u8]) -> Option<Result<RawRecord, BatchError>> {
        if self.index == self.record_count {
            if self.pos != data.len() {
                return Some(Err(self.bad("trailing bytes after the last record")));
            }
            return None;
        }
        if self.pos >= data.len() {
            return Some(Err(self.bad("records end before record_count is reached")));
        }
        let raw = match decode_raw(data, self.pos, self.index) {
            Ok(raw) => raw,
            Err(e) => return Some(Err(e)),
        };
        if raw.offset_delta < 0 || raw.offset_delta > self.last_offset_delta {
            return Some(Err(self.bad("offset delta outside 0..=last_offset_delta")));
        }
        if self
            .previous_offset_delta
            .is_some_and(|prev| raw.offset_delta <= prev)
        {
            return Some(Err(self.bad("offset deltas do not increase")));
        }
        self.previous_offset_delta = Some(raw.offset_delta);
        self.pos = raw.end;
        self.index += 1;
        Some(Ok(raw))
    }

    /// Walks every remaining record; returns how many there were.
    pub(crate) fn run(mut self, data: &[u8]) -> Result<usize, BatchError> {
        while let Some(raw) = self.next_raw(data) {
            raw?;
        }
        Ok(self.index)
    }
}

/// Iterator over the records of one batch, yielding zero-copy [`Record`]s. After an error
/// it yields nothing more. Positions in errors are positions in the batch for an
/// uncompressed batch, and in the decompressed records section otherwise.
#[derive(Debug, Clone)]
pub struct RecordIter {
    data: Bytes,
    walker: RecordWalker,
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
}

impl RecordIter {
    /// Iterates the records that start at `start` in `data` (the batch itself, start 61,
    /// or a decompressed records section, start 0).
    pub(crate) fn new(data: Bytes, start: usize, header: &BatchHeader) -> RecordIter {
        RecordIter {
            data,
            walker: RecordWalker::new(header, start),
            base_offset: header.base_offset,
            base_timestamp: header.base_timestamp,
            log_append_time: header.is_log_append_time().then_some(header.max_timestamp),
        }
    }
}

impl Iterator for RecordIter {
    type Item = Result<Record, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        let raw = match self.walker.next_raw(&self.data)? {
            Ok(raw) => raw,
            Err(e) => return Some(Err(e)),
        };
        let base_timestamp = self.base_timestamp;
        let log_append_time = self.log_append_time;
        let index = self.walker.index - 1;
        Some(Record::from_raw(
            &self.data,
            &raw,
            index,
            self.base_offset,
            |delta| log_append_time.unwrap_or(base_timestamp.wrapping_add(delta)),
        ))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // +1 for a possible trailing error item.
        (0, Some(self.walker.remaining_bound(self.data.len()) + 1))
    }
}

impl std::iter::FusedIterator for RecordIter {}
