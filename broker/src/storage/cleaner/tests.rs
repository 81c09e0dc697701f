//! Cleaning passes on real log directories, checked against a model map of the latest
//! value of every key.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use bytes::Bytes;
use proptest::prelude::*;
use rill_protocol::batch::{BatchBuilder, BatchIter, Compression, RecordInput};

use super::*;
use crate::storage::tests::small_config;
use crate::storage::{LogConfig, PartitionLog};

type Model = BTreeMap<String, String>;

fn config(delete_retention_ms: u64) -> LogConfig {
    let mut config = small_config(4096);
    config.compaction = CompactionConfig {
        policy: CleanupPolicy::Compact,
        delete_retention_ms,
        ..CompactionConfig::default()
    };
    config
}

fn cleaner() -> CleanerConfig {
    CleanerConfig::default()
}

/// Appends one batch of `(key, value)` records stamped `timestamp_ms`.
fn append(log: &PartitionLog, records: &[(String, Option<String>)], timestamp_ms: i64) {
    append_with(log, records, timestamp_ms, Compression::None)
}

/// [`append`] with a codec.
fn append_with(
    log: &PartitionLog,
    records: &[(String, Option<String>)],
    timestamp_ms: i64,
    codec: Compression,
) {
    let mut builder = BatchBuilder::new(codec);
    for (key, value) in records {
        let record = RecordInput {
            timestamp: timestamp_ms,
            key: Some(Bytes::from(key.clone())),
            value: value.clone().map(Bytes::from),
            headers: Vec::new(),
        };
        builder.append(&record).unwrap();
    }
    let mut bytes = builder.build().unwrap().to_vec();
    log.append_at(&mut bytes, timestamp_ms).unwrap();
}

/// Every record from the log start, as (offset, key, value); asserts offsets increase and
/// batches are contiguous.
fn read_all(log: &PartitionLog) -> Vec<(i64, String, Option<String>)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    let mut last = -1;
    while offset < log.high_watermark() {
        let read = log.read(offset, 1 << 20).unwrap();
        let before = offset;
        for batch in BatchIter::new(read.records, 1 << 20) {
            let batch = batch.unwrap();
            assert_eq!(batch.header().base_offset, offset, "batches are contiguous");
            for record in batch.records().unwrap() {
                let record = record.unwrap();
                assert!(record.offset > last, "offsets strictly increase");
                last = record.offset;
                let text = |b: Option<Bytes>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
                out.push((record.offset, text(record.key).unwrap(), text(record.value)));
            }
            offset = batch.header().next_offset();
        }
        assert!(offset > before, "the read made progress");
    }
    out
}

fn fold(records: &[(i64, String, Option<String>)]) -> Model {
    let mut map = Model::new();
    for (_, key, value) in records {
        match value {
            Some(v) => map.insert(key.clone(), v.clone()),
            None => map.remove(key),
        };
    }
    map
}

fn update(key: usize, version: usize) -> (String, Option<String>) {
    (format!("key-{key}"), Some(format!("value-{key}-{version}")))
}

#[test]
fn cleaning_keeps_the_latest_value_of_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config(0)).unwrap();
    let mut model = Model::new();
    for version in 0..100 {
        let batch: Vec<_> = (0..20).map(|k| update(k, version)).collect();
        for (k, v) in &batch {
            model.insert(k.clone(), v.clone().unwrap());
        }
        append(&log, &batch, 1_000);
    }
    let hw = log.high_watermark();
    let before = log.size_bytes();
    let report = log.clean_now(&cleaner(), 2_000).unwrap();
    assert!(report.segments_cleaned > 0, "{report:?}");
    assert!(report.records_removed > 1_000, "{report:?}");
    assert!(
        log.size_bytes() < before / 3,
        "{} of {before}",
        log.size_bytes()
    );
    assert_eq!(log.high_watermark(), hw, "offsets never change");
    let records = read_all(&log);
    assert_eq!(fold(&records), model);
    let active_base = *log.segment_base_offsets().last().unwrap();
    let below_active = records.iter().filter(|(o, _, _)| *o < active_base).count();
    assert!(
        below_active <= 20,
        "one record per key below the active segment: {below_active}"
    );
    assert_eq!(report.first_dirty_offset, active_base);
    // A second pass finds nothing left to do.
    assert_eq!(
        log.clean_now(&cleaner(), 2_000).unwrap().segments_cleaned,
        0
    );
}

