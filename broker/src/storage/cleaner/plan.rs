//! Deciding whether a log needs cleaning and which part of it may be cleaned.
//!
//! The cleanable section ends at the active segment, or earlier at the first segment
//! holding a record younger than `min.compaction.lag.ms` (so such a record is never
//! removed). Its dirty part starts at the cleaner checkpoint. The dirty ratio is dirty bytes
//! over all bytes before the cleanable end; a log is cleaned when the ratio reaches
//! `min.cleanable.dirty.ratio`, or when a dirty record is older than `max.compaction.lag.ms`.

use std::sync::Arc;

use super::CompactionConfig;
use crate::storage::segment::Segment;

/// What a look at a log found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// First offset not yet cleaned (at least the log start).
    pub first_dirty_offset: i64,
    /// First offset that may not be cleaned now.
    pub cleanable_end_offset: i64,
    /// Bytes of segments wholly below the dirty section.
    pub clean_bytes: u64,
    /// Bytes of segments from the one holding the first dirty offset to the cleanable end.
    pub dirty_bytes: u64,
    /// True when the ratio or the max lag asks for a pass now.
    pub due: bool,
}

impl Plan {
    /// `dirty_bytes / (clean_bytes + dirty_bytes)`, 0 for an empty section.
    pub fn dirty_ratio(&self) -> f64 {
        let total = self.clean_bytes + self.dirty_bytes;
        if total == 0 {
            0.0
        } else {
            self.dirty_bytes as f64 / total as f64
        }
    }
}

/// Looks at `segments` (oldest first, the last active) as of `now_ms`.
pub fn plan(
    segments: &[Arc<Segment>],
    first_dirty_offset: i64,
    config: &CompactionConfig,
    now_ms: i64,
) -> Plan {
    let closed = &segments[..segments.len().saturating_sub(1)];
    let log_start = segments.first().map_or(0, |s| s.base_offset());
    let first_dirty_offset = first_dirty_offset.max(log_start);
    let lag_horizon = now_ms.saturating_sub(clamp_ms(config.min_compaction_lag_ms));
    let mut cleanable_end_offset = segments.last().map_or(0, |s| s.base_offset());
    let (mut clean_bytes, mut dirty_bytes) = (0u64, 0u64);
    let mut first_dirty_timestamp = None;
    for (i, segment) in closed.iter().enumerate() {
        let end = segments[i + 1].base_offset();
        if end <= first_dirty_offset {
            clean_bytes += segment.committed_bytes();
            continue;
        }
        if segment.max_timestamp() > lag_horizon {
            cleanable_end_offset = segment.base_offset().max(first_dirty_offset);
            break;
        }
        dirty_bytes += segment.committed_bytes();
        first_dirty_timestamp.get_or_insert_with(|| first_timestamp(segment));
    }
    let ratio_due = {
        let total = clean_bytes + dirty_bytes;
        dirty_bytes > 0
            && dirty_bytes as f64 >= config.min_cleanable_dirty_ratio.get() * total as f64
    };
    let max_lag_horizon = now_ms.saturating_sub(clamp_ms(config.max_compaction_lag_ms));
    let lag_due = dirty_bytes > 0 && first_dirty_timestamp.is_some_and(|ts| ts < max_lag_horizon);
    Plan {
        first_dirty_offset,
        cleanable_end_offset,
        clean_bytes,
        dirty_bytes,
        due: config.policy.compacts()
            && cleanable_end_offset > first_dirty_offset
            && (ratio_due || lag_due),
    }
}

fn clamp_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// Timestamp of a segment's first batch (`i64::MAX` when it has none).
fn first_timestamp(segment: &Segment) -> i64 {
    segment
        .header_at(0, segment.committed_bytes())
        .map_or(i64::MAX, |h| h.max_timestamp)
}
