//! Storage tests that span modules: round trips, recovery, retention, concurrency, and
//! property tests against a `Vec` model. `batch` builds valid batches for all of them.

mod concurrency;
mod durability_tests;
mod log_tests;
mod props;
mod recovery_props;
mod recovery_tests;
mod replica_tests;
mod retention_tests;

use rill_protocol::batch::{compute_crc, BATCH_HEADER_BYTES};

use super::{FlushPolicy, LogConfig};

/// A valid RecordBatch v2: header with `record_count` records, `max_timestamp`, and an
/// opaque `payload_bytes`-byte body filled with `fill`; CRC computed over it.
pub(crate) fn batch(
    record_count: i32,
    max_timestamp: i64,
    payload_bytes: usize,
    fill: u8,
) -> Vec<u8> {
    let mut b = vec![0u8; BATCH_HEADER_BYTES + payload_bytes];
    let batch_length = (b.len() - 12) as i32;
    b[8..12].copy_from_slice(&batch_length.to_be_bytes());
    b[16] = 2;
    b[23..27].copy_from_slice(&(record_count - 1).to_be_bytes());
    b[27..35].copy_from_slice(&max_timestamp.to_be_bytes());
    b[35..43].copy_from_slice(&max_timestamp.to_be_bytes());
    b[43..51].copy_from_slice(&(-1i64).to_be_bytes());
    b[51..53].copy_from_slice(&(-1i16).to_be_bytes());
    b[53..57].copy_from_slice(&(-1i32).to_be_bytes());
    b[57..61].copy_from_slice(&record_count.to_be_bytes());
    for (i, byte) in b[BATCH_HEADER_BYTES..].iter_mut().enumerate() {
        *byte = fill.wrapping_add(i as u8);
    }
    let crc = compute_crc(&b);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// A config with tiny segments and a dense index so that tests cross many boundaries.
pub(crate) fn small_config(segment_bytes: u32) -> LogConfig {
    LogConfig {
        segment_bytes,
        segment_ms: u64::MAX / 2,
        index_interval_bytes: 256,
        retention_bytes: None,
        retention_ms: None,
        flush: FlushPolicy::Os,
        max_batch_bytes: 64 * 1024,
        ..LogConfig::default()
    }
}

/// Splits a buffer of whole batches into (base_offset, last_offset, bytes) triples.
pub(crate) fn batches_in(mut buf: &[u8]) -> Vec<(i64, i64, Vec<u8>)> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let header = match rill_protocol::batch::BatchHeader::parse(buf, usize::MAX) {
            Ok(h) => h,
            Err(e) => panic!("not a batch: {e}"),
        };
        let (one, rest) = buf.split_at(header.total_bytes());
        assert!(
            rill_protocol::batch::verify_crc(one).is_ok(),
            "torn batch read back"
        );
        out.push((header.base_offset, header.last_offset(), one.to_vec()));
        buf = rest;
    }
    out
}
