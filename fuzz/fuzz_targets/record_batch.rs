//! The record-batch parser: `RecordBatch::parse`, the record walk and iterator,
//! `validate_batches` and `BatchIter`, with decompression bounded.
//!
//! Input: `flags u8 | bytes...`; flag bit 0 rewrites every CRC to match (see
//! `rill_fuzz::fix_up_batches`) so the fuzzer reaches the records and the codecs. Checks
//! that the ways of reading a batch agree with each other.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rill_fuzz::fix_up_batches;
use rill_protocol::batch::{
    validate_batches, verify_crc, BatchError, BatchIter, Compression, RecordBatch,
};

/// Largest batch the target accepts.
const MAX_BATCH_BYTES: usize = 1 << 20;
/// Bound on a batch's decompressed records.
const MAX_DECOMPRESSED_BYTES: usize = 1 << 20;

/// Walks a parsed batch both ways and checks they agree.
fn walk(batch: RecordBatch) {
    assert!(verify_crc(batch.as_bytes()).is_ok());
    assert_eq!(batch.len(), batch.header().total_bytes());
    let batch = batch.with_max_decompressed_bytes(MAX_DECOMPRESSED_BYTES);
    let validated = batch.validate_records();
    let Ok(records) = batch.records() else {
        assert!(
            validated.is_err(),
            "records() failed where validation passed"
        );
        return;
    };
    let mut count = 0usize;
    let mut failed = false;
    let mut previous = None;
    for record in records {
        match record {
            Ok(record) => {
                assert!(!failed, "a record after an error");
                assert!(previous.is_none_or(|p| record.offset_delta > p));
                previous = Some(record.offset_delta);
                count += 1;
            }
            Err(_) => failed = true,
        }
    }
    match validated {
        Ok(n) => assert!(!failed && n == count, "walk and iterator disagree"),
        // The header lies about its records (last_offset_delta, offset deltas,
        // max_timestamp): validation refuses the batch, yet each record may be readable.
        Err(BatchError::HeaderMismatch { .. })
        | Err(BatchError::BadRecord {
            reason: "offset delta is not the record's index",
            ..
        }) => {}
        Err(_) => assert!(failed, "iterator accepted what validation rejected"),
    }
}

fuzz_target!(|data: &[u8]| {
    let [flags, rest @ ..] = data else {
        return;
    };
    let mut bytes = rest.to_vec();
    if flags & 1 == 1 {
        fix_up_batches(&mut bytes, None);
    }
    let bytes = Bytes::from(bytes);
    if let Ok((batch, used)) = RecordBatch::parse(bytes.clone(), MAX_BATCH_BYTES) {
        assert!(used <= bytes.len());
        walk(batch);
    }
    let validated = validate_batches(&bytes, MAX_BATCH_BYTES);
    let mut iter = BatchIter::new(bytes.clone(), MAX_BATCH_BYTES);
    let mut parsed = Vec::new();
    for batch in iter.by_ref() {
        match batch {
            Ok(batch) => parsed.push(batch),
            Err(_) => break,
        }
    }
    if let Ok(summary) = validated {
        assert_eq!(
            summary.len(),
            parsed.len(),
            "validate_batches and BatchIter disagree"
        );
        assert_eq!(iter.remaining(), 0);
        for (s, batch) in summary.iter().zip(&parsed) {
            assert_eq!(&s.header, batch.header());
            if batch.compression() == Compression::None {
                assert!(batch.validate_records().is_ok());
            }
        }
    }
    for batch in parsed {
        walk(batch);
    }
});
