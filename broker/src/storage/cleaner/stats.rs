//! Process-wide cleaner counters for the metrics endpoint (like [`crate::storage::stats`]).

use std::sync::atomic::{AtomicU64, Ordering};

use super::CleanReport;

/// Passes that ran (whether or not they removed anything).
pub static PASSES: AtomicU64 = AtomicU64::new(0);
/// Passes that failed with an error.
pub static FAILURES: AtomicU64 = AtomicU64::new(0);
/// Bytes of batches read by passes.
pub static BYTES_READ: AtomicU64 = AtomicU64::new(0);
/// Bytes of cleaned segments written.
pub static BYTES_WRITTEN: AtomicU64 = AtomicU64::new(0);
/// Bytes logs shrank by.
pub static BYTES_REMOVED: AtomicU64 = AtomicU64::new(0);
/// Records removed.
pub static RECORDS_REMOVED: AtomicU64 = AtomicU64::new(0);
/// Wall time spent in passes, in microseconds.
pub static MICROS_SPENT: AtomicU64 = AtomicU64::new(0);

/// Adds a finished pass to the counters.
pub fn record(report: &CleanReport) {
    let add = |counter: &AtomicU64, by: u64| counter.fetch_add(by, Ordering::Relaxed);
    add(&PASSES, 1);
    add(&BYTES_READ, report.bytes_read);
    add(&BYTES_WRITTEN, report.bytes_written);
    add(&BYTES_REMOVED, report.bytes_removed);
    add(&RECORDS_REMOVED, report.records_removed);
    add(
        &MICROS_SPENT,
        u64::try_from(report.duration.as_micros()).unwrap_or(u64::MAX),
    );
}

/// Counts a failed pass.
pub fn failed() {
    FAILURES.fetch_add(1, Ordering::Relaxed);
}
