//! The checker for what clients saw: every acknowledged record must be read back once,
//! in the order it was acknowledged within its partition. Counts lost, duplicated and
//! reordered records (the figures Jepsen's Kafka workload reports) instead of stopping
//! at the first, so a failure says how bad it is. [`history`] checks a replicated run:
//! acknowledgements, consumers' reads and every replica's copy together.

pub mod history;

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One record as the test knows it: where it went and its unique value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Partition.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
    /// The record's value, unique per record.
    pub value: String,
}

/// What the checker found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Acknowledged records.
    pub acknowledged: usize,
    /// Records read back (duplicates included).
    pub read: usize,
    /// Acknowledged but never read.
    pub lost: Vec<String>,
    /// Read more than once (each extra copy counts).
    pub duplicated: Vec<String>,
    /// Read in a different order from their offsets, or at a different partition or
    /// offset than acknowledged.
    pub reordered: Vec<String>,
    /// Read but never acknowledged (allowed: the acknowledgement may have been lost).
    pub unacknowledged: usize,
    /// Acknowledged at a partition and offset another acknowledged record got too: the
    /// broker answered with an offset it had given before (a phantom acknowledgement).
    pub same_offset: Vec<String>,
}

impl Report {
    /// Whether nothing was lost, duplicated or reordered.
    pub fn is_clean(&self) -> bool {
        self.lost.is_empty()
            && self.duplicated.is_empty()
            && self.reordered.is_empty()
            && self.same_offset.is_empty()
    }

    /// One line: the counts, and the first few offenders.
    pub fn summary(&self) -> String {
        format!(
            "acknowledged {}, read {}, lost {} {:?}, duplicated {} {:?}, reordered {} {:?}, \
             read but unacknowledged {}, acknowledged at an offset given twice {} {:?}",
            self.acknowledged,
            self.read,
            self.lost.len(),
            first(&self.lost),
            self.duplicated.len(),
            first(&self.duplicated),
            self.reordered.len(),
            first(&self.reordered),
            self.unacknowledged,
            self.same_offset.len(),
            first(&self.same_offset)
        )
    }
}

fn first(values: &[String]) -> &[String] {
    &values[..values.len().min(5)]
}

/// Compares what was acknowledged with what was read.
pub fn check(acknowledged: &[Seen], read: &[Seen]) -> Report {
    let mut report = Report {
        acknowledged: acknowledged.len(),
        read: read.len(),
        ..Report::default()
    };
    let acked: HashMap<&str, &Seen> = acknowledged.iter().map(|s| (s.value.as_str(), s)).collect();
    let mut at: HashMap<(i32, i64), &str> = HashMap::new();
    for a in acknowledged {
        if let Some(other) = at.insert((a.partition, a.offset), a.value.as_str()) {
            report.same_offset.push(format!(
                "{} and {other} both acknowledged at {}:{}",
                a.value, a.partition, a.offset
            ));
        }
    }
    let mut times_read: HashMap<&str, usize> = HashMap::new();
    let mut by_partition: BTreeMap<i32, Vec<&Seen>> = BTreeMap::new();
    for r in read {
        let count = times_read.entry(r.value.as_str()).or_default();
        *count += 1;
        if *count > 1 {
            report.duplicated.push(r.value.clone());
        }
        by_partition.entry(r.partition).or_default().push(r);
        match acked.get(r.value.as_str()) {
            Some(a) if a.partition != r.partition || a.offset != r.offset => {
                report.reordered.push(format!(
                    "{} acknowledged at {}:{} but read at {}:{}",
                    r.value, a.partition, a.offset, r.partition, r.offset
                ));
            }
            Some(_) => {}
            None => report.unacknowledged += 1,
        }
    }
    for (partition, records) in &by_partition {
        for pair in records.windows(2) {
            if pair[1].offset <= pair[0].offset {
                report.reordered.push(format!(
                    "partition {partition}: offset {} ({}) read after {} ({})",
                    pair[1].offset, pair[1].value, pair[0].offset, pair[0].value
                ));
            }
        }
    }
    let read_values: BTreeSet<&str> = times_read.keys().copied().collect();
    report.lost = acknowledged
        .iter()
        .filter(|a| !read_values.contains(a.value.as_str()))
        .map(|a| a.value.clone())
        .collect();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(partition: i32, offset: i64, value: &str) -> Seen {
        Seen {
            partition,
            offset,
            value: value.to_owned(),
        }
    }

    #[test]
    fn counts_lost_duplicated_and_reordered() {
        let acked = [
            seen(0, 0, "a"),
            seen(0, 1, "b"),
            seen(1, 0, "c"),
            seen(1, 1, "d"),
        ];
        let clean = check(&acked, &acked);
        assert!(clean.is_clean(), "{}", clean.summary());
        let read = [
            seen(0, 1, "b"),
            seen(0, 0, "a"),
            seen(1, 0, "c"),
            seen(1, 0, "c"),
        ];
        let report = check(&acked, &read);
        assert_eq!(report.lost, ["d"]);
        assert_eq!(report.duplicated, ["c"]);
        // b before a, and the second c not after the first.
        assert_eq!(report.reordered.len(), 2, "{:?}", report.reordered);
        assert!(!report.is_clean());
        let phantom = [seen(0, 0, "a"), seen(0, 0, "e")];
        let report = check(&phantom, &phantom[..1]);
        assert_eq!(report.same_offset.len(), 1, "{}", report.summary());
    }
}
