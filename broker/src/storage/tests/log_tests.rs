//! Round trips, lookups at every boundary, retention, rolling and flushing.

use std::time::Duration;

use super::*;
use crate::storage::{PartitionLog, StorageError};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The model of a partition: (base_offset, last_offset, stamped bytes) per batch.
pub(crate) type Model = Vec<(i64, i64, Vec<u8>)>;

/// Appends one batch and records it in the model.
pub(crate) fn append_one(
    log: &PartitionLog,
    model: &mut Model,
    records: i32,
    ts: i64,
    payload: usize,
) -> TestResult {
    let mut b = batch(records, ts, payload, model.len() as u8);
    let info = log.append(&mut b)?;
    assert_eq!(
        info.base_offset,
        model.last().map_or(log.log_start_offset(), |m| m.1 + 1)
    );
    assert_eq!(info.last_offset, info.base_offset + i64::from(records) - 1);
    model.push((info.base_offset, info.last_offset, b));
    Ok(())
}

/// Checks that every offset in the model reads back the batch containing it, and that a
/// large read returns whole, contiguous batches.
pub(crate) fn check_every_offset(log: &PartitionLog, model: &[(i64, i64, Vec<u8>)]) -> TestResult {
    for (i, (base, last, bytes)) in model.iter().enumerate() {
        for offset in *base..=*last {
            let one = log.read(offset, 1)?;
            assert_eq!(&one.records[..], &bytes[..], "offset {offset}");
            let many = batches_in(&log.read(offset, 4096)?.records);
            assert!(!many.is_empty());
            for (j, got) in many.iter().enumerate() {
                assert_eq!(
                    got.2,
                    model[i + j].2,
                    "batch {} after offset {offset}",
                    i + j
                );
            }
        }
    }
    Ok(())
}

#[test]
fn round_trip_across_many_rolls() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = PartitionLog::open(dir.path(), small_config(1024))?;
    let mut model = Model::new();
    for i in 0..120 {
        append_one(
            &log,
            &mut model,
            1 + (i % 4),
            1000 + i64::from(i),
            20 + (i as usize * 37) % 300,
        )?;
    }
    assert!(log.segment_count() > 10, "segments {}", log.segment_count());
    assert_eq!(log.high_watermark(), model.last().map_or(0, |m| m.1 + 1));
    assert_eq!(
        log.size_bytes(),
        model.iter().map(|m| m.2.len() as u64).sum::<u64>()
    );
    check_every_offset(&log, &model)
}

#[test]
fn one_append_of_many_batches_spans_segments() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = PartitionLog::open(dir.path(), small_config(1024))?;
    let mut buf = Vec::new();
    let mut sizes = Vec::new();
    for i in 0..20u8 {
        let b = batch(3, 5, 100 + usize::from(i) * 7, i);
        sizes.push(b.len());
        buf.extend_from_slice(&b);
    }
    let info = log.append(&mut buf)?;
    assert_eq!(
        (info.base_offset, info.last_offset, info.batch_count),
        (0, 59, 20)
    );
    assert!(log.segment_count() > 3);
    let mut model = Model::new();
    let mut at = 0;
    for (i, len) in sizes.iter().enumerate() {
        let base = 3 * i as i64;
        model.push((base, base + 2, buf[at..at + len].to_vec()));
        at += len;
    }
    check_every_offset(&log, &model)
}

#[test]
fn out_of_range_and_end_of_log() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = PartitionLog::open(dir.path(), small_config(1024))?;
    assert!(log.read(0, 100)?.records.is_empty());
    let mut model = Model::new();
    append_one(&log, &mut model, 5, 1, 50)?;
    let end = log.read(5, 100)?;
    assert!(end.records.is_empty());
    assert_eq!((end.high_watermark, end.log_start_offset), (5, 0));
    assert!(matches!(
        log.read(6, 100),
        Err(StorageError::OffsetOutOfRange {
            offset: 6,
            log_end_offset: 5,
            ..
        })
    ));
    assert!(matches!(
        log.read(-1, 100),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    Ok(())
}

#[test]
fn max_bytes_returns_whole_batches_and_at_least_one() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = PartitionLog::open(dir.path(), small_config(64 * 1024))?;
    let mut model = Model::new();
    for _ in 0..5 {
        append_one(&log, &mut model, 1, 1, 500)?;
    }
    let len = model[0].2.len();
    assert_eq!(log.read(0, 1)?.records.len(), len);
    assert_eq!(log.read(0, 2 * len + 1)?.records.len(), 2 * len);
    assert_eq!(log.read(0, 2 * len)?.records.len(), 2 * len);
    assert_eq!(log.read(2, usize::MAX)?.records.len(), 3 * len);
    Ok(())
}

