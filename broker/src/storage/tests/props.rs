//! Property test: random operation sequences against a `Vec` of batches as the model.

use proptest::prelude::*;

use super::log_tests::Model;
use super::*;
use crate::storage::PartitionLog;

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[derive(Debug, Clone)]
enum Op {
    /// Append these batches (record count, payload bytes) in one call.
    Append(Vec<(i32, usize)>),
    /// Read at `lso + seed % (hw - lso + 1)` with this byte budget.
    Read(u32, usize),
    ReopenClean,
    ReopenCrash,
    Retention,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec((1i32..5, 0usize..400), 1..4).prop_map(Op::Append),
        4 => (any::<u32>(), 1usize..1500).prop_map(|(s, m)| Op::Read(s, m)),
        1 => Just(Op::ReopenClean),
        1 => Just(Op::ReopenCrash),
        1 => Just(Op::Retention),
    ]
}

fn config() -> LogConfig {
    LogConfig {
        retention_bytes: Some(1500),
        ..small_config(700)
    }
}

fn check_read(log: &PartitionLog, model: &Model, seed: u32, max_bytes: usize) -> TestResult {
    let (lso, hw) = (log.log_start_offset(), log.high_watermark());
    let offset = lso + i64::from(seed) % (hw - lso + 1);
    let read = log.read(offset, max_bytes)?;
    let got = batches_in(&read.records);
    let Some(first) = model.iter().position(|m| m.1 >= offset) else {
        assert!(got.is_empty(), "read past the end returned data");
        return Ok(());
    };
    assert!(!got.is_empty(), "no batch at offset {offset}");
    assert!(read.records.len() <= max_bytes.max(got[0].2.len()));
    for (j, batch) in got.iter().enumerate() {
        assert_eq!(batch.2, model[first + j].2);
    }
    Ok(())
}

fn apply(log: &mut PartitionLog, model: &mut Model, op: &Op, dir: &std::path::Path) -> TestResult {
    match op {
        Op::Append(batches) => {
            let mut buf = Vec::new();
            let mut lens = Vec::new();
            for (i, &(records, payload)) in batches.iter().enumerate() {
                let b = batch(records, model.len() as i64 + i as i64, payload, i as u8);
                lens.push((records, b.len()));
                buf.extend_from_slice(&b);
            }
            let info = log.append(&mut buf)?;
            let mut at = 0;
            let mut base = info.base_offset;
            for (records, len) in lens {
                model.push((
                    base,
                    base + i64::from(records) - 1,
                    buf[at..at + len].to_vec(),
                ));
                base += i64::from(records);
                at += len;
            }
        }
        Op::Read(seed, max_bytes) => check_read(log, model, *seed, *max_bytes)?,
        Op::ReopenClean => {
            log.close()?;
            *log = PartitionLog::open(dir, config())?;
        }
        Op::ReopenCrash => *log = PartitionLog::open(dir, config())?,
        Op::Retention => {
            let report = log.enforce_retention(0)?;
            model.retain(|m| m.0 >= report.log_start_offset);
        }
    }
    let end = model.last().map_or(log.log_start_offset(), |m| m.1 + 1);
    assert_eq!(log.high_watermark(), end);
    assert_eq!(log.log_start_offset(), model.first().map_or(end, |m| m.0));
    Ok(())
}

fn run(ops: &[Op]) -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = PartitionLog::open(dir.path(), config())?;
    let mut model = Model::new();
    for op in ops {
        apply(&mut log, &mut model, op, dir.path())?;
    }
    super::log_tests::check_every_offset(&log, &model)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_model(ops in prop::collection::vec(op(), 1..30)) {
        let result = run(&ops);
        prop_assert!(result.is_ok(), "{:?}", result);
    }
}