#[test]
fn cleaned_log_survives_clean_and_crash_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::new();
    {
        let log = PartitionLog::open(dir.path(), config(0)).unwrap();
        for version in 0..60 {
            let batch: Vec<_> = (0..10).map(|k| update(k, version)).collect();
            for (k, v) in &batch {
                model.insert(k.clone(), v.clone().unwrap());
            }
            append(&log, &batch, 1_000);
        }
        log.clean_now(&cleaner(), 2_000).unwrap();
        log.close().unwrap();
    }
    let log = PartitionLog::open(dir.path(), config(0)).unwrap();
    assert_eq!(fold(&read_all(&log)), model);
    assert!(log.recovery_truncated_bytes() == 0);
    append(&log, &[update(3, 999)], 1_000);
    model.insert("key-3".into(), "value-3-999".into());
    log.clean_now(&cleaner(), 2_000).unwrap();
    drop(log); // crash: no clean shutdown
    let log = PartitionLog::open(dir.path(), config(0)).unwrap();
    assert_eq!(fold(&read_all(&log)), model);
    assert_eq!(log.recovery_truncated_bytes(), 0);
}

#[test]
fn tombstones_stay_until_delete_retention_then_go() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config(10_000)).unwrap();
    for version in 0..50 {
        let batch: Vec<_> = (0..10).map(|k| update(k, version)).collect();
        append(&log, &batch, 1_000);
    }
    append(&log, &[("key-0".to_string(), None)], 1_000);
    for version in 50..100 {
        append(&log, &[update(1, version)], 1_000);
    }
    let horizon_not_reached = 5_000;
    log.clean_now(&cleaner(), horizon_not_reached).unwrap();
    let records = read_all(&log);
    assert!(
        records.iter().any(|(_, k, v)| k == "key-0" && v.is_none()),
        "tombstone kept"
    );
    assert!(!fold(&records).contains_key("key-0"));
    log.clean_now(&cleaner(), 20_000).unwrap();
    let records = read_all(&log);
    assert!(
        !records.iter().any(|(_, k, _)| k == "key-0"),
        "tombstone and key gone"
    );
    assert_eq!(fold(&records).len(), 9);
}

#[test]
fn records_younger_than_min_compaction_lag_are_never_removed() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(0);
    config.compaction.min_compaction_lag_ms = 1_000;
    let log = PartitionLog::open(dir.path(), config).unwrap();
    for version in 0..100 {
        append(
            &log,
            &[update(0, version), update(1, version)],
            10_000 + version as i64,
        );
    }
    let total = read_all(&log).len();
    // Every record is younger than the lag: nothing may go.
    log.clean_now(&cleaner(), 10_500).unwrap();
    assert_eq!(read_all(&log).len(), total);
    // Later, the old ones may.
    log.clean_now(&cleaner(), 50_000).unwrap();
    assert!(read_all(&log).len() < total);
}

#[test]
fn a_small_map_cleans_in_several_passes() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config(0)).unwrap();
    let mut model = Model::new();
    for version in 0..20 {
        for chunk in 0..10 {
            let batch: Vec<_> = (chunk * 10..chunk * 10 + 10)
                .map(|k| update(k, version))
                .collect();
            for (k, v) in &batch {
                model.insert(k.clone(), v.clone().unwrap());
            }
            append(&log, &batch, 1_000);
        }
    }
    let small = CleanerConfig {
        offset_map_bytes: 30 * offset_map::ENTRY_BYTES,
        bytes_per_sec: None,
    };
    let active_base = *log.segment_base_offsets().last().unwrap();
    let mut passes = 0;
    while log.cleaner.first_dirty_offset() < active_base {
        let report = log.clean_now(&small, 2_000).unwrap();
        passes += 1;
        assert!(passes < 1_000, "passes make progress: {report:?}");
        assert_eq!(fold(&read_all(&log)), model, "correct after every pass");
    }
    assert!(passes > 1, "the map was too small for one pass");
    let below = read_all(&log)
        .iter()
        .filter(|(o, _, _)| *o < active_base)
        .count();
    assert!(below <= 100 + 30, "{below}");
}

#[test]
fn a_reader_of_a_replaced_segment_keeps_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config(0)).unwrap();
    for version in 0..100 {
        append(&log, &[update(0, version), update(1, version)], 1_000);
    }
    let held = log.read(0, 1 << 20).unwrap().records;
    let copy = held.to_vec();
    log.clean_now(&cleaner(), 2_000).unwrap();
    assert_eq!(
        &held[..],
        &copy[..],
        "the old map is still valid and unchanged"
    );
    let count: usize = BatchIter::new(held, 1 << 20)
        .map(|b| b.unwrap().records().unwrap().count())
        .sum();
    assert!(count > 2);
}

