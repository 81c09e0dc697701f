//! The serving side of [`super::SegmentSource`]: what a replica answers when another one,
//! installing a snapshot, asks for its committed records from an offset.

use super::types::SegmentChunk;
use crate::storage::{PartitionLog, StorageError};

/// Whole batches of `log` from `offset` (from the log start offset when `offset` is
/// below it, because retention deleted what was asked for), at most `max_bytes` but at
/// least one batch. `offset` at the log end gives no batches; past it is
/// [`StorageError::OffsetOutOfRange`]. Reads mapped pages: cheap, no blocking I/O
/// beyond page faults.
pub fn read_chunk(
    log: &PartitionLog,
    offset: i64,
    max_bytes: u32,
) -> Result<SegmentChunk, StorageError> {
    let from = offset.max(log.log_start_offset());
    let read = log.read(from, max_bytes as usize)?;
    Ok(SegmentChunk {
        log_start_offset: read.log_start_offset,
        log_end_offset: read.high_watermark,
        batches: read.records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::tests::{batch, small_config};

    #[test]
    fn chunks_start_at_the_log_start_when_retention_deleted_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::storage::LogConfig {
            retention_bytes: Some(1500),
            ..small_config(700)
        };
        let log = PartitionLog::open(dir.path(), config).unwrap();
        for i in 0..30 {
            log.append(&mut batch(2, i, 100, i as u8)).unwrap();
        }
        log.enforce_retention(i64::MAX).unwrap();
        let start = log.log_start_offset();
        assert!(start > 0);
        let chunk = read_chunk(&log, 0, 1).unwrap();
        assert_eq!(chunk.log_start_offset, start);
        assert_eq!(chunk.log_end_offset, 60);
        let header = rill_protocol::batch::BatchHeader::parse(&chunk.batches, usize::MAX).unwrap();
        assert_eq!(header.base_offset, start);
        assert_eq!(
            chunk.batches.len(),
            header.total_bytes(),
            "one batch at least"
        );
        assert!(read_chunk(&log, 60, 1 << 20).unwrap().batches.is_empty());
        assert!(matches!(
            read_chunk(&log, 61, 1 << 20),
            Err(StorageError::OffsetOutOfRange { .. })
        ));
    }
}
