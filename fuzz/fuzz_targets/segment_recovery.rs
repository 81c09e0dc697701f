//! The segment recovery scanner: arbitrary bytes as a segment `.log` file, opened as a
//! `PartitionLog`.
//!
//! Input: `flags u8 | log_end_offset i64 | index_len u8 | time_index_len u8 | index |
//! time index | log`. Flags: bit 0 rewrites CRCs to match, bit 1 also stamps contiguous
//! base offsets (see `rill_fuzz::fix_up_batches`), bit 2 writes a clean recovery
//! checkpoint vouching for the file (with that log end offset), bit 3 writes the index
//! files. Checks: opening never fails; without a checkpoint every served batch is whole,
//! CRC-valid and contiguous up to the high watermark; an append afterwards continues at
//! the high watermark; a clean close and reopen keeps the same log.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rill_broker::storage::checkpoint::{self, Checkpoint, CheckpointEntry};
use rill_broker::storage::segment::SegmentPaths;
use rill_broker::storage::{FlushPolicy, LogConfig, PartitionLog};
use rill_fuzz::fix_up_batches;
use rill_protocol::batch::{BatchBuilder, BatchIter, Compression, RecordInput};

/// Bytes asked for per read.
const READ_BYTES: usize = 1 << 20;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 64 * 1024,
        max_batch_bytes: 64 * 1024,
        index_interval_bytes: 256,
        flush: FlushPolicy::Os,
        retention_ms: None,
        ..LogConfig::default()
    }
}

/// Reads the whole log; with `check`, asserts every served batch is valid and contiguous.
/// Returns the concatenated served bytes.
fn read_all(log: &PartitionLog, check: bool) -> Vec<u8> {
    let mut offset = log.log_start_offset();
    let mut served = Vec::new();
    while offset < log.high_watermark() {
        let read = match log.read(offset, READ_BYTES) {
            Ok(read) => read,
            Err(e) => {
                assert!(!check, "read at {offset} failed: {e}");
                return served;
            }
        };
        if read.records.is_empty() {
            assert!(!check, "empty read at {offset} below the high watermark");
            return served;
        }
        served.extend_from_slice(&read.records);
        let mut batches = BatchIter::new(read.records.clone(), usize::MAX);
        for batch in batches.by_ref() {
            let batch = match batch {
                Ok(batch) => batch,
                Err(e) => {
                    assert!(!check, "served a corrupt batch at {offset}: {e}");
                    return served;
                }
            };
            if check {
                assert_eq!(batch.header().base_offset, offset, "offsets are contiguous");
            }
            offset = batch.header().next_offset();
        }
        assert!(!check || batches.remaining() == 0, "served a partial batch");
        if !check && batches.position() == 0 {
            return served;
        }
    }
    served
}

fuzz_target!(|data: &[u8]| {
    let [flags, leo @ .., index_len, time_index_len] = data.get(..11).unwrap_or_default() else {
        return;
    };
    let log_end_offset = i64::from_be_bytes(leo.try_into().unwrap_or_default());
    let rest = &data[11..];
    let (index, rest) = rest.split_at(usize::from(*index_len).min(rest.len()));
    let (time_index, log_bytes) = rest.split_at(usize::from(*time_index_len).min(rest.len()));
    let mut log_bytes = log_bytes.to_vec();
    if flags & 1 == 1 {
        fix_up_batches(&mut log_bytes, (flags & 2 == 2).then_some(0));
    }
    let trusted = flags & 4 == 4;

    let shm = std::path::Path::new("/dev/shm");
    let tmp = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    };
    let tmp = tmp.expect("temporary directory");
    let dir = tmp.path().join("t-0");
    std::fs::create_dir_all(&dir).expect("partition directory");
    let paths = SegmentPaths::new(&dir, 0);
    std::fs::write(&paths.log, &log_bytes).expect("write segment");
    if flags & 8 == 8 {
        std::fs::write(&paths.index, index).expect("write index");
        std::fs::write(&paths.time_index, time_index).expect("write time index");
    }
    if trusted {
        let entry = CheckpointEntry {
            base_offset: 0,
            size_bytes: log_bytes.len() as u64,
        };
        let clean = Checkpoint {
            clean: true,
            log_end_offset,
            segments: vec![entry],
        };
        checkpoint::write(&dir, &clean).expect("write checkpoint");
    }

    let log = PartitionLog::open(&dir, config()).expect("recovery never refuses a segment");
    let before = read_all(&log, !trusted);
    let high_watermark = log.high_watermark();
    let mut builder = BatchBuilder::new(Compression::None);
    builder
        .append(&RecordInput::new(1, "after recovery"))
        .expect("record");
    let mut batch = builder.build().expect("batch").to_vec();
    if let Ok(info) = log.append(&mut batch) {
        assert_eq!(
            info.base_offset, high_watermark,
            "appends continue at the high watermark"
        );
    } else {
        assert!(trusted, "append after an untrusted recovery failed");
    }
    if trusted {
        return;
    }
    log.close().expect("clean close");
    drop(log);
    let reopened = PartitionLog::open(&dir, config()).expect("reopen");
    assert_eq!(reopened.high_watermark(), high_watermark + 1);
    let after = read_all(&reopened, true);
    assert!(after.starts_with(&before), "a clean reopen changed the log");
    let tail = BatchIter::new(Bytes::from(after[before.len()..].to_vec()), usize::MAX).count();
    assert_eq!(tail, 1);
});
