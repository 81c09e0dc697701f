//! Walking the records section of a batch: [`RecordIter`] and the checks it shares with
//! validation.
//!
//! The walk checks every record ([`super::record`] checks each record's own fields) and,
//! across records: offset deltas strictly increase and stay within
//! `0..=last_offset_delta`, exactly `record_count` records are present, and no bytes
//! follow the last one. The first error ends the walk.
//!
//! [`RecordWalker::run_checked`] adds what the broker must check before trusting a
//! produced batch's header (as Kafka's log validator does): record `i` has offset delta
//! `i`, `last_offset_delta == record_count - 1`, and for create-time batches
//! `max_timestamp` is the largest record timestamp. A reader does not need these (a
//! compacted batch may legitimately have gaps), so [`RecordIter`] does not apply them.

use std::ops::Range;

use bytes::Bytes;

use super::header::BatchHeader;
use super::record::{decode_raw_with_headers, Header, RawRecord, Record, RECORD_MIN_BYTES};
use super::BatchError;

/// The cross-record state of a walk over one records section.
#[derive(Debug, Clone)]
pub(crate) struct RecordWalker {
    pos: usize,
    index: usize,
    record_count: usize,
    last_offset_delta: i32,
    /// The last record's offset delta; -1 before the first (deltas are checked >= 0).
    previous_offset_delta: i32,
    finished: bool,
}

/// Kafka's "no timestamp" record timestamp.
pub const NO_TIMESTAMP: i64 = -1;

/// What a checked walk learnt about a batch's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordsSummary {
    /// Number of records.
    pub record_count: usize,
    /// Smallest record timestamp other than [`NO_TIMESTAMP`] (create time), in ms;
    /// `i64::MAX` when no record has one.
    pub timestamp_min: i64,
    /// Largest record timestamp (create time), in ms.
    pub timestamp_max: i64,
}

impl RecordWalker {
    /// A walk over records starting at `start` in the buffer later passed to `next_raw`.
    pub(crate) fn new(header: &BatchHeader, start: usize) -> RecordWalker {
        RecordWalker {
            pos: start,
            index: 0,
            record_count: usize::try_from(header.record_count).unwrap_or(0),
            last_offset_delta: header.last_offset_delta,
            previous_offset_delta: -1,
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
    #[inline]
    pub(crate) fn next_raw(&mut self, data: &[u8]) -> Option<Result<RawRecord, BatchError>> {
        self.next_raw_with_headers(data, |_, _| {})
    }

    /// [`Self::next_raw`], handing the record's headers to `on_header` as they are
    /// checked (see [`decode_raw_with_headers`]).
    #[inline]
    pub(crate) fn next_raw_with_headers(
        &mut self,
        data: &[u8],
        on_header: impl FnMut(Range<usize>, Option<Range<usize>>),
    ) -> Option<Result<RawRecord, BatchError>> {
        if self.finished {
            return None;
        }
        let result = self.step(data, on_header);
        if !matches!(result, Some(Ok(_))) {
            self.finished = true;
        }
        result
    }

    #[inline]
    fn step(
        &mut self,
        data: &[u8],
        on_header: impl FnMut(Range<usize>, Option<Range<usize>>),
    ) -> Option<Result<RawRecord, BatchError>> {
        if self.index == self.record_count {
            if self.pos != data.len() {
                return Some(Err(self.bad("trailing bytes after the last record")));
            }
            return None;
        }
        if self.pos >= data.len() {
            return Some(Err(self.bad("records end before record_count is reached")));
        }
        let raw = match decode_raw_with_headers(data, self.pos, self.index, on_header) {
            Ok(raw) => raw,
            Err(e) => return Some(Err(e)),
        };
        if raw.offset_delta < 0 || raw.offset_delta > self.last_offset_delta {
            return Some(Err(self.bad("offset delta outside 0..=last_offset_delta")));
        }
        if raw.offset_delta <= self.previous_offset_delta {
            return Some(Err(self.bad("offset deltas do not increase")));
        }
        self.previous_offset_delta = raw.offset_delta;
        self.pos = raw.end;
        self.index += 1;
        Some(Ok(raw))
    }

    /// Walks every remaining record (failing on the first bad one) and checks the header against them: each
    /// record's offset delta is its index, `last_offset_delta == record_count - 1`, and
    /// (unless the batch is log-append time) `max_timestamp` is the largest record
    /// timestamp. The broker runs this on every produced batch.
    pub(crate) fn run_checked(
        mut self,
        header: &BatchHeader,
        data: &[u8],
    ) -> Result<RecordsSummary, BatchError> {
        // Largest record timestamp, and smallest other than NO_TIMESTAMP.
        let (mut timestamp_max, mut timestamp_min_set) = (None::<i64>, None::<i64>);
        while let Some(raw) = self.next_raw(data) {
            let raw = raw?;
            let timestamp = header.base_timestamp.wrapping_add(raw.timestamp_delta);
            timestamp_max = Some(timestamp_max.map_or(timestamp, |m| m.max(timestamp)));
            if timestamp != NO_TIMESTAMP {
                timestamp_min_set = Some(timestamp_min_set.map_or(timestamp, |m| m.min(timestamp)));
            }
            let index = self.index - 1;
            if usize::try_from(raw.offset_delta).ok() != Some(index) {
                return Err(BatchError::BadRecord {
                    index,
                    position: self.pos,
                    reason: "offset delta is not the record's index",
                });
            }
        }
        let mismatch = |field, in_header: i64, from_records: i64| BatchError::HeaderMismatch {
            field,
            in_header,
            from_records,
        };
        let (count, last_delta) = (self.index as i64, i64::from(header.last_offset_delta));
        if count == 0 || last_delta != count - 1 {
            return Err(mismatch("last_offset_delta", last_delta, count - 1));
        }
        let timestamp_max = timestamp_max.unwrap_or(i64::MIN);
        let timestamp_min = timestamp_min_set.unwrap_or(i64::MAX);
        if !header.is_log_append_time() && header.max_timestamp != timestamp_max {
            return Err(mismatch(
                "max_timestamp",
                header.max_timestamp,
                timestamp_max,
            ));
        }
        Ok(RecordsSummary {
            record_count: self.index,
            timestamp_min,
            timestamp_max,
        })
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

    /// One pass per record: the walk checks the record and builds its headers as it
    /// goes (no second walk over them), then the key and value become slices.
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let data = &self.data;
        let mut headers = Vec::new();
        let walked = self.walker.next_raw_with_headers(data, |key, value| {
            headers.push(Header {
                key: data.slice(key),
                value: value.map(|v| data.slice(v)),
            });
        })?;
        let raw = match walked {
            Ok(raw) => raw,
            Err(e) => return Some(Err(e)),
        };
        let timestamp = self
            .log_append_time
            .unwrap_or(self.base_timestamp.wrapping_add(raw.timestamp_delta));
        Some(Ok(Record::from_walked(
            data,
            raw,
            headers,
            self.base_offset,
            timestamp,
        )))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // +1 for a possible trailing error item.
        (0, Some(self.walker.remaining_bound(self.data.len()) + 1))
    }
}

impl std::iter::FusedIterator for RecordIter {}
