//! Rewriting a batch with only some of its records: what log compaction does to a batch.
//!
//! The rewritten batch keeps everything that identifies it: `base_offset`,
//! `last_offset_delta` (so the offsets it covers, gaps included, stay the same),
//! timestamps, attributes, producer id, epoch and base sequence (so idempotent producer
//! state rebuilt from the log stays right). Surviving records are copied byte for byte
//! with their original offset and timestamp deltas; only `record_count`, `batch_length` and
//! the CRC change. A compressed batch is recompressed with its own codec.
//!
//! [`empty_batch`] encodes a header-only batch (`record_count = 0`): it stands for records
//! that were all removed while keeping the log's offsets contiguous, batch after batch.

use super::header::{
    compute_crc, BatchHeader, ATTR_COMPRESSION_MASK, BATCH_HEADER_BYTES, BATCH_LENGTH_MIN,
    BATCH_LOG_OVERHEAD_BYTES, CRC_POS,
};
use super::iter::RecordWalker;
use super::parser::RecordBatch;
use super::record::Record;
use super::{BatchError, Compression};

/// What [`retain_records`] made of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retained {
    /// Every record is kept: the original bytes stay as they are.
    All,
    /// Some records are kept: the rewritten batch.
    Some(Vec<u8>),
    /// No record is kept.
    None,
}

/// Walks `batch`'s records and keeps those for which `keep` answers true.
///
/// Fails only on a batch whose records do not walk (a malformed or undecompressible
/// batch), in which case nothing must be rewritten.
pub fn retain_records(
    batch: &RecordBatch,
    mut keep: impl FnMut(&Record) -> bool,
) -> Result<Retained, BatchError> {
    let header = *batch.header();
    let (data, start) = batch.records_data()?;
    let mut walker = RecordWalker::new(&header, start);
    let log_append_time = header.is_log_append_time().then_some(header.max_timestamp);
    let timestamp_of = |delta: i64| log_append_time.unwrap_or(header.base_timestamp + delta);
    let mut kept_bytes = Vec::new();
    let (mut kept, mut total, mut record_start) = (0i32, 0usize, start);
    while let Some(raw) = walker.next_raw(&data) {
        let raw = raw?;
        let record = Record::from_raw(&data, &raw, total, header.base_offset, timestamp_of)?;
        if keep(&record) {
            kept_bytes.extend_from_slice(&data[record_start..raw.end]);
            kept += 1;
        }
        record_start = raw.end;
        total += 1;
    }
    if usize::try_from(kept).is_ok_and(|k| k == total) {
        return Ok(Retained::All);
    }
    if kept == 0 {
        return Ok(Retained::None);
    }
    let mut out = Vec::with_capacity(BATCH_HEADER_BYTES + kept_bytes.len());
    out.extend_from_slice(&batch.as_bytes()[..BATCH_HEADER_BYTES]);
    match batch.compression() {
        Compression::None => out.extend_from_slice(&kept_bytes),
        codec => codec.compress(&kept_bytes, &mut out)?,
    }
    let batch_length = out.len() - BATCH_LOG_OVERHEAD_BYTES;
    let header = BatchHeader {
        batch_length: i32::try_from(batch_length).map_err(|_| BatchError::TooLargeToEncode {
            what: "rewritten batch",
            bytes: batch_length,
            max: i32::MAX as usize,
        })?,
        record_count: kept,
        ..header
    };
    Ok(Retained::Some(finish(header, out)))
}

/// A header-only batch (`record_count = 0`, uncompressed) with `header`'s offsets,
/// timestamps, producer fields and other attributes.
pub fn empty_batch(header: &BatchHeader) -> Vec<u8> {
    let header = BatchHeader {
        batch_length: BATCH_LENGTH_MIN,
        record_count: 0,
        attributes: header.attributes & !ATTR_COMPRESSION_MASK,
        ..*header
    };
    finish(header, vec![0; BATCH_HEADER_BYTES])
}

/// Writes `header` over the first bytes of `out` and fills in the CRC.
fn finish(header: BatchHeader, mut out: Vec<u8>) -> Vec<u8> {
    let mut encoded = [0u8; BATCH_HEADER_BYTES];
    header.write(&mut encoded);
    out[..BATCH_HEADER_BYTES].copy_from_slice(&encoded);
    let crc = compute_crc(&out);
    out[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::batch::{set_base_offset, BatchBuilder, RecordInput};

    const MAX: usize = 1 << 20;

    fn batch(codec: Compression) -> RecordBatch {
        let mut builder = BatchBuilder::new(codec).with_producer(7, 3, 40);
        for i in 0..5 {
            let record = RecordInput::new(1_000 + i, format!("v{i}")).with_key(format!("k{i}"));
            builder.append(&record).unwrap();
        }
        let mut bytes = builder.build().unwrap().to_vec();
        set_base_offset(&mut bytes, 100);
        RecordBatch::parse(Bytes::from(bytes), MAX).unwrap().0
    }

    #[test]
    fn keeps_offsets_timestamps_and_producer_fields() {
        for codec in Compression::ALL {
            let original = batch(codec);
            let Retained::Some(bytes) = retain_records(&original, |r| r.offset % 2 == 0).unwrap()
            else {
                panic!("expected a rewrite");
            };
            let (rewritten, used) = RecordBatch::parse(Bytes::from(bytes), MAX).unwrap();
            assert_eq!(used, rewritten.len());
            let (h, o) = (rewritten.header(), original.header());
            assert_eq!(h.base_offset, 100);
            assert_eq!(h.last_offset_delta, o.last_offset_delta);
            assert_eq!(h.record_count, 3);
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.base_sequence),
                (7, 3, 40)
            );
            assert_eq!((h.base_timestamp, h.max_timestamp), (1_000, 1_004));
            assert_eq!(rewritten.compression(), codec);
            let records: Vec<_> = rewritten.records().unwrap().map(|r| r.unwrap()).collect();
            let offsets: Vec<_> = records.iter().map(|r| r.offset).collect();
            assert_eq!(offsets, [100, 102, 104]);
            assert_eq!(records[1].timestamp, 1_002);
            assert_eq!(records[2].value.as_deref(), Some(&b"v4"[..]));
        }
    }

    #[test]
    fn all_and_none_are_reported_without_a_rewrite() {
        let original = batch(Compression::None);
        assert_eq!(retain_records(&original, |_| true), Ok(Retained::All));
        assert_eq!(retain_records(&original, |_| false), Ok(Retained::None));
    }

    #[test]
    fn empty_batch_parses_with_no_records_and_the_same_range() {
        let original = batch(Compression::Zstd);
        let empty = empty_batch(original.header());
        let (parsed, _) = RecordBatch::parse(Bytes::from(empty), MAX).unwrap();
        assert_eq!(parsed.header().base_offset, 100);
        assert_eq!(parsed.header().next_offset(), 105);
        assert_eq!(parsed.header().record_count, 0);
        assert_eq!(parsed.header().producer_id, 7);
        assert_eq!(parsed.records().unwrap().count(), 0);
        // A header-only batch is stored by the cleaner, never produced: the produce checks
        // (records must run 0..=last_offset_delta) refuse it.
        assert!(parsed.validate_records().is_err());
    }
}