#[test]
fn recovery_finishes_a_swap_and_drops_an_unfinished_copy() {
    let cleaned_dir = tempfile::tempdir().unwrap();
    let old_dir = tempfile::tempdir().unwrap();
    let fill = |dir: &std::path::Path| {
        let log = PartitionLog::open(dir, config(0)).unwrap();
        for version in 0..80 {
            append(&log, &[update(0, version), update(1, version)], 1_000);
        }
        log
    };
    let cleaned = fill(cleaned_dir.path());
    let old = fill(old_dir.path());
    let model = fold(&read_all(&old));
    cleaned.clean_now(&cleaner(), 2_000).unwrap();
    cleaned.close().unwrap();
    drop(old);
    let first = crate::storage::segment::SegmentPaths::new(cleaned_dir.path(), 0).log;
    let target = crate::storage::segment::SegmentPaths::new(old_dir.path(), 0).log;
    let swap = old_dir.path().join("00000000000000000000.log.swap");
    std::fs::copy(&first, &swap).unwrap();
    let leftover = old_dir.path().join("00000000000000004000.log.cleaned");
    std::fs::write(&leftover, b"half a segment").unwrap();
    let log = PartitionLog::open(old_dir.path(), config(0)).unwrap();
    assert!(!swap.exists() && !leftover.exists());
    assert_eq!(
        std::fs::read(&target).unwrap(),
        std::fs::read(&first).unwrap()
    );
    assert_eq!(fold(&read_all(&log)), model);
    assert_eq!(log.recovery_truncated_bytes(), 0);
}

#[test]
fn the_last_batch_of_an_idempotent_producer_survives() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config(0)).unwrap();
    let producer_batch = |seq: i32, value: &str| {
        let mut builder = BatchBuilder::new(Compression::None).with_producer(42, 0, seq);
        builder
            .append(&RecordInput::new(1_000, value.to_string()).with_key("shared"))
            .unwrap();
        builder.build().unwrap().to_vec()
    };
    log.append_at(&mut producer_batch(0, "a"), 1_000).unwrap();
    let last = producer_batch(1, "b");
    log.append_at(&mut last.clone(), 1_000).unwrap();
    // Another writer supersedes the producer's key, then fills segments.
    for version in 0..100 {
        append(
            &log,
            &[
                ("shared".into(), Some(format!("x{version}"))),
                update(1, version),
            ],
            1_000,
        );
    }
    log.clean_now(&cleaner(), 2_000).unwrap();
    log.close().unwrap();
    let log = PartitionLog::open(dir.path(), config(0)).unwrap();
    // The producer's last batch is remembered: its retry is a duplicate, its next sequence fits.
    let retry = log.append_at(&mut last.clone(), 1_000).unwrap();
    assert!(retry.duplicate, "{retry:?}");
    assert_eq!(retry.base_offset, 1);
    log.append_at(&mut producer_batch(2, "c"), 1_000).unwrap();
}

#[test]
fn a_stopped_pass_leaves_the_log_and_the_checkpoint_alone() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config(0)).unwrap();
    for version in 0..100 {
        append(&log, &[update(0, version)], 1_000);
    }
    let stop = AtomicBool::new(true);
    let mut due = log.config().as_ref().clone();
    due.compaction.min_cleanable_dirty_ratio = Ratio::new(0.0).unwrap();
    log.set_config(due).unwrap();
    let report = log.clean(&cleaner(), 2_000, &stop).unwrap();
    assert_eq!(report.map(|r| r.segments_cleaned), Some(0));
    assert_eq!(log.cleaner.first_dirty_offset(), 0);
    assert_eq!(read_all(&log).len(), 100);
    let no_stop = AtomicBool::new(false);
    let report = log.clean(&cleaner(), 2_000, &no_stop).unwrap().unwrap();
    assert!(report.segments_cleaned > 0);
    assert!(
        log.clean(&cleaner(), 2_000, &no_stop).unwrap().is_none(),
        "nothing dirty left"
    );
}

