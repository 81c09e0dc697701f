//! Property tests of the recovery scanner: a segment of valid batches followed by arbitrary
//! bytes (and an optional flipped byte), or nothing but arbitrary bytes, always opens; every
//! batch it then serves is whole, CRC-valid and contiguous; every batch before the first
//! damaged byte is kept; appends continue at the high watermark.

use proptest::prelude::*;
use rill_protocol::batch::{compute_crc, set_base_offset};

use super::{batch, batches_in, small_config};
use crate::storage::segment::SegmentPaths;
use crate::storage::PartitionLog;

/// `(record_count, payload_bytes)` of each valid batch at the start of the segment.
fn batches() -> impl Strategy<Value = Vec<(i32, usize)>> {
    prop::collection::vec((1i32..4, 0usize..200), 0..6)
}

/// Concatenated batches with contiguous offsets from 0, and where each ends.
fn segment(specs: &[(i32, usize)]) -> (Vec<u8>, Vec<(usize, i64)>) {
    let mut bytes = Vec::new();
    let mut ends = Vec::new();
    let mut next = 0i64;
    for (i, &(count, payload)) in specs.iter().enumerate() {
        let mut one = batch(count, 1_000 + i as i64, payload, i as u8);
        set_base_offset(&mut one, next);
        next += i64::from(count);
        bytes.extend_from_slice(&one);
        ends.push((bytes.len(), next));
    }
    (bytes, ends)
}

/// Opens `bytes` as the only segment, reads it all, and appends one batch; returns the
/// batches served before the append and the log.
fn open(bytes: &[u8]) -> (Vec<(i64, i64, Vec<u8>)>, PartitionLog) {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(SegmentPaths::new(dir.path(), 0).log, bytes).expect("write segment");
    let log = PartitionLog::open(dir.path(), small_config(64 * 1024)).expect("recovery opens");
    let mut served = Vec::new();
    let mut offset = 0;
    while offset < log.high_watermark() {
        let read = log
            .read(offset, 1 << 20)
            .expect("read below the high watermark");
        let batches = batches_in(&read.records);
        assert!(!batches.is_empty(), "progress at {offset}");
        for (base, last, one) in batches {
            assert_eq!(base, offset, "contiguous offsets");
            offset = last + 1;
            served.push((base, last, one));
        }
    }
    let hw = log.high_watermark();
    let info = log
        .append(&mut batch(1, 5_000, 10, 7))
        .expect("append after recovery");
    assert_eq!(info.base_offset, hw);
    (served, log)
}

/// Regression (fuzz target `segment_recovery`): a CRC-valid batch with an unknown
/// compression codec was kept by the scan and then served, where every consumer fails on
/// it. It is now where the log is cut.
#[test]
fn unknown_codec_batch_is_cut() {
    let (mut bytes, ends) = segment(&[(2, 30), (1, 10)]);
    let second = ends[0].0;
    bytes[second + 22] = 5;
    let crc = compute_crc(&bytes[second..]);
    bytes[second + 17..second + 21].copy_from_slice(&crc.to_be_bytes());
    let (served, log) = open(&bytes);
    assert_eq!(served.len(), 1);
    assert_eq!(
        log.high_watermark(),
        ends[0].1 + 1,
        "the append after the cut"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn valid_batches_then_garbage_keep_every_intact_batch(
        specs in batches(),
        tail in prop::collection::vec(any::<u8>(), 0..300),
        flip in prop::option::of((any::<prop::sample::Index>(), 1u8..=255)),
    ) {
        let (mut bytes, ends) = segment(&specs);
        let mut damaged_at = bytes.len();
        if let Some((at, mask)) = flip.filter(|_| !bytes.is_empty()) {
            let at = at.index(bytes.len());
            bytes[at] ^= mask;
            damaged_at = at;
        }
        bytes.extend_from_slice(&tail);
        let (served, _log) = open(&bytes);
        let intact = ends.iter().filter(|(end, _)| *end <= damaged_at).count();
        let served_bytes: Vec<u8> = served.iter().flat_map(|b| b.2.clone()).collect();
        prop_assert!(served.len() >= intact, "kept {} of {intact} intact batches", served.len());
        prop_assert_eq!(&served_bytes[..], &bytes[..served_bytes.len()]);
    }

    #[test]
    fn arbitrary_bytes_open_as_a_valid_log(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        open(&bytes);
    }
}
