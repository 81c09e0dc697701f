//! Log compaction: the cleaner keeps at least the latest record of every key of a log whose
//! `cleanup.policy` includes `compact`.
//!
//! A pass over one log ([`PartitionLog::clean`]) runs on a blocking thread and never on the
//! active segment:
//! 1. [`plan`]: find the dirty section (from the cleaner checkpoint up to the active
//!    segment or the first segment younger than `min.compaction.lag.ms`) and its ratio;
//! 2. [`build_map`]: read the dirty section into a bounded key-hash -> latest offset map,
//!    stopping where the map is full (the rest waits for the next pass);
//! 3. [`rewrite`] each closed segment from the log start up to the map's end into a cleaned
//!    copy (same offsets, fewer records), and [`swap`] it in crash-safely;
//! 4. move the cleaner checkpoint ([`state`]) to the map's end.
//!
//! Appends never wait on a pass (the writer lock is held only for two renames per swapped
//! segment) and readers never do: they read whatever segment list they snapshotted. I/O is
//! paced by [`throttle`]; [`failpoint`] lets tests crash the process at each step.

pub mod build_map;
pub mod config;
pub mod failpoint;
pub mod offset_map;
pub mod plan;
pub mod rewrite;
pub mod state;
pub mod stats;
pub mod swap;
pub mod throttle;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use config::{
    CleanerConfig, CleanupPolicy, CompactionConfig, Ratio, CLEANER_BYTES_PER_SEC_DEFAULT,
    DELETE_RETENTION_MS_DEFAULT, MAX_COMPACTION_LAG_MS_DEFAULT, MIN_CLEANABLE_DIRTY_RATIO_DEFAULT,
    MIN_COMPACTION_LAG_MS_DEFAULT, OFFSET_MAP_BYTES_DEFAULT,
};
pub use plan::Plan;
pub use state::CleanerState;

use super::segment::Segment;
use super::{PartitionLog, StorageError};
use rewrite::Rules;
use throttle::Throttle;

/// What one pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CleanReport {
    /// Segments replaced by a cleaned copy.
    pub segments_cleaned: usize,
    /// Bytes of batches read (map building and rewriting).
    pub bytes_read: u64,
    /// Bytes of cleaned copies written.
    pub bytes_written: u64,
    /// Bytes the log shrank by.
    pub bytes_removed: u64,
    /// Records removed.
    pub records_removed: u64,
    /// The cleaner checkpoint afterwards: offsets below it are clean.
    pub first_dirty_offset: i64,
    /// Wall time of the pass.
    pub duration: Duration,
}

/// The running state of a pass: its limits, its pacing and its stop flag.
pub struct Pass<'a> {
    config: &'a CleanerConfig,
    max_batch_bytes: usize,
    throttle: Throttle,
    stop: &'a AtomicBool,
}

impl Pass<'_> {
    fn keep_going(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }

    fn throttle(&mut self, bytes: u64) {
        let stop = self.stop;
        self.throttle
            .account(bytes, || !stop.load(Ordering::Relaxed));
    }
}

impl PartitionLog {
    /// Looks at the log's dirty section as of `now_ms` (and remembers its ratio for
    /// [`Self::dirty_ratio`]).
    pub fn cleaner_plan(&self, now_ms: i64) -> Plan {
        let config = self.config();
        let plan = plan::plan(
            &self.snapshot(),
            self.cleaner.first_dirty_offset(),
            &config.compaction,
            now_ms,
        );
        self.cleaner.set_dirty_ratio(plan.dirty_ratio());
        plan
    }

    /// The dirty ratio of the cleaner's last look at this log (0 before any).
    pub fn dirty_ratio(&self) -> f64 {
        self.cleaner.dirty_ratio()
    }

    /// Runs a pass if the log's policy compacts and its dirty section is due (ratio or
    /// max lag); `Ok(None)` when nothing was due or another pass is running. Blocking;
    /// returns early, changing nothing more, once `stop` is set.
    pub fn clean(
        &self,
        config: &CleanerConfig,
        now_ms: i64,
        stop: &AtomicBool,
    ) -> Result<Option<CleanReport>, StorageError> {
        let _pass = match self.cleaner.pass.try_lock() {
            Ok(pass) => pass,
            // A pass that panicked left nothing half-done that the next one cannot redo.
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return Ok(None),
        };
        let plan = self.cleaner_plan(now_ms);
        if !plan.due {
            return Ok(None);
        }
        self.clean_section(config, &plan, now_ms, stop).map(Some)
    }

    /// Runs a pass over whatever is cleanable now, whatever the dirty ratio (tests and
    /// benchmarks). Waits for a running pass to end.
    pub fn clean_now(
        &self,
        config: &CleanerConfig,
        now_ms: i64,
    ) -> Result<CleanReport, StorageError> {
        let _pass = self
            .cleaner
            .pass
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let plan = self.cleaner_plan(now_ms);
        let report = self.clean_section(config, &plan, now_ms, &AtomicBool::new(false))?;
        self.cleaner_plan(now_ms);
        Ok(report)
    }

    fn clean_section(
        &self,
        config: &CleanerConfig,
        plan: &Plan,
        now_ms: i64,
        stop: &AtomicBool,
    ) -> Result<CleanReport, StorageError> {
        let started = Instant::now();
        let log_config = self.config();
        let mut report = CleanReport {
            first_dirty_offset: plan.first_dirty_offset,
            ..CleanReport::default()
        };
        let mut pass = Pass {
            config,
            max_batch_bytes: log_config.max_batch_bytes,
            throttle: Throttle::new(config.bytes_per_sec),
            stop,
        };
        let segments = self.snapshot();
        let dirty = build_map::build(
            &mut pass,
            &segments,
            plan.first_dirty_offset,
            plan.cleanable_end_offset,
        );
        report.bytes_read = dirty.bytes_read;
        let horizon_ms = now_ms.saturating_sub(
            i64::try_from(log_config.compaction.delete_retention_ms).unwrap_or(i64::MAX),
        );
        let rules = Rules {
            dirty: &dirty,
            tombstone_horizon_ms: horizon_ms,
        };
        // With nothing dirty the clean section is still rewritten: its expired tombstones go.
        let closed = &segments[..segments.len().saturating_sub(1)];
        for segment in closed {
            if segment.base_offset() >= dirty.map_end_offset || !pass.keep_going() {
                break;
            }
            self.clean_segment(&mut pass, segment, &rules, &mut report)?;
        }
        if !pass.keep_going() {
            return Ok(report);
        }
        failpoint::hit("pass-done");
        self.cleaner.advance(self.dir(), dirty.map_end_offset)?;
        report.first_dirty_offset = dirty.map_end_offset;
        report.duration = started.elapsed();
        tracing::debug!(dir = %self.dir().display(), ?report, "cleaned log");
        Ok(report)
    }

    fn clean_segment(
        &self,
        pass: &mut Pass<'_>,
        segment: &Arc<Segment>,
        rules: &Rules<'_>,
        report: &mut CleanReport,
    ) -> Result<(), StorageError> {
        let old_bytes = segment.committed_bytes();
        report.bytes_read += old_bytes;
        let Some(cleaned) = rewrite::rewrite(pass, segment, rules)? else {
            return Ok(());
        };
        let (new_bytes, removed) = (cleaned.bytes, cleaned.records_removed);
        if swap::swap_in(self, segment, cleaned)? {
            report.segments_cleaned += 1;
            report.bytes_written += new_bytes;
            report.bytes_removed += old_bytes.saturating_sub(new_bytes);
            report.records_removed += removed;
        }
        Ok(())
    }
}