#[test]
fn offset_for_timestamp_at_every_boundary() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = PartitionLog::open(dir.path(), small_config(1024))?;
    let mut model = Model::new();
    let mut stamps = Vec::new();
    for i in 0..80i64 {
        let ts = 1000 + 10 * i - if i % 7 == 3 { 45 } else { 0 };
        append_one(&log, &mut model, 2, ts, 60 + (i as usize % 5) * 40)?;
        stamps.push(ts);
    }
    for target in 900..1900 {
        let want = stamps
            .iter()
            .position(|&ts| ts >= target)
            .map(|i| (model[i].0, stamps[i]));
        assert_eq!(
            log.offset_for_timestamp(target)?,
            want,
            "timestamp {target}"
        );
    }
    Ok(())
}

#[test]
fn retention_by_bytes_keeps_the_newest_and_the_active_segment() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = LogConfig {
        retention_bytes: Some(2048),
        ..small_config(1024)
    };
    let log = PartitionLog::open(dir.path(), config)?;
    let mut model = Model::new();
    for _ in 0..40 {
        append_one(&log, &mut model, 1, 1, 200)?;
    }
    let before = log.segment_count();
    let report = log.enforce_retention(2)?;
    assert!(report.segments_deleted > 0 && log.segment_count() == before - report.segments_deleted);
    assert!(log.size_bytes() >= 2048 && log.size_bytes() < 2048 + 1024);
    assert_eq!(report.log_start_offset, log.log_start_offset());
    assert_eq!(log.segment_base_offsets()[0], log.log_start_offset());
    assert!(matches!(
        log.read(log.log_start_offset() - 1, 1),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    let kept: Vec<_> = model
        .iter()
        .filter(|m| m.0 >= log.log_start_offset())
        .cloned()
        .collect();
    check_every_offset(&log, &kept)?;
    assert_eq!(log.enforce_retention(2)?.segments_deleted, 0);
    drop(log);
    let reopened = PartitionLog::open(dir.path(), small_config(1024))?;
    assert_eq!(reopened.log_start_offset(), kept[0].0);
    check_every_offset(&reopened, &kept)
}

#[test]
fn retention_by_time_deletes_only_old_closed_segments() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = LogConfig {
        retention_ms: Some(1000),
        ..small_config(1024)
    };
    let log = PartitionLog::open(dir.path(), config)?;
    let mut model = Model::new();
    for i in 0..30 {
        // Appended when the records were made: the broker's clock is the record time.
        let ts = 10_000 + 100 * i;
        let mut b = batch(1, ts, 300, i as u8);
        let info = log.append_at(&mut b, ts)?;
        model.push((info.base_offset, info.last_offset, b));
    }
    // now = 12_000: segments whose newest batch is before 11_000 expire.
    let report = log.enforce_retention(12_000)?;
    assert!(report.segments_deleted > 0);
    let first_kept = model.iter().find(|m| m.0 == log.log_start_offset());
    let first_kept_ts = 10_000 + 100 * first_kept.map_or(0, |m| m.0);
    assert!(first_kept_ts >= 10_900, "kept from {first_kept_ts}");
    // Far in the future everything but the active segment goes.
    log.enforce_retention(1_000_000)?;
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.high_watermark(), 30);
    Ok(())
}

#[test]
fn segment_rolls_by_age_of_first_batch() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = LogConfig {
        segment_ms: 1000,
        ..small_config(1 << 20)
    };
    let log = PartitionLog::open(dir.path(), config)?;
    log.append_at(&mut batch(1, 5000, 10, 0), 5000)?;
    log.append_at(&mut batch(1, 5500, 10, 0), 5900)?;
    assert_eq!(log.segment_count(), 1);
    log.append_at(&mut batch(1, 6000, 10, 0), 6000)?;
    assert_eq!(log.segment_base_offsets(), vec![0, 2]);
    Ok(())
}

#[test]
fn a_compacted_log_rolls_by_max_compaction_lag_and_a_deleting_one_does_not() -> TestResult {
    use crate::storage::cleaner::{CleanupPolicy, CompactionConfig};
    let dir = tempfile::tempdir()?;
    let config = |policy| LogConfig {
        segment_ms: 1_000_000,
        compaction: CompactionConfig {
            policy,
            max_compaction_lag_ms: 1000,
            ..CompactionConfig::default()
        },
        ..small_config(1 << 20)
    };
    let compacted = PartitionLog::open(dir.path().join("c"), config(CleanupPolicy::Compact))?;
    let deleting = PartitionLog::open(dir.path().join("d"), config(CleanupPolicy::Delete))?;
    for log in [&compacted, &deleting] {
        log.append_at(&mut batch(1, 5000, 10, 0), 5000)?;
        log.append_at(&mut batch(1, 6000, 10, 0), 6000)?;
    }
    // The first record became older than max.compaction.lag.ms: it must be cleanable.
    assert_eq!(compacted.segment_base_offsets(), vec![0, 1]);
    assert_eq!(deleting.segment_count(), 1);
    Ok(())
}

