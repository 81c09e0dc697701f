//! Log cleaner benchmarks: how fast one pass cleans a log of keyed updates (MB/s of log
//! read), and what a cleaner running non-stop on the same log costs appends.
//!
//! Every log lives in the page cache (the cleaned log is 64 MiB; the append logs keep at
//! most 256 MiB through `compact,delete` retention), so the figures measure the CPU and
//! memory path, not the disk.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rill_broker::storage::cleaner::{CleanerConfig, CleanupPolicy, CompactionConfig, Ratio};
use rill_broker::storage::{FlushPolicy, LogConfig, PartitionLog};
use rill_protocol::batch::{BatchBuilder, Compression, RecordInput};

const KEYS: usize = 1_000;
const VALUE_BYTES: usize = 100;
/// Bytes of log the cleaning bench builds before each pass.
const CLEANED_LOG_BYTES: u64 = 64 * 1024 * 1024;

/// One batch updating every key once (1,000 records of 100 B values).
fn updates(version: usize) -> Vec<u8> {
    let mut builder = BatchBuilder::new(Compression::None);
    for k in 0..KEYS {
        let mut value = format!("{k}-{version}-").into_bytes();
        value.resize(VALUE_BYTES, b'v');
        let record = RecordInput::new(1_000, value).with_key(format!("key-{k:04}"));
        builder.append(&record).expect("record fits");
    }
    builder.build().expect("batch builds").to_vec()
}

fn config(policy: CleanupPolicy) -> LogConfig {
    LogConfig {
        segment_bytes: 16 * 1024 * 1024,
        retention_bytes: Some(256 * 1024 * 1024),
        retention_ms: None,
        flush: FlushPolicy::Os,
        compaction: CompactionConfig {
            policy,
            min_cleanable_dirty_ratio: Ratio::new(0.0).expect("ratio"),
            ..CompactionConfig::default()
        },
        ..LogConfig::default()
    }
}

/// A fresh log holding `CLEANED_LOG_BYTES` of updates.
fn filled_log() -> (tempfile::TempDir, PartitionLog) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = PartitionLog::open(dir.path(), config(CleanupPolicy::Compact)).expect("open");
    let batch = updates(0);
    while log.size_bytes() < CLEANED_LOG_BYTES {
        log.append_at(&mut batch.clone(), 1_000).expect("append");
    }
    (dir, log)
}

fn clean_pass(c: &mut Criterion) {
    let mut group = c.benchmark_group("cleaner");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(CLEANED_LOG_BYTES));
    group.bench_function("pass over 64 MiB of updates to 1000 keys", |b| {
        b.iter_batched(
            filled_log,
            |(dir, log)| {
                let report = log
                    .clean_now(&CleanerConfig::default(), 2_000)
                    .expect("clean");
                assert!(report.segments_cleaned > 0);
                (dir, log)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// Appends `iters` update batches while a background thread runs retention and, when
/// `cleaning`, cleaner passes back to back on the same log.
fn appends(iters: u64, cleaning: bool) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Arc::new(
        PartitionLog::open(dir.path(), config(CleanupPolicy::CompactDelete)).expect("open"),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let background = {
        let (log, stop) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                log.enforce_retention(2_000).expect("retention");
                if cleaning {
                    log.clean_now(&CleanerConfig::default(), 2_000)
                        .expect("clean");
                } else {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        })
    };
    let batch = updates(0);
    let started = Instant::now();
    for _ in 0..iters {
        log.append_at(&mut batch.clone(), 1_000).expect("append");
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    background.join().expect("background thread");
    elapsed
}

fn append_while_cleaning(c: &mut Criterion) {
    let mut group = c.benchmark_group("append 1000 x 100 B");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(updates(0).len() as u64));
    group.bench_function("cleaner idle", |b| b.iter_custom(|n| appends(n, false)));
    group.bench_function("cleaner running", |b| b.iter_custom(|n| appends(n, true)));
    group.finish();
}

criterion_group!(benches, clean_pass, append_while_cleaning);
criterion_main!(benches);
