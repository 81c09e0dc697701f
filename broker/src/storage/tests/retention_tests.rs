//! Time retention counts a batch's age from the later of its `max_timestamp` and the
//! time the broker appended it, before and after a restart.

type TestResult = Result<(), Box<dyn std::error::Error>>;
use super::{batch, small_config};
use crate::storage::{now_ms, LogConfig, PartitionLog};

const HOUR_MS: i64 = 60 * 60 * 1000;

fn config() -> LogConfig {
    LogConfig {
        retention_ms: Some(HOUR_MS as u64),
        ..small_config(1024)
    }
}

/// Appends `count` one-record batches whose client timestamp is `ts`, at `append_ms`.
fn append_old(log: &PartitionLog, count: usize, ts: i64, append_ms: i64) -> TestResult {
    for i in 0..count {
        log.append_at(&mut batch(1, ts, 300, i as u8), append_ms)?;
    }
    Ok(())
}

#[test]
fn old_client_timestamps_appended_now_are_kept_for_the_retention_window() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = PartitionLog::open(dir.path(), config())?;
    let now = now_ms();
    // Records from 1970 (a replay, a producer with a broken clock), appended now.
    append_old(&log, 20, 1_000, now)?;
    let segments = log.segment_count();
    assert!(segments > 2, "the test needs closed segments");
    let report = log.enforce_retention(now + HOUR_MS / 2)?;
    assert_eq!(report.segments_deleted, 0, "appended within the window");
    assert_eq!(log.log_start_offset(), 0);
    // Once the append time, too, is older than the window, they go.
    let report = log.enforce_retention(now + 2 * HOUR_MS)?;
    assert_eq!(report.segments_deleted, segments - 1);
    Ok(())
}

#[test]
fn the_append_time_survives_a_restart() -> TestResult {
    let dir = tempfile::tempdir()?;
    let now = now_ms();
    let segments = {
        let log = PartitionLog::open(dir.path(), config())?;
        append_old(&log, 20, 1_000, now)?;
        let segments = log.segment_count();
        log.close()?;
        segments
    };
    let log = PartitionLog::open(dir.path(), config())?;
    assert_eq!(log.segment_count(), segments);
    let report = log.enforce_retention(now + HOUR_MS / 2)?;
    assert_eq!(report.segments_deleted, 0, "kept after a restart too");
    let report = log.enforce_retention(now + 2 * HOUR_MS)?;
    assert_eq!(report.segments_deleted, segments - 1);
    Ok(())
}

#[test]
fn new_client_timestamps_appended_long_ago_are_kept_too() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = PartitionLog::open(dir.path(), config())?;
    let now = now_ms();
    // Appended two hours ago (by the broker's clock), stamped with a recent time.
    append_old(&log, 20, now, now - 2 * HOUR_MS)?;
    assert_eq!(log.enforce_retention(now)?.segments_deleted, 0);
    Ok(())
}
