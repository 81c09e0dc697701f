//! Durability: group commit under `flush = always`, fsyncs off the writer lock, failed
//! flushes and rolls, and a recovery checkpoint that vouches only for fsynced segments.
//! Uses `sync_faults` to make a directory's segment fsyncs slow, failing or counted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::storage::checkpoint;
use crate::storage::segment::sync_faults;
use crate::storage::{PartitionLog, StorageError};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn log_with(dir: &std::path::Path, flush: FlushPolicy) -> Result<PartitionLog, StorageError> {
    PartitionLog::open(
        dir,
        LogConfig {
            flush,
            ..small_config(1024)
        },
    )
}

/// Waits (with a deadline) until `ready` holds.
fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Appends 300-byte batches until the log has rolled `rolls` times.
fn append_until_rolled(log: &PartitionLog, rolls: usize) -> TestResult {
    let target = log.segment_count() + rolls;
    while log.segment_count() < target {
        log.append(&mut batch(1, 1000, 300, 1))?;
    }
    Ok(())
}

/// Eight threads appending to one `flush = always` log share fsyncs: far fewer fsyncs
/// than appends, and every append is readable once it returns.
#[test]
fn concurrent_appends_share_one_fsync() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = Arc::new(PartitionLog::open(
        dir.path(),
        LogConfig {
            flush: FlushPolicy::Always,
            ..small_config(1 << 20)
        },
    )?);
    sync_faults::count_in(dir.path());
    sync_faults::slow_in(dir.path(), Duration::from_millis(3));
    const THREADS: usize = 8;
    const APPENDS: usize = 20;
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || -> Result<(), StorageError> {
                for _ in 0..APPENDS {
                    let info = log.append(&mut batch(1, 1000, 40, t as u8))?;
                    assert!(
                        log.high_watermark() > info.last_offset,
                        "acked means visible"
                    );
                    assert!(!log.read(info.base_offset, 1)?.records.is_empty());
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().expect("appender")?;
    }
    let appends = (THREADS * APPENDS) as u64;
    assert_eq!(log.high_watermark(), appends as i64);
    let syncs = sync_faults::syncs_in(dir.path());
    assert!(
        syncs * 2 <= appends,
        "{syncs} fsyncs for {appends} concurrent appends: no group commit"
    );
    Ok(())
}

/// An interval flush fsyncs without the writer lock: an append made while that fsync is
/// slow completes before the flush does.
#[test]
fn appends_do_not_wait_for_an_interval_flush() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = Arc::new(log_with(
        dir.path(),
        FlushPolicy::Interval(Duration::from_millis(1)),
    )?);
    log.append(&mut batch(1, 1000, 40, 0))?;
    std::thread::sleep(Duration::from_millis(2));
    sync_faults::count_in(dir.path());
    sync_faults::slow_in(dir.path(), Duration::from_millis(500));
    let flusher = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || log.flush_if_due())
    };
    wait_until("the flush is inside its fsync", || {
        sync_faults::syncs_in(dir.path()) > 0
    });
    log.append(&mut batch(1, 1000, 40, 1))?;
    assert!(
        !flusher.is_finished(),
        "the append waited for the flush's fsync"
    );
    assert!(flusher.join().expect("flusher")?, "it flushed");
    assert_eq!(log.high_watermark(), 2);
    Ok(())
}

/// A failed interval flush stops the log's writes, as a failed fsync under `always` does:
/// the dirty pages may be gone, and a retried fsync would prove nothing.
#[test]
fn failed_interval_flush_stops_writes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = log_with(dir.path(), FlushPolicy::Interval(Duration::from_millis(1)))?;
    log.append(&mut batch(1, 1000, 40, 0))?;
    std::thread::sleep(Duration::from_millis(2));
    sync_faults::fail_in(dir.path());
    let flushed = log.flush_if_due();
    sync_faults::heal(dir.path());
    assert!(
        matches!(flushed, Err(StorageError::Io { .. })),
        "{flushed:?}"
    );
    let err = log.append(&mut batch(1, 1000, 40, 1)).unwrap_err();
    assert!(matches!(err, StorageError::WritesStopped { .. }), "{err:?}");
    assert_eq!(log.high_watermark(), 1, "what was appended stays readable");
    Ok(())
}

/// Under `flush = os` a sealed segment is fsynced in the background; the recovery
/// checkpoint lists it only once that fsync succeeded, never before or after a failure.
#[test]
fn checkpoint_lists_a_sealed_segment_only_once_fsynced() -> TestResult {
    let failing = tempfile::tempdir()?;
    let log = log_with(failing.path(), FlushPolicy::Os)?;
    sync_faults::count_in(failing.path());
    sync_faults::fail_in(failing.path());
    append_until_rolled(&log, 1)?;
    wait_until("the background fsync ran", || {
        sync_faults::syncs_in(failing.path()) > 0
    });
    log.flush_if_due()?;
    sync_faults::heal(failing.path());
    let listed = checkpoint::read(failing.path())?.map(|c| c.segments);
    assert_eq!(
        listed,
        Some(vec![]),
        "an unsynced segment is not vouched for"
    );

    let healthy = tempfile::tempdir()?;
    let log = log_with(healthy.path(), FlushPolicy::Os)?;
    append_until_rolled(&log, 1)?;
    let sealed = Arc::clone(&log.snapshot()[0]);
    wait_until("the sealed segment is synced", || sealed.is_synced());
    log.flush_if_due()?;
    let listed = checkpoint::read(healthy.path())?.map(|c| c.segments.len());
    assert_eq!(listed, Some(1), "a synced segment is vouched for");
    Ok(())
}

