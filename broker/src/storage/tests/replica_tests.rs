//! The replicated partition's log operations: appends without fsyncs, copied batches,
//! cutting back across segment boundaries, starting over, and syncing everything.

use super::log_tests::{append_one, check_every_offset, idempotent_batch, Model};
use super::*;
use crate::storage::segment::sync_faults;
use crate::storage::{PartitionLog, StorageError};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A log of `count` batches of 3 records over segments of about 1 KiB.
fn filled(
    dir: &std::path::Path,
    count: usize,
) -> Result<(PartitionLog, Model), Box<dyn std::error::Error>> {
    let log = PartitionLog::open(dir, small_config(1024))?;
    let mut model = Model::new();
    for i in 0..count {
        append_one(&log, &mut model, 3, 1_000 + i as i64, 150)?;
    }
    Ok((log, model))
}

#[test]
fn replicated_appends_never_fsync_even_under_flush_always() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = LogConfig {
        flush: FlushPolicy::Always,
        ..small_config(1024)
    };
    let log = PartitionLog::open(dir.path(), config)?;
    // Every fsync fails: an ordinary append under `flush = always` would fail and stop
    // the log; replicated appends never fsync, so they all succeed.
    sync_faults::fail_in(dir.path());
    let mut model = Model::new();
    for i in 0..20 {
        let mut b = batch(2, 5_000 + i, 200, i as u8);
        let info = log.append_replicated(&mut b, 7_000)?;
        assert_eq!(info.base_offset, i * 2);
        assert_eq!(info.log_append_time_ms, 7_000);
        model.push((info.base_offset, info.last_offset, b));
    }
    assert!(log.segment_count() > 3, "the appends rolled segments");
    assert_eq!(log.high_watermark(), 40, "visible without an fsync");
    check_every_offset(&log, &model)?;
    // `sync` is where the fsyncs happen.
    assert!(log.sync().is_err(), "sync fsyncs, and fails here");
    sync_faults::heal(dir.path());
    drop(log);
    let reopened = PartitionLog::open(dir.path(), small_config(1024))?;
    check_every_offset(&reopened, &model)?;
    Ok(())
}

#[test]
fn replicated_appends_check_sequences_like_ordinary_ones() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = PartitionLog::open(dir.path(), small_config(4096))?;
    let first = log.append_replicated(&mut idempotent_batch(2, 1, 9, 0), 1)?;
    let retry = log.append_replicated(&mut idempotent_batch(2, 1, 9, 0), 2)?;
    assert!(retry.duplicate);
    assert_eq!(retry.base_offset, first.base_offset);
    let gap = log.append_replicated(&mut idempotent_batch(2, 1, 9, 5), 3);
    assert!(matches!(gap, Err(StorageError::Sequence { .. })), "{gap:?}");
    assert_eq!(log.log_end_offset(), 2);
    Ok(())
}

