//! Retention: delete whole closed segments, oldest first, while the log is larger than
//! `retention_bytes` or the segment's newest batch is older than `retention_ms`. A batch's
//! age counts from the later of its `max_timestamp` and the time the broker appended it,
//! so records replayed with old client timestamps are not deleted the moment they
//! arrive. The active segment is never deleted; the log start offset moves to the first
//! remaining segment.

use std::sync::atomic::Ordering;

use super::{PartitionLog, StorageError};

/// What one retention pass deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionReport {
    /// Segments deleted.
    pub segments_deleted: usize,
    /// Bytes those segments held.
    pub bytes_deleted: u64,
    /// The log start offset afterwards.
    pub log_start_offset: i64,
}

impl PartitionLog {
    /// Applies the retention limits as of `now_ms` (ms since the epoch).
    pub fn enforce_retention(&self, now_ms: i64) -> Result<RetentionReport, StorageError> {
        let writer = self.lock_writer()?;
        let config = self.config();
        let segments = self.snapshot();
        let closed = &segments[..segments.len().saturating_sub(1)];
        let mut remaining_bytes: u64 = segments.iter().map(|s| s.committed_bytes()).sum();
        let mut expired = 0;
        for segment in closed {
            let size = segment.committed_bytes();
            let by_bytes = config
                .retention_bytes
                .is_some_and(|limit| remaining_bytes - size >= limit);
            let newest_ms = segment.max_timestamp().max(segment.last_append_ms());
            let by_time = config
                .retention_ms
                .is_some_and(|ms| newest_ms < now_ms.saturating_sub(ms as i64));
            if !(by_bytes || by_time) {
                break;
            }
            remaining_bytes -= size;
            expired += 1;
        }
        self.drop_oldest(writer, &segments, expired, "retention deleted segment")
    }

    /// Drops the `expired` oldest segments of `segments`: publishes the shorter list with
    /// the writer lock held, then releases it before unlinking files and rewriting the
    /// checkpoint, so that appends never wait for the disk.
    fn drop_oldest(
        &self,
        writer: std::sync::MutexGuard<'_, super::log::Writer>,
        segments: &[std::sync::Arc<super::segment::Segment>],
        expired: usize,
        why: &'static str,
    ) -> Result<RetentionReport, StorageError> {
        let mut report = RetentionReport {
            log_start_offset: self.log_start_offset(),
            ..Default::default()
        };
        if expired == 0 {
            return Ok(report);
        }
        let kept = segments[expired..].to_vec();
        report.log_start_offset = kept[0].base_offset();
        self.publish_segments(kept);
        self.log_start_offset
            .store(report.log_start_offset, Ordering::Release);
        drop(writer);
        for segment in &segments[..expired] {
            segment.delete_files()?;
            report.segments_deleted += 1;
            report.bytes_deleted += segment.committed_bytes();
            tracing::info!(
                path = %segment.paths().log.display(),
                bytes = segment.committed_bytes(),
                max_timestamp = segment.max_timestamp(),
                "{why}"
            );
        }
        self.write_checkpoint()?;
        Ok(report)
    }
}