/// A clean close fsyncs every segment its checkpoint vouches for, sealed segments whose
/// background fsync failed included.
#[test]
fn clean_close_fsyncs_every_segment_it_vouches_for() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = log_with(dir.path(), FlushPolicy::Os)?;
    sync_faults::count_in(dir.path());
    sync_faults::fail_in(dir.path());
    append_until_rolled(&log, 2)?;
    wait_until("both background fsyncs ran", || {
        sync_faults::syncs_in(dir.path()) >= 2
    });
    sync_faults::heal(dir.path());
    // Let the failed background syncs finish before counting the close's own.
    std::thread::sleep(Duration::from_millis(20));
    let before = sync_faults::syncs_in(dir.path());
    log.close()?;
    let synced_by_close = sync_faults::syncs_in(dir.path()) - before;
    assert!(
        synced_by_close >= 3,
        "close fsynced {synced_by_close} segments of 3"
    );
    let clean = checkpoint::read(dir.path())?.ok_or("no checkpoint")?;
    assert!(clean.clean);
    assert_eq!(clean.segments.len(), 3);
    Ok(())
}

/// Under `flush = always`, an append whose roll fails publishes nothing: the batch it
/// wrote before the roll is not fsynced, so no reader may see it. The next append's
/// fsync covers it, and the log continues without a gap.
#[test]
fn failed_roll_under_always_publishes_nothing_unsynced() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = log_with(dir.path(), FlushPolicy::Always)?;
    log.append(&mut batch(2, 1000, 300, 0))?;
    let before = log.high_watermark();
    // One append of two batches: the first fits the active segment, the second rolls.
    let mut two = batch(3, 1001, 300, 1);
    two.extend_from_slice(&batch(1, 1002, 600, 2));
    let next_base = before + 3;
    let squatter = dir.path().join(format!("{next_base:020}.log"));
    std::fs::create_dir(&squatter)?;
    let err = log.append(&mut two).unwrap_err();
    assert!(matches!(err, StorageError::Io { .. }), "{err:?}");
    assert_eq!(
        log.high_watermark(),
        before,
        "nothing unsynced is published by a failed roll"
    );
    std::fs::remove_dir(&squatter)?;
    let info = log.append(&mut batch(1, 1003, 600, 3))?;
    assert_eq!(info.base_offset, next_base, "no gap");
    assert_eq!(log.high_watermark(), next_base + 1);
    let all = batches_in(&log.read(0, 1 << 20)?.records);
    assert_eq!(all.iter().map(|b| b.0).collect::<Vec<_>>(), [0, 2]);
    Ok(())
}

/// The append a tokio worker runs itself never waits for the writer lock, never rolls
/// and never fsyncs: it hands those appends back untouched, for a blocking thread.
#[test]
fn inline_append_declines_rolls_fsyncs_and_a_busy_lock() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = log_with(dir.path(), FlushPolicy::Os)?;
    let info = log.try_append_inline(&mut batch(1, 1000, 300, 0))?;
    assert_eq!(
        info.map(|i| i.base_offset),
        Some(0),
        "a plain append runs inline"
    );
    while log.size_bytes() + 2 * 330 <= 1024 {
        assert!(log
            .try_append_inline(&mut batch(1, 1000, 300, 0))?
            .is_some());
    }
    let original = batch(1, 1000, 300, 7);
    let mut rolling = original.clone();
    rolling.extend_from_slice(&batch(1, 1000, 300, 8));
    let untouched = rolling.clone();
    assert!(
        log.try_append_inline(&mut rolling)?.is_none(),
        "needs a roll"
    );
    assert_eq!(rolling, untouched, "a declined append is not stamped");
    assert_eq!(log.segment_count(), 1);
    {
        let _busy = log.writer.lock().unwrap_or_else(|p| p.into_inner());
        assert!(
            log.try_append_inline(&mut original.clone())?.is_none(),
            "lock busy"
        );
    }
    log.append(&mut rolling)?;
    assert_eq!(log.segment_count(), 2, "the blocking append rolled");

    let always = log_with(&dir.path().join("always"), FlushPolicy::Always)?;
    assert!(always
        .try_append_inline(&mut batch(1, 1000, 30, 0))?
        .is_none());
    assert_eq!(always.high_watermark(), 0);
    Ok(())
}