#[test]
fn flush_policies() -> TestResult {
    let dir = tempfile::tempdir()?;
    let always = PartitionLog::open(
        dir.path().join("a"),
        LogConfig {
            flush: FlushPolicy::Always,
            ..small_config(1024)
        },
    )?;
    always.append(&mut batch(1, 1, 10, 0))?;
    assert!(!always.flush_if_due()?);
    let interval = FlushPolicy::Interval(Duration::from_millis(1));
    let every = PartitionLog::open(
        dir.path().join("b"),
        LogConfig {
            flush: interval,
            ..small_config(1024)
        },
    )?;
    every.append(&mut batch(1, 1, 10, 0))?;
    std::thread::sleep(Duration::from_millis(2));
    assert!(every.flush_if_due()?);
    assert!(!every.flush_if_due()?, "nothing new to flush");
    every.flush()?;
    Ok(())
}

#[test]
fn bad_appends_are_rejected_and_closed_logs_refuse_appends() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = PartitionLog::open(dir.path().join("p-0"), small_config(1024))?;
    assert!(matches!(
        log.append(&mut []),
        Err(StorageError::EmptyAppend { .. })
    ));
    let mut torn = batch(1, 1, 100, 0);
    torn.truncate(120);
    assert!(matches!(
        log.append(&mut torn),
        Err(StorageError::InvalidBatch { position: 0, .. })
    ));
    let mut big = batch(1, 1, 70 * 1024, 0);
    assert!(matches!(
        log.append(&mut big),
        Err(StorageError::InvalidBatch { .. })
    ));
    assert_eq!(log.high_watermark(), 0);
    log.close()?;
    assert!(matches!(
        log.append(&mut batch(1, 1, 1, 0)),
        Err(StorageError::Closed { .. })
    ));
    assert!(log.read(0, 10)?.records.is_empty());
    Ok(())
}

#[test]
fn delete_removes_the_directory() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("t-3");
    let log = PartitionLog::open(&path, small_config(1024))?;
    log.append(&mut batch(1, 1, 10, 0))?;
    log.close()?;
    log.delete()?;
    assert!(!path.exists());
    assert!(matches!(
        log.append(&mut batch(1, 1, 1, 0)),
        Err(StorageError::Closed { .. })
    ));
    Ok(())
}

/// A roll that fails fails the append without moving the log end; the log keeps serving
/// what it holds, refuses the appends that need the roll while it keeps failing, and
/// continues without a gap once it succeeds, across a reopen. Two failure points, each
/// made by a directory squatting on a file name (fails even for root; on a real disk,
/// ENOSPC or EMFILE): the new segment's log file, and the old segment's time index
/// (written when it is sealed, after its offset index).
#[test]
fn failed_roll_fails_the_append_and_the_next_roll_recovers() -> TestResult {
    for squat_on in ["new segment", "old time index"] {
        for flush in [FlushPolicy::Os, FlushPolicy::Always] {
            failed_roll_case(squat_on, flush)?;
        }
    }
    Ok(())
}

fn failed_roll_case(squat_on: &str, flush: FlushPolicy) -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = LogConfig {
        flush,
        ..small_config(1024)
    };
    let log = PartitionLog::open(dir.path(), config.clone())?;
    let mut model = Model::new();
    let mut stamps = Vec::new();
    // Fill the first segment until the next batch must roll.
    while log.size_bytes() + 300 <= 1024 {
        let ts = 1000 + model.len() as i64;
        append_one(&log, &mut model, 2, ts, 200)?;
        stamps.push(ts);
    }
    let next_base = log.log_end_offset();
    let squatter = match squat_on {
        "new segment" => dir.path().join(format!("{next_base:020}.log")),
        _ => dir.path().join(format!("{:020}.timeindex", 0)),
    };
    std::fs::create_dir(&squatter)?;
    for attempt in 0..3 {
        let mut b = batch(2, 5000, 200, 9);
        let err = log.append(&mut b).unwrap_err();
        assert!(
            matches!(err, StorageError::Io { .. }),
            "{squat_on}: {err:?}"
        );
        assert_eq!(log.log_end_offset(), next_base, "attempt {attempt}");
        assert_eq!(
            log.segment_count(),
            1,
            "{squat_on}: no half-made segment is listed"
        );
        assert_eq!(log.high_watermark(), next_base, "attempt {attempt}");
        check_every_offset(&log, &model)?;
    }
    std::fs::remove_dir(&squatter)?;
    for i in 0..6 {
        let ts = 2000 + i;
        append_one(&log, &mut model, 2, ts, 200)?;
        stamps.push(ts);
    }
    assert_eq!(
        model[stamps.len() - 6].0,
        next_base,
        "no gap after the failed rolls"
    );
    assert!(log.segment_count() >= 2);
    check_every_offset(&log, &model)?;
    log.close()?;
    drop(log);
    let log = PartitionLog::open(dir.path(), config)?;
    check_every_offset(&log, &model)?;
    for (i, &ts) in stamps.iter().enumerate() {
        assert_eq!(
            log.offset_for_timestamp(ts)?,
            Some((model[i].0, ts)),
            "timestamp {ts} after reopening"
        );
    }
    Ok(())
}

