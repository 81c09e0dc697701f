//! Per-partition traffic counters, owned by each [`crate::topics::Partition`], so the hot
//! path bumps them through the `Arc<Partition>` it already holds: no lookup, no lock.
//!
//! Gauges (high watermark, size, segments) are not stored here: the scrape reads them from
//! the partition log itself.

use std::sync::atomic::{AtomicU64, Ordering};

use rill_protocol::api::fetch::FetchRecords;
use rill_protocol::batch::header::{BATCH_LENGTH_POS, RECORD_COUNT_POS};
use rill_protocol::batch::{BATCH_HEADER_BYTES, BATCH_LOG_OVERHEAD_BYTES};

use crate::storage::RetentionReport;

/// Traffic of one partition since the broker opened it.
#[derive(Debug, Default)]
pub struct PartitionStats {
    messages_in: AtomicU64,
    bytes_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_out: AtomicU64,
    retention_segments_deleted: AtomicU64,
    retention_bytes_deleted: AtomicU64,
}

/// A point-in-time copy of [`PartitionStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PartitionStatsSnapshot {
    /// Records appended.
    pub messages_in: u64,
    /// Record-batch bytes appended.
    pub bytes_in: u64,
    /// Records served by fetches (whole batches, so a fetch from mid-batch counts the
    /// records before its offset too).
    pub messages_out: u64,
    /// Record-batch bytes served by fetches.
    pub bytes_out: u64,
    /// Segments deleted by retention.
    pub retention_segments_deleted: u64,
    /// Bytes of the segments retention deleted.
    pub retention_bytes_deleted: u64,
}

fn add(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl PartitionStats {
    /// Records and bytes were appended.
    pub fn produced(&self, messages: u64, bytes: u64) {
        add(&self.messages_in, messages);
        add(&self.bytes_in, bytes);
    }

    /// A fetch answered with `records` (whole batches read from this partition's log).
    pub fn fetched(&self, records: &FetchRecords) {
        let bytes = records.len() as u64;
        if bytes == 0 {
            return;
        }
        let messages = records.chunks().iter().map(|c| count_records(c)).sum();
        add(&self.messages_out, messages);
        add(&self.bytes_out, bytes);
    }

    /// A retention pass finished.
    pub fn retention(&self, report: &RetentionReport) {
        add(
            &self.retention_segments_deleted,
            report.segments_deleted as u64,
        );
        add(&self.retention_bytes_deleted, report.bytes_deleted);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> PartitionStatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        PartitionStatsSnapshot {
            messages_in: get(&self.messages_in),
            bytes_in: get(&self.bytes_in),
            messages_out: get(&self.messages_out),
            bytes_out: get(&self.bytes_out),
            retention_segments_deleted: get(&self.retention_segments_deleted),
            retention_bytes_deleted: get(&self.retention_bytes_deleted),
        }
    }
}

/// Records in a run of whole batches, read from each batch header (the batches come from
/// the broker's own log, already validated; a short or odd tail simply ends the count).
pub fn count_records(mut batches: &[u8]) -> u64 {
    let mut records = 0u64;
    while batches.len() >= BATCH_HEADER_BYTES {
        let field = |pos: usize| {
            batches
                .get(pos..pos + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(i32::from_be_bytes)
        };
        let (Some(length), Some(count)) = (field(BATCH_LENGTH_POS), field(RECORD_COUNT_POS)) else {
            break;
        };
        let total = usize::try_from(length)
            .ok()
            .map(|l| l + BATCH_LOG_OVERHEAD_BYTES);
        let Some(rest) = total.and_then(|t| batches.get(t..)) else {
            break;
        };
        records += u64::try_from(count).unwrap_or(0);
        batches = rest;
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;
    use rill_protocol::batch::{BatchBuilder, Compression, RecordInput};

    fn batch(n: usize) -> bytes::Bytes {
        let mut b = BatchBuilder::new(Compression::None);
        for i in 0..n {
            b.append(&RecordInput::new(i as i64, format!("v{i}")))
                .unwrap();
        }
        b.build().unwrap()
    }

    #[test]
    fn counts_records_across_batches() {
        let mut all = batch(3).to_vec();
        all.extend_from_slice(&batch(4));
        assert_eq!(count_records(&all), 7);
        assert_eq!(count_records(&all[..all.len() - 1]), 3);
        assert_eq!(count_records(&[]), 0);
    }

    #[test]
    fn fetched_counts_messages_and_bytes() {
        let stats = PartitionStats::default();
        let b = batch(5);
        stats.fetched(&FetchRecords::from(b.clone()));
        let s = stats.snapshot();
        assert_eq!((s.messages_out, s.bytes_out), (5, b.len() as u64));
    }
}
