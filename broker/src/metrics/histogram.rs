//! A lock-free latency histogram: fixed bucket bounds, one atomic per bucket.
//!
//! `observe` is three relaxed atomic adds and a short scan of the bounds, so it is cheap
//! enough for every request and every fsync. Buckets are stored per interval and made
//! cumulative only when encoded; a scrape racing an observation may see the count and the
//! buckets one observation apart, which Prometheus tolerates.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, MetricEncoder, NoLabelSet};

/// Most finite buckets a histogram may have.
pub const HISTOGRAM_BUCKETS_MAX: usize = 20;

/// Bucket bounds (seconds) for request latencies: 100 µs to 30 s (fetch long polls).
pub const REQUEST_SECONDS_BOUNDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// Bucket bounds (seconds) for fsyncs: 10 µs to 5 s.
pub const FSYNC_SECONDS_BOUNDS: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 5.0,
];

/// A histogram of durations with fixed bounds in seconds.
#[derive(Debug)]
pub struct AtomicHistogram {
    bounds_seconds: &'static [f64],
    /// Observations in `(bounds[i-1], bounds[i]]`; beyond the last bound only `count` grows.
    buckets: [AtomicU64; HISTOGRAM_BUCKETS_MAX],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl AtomicHistogram {
    /// An empty histogram; `bounds_seconds` must ascend and hold at most
    /// [`HISTOGRAM_BUCKETS_MAX`] values (checked at compile time for statics).
    pub const fn new(bounds_seconds: &'static [f64]) -> Self {
        assert!(bounds_seconds.len() <= HISTOGRAM_BUCKETS_MAX);
        AtomicHistogram {
            bounds_seconds,
            buckets: [const { AtomicU64::new(0) }; HISTOGRAM_BUCKETS_MAX],
            count: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
        }
    }

    /// Records one duration.
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = self.bounds_seconds.iter().position(|&b| seconds <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Sum of all observations, in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9
    }

    /// Cumulative `(upper bound, count)` pairs, as the exposition format wants them.
    pub fn cumulative_buckets(&self) -> Vec<(f64, u64)> {
        let mut running = 0;
        let mut out: Vec<(f64, u64)> = self
            .bounds_seconds
            .iter()
            .zip(&self.buckets)
            .map(|(&bound, n)| {
                running += n.load(Ordering::Relaxed);
                (bound, running)
            })
            .collect();
        out.push((f64::INFINITY, self.count().max(running)));
        out
    }

    /// Writes this histogram as one sample set of a histogram family.
    pub fn encode(&self, encoder: &mut MetricEncoder<'_>) -> std::fmt::Result {
        let buckets = self.cumulative_buckets();
        let count = buckets.last().map_or(0, |&(_, n)| n);
        encoder.encode_histogram::<NoLabelSet>(self.sum_seconds(), count, &buckets, None)
    }

    /// Writes this histogram with `labels` into a histogram family.
    pub fn encode_labelled(
        &self,
        encoder: &mut MetricEncoder<'_>,
        labels: &impl EncodeLabelSet,
    ) -> std::fmt::Result {
        self.encode(&mut encoder.encode_family(labels)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_end_with_the_count() {
        let h = AtomicHistogram::new(&[0.001, 0.01, 0.1]);
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_secs(2));
        assert_eq!(
            h.cumulative_buckets(),
            vec![(0.001, 1), (0.01, 3), (0.1, 3), (f64::INFINITY, 4)]
        );
        assert_eq!(h.count(), 4);
        assert!((h.sum_seconds() - 2.0105).abs() < 1e-9);
    }
}
