//! One appender, several readers: readers never see a torn batch or a byte past the high
//! watermark, and `wait_for_data` wakes on append.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::storage::PartitionLog;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn reader(log: &PartitionLog, done: &AtomicBool, mut seed: u64) -> Result<usize, String> {
    let mut reads = 0;
    while !done.load(Ordering::Acquire) || reads < 100 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let (lso, hw) = (log.log_start_offset(), log.high_watermark());
        let offset = lso + (seed >> 33) as i64 % (hw - lso + 1);
        let read = log.read(offset, 3000).map_err(|e| e.to_string())?;
        let batches = batches_in(&read.records);
        if let Some(first) = batches.first() {
            assert!(
                first.0 <= offset && offset <= first.1,
                "offset {offset} not in the first batch"
            );
        }
        for pair in batches.windows(2) {
            assert_eq!(pair[0].1 + 1, pair[1].0, "offsets not contiguous");
        }
        if let Some(last) = batches.last() {
            assert!(last.1 < read.high_watermark, "read past the high watermark");
        }
        reads += 1;
    }
    Ok(reads)
}

#[test]
fn concurrent_readers_never_see_torn_batches() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = Arc::new(PartitionLog::open(dir.path(), small_config(4096))?);
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2u64)
        .map(|i| {
            let (log, done) = (Arc::clone(&log), Arc::clone(&done));
            std::thread::spawn(move || reader(&log, &done, i))
        })
        .collect();
    for i in 0..1500u32 {
        log.append(&mut batch(
            1 + (i % 5) as i32,
            i64::from(i),
            (i as usize * 31) % 900,
            i as u8,
        ))?;
    }
    done.store(true, Ordering::Release);
    for handle in readers {
        let reads = handle.join().map_err(|_| "reader panicked")??;
        assert!(reads >= 100);
    }
    Ok(())
}

#[tokio::test]
async fn wait_for_data_wakes_on_append() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = Arc::new(PartitionLog::open(dir.path(), small_config(4096))?);
    let waiter = {
        let log = Arc::clone(&log);
        tokio::spawn(async move { log.wait_for_data(0).await })
    };
    tokio::task::yield_now().await;
    log.append(&mut batch(1, 1, 10, 0))?;
    tokio::time::timeout(Duration::from_secs(5), waiter).await??;
    tokio::time::timeout(Duration::from_secs(5), log.wait_for_data(0)).await?;
    Ok(())
}
