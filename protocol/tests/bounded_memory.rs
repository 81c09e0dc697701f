//! Memory stays bounded on hostile input: a counting allocator measures the peak heap
//! growth while batches that lie about their counts, or decompress to far more than the
//! limit, are parsed, validated and iterated.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use rill_protocol::batch::header::{CRC_POS, LAST_OFFSET_DELTA_POS, RECORD_COUNT_POS};
use rill_protocol::batch::{
    compute_crc, validate_batches_bounded, BatchBuilder, BatchError, Compression, RecordBatch,
    RecordInput,
};

struct PeakAlloc;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for PeakAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(now, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc;

/// Peak heap growth, in bytes, while `f` runs.
fn peak_growth(f: impl FnOnce()) -> usize {
    let base = CURRENT.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    f();
    PEAK.load(Ordering::SeqCst).saturating_sub(base)
}

fn patch(batch: &Bytes, pos: usize, value: i32) -> Bytes {
    let mut bytes = batch.to_vec();
    bytes[pos..pos + 4].copy_from_slice(&value.to_be_bytes());
    let crc = compute_crc(&bytes);
    bytes[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(bytes)
}

fn walk_everything(batch: Bytes, max_decompressed_bytes: usize) -> Option<BatchError> {
    let _ = validate_batches_bounded(&batch, usize::MAX, max_decompressed_bytes);
    let (parsed, _) = RecordBatch::parse(batch, usize::MAX).ok()?;
    let parsed = parsed.with_max_decompressed_bytes(max_decompressed_bytes);
    let validated = parsed.validate_records().err();
    if let Ok(records) = parsed.records() {
        let collected: Result<Vec<_>, _> = records.collect();
        drop(collected);
    }
    validated
}

// One test function: the counters are process-wide, so the cases must not run in parallel.
#[test]
fn hostile_batches_stay_within_their_bounds() {
    // A record_count of 2^31 - 1 over a few records must not reserve for 2^31 records.
    let mut builder = BatchBuilder::new(Compression::None);
    for i in 0..3 {
        builder.append(&RecordInput::new(i, "value")).unwrap();
    }
    let batch = builder.build().unwrap();
    let lying = patch(
        &patch(&batch, RECORD_COUNT_POS, i32::MAX),
        LAST_OFFSET_DELTA_POS,
        i32::MAX,
    );
    let mut error = None;
    let peak = peak_growth(|| error = walk_everything(lying.clone(), 1 << 20));
    assert!(
        matches!(error, Some(BatchError::BadRecord { .. })),
        "{error:?}"
    );
    assert!(
        peak < 16 * 1024,
        "record_count lie grew the heap by {peak} bytes"
    );

    // Decompression bombs: 64 MiB of zeros, a limit of 1 MiB.
    let limit = 1 << 20;
    let zeros = Bytes::from(vec![0u8; 64 << 20]);
    for codec in Compression::ALL.into_iter().skip(1) {
        let mut builder = BatchBuilder::new(codec);
        builder.append(&RecordInput::new(0, zeros.clone())).unwrap();
        let bomb = builder.build().unwrap();
        let mut error = None;
        let peak = peak_growth(|| error = walk_everything(bomb.clone(), limit));
        assert!(
            matches!(error, Some(BatchError::Decompress { .. })),
            "{codec}: {error:?}"
        );
        eprintln!(
            "{codec}: {} compressed bytes, peak heap growth {peak} bytes",
            bomb.len()
        );
        assert!(
            peak < 8 * limit,
            "{codec} bomb grew the heap by {peak} bytes"
        );
    }
}
