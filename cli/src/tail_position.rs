//! Where `rill tail` starts and stops in each partition: the start option resolved to
//! a seek per partition, the partitions chosen with `--partition`, and the filter that
//! holds back records past the `--no-follow` end or before the `--since` time.

use std::collections::BTreeMap;

use rill_client::{ConsumerRecord, SeekTo, TopicDescription};

/// Where reading starts in every chosen partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The last N records.
    Last(u64),
    /// The oldest record kept.
    Beginning,
    /// An exact offset (clamped into the partition's range).
    Offset(i64),
    /// The first record at or after a timestamp (ms since the epoch).
    Timestamp(i64),
}

/// Where a partition with offsets `earliest..latest` starts; offsets are clamped into
/// the log, timestamps are looked up by the broker.
pub fn seek_for(start: Start, earliest: i64, latest: i64) -> SeekTo {
    let last = latest.max(earliest);
    match start {
        Start::Last(n) => SeekTo::Offset(
            last.saturating_sub(i64::try_from(n).unwrap_or(i64::MAX))
                .max(earliest),
        ),
        Start::Beginning => SeekTo::Offset(earliest),
        Start::Offset(offset) => SeekTo::Offset(offset.clamp(earliest, last)),
        Start::Timestamp(timestamp_ms) => SeekTo::Timestamp(timestamp_ms),
    }
}

/// The partitions to read with their (earliest, latest) offsets; all if none chosen.
pub fn choose_partitions(
    description: &TopicDescription,
    wanted: &[i32],
) -> anyhow::Result<BTreeMap<i32, (i64, i64)>> {
    let all: BTreeMap<i32, (i64, i64)> = description
        .partitions
        .iter()
        .map(|p| (p.partition, (p.earliest_offset, p.latest_offset)))
        .collect();
    if wanted.is_empty() {
        return Ok(all);
    }
    wanted
        .iter()
        .map(|p| {
            all.get(p).map(|range| (*p, *range)).ok_or_else(|| {
                anyhow::anyhow!(
                    "topic {} has {} partition(s) (0..{}), no partition {p}",
                    description.name,
                    all.len(),
                    all.len().saturating_sub(1)
                )
            })
        })
        .collect()
}

/// Which fetched records `tail` prints.
#[derive(Debug, Default)]
pub struct RecordFilter {
    /// With `--no-follow`: per partition, the latest offset at start (exclusive end).
    pub ends: Option<BTreeMap<i32, i64>>,
    /// With `--since`: partitions still waiting for their first record at or after the
    /// timestamp. The broker may answer a timestamp lookup with the start of the batch
    /// holding the record, so earlier records of that batch are skipped here.
    pub since: BTreeMap<i32, i64>,
}

impl RecordFilter {
    /// True if `record` should be printed.
    pub fn admits(&mut self, record: &ConsumerRecord) -> bool {
        let end = self.ends.as_ref().and_then(|e| e.get(&record.partition));
        if end.is_some_and(|end| record.offset >= *end) {
            return false;
        }
        match self.since.get(&record.partition) {
            Some(&since_ms) if record.timestamp < since_ms => false,
            Some(_) => {
                self.since.remove(&record.partition);
                true
            }
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_offsets_stay_inside_the_log() {
        assert_eq!(seek_for(Start::Last(10), 0, 25), SeekTo::Offset(15));
        assert_eq!(seek_for(Start::Last(10), 20, 25), SeekTo::Offset(20));
        assert_eq!(seek_for(Start::Last(u64::MAX), 0, 25), SeekTo::Offset(0));
        assert_eq!(seek_for(Start::Beginning, 5, 25), SeekTo::Offset(5));
        assert_eq!(seek_for(Start::Offset(100), 5, 25), SeekTo::Offset(25));
        assert_eq!(seek_for(Start::Offset(1), 5, 25), SeekTo::Offset(5));
        assert_eq!(seek_for(Start::Offset(1), 5, 5), SeekTo::Offset(5));
        assert_eq!(seek_for(Start::Timestamp(9), 5, 25), SeekTo::Timestamp(9));
    }

    fn record(partition: i32, offset: i64, timestamp: i64) -> ConsumerRecord {
        ConsumerRecord {
            topic: "t".into(),
            partition,
            offset,
            timestamp,
            key: None,
            value: None,
            headers: Vec::new(),
        }
    }

    #[test]
    fn filter_stops_at_the_end_and_skips_until_since() {
        let mut filter = RecordFilter {
            ends: Some(BTreeMap::from([(0, 5)])),
            since: BTreeMap::from([(0, 100)]),
        };
        assert!(!filter.admits(&record(0, 1, 99)));
        assert!(filter.admits(&record(0, 2, 100)));
        // After the first record at or past the time, later timestamps do not matter.
        assert!(filter.admits(&record(0, 3, 50)));
        assert!(!filter.admits(&record(0, 5, 200)));
        assert!(RecordFilter::default().admits(&record(3, 9, 0)));
    }
}
