//! Per-log configuration: segment sizing, index density, retention and flush policy.
//!
//! Every limit has a named default constant with its unit in the name. [`LogConfig::validate`]
//! rejects combinations the on-disk format cannot represent (file positions are `u32`).

use std::time::Duration;

use rill_protocol::batch::{BATCH_HEADER_BYTES, MAX_BATCH_BYTES_DEFAULT};

use super::cleaner::CompactionConfig;
use super::StorageError;

/// Default size at which the active segment rolls: 1 GiB.
pub const SEGMENT_BYTES_DEFAULT: u32 = 1024 * 1024 * 1024;
/// Default age (ms, from the first batch's timestamp) at which the active segment rolls: 7 days.
pub const SEGMENT_MS_DEFAULT: u64 = 7 * 24 * 60 * 60 * 1000;
/// Default bytes of log between two sparse index entries: 4 KiB.
pub const INDEX_INTERVAL_BYTES_DEFAULT: u32 = 4096;
/// Default retention by size: unlimited.
pub const RETENTION_BYTES_DEFAULT: Option<u64> = None;
/// Default retention by time: 7 days.
pub const RETENTION_MS_DEFAULT: Option<u64> = Some(7 * 24 * 60 * 60 * 1000);
/// Default flush policy: leave write-back to the operating system.
pub const FLUSH_POLICY_DEFAULT: FlushPolicy = FlushPolicy::Os;
/// Largest segment size the `u32` file positions of the index can address, with room for
/// one maximal batch past the roll point.
pub const SEGMENT_BYTES_MAX: u64 = i32::MAX as u64;

/// When appended bytes are forced to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPolicy {
    /// `fdatasync` before `append` returns (and before the high watermark moves).
    Always,
    /// Flush when at least this much time passed since the last flush; the broker calls
    /// [`super::PartitionLog::flush_if_due`] from a background task.
    Interval(Duration),
    /// Never flush explicitly; the OS writes dirty pages back on its own schedule.
    Os,
}

/// Configuration of one partition log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// The active segment rolls when the next batch would take it past this size.
    pub segment_bytes: u32,
    /// The active segment rolls when its first batch's timestamp is older than this (ms).
    pub segment_ms: u64,
    /// Bytes of log between two entries of the sparse offset and time indexes.
    pub index_interval_bytes: u32,
    /// Closed segments are deleted, oldest first, while the log is larger than this.
    pub retention_bytes: Option<u64>,
    /// Closed segments whose newest record is older than this (ms) are deleted.
    pub retention_ms: Option<u64>,
    /// When appends are fsynced.
    pub flush: FlushPolicy,
    /// Largest batch (header included) the log accepts or trusts during recovery.
    pub max_batch_bytes: usize,
    /// `cleanup.policy` and the compaction settings.
    pub compaction: CompactionConfig,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: SEGMENT_BYTES_DEFAULT,
            segment_ms: SEGMENT_MS_DEFAULT,
            index_interval_bytes: INDEX_INTERVAL_BYTES_DEFAULT,
            retention_bytes: RETENTION_BYTES_DEFAULT,
            retention_ms: RETENTION_MS_DEFAULT,
            flush: FLUSH_POLICY_DEFAULT,
            max_batch_bytes: MAX_BATCH_BYTES_DEFAULT,
            compaction: CompactionConfig::default(),
        }
    }
}

impl LogConfig {
    /// Age (ms, record time) at which the active segment rolls: `segment_ms`, or sooner
    /// on a compacted log whose `max.compaction.lag.ms` is shorter, so that a record is
    /// cleanable (in a closed segment) within that lag, as in Kafka (KIP-354).
    pub fn roll_age_ms(&self) -> u64 {
        match self.compaction.policy.compacts() {
            true => self.segment_ms.min(self.compaction.max_compaction_lag_ms),
            false => self.segment_ms,
        }
    }

    /// Checks that the limits are usable together; called by `PartitionLog::open`.
    pub fn validate(&self) -> Result<(), StorageError> {
        let invalid = |field: &'static str, reason: &'static str| {
            Err(StorageError::InvalidConfig { field, reason })
        };
        if self.max_batch_bytes < BATCH_HEADER_BYTES {
            return invalid("max_batch_bytes", "smaller than a batch header");
        }
        if u64::from(self.segment_bytes) < BATCH_HEADER_BYTES as u64 {
            return invalid("segment_bytes", "smaller than a batch header");
        }
        if self.capacity_bytes() > SEGMENT_BYTES_MAX {
            return invalid(
                "segment_bytes",
                "segment_bytes + max_batch_bytes exceeds 2 GiB (u32 positions)",
            );
        }
        if self.index_interval_bytes == 0 {
            return invalid("index_interval_bytes", "must be positive");
        }
        if let FlushPolicy::Interval(every) = self.flush {
            if every.is_zero() {
                return invalid("flush", "interval must be positive (use Always)");
            }
        }
        Ok(())
    }

    /// Bytes a segment file is pre-sized to: a full segment, or one maximal batch when a
    /// single batch is larger than `segment_bytes`.
    pub(crate) fn capacity_bytes(&self) -> u64 {
        u64::from(self.segment_bytes).max(self.max_batch_bytes as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(LogConfig::default().validate().is_ok());
    }

    #[test]
    fn rejects_unaddressable_segments() {
        let config = LogConfig {
            segment_bytes: u32::MAX,
            ..LogConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(StorageError::InvalidConfig {
                field: "segment_bytes",
                ..
            })
        ));
    }

    #[test]
    fn rejects_zero_interval() {
        let config = LogConfig {
            index_interval_bytes: 0,
            ..LogConfig::default()
        };
        assert!(config.validate().is_err());
    }
}
