//! Per-log compaction settings (Kafka's names and defaults) and the cleaner's own limits.

/// Default `min.cleanable.dirty.ratio`: clean once half the log is dirty.
pub const MIN_CLEANABLE_DIRTY_RATIO_DEFAULT: f64 = 0.5;
/// Default `min.compaction.lag.ms`: records may be compacted as soon as their segment closes.
pub const MIN_COMPACTION_LAG_MS_DEFAULT: u64 = 0;
/// Default `max.compaction.lag.ms`: no deadline.
pub const MAX_COMPACTION_LAG_MS_DEFAULT: u64 = i64::MAX as u64;
/// Default `delete.retention.ms`: a tombstone stays readable for one day.
pub const DELETE_RETENTION_MS_DEFAULT: u64 = 24 * 60 * 60 * 1000;
/// Default memory of the cleaner's key-hash -> offset map: 32 MiB.
pub const OFFSET_MAP_BYTES_DEFAULT: usize = 32 * 1024 * 1024;
/// Default cleaner I/O rate limit: unlimited.
pub const CLEANER_BYTES_PER_SEC_DEFAULT: Option<u64> = None;

/// What happens to old data of a topic (`cleanup.policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CleanupPolicy {
    /// Retention deletes whole old segments (by age and size).
    #[default]
    Delete,
    /// The cleaner keeps the latest record of every key; retention deletes nothing.
    Compact,
    /// Both: the cleaner compacts and retention deletes old segments.
    CompactDelete,
}

impl CleanupPolicy {
    /// Parses `delete`, `compact`, or `compact,delete` (either order, spaces allowed).
    pub fn parse(value: &str) -> Option<CleanupPolicy> {
        let mut words: Vec<&str> = value.split(',').map(str::trim).collect();
        words.sort_unstable();
        words.dedup();
        match words.as_slice() {
            ["delete"] => Some(CleanupPolicy::Delete),
            ["compact"] => Some(CleanupPolicy::Compact),
            ["compact", "delete"] => Some(CleanupPolicy::CompactDelete),
            _ => None,
        }
    }

    /// The setting's value as `cleanup.policy` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            CleanupPolicy::Delete => "delete",
            CleanupPolicy::Compact => "compact",
            CleanupPolicy::CompactDelete => "compact,delete",
        }
    }

    /// True when the cleaner compacts the log.
    pub fn compacts(self) -> bool {
        matches!(self, CleanupPolicy::Compact | CleanupPolicy::CompactDelete)
    }

    /// True when retention deletes old segments.
    pub fn deletes(self) -> bool {
        matches!(self, CleanupPolicy::Delete | CleanupPolicy::CompactDelete)
    }
}

/// A ratio in `0.0..=1.0`, comparable for equality by its bits (configs are `Eq`).
#[derive(Debug, Clone, Copy)]
pub struct Ratio(f64);

impl Ratio {
    /// `Some` when `value` lies in `0.0..=1.0`.
    pub fn new(value: f64) -> Option<Ratio> {
        (0.0..=1.0).contains(&value).then_some(Ratio(value))
    }

    /// The ratio as a number.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl PartialEq for Ratio {
    fn eq(&self, other: &Ratio) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Ratio {}

/// Compaction settings of one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionConfig {
    /// `cleanup.policy`.
    pub policy: CleanupPolicy,
    /// `min.cleanable.dirty.ratio`: dirty bytes / cleanable bytes above which the log is
    /// cleaned.
    pub min_cleanable_dirty_ratio: Ratio,
    /// `min.compaction.lag.ms`: a record younger than this is never removed.
    pub min_compaction_lag_ms: u64,
    /// `max.compaction.lag.ms`: a dirty record older than this makes the log cleanable
    /// whatever its dirty ratio.
    pub max_compaction_lag_ms: u64,
    /// `delete.retention.ms`: how long a tombstone (null value) stays readable.
    pub delete_retention_ms: u64,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        CompactionConfig {
            policy: CleanupPolicy::Delete,
            min_cleanable_dirty_ratio: Ratio(MIN_CLEANABLE_DIRTY_RATIO_DEFAULT),
            min_compaction_lag_ms: MIN_COMPACTION_LAG_MS_DEFAULT,
            max_compaction_lag_ms: MAX_COMPACTION_LAG_MS_DEFAULT,
            delete_retention_ms: DELETE_RETENTION_MS_DEFAULT,
        }
    }
}

/// Broker-wide limits of the cleaner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanerConfig {
    /// Memory of the key-hash -> offset map; a dirty section with more distinct keys is
    /// cleaned in several passes.
    pub offset_map_bytes: usize,
    /// Bytes of log the cleaner reads per second, at most (`None`: unlimited).
    pub bytes_per_sec: Option<u64>,
}

impl Default for CleanerConfig {
    fn default() -> Self {
        CleanerConfig {
            offset_map_bytes: OFFSET_MAP_BYTES_DEFAULT,
            bytes_per_sec: CLEANER_BYTES_PER_SEC_DEFAULT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_in_any_order() {
        assert_eq!(CleanupPolicy::parse("delete"), Some(CleanupPolicy::Delete));
        assert_eq!(
            CleanupPolicy::parse("compact"),
            Some(CleanupPolicy::Compact)
        );
        for v in ["compact,delete", "delete, compact"] {
            assert_eq!(CleanupPolicy::parse(v), Some(CleanupPolicy::CompactDelete));
        }
        assert_eq!(CleanupPolicy::parse("compact,"), None);
        assert_eq!(CleanupPolicy::parse("shred"), None);
        assert_eq!(CleanupPolicy::CompactDelete.as_str(), "compact,delete");
    }

    #[test]
    fn ratios_are_bounded() {
        assert!(Ratio::new(0.5).is_some());
        assert!(Ratio::new(1.5).is_none());
        assert!(Ratio::new(f64::NAN).is_none());
    }
}