#[derive(Debug, Clone)]
enum Op {
    /// Put these (key, value or tombstone) records, one batch with this codec.
    Put(Vec<(u8, Option<u16>)>, Compression),
    /// Let this much time pass (ms).
    Tick(u16),
    /// Clean (with a map of this many keys).
    Clean(u8),
    /// Close and reopen, cleanly or not.
    Reopen(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (
            prop::collection::vec((0u8..24, prop::option::weighted(0.85, any::<u16>())), 1..8),
            prop::sample::select(Compression::ALL.to_vec()),
        )
            .prop_map(|(records, codec)| Op::Put(records, codec)),
        2 => (0u16..400).prop_map(Op::Tick),
        2 => (1u8..40).prop_map(Op::Clean),
        1 => any::<bool>().prop_map(Op::Reopen),
    ]
}

proptest! {
    // 24 cases keep the suite fast; PROPTEST_CASES=500 for a long run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(24),
        ..ProptestConfig::default()
    })]

    /// Random keyed updates and tombstones, cleaned at random moments: the log read from
    /// the start always folds to the model's latest values, offsets strictly increase, and
    /// a tombstone leaves only after `delete.retention.ms`.
    #[test]
    fn cleaning_preserves_the_latest_values(ops in prop::collection::vec(op(), 1..120)) {
        const DELETE_RETENTION_MS: u64 = 500;
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(DELETE_RETENTION_MS);
        config.segment_bytes = 1024;
        let mut log = PartitionLog::open(dir.path(), config.clone()).unwrap();
        let mut model = Model::new();
        // Last tombstone time per deleted key, to check tombstones stay long enough.
        let mut deleted_at: BTreeMap<String, i64> = BTreeMap::new();
        let mut now = 1_000i64;
        for op in ops {
            match op {
                Op::Put(records, codec) => {
                    let records: Vec<_> = records
                        .into_iter()
                        .map(|(k, v)| (format!("k{k}"), v.map(|v| format!("v{v}"))))
                        .collect();
                    for (k, v) in &records {
                        match v {
                            Some(v) => {
                                model.insert(k.clone(), v.clone());
                                deleted_at.remove(k);
                            }
                            None => {
                                model.remove(k);
                                deleted_at.insert(k.clone(), now);
                            }
                        }
                    }
                    append_with(&log, &records, now, codec);
                }
                Op::Tick(ms) => now += i64::from(ms),
                Op::Clean(keys) => {
                    let config = CleanerConfig {
                        offset_map_bytes: usize::from(keys) * offset_map::ENTRY_BYTES,
                        bytes_per_sec: None,
                    };
                    log.clean_now(&config, now).unwrap();
                }
                Op::Reopen(clean) => {
                    if clean {
                        log.close().unwrap();
                    }
                    drop(log);
                    log = PartitionLog::open(dir.path(), config.clone()).unwrap();
                    prop_assert_eq!(log.recovery_truncated_bytes(), 0);
                }
            }
            let records = read_all(&log);
            prop_assert_eq!(&fold(&records), &model);
            for (key, at) in &deleted_at {
                if now - at < DELETE_RETENTION_MS as i64 {
                    let seen = records.iter().any(|(_, k, v)| k == key && v.is_none());
                    prop_assert!(seen, "tombstone of {} removed too early", key);
                }
            }
        }
    }
}

/// File faults: the cleaned copy cannot be created, or cannot be renamed into place. The
/// pass fails, the log keeps serving the same records, and a reopen finds it whole.
#[test]
fn file_faults_fail_the_pass_and_leave_the_log_whole() {
    for blocked in [
        "00000000000000000000.log.cleaned",
        "00000000000000000000.log.swap",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(dir.path(), config(0)).unwrap();
        for version in 0..100 {
            append(&log, &[update(0, version), update(1, version)], 1_000);
        }
        let before = read_all(&log);
        // A directory where the cleaner wants to put a file.
        std::fs::create_dir(dir.path().join(blocked)).unwrap();
        assert!(log.clean_now(&cleaner(), 2_000).is_err(), "{blocked}");
        assert_eq!(read_all(&log), before, "{blocked}");
        assert_eq!(log.cleaner.first_dirty_offset(), 0, "{blocked}");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".cleaned") && n != blocked)
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        drop(log);
        let log = PartitionLog::open(dir.path(), config(0)).unwrap();
        assert_eq!(read_all(&log), before, "{blocked}: reopened");
        std::fs::remove_dir(dir.path().join(blocked)).unwrap();
        log.clean_now(&cleaner(), 2_000).unwrap();
        assert_eq!(
            fold(&read_all(&log)),
            fold(&before),
            "{blocked}: cleaned at last"
        );
    }
}