/// Raising `segment_bytes` on a live log (topic alter, config reload) takes effect at the
/// next roll: the active segment was sized for the old value, so it rolls when full by
/// that size instead of writing past its end.
#[test]
fn raising_segment_bytes_live_rolls_the_smaller_active_segment() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = PartitionLog::open(dir.path(), small_config(4096))?;
    let active_capacity = 64 * 1024; // max(segment_bytes, max_batch_bytes)
    log.set_config(LogConfig {
        segment_bytes: 1 << 20,
        ..small_config(4096)
    })?;
    let mut model = Model::new();
    let mut written = 0;
    while written < 3 * active_capacity {
        let ts = 1000 + model.len() as i64;
        append_one(&log, &mut model, 3, ts, 1000)?;
        written += model.last().map_or(0, |m| m.2.len());
    }
    assert!(
        log.segment_count() >= 2,
        "the first segment rolled when full"
    );
    check_every_offset(&log, &model)?;
    log.close()?;
    drop(log);
    let log = PartitionLog::open(dir.path(), small_config(4096))?;
    check_every_offset(&log, &model)
}

/// `batch` from an idempotent producer: id, epoch 0, base sequence `sequence`.
pub(super) fn idempotent_batch(records: i32, ts: i64, producer_id: i64, sequence: i32) -> Vec<u8> {
    let mut b = batch(records, ts, 50, sequence as u8);
    b[43..51].copy_from_slice(&producer_id.to_be_bytes());
    b[51..53].copy_from_slice(&0i16.to_be_bytes());
    b[53..57].copy_from_slice(&sequence.to_be_bytes());
    let crc = rill_protocol::batch::compute_crc(&b);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// Under `flush = always`, an append whose fsync fails is not made visible, not
/// acknowledged and not remembered as a duplicate; the log takes no more writes (a
/// retried fsync proves nothing) until it is reopened, and after reopening the producer's
/// retry lands exactly once.
#[test]
fn failed_fsync_stops_writes_and_the_retry_after_reopen_lands_once() -> TestResult {
    use crate::storage::segment::sync_faults;
    let dir = tempfile::tempdir()?;
    let config = LogConfig {
        flush: FlushPolicy::Always,
        ..small_config(1 << 20)
    };
    let log = PartitionLog::open(dir.path(), config.clone())?;
    log.append(&mut idempotent_batch(2, 1000, 7, 0))?;
    assert_eq!(log.high_watermark(), 2);

    sync_faults::fail_in(dir.path());
    let err = log
        .append(&mut idempotent_batch(3, 1001, 7, 2))
        .unwrap_err();
    sync_faults::heal(dir.path());
    assert!(matches!(err, StorageError::Io { .. }), "{err:?}");
    assert_eq!(
        log.high_watermark(),
        2,
        "nothing of the failed append is visible"
    );
    assert!(log.read(2, 4096)?.records.is_empty());
    for retry in [idempotent_batch(3, 1001, 7, 2), batch(1, 1002, 10, 1)] {
        let err = log.append(&mut retry.clone()).unwrap_err();
        assert!(matches!(err, StorageError::WritesStopped { .. }), "{err:?}");
    }
    assert!(log.flush_if_due().is_ok(), "housekeeping stays quiet");
    assert!(log.close().is_err(), "no clean checkpoint vouches for it");
    drop(log);

    let log = PartitionLog::open(dir.path(), config)?;
    let info = log.append(&mut idempotent_batch(3, 1001, 7, 2))?;
    assert_eq!((info.base_offset, info.last_offset), (2, 4));
    assert_eq!(
        log.high_watermark(),
        5,
        "the retried batch is in the log once"
    );
    let all = batches_in(&log.read(0, 1 << 20)?.records);
    assert_eq!(
        all.iter().map(|b| (b.0, b.1)).collect::<Vec<_>>(),
        [(0, 1), (2, 4)]
    );
    Ok(())
}