#[test]
fn truncate_to_cuts_across_segments_and_appends_continue() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (log, mut model) = filled(dir.path(), 40)?;
    let bases = log.segment_base_offsets();
    assert!(bases.len() > 4, "{bases:?}");
    // A reader's bytes from before the cut stay readable (old files are never shortened).
    let held = log.read(model[35].0, 1)?.records;
    // Cut inside the second segment, at a batch boundary that is not its first batch.
    let cut_at = model
        .iter()
        .position(|m| m.0 > bases[1] && m.0 < bases[2])
        .ok_or("no batch inside the second segment")?;
    let offset = model[cut_at].0;
    log.truncate_to(offset)?;
    model.truncate(cut_at);
    assert_eq!(log.log_end_offset(), offset);
    assert_eq!(log.high_watermark(), offset);
    assert_eq!(log.segment_base_offsets(), bases[..2].to_vec());
    assert_eq!(&held[..], &batches_in(&held)[0].2[..]);
    check_every_offset(&log, &model)?;
    assert!(
        log.read(offset, 1)?.records.is_empty(),
        "nothing past the cut"
    );
    assert!(matches!(
        log.read(offset + 1, 1),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    for i in 0..10 {
        append_one(&log, &mut model, 3, 9_000 + i, 150)?;
    }
    check_every_offset(&log, &model)?;
    drop(log);
    let reopened = PartitionLog::open(dir.path(), small_config(1024))?;
    assert_eq!(reopened.recovery_truncated_bytes(), 0);
    check_every_offset(&reopened, &model)?;
    Ok(())
}

#[test]
fn truncate_to_a_segment_base_and_to_the_log_start() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (log, mut model) = filled(dir.path(), 30)?;
    let bases = log.segment_base_offsets();
    log.truncate_to(bases[2])?;
    let kept = model.iter().take_while(|m| m.0 < bases[2]).count();
    model.truncate(kept);
    assert_eq!(log.log_end_offset(), bases[2]);
    check_every_offset(&log, &model)?;
    append_one(&log, &mut model, 3, 1, 150)?;
    check_every_offset(&log, &model)?;
    log.truncate_to(0)?;
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.segment_count(), 1);
    let mut model = Model::new();
    append_one(&log, &mut model, 3, 1, 150)?;
    check_every_offset(&log, &model)?;
    drop(log);
    check_every_offset(&PartitionLog::open(dir.path(), small_config(1024))?, &model)?;
    Ok(())
}

#[test]
fn truncate_to_refuses_offsets_inside_batches_or_out_of_range() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (log, model) = filled(dir.path(), 10)?;
    let inside = model[4].0 + 1;
    assert!(matches!(
        log.truncate_to(inside),
        Err(StorageError::NotBatchBoundary { .. })
    ));
    assert!(matches!(
        log.truncate_to(log.log_end_offset() + 3),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    log.truncate_to(log.log_end_offset())?;
    check_every_offset(&log, &model)?;
    Ok(())
}

#[test]
fn truncate_to_rebuilds_producer_state() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = PartitionLog::open(dir.path(), small_config(4096))?;
    log.append_replicated(&mut idempotent_batch(2, 1, 9, 0), 1)?;
    let second = log.append_replicated(&mut idempotent_batch(2, 1, 9, 2), 1)?;
    log.truncate_to(second.base_offset)?;
    // The cut batch is no longer known: its retry is a new append, not a duplicate.
    let again = log.append_replicated(&mut idempotent_batch(2, 1, 9, 2), 2)?;
    assert!(!again.duplicate);
    assert_eq!(again.base_offset, second.base_offset);
    Ok(())
}

