//! Process-wide storage counters: fsync latency histograms, bumped by the code that calls
//! `fdatasync`. Statics rather than per-log fields because a sealed segment is synced off
//! the append path, away from its log; every broker in the process shares them.

use std::time::Instant;

use crate::metrics::histogram::{AtomicHistogram, FSYNC_SECONDS_BOUNDS};

/// fsyncs of segment `.log` files (flush policy, rolls, clean shutdown).
pub static SEGMENT_FSYNC: AtomicHistogram = AtomicHistogram::new(FSYNC_SECONDS_BOUNDS);

/// fsyncs of recovery checkpoints and of directories after creations and renames.
pub static CHECKPOINT_FSYNC: AtomicHistogram = AtomicHistogram::new(FSYNC_SECONDS_BOUNDS);

/// Runs `sync` and records how long it took in `histogram`, failed or not.
pub(crate) fn timed<T>(histogram: &AtomicHistogram, sync: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let outcome = sync();
    histogram.observe(started.elapsed());
    outcome
}