#[test]
fn reset_to_starts_an_empty_log_at_the_offset() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (log, _) = filled(dir.path(), 12)?;
    log.reset_to(500)?;
    assert_eq!(log.log_start_offset(), 500);
    assert_eq!(log.log_end_offset(), 500);
    assert_eq!(log.segment_base_offsets(), vec![500]);
    assert!(matches!(
        log.read(10, 100),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    let mut model = Model::new();
    append_one(&log, &mut model, 3, 1, 100)?;
    assert_eq!(model[0].0, 500);
    drop(log);
    let reopened = PartitionLog::open(dir.path(), small_config(1024))?;
    assert_eq!(reopened.log_start_offset(), 500);
    check_every_offset(&reopened, &model)?;
    Ok(())
}

#[test]
fn copied_batches_keep_their_offsets_and_must_continue_the_log() -> TestResult {
    let source_dir = tempfile::tempdir()?;
    let (source, model) = filled(source_dir.path(), 25)?;
    let dir = tempfile::tempdir()?;
    let copy = PartitionLog::open(dir.path(), small_config(1024))?;
    // Not the log's end: refused, nothing written.
    let late = source.read(model[3].0, 1)?.records;
    assert!(matches!(
        copy.append_copied(&late),
        Err(StorageError::NotContinuing { .. })
    ));
    // A flipped byte: refused.
    let mut damaged = source.read(0, 1)?.records.to_vec();
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    assert!(matches!(
        copy.append_copied(&damaged),
        Err(StorageError::InvalidBatch { .. })
    ));
    assert_eq!(copy.log_end_offset(), 0);
    let mut offset = 0;
    while offset < source.log_end_offset() {
        let chunk = source.read(offset, 700)?.records;
        let info = copy.append_copied(&chunk)?;
        assert_eq!(info.base_offset, offset);
        offset = info.last_offset + 1;
    }
    check_every_offset(&copy, &model)?;
    Ok(())
}

mod props {
    //! Random appends, cuts, resets, retention and reopens against a `Vec` model.

    use proptest::prelude::*;

    use super::super::log_tests::{check_every_offset, Model};
    use super::super::*;
    use crate::storage::PartitionLog;

    #[derive(Debug, Clone)]
    enum Op {
        /// Append batches of (records, payload bytes) as one replicated write.
        Append(Vec<(i32, usize)>),
        /// Cut back to the boundary of batch `seed % (batches + 1)`.
        Truncate(u16),
        /// Start over empty at the log end plus this.
        Reset(u8),
        Retention,
        Reopen,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => prop::collection::vec((1i32..4, 0usize..300), 1..4).prop_map(Op::Append),
            2 => any::<u16>().prop_map(Op::Truncate),
            1 => any::<u8>().prop_map(Op::Reset),
            1 => Just(Op::Retention),
            1 => Just(Op::Reopen),
        ]
    }

    fn config() -> LogConfig {
        LogConfig {
            retention_bytes: Some(2000),
            ..small_config(700)
        }
    }

    fn apply(log: &mut PartitionLog, model: &mut Model, op: &Op, dir: &std::path::Path) {
        match op {
            Op::Append(batches) => {
                let mut buf = Vec::new();
                let mut lens = Vec::new();
                for (i, &(records, payload)) in batches.iter().enumerate() {
                    let b = batch(records, 10 + i as i64, payload, model.len() as u8);
                    lens.push((records, b.len()));
                    buf.extend_from_slice(&b);
                }
                let info = log.append_replicated(&mut buf, 1_000).unwrap();
                assert_eq!(info.base_offset, log_end(log, model, info.base_offset));
                let (mut at, mut base) = (0, info.base_offset);
                for (records, len) in lens {
                    let last = base + i64::from(records) - 1;
                    model.push((base, last, buf[at..at + len].to_vec()));
                    base = last + 1;
                    at += len;
                }
            }
            Op::Truncate(seed) => {
                let at = usize::from(*seed) % (model.len() + 1);
                let offset = model.get(at).map_or(log.log_end_offset(), |m| m.0);
                log.truncate_to(offset).unwrap();
                model.truncate(at);
                assert_eq!(log.log_end_offset(), offset);
            }
            Op::Reset(gap) => {
                let offset = log.log_end_offset() + i64::from(*gap);
                log.reset_to(offset).unwrap();
                model.clear();
                assert_eq!(log.log_start_offset(), offset);
            }
            Op::Retention => {
                let report = log.enforce_retention(i64::MAX).unwrap();
                model.retain(|m| m.0 >= report.log_start_offset);
            }
            Op::Reopen => {
                *log = PartitionLog::open(dir, config()).unwrap();
            }
        }
    }

    /// Where the model says the log ends (the log's own start when the model is empty).
    fn log_end(log: &PartitionLog, model: &Model, otherwise: i64) -> i64 {
        model
            .last()
            .map_or_else(|| otherwise.max(log.log_start_offset()), |m| m.1 + 1)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn cuts_and_resets_behave_like_a_vec(ops in prop::collection::vec(op(), 1..30)) {
            let dir = tempfile::tempdir().unwrap();
            let mut log = PartitionLog::open(dir.path(), config()).unwrap();
            let mut model = Model::new();
            for op in &ops {
                apply(&mut log, &mut model, op, dir.path());
                check_every_offset(&log, &model).unwrap();
                let end = model.last().map_or(log.log_start_offset(), |m| m.1 + 1);
                prop_assert_eq!(log.log_end_offset(), end);
            }
            drop(log);
            let log = PartitionLog::open(dir.path(), config()).unwrap();
            check_every_offset(&log, &model).unwrap();
        }
    }
}
