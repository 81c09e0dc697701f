//! The checker of a replicated run (issue #16), after Jepsen's Kafka workload: what
//! producers were told, what consumers read while the run went on, and what every
//! replica's segments hold afterwards, compared in linear time (hash maps, one walk per
//! list). It counts, instead of stopping at the first:
//! - **lost**: acknowledged, but a replica whose log covers the acknowledged offset does
//!   not hold the record at all;
//! - **duplicated**: one record (its unique value) at two offsets of a replica;
//! - **reordered**: a producer's records stored out of their send order (values are
//!   `<producer>-<seq>`: within a partition, offsets rise with `seq`), or a record
//!   acknowledged at one offset and stored at another;
//! - **diverged**: two replicas of a partition that end at different offsets, or hold
//!   different records (or a record and a hole) at the same offset;
//! - **vanished**: a record a consumer read during the run that a replica no longer has
//!   at that offset (gone, or another record in its place).
//!
//! Offsets below a replica's log start (deleted by retention) are not held against it;
//! they are counted as trimmed.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};

use super::Seen;

/// One record as a replica's segments hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Its offset.
    pub offset: i64,
    /// Its key (`None`: null).
    pub key: Option<Vec<u8>>,
    /// Its value, as text (the tests' values are unique strings).
    pub value: String,
}

/// One partition's copy on one broker, read from its data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaCopy {
    /// The broker.
    pub node: u64,
    /// The partition.
    pub partition: i32,
    /// First offset the copy still has (retention deletes below it).
    pub log_start_offset: i64,
    /// One past the last offset it holds.
    pub log_end_offset: i64,
    /// Its records, offsets ascending.
    pub records: Vec<Stored>,
}

impl ReplicaCopy {
    fn covers(&self, offset: i64) -> bool {
        offset >= self.log_start_offset
    }
}

/// Everything a run saw, for [`check_history`].
#[derive(Debug, Clone, Copy)]
pub struct History<'a> {
    /// Records producers were told are stored, with the offsets they were told.
    pub acknowledged: &'a [Seen],
    /// Records consumers read while the run went on.
    pub observed: &'a [Seen],
    /// Every replica of every partition, read after the run.
    pub replicas: &'a [ReplicaCopy],
}

/// What [`check_history`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HistoryReport {
    /// Acknowledged records.
    pub acknowledged: usize,
    /// Records consumers read during the run.
    pub observed: usize,
    /// Replica copies compared.
    pub replicas: usize,
    /// Records in the longest copy of each partition, summed.
    pub stored: usize,
    /// Stored but never acknowledged (allowed: an acknowledgement may be lost).
    pub unacknowledged: usize,
    /// Acknowledged or read records below a replica's log start (deleted by retention).
    pub trimmed: usize,
    /// See the module docs.
    pub lost: Vec<String>,
    /// See the module docs.
    pub duplicated: Vec<String>,
    /// See the module docs.
    pub reordered: Vec<String>,
    /// See the module docs.
    pub diverged: Vec<String>,
    /// See the module docs.
    pub vanished: Vec<String>,
}

impl HistoryReport {
    /// Whether nothing was lost, duplicated, reordered, diverged or vanished.
    pub fn is_clean(&self) -> bool {
        self.lost.is_empty()
            && self.duplicated.is_empty()
            && self.reordered.is_empty()
            && self.diverged.is_empty()
            && self.vanished.is_empty()
    }

    /// The counts, and the first few offenders of each kind.
    pub fn summary(&self) -> String {
        let kinds = [
            ("lost", &self.lost),
            ("duplicated", &self.duplicated),
            ("reordered", &self.reordered),
            ("diverged", &self.diverged),
            ("vanished", &self.vanished),
        ];
        let mut out = format!(
            "acknowledged {}, observed {}, replicas {}, stored {}, unacknowledged {}, \
             trimmed {}",
            self.acknowledged,
            self.observed,
            self.replicas,
            self.stored,
            self.unacknowledged,
            self.trimmed
        );
        for (name, list) in kinds {
            out.push_str(&format!(", {name} {}", list.len()));
            if !list.is_empty() {
                out.push_str(&format!(" {:?}", &list[..list.len().min(5)]));
            }
        }
        out
    }
}

/// `(producer, seq)` of a test value `<producer>-<seq>`; `None` for other values.
pub fn record_id(value: &str) -> Option<(&str, u64)> {
    let (producer, seq) = value.rsplit_once('-')?;
    Some((producer, seq.parse().ok()?))
}

/// One replica indexed both ways.
struct Indexed<'a> {
    copy: &'a ReplicaCopy,
    by_offset: HashMap<i64, &'a Stored>,
    by_value: HashMap<&'a str, i64>,
}

/// Checks a run; see the module docs for what each count means.
pub fn check_history(history: History<'_>) -> HistoryReport {
    let mut report = HistoryReport {
        acknowledged: history.acknowledged.len(),
        observed: history.observed.len(),
        replicas: history.replicas.len(),
        ..HistoryReport::default()
    };
    let mut partitions: BTreeMap<i32, Vec<Indexed<'_>>> = BTreeMap::new();
    for copy in history.replicas {
        let indexed = index_replica(copy, &mut report);
        partitions.entry(copy.partition).or_default().push(indexed);
    }
    for replicas in partitions.values() {
        compare_replicas(replicas, &mut report);
    }
    check_acknowledged(history.acknowledged, &partitions, &mut report);
    check_observed(history.observed, &partitions, &mut report);
    report
}

/// Indexes `copy` and reports its duplicates and its producers' order.
fn index_replica<'a>(copy: &'a ReplicaCopy, report: &mut HistoryReport) -> Indexed<'a> {
    let mut by_offset = HashMap::with_capacity(copy.records.len());
    let mut by_value: HashMap<&str, i64> = HashMap::with_capacity(copy.records.len());
    let mut last_seq: HashMap<&str, (u64, i64)> = HashMap::new();
    let place = |offset: i64| format!("node {} {}:{offset}", copy.node, copy.partition);
    for stored in &copy.records {
        by_offset.insert(stored.offset, stored);
        match by_value.entry(stored.value.as_str()) {
            Entry::Occupied(first) => report.duplicated.push(format!(
                "{} at {} and at offset {}",
                stored.value,
                place(stored.offset),
                first.get()
            )),
            Entry::Vacant(slot) => {
                slot.insert(stored.offset);
            }
        }
        if let Some((producer, seq)) = record_id(&stored.value) {
            if let Some((before, at)) = last_seq.insert(producer, (seq, stored.offset)) {
                if seq <= before {
                    report.reordered.push(format!(
                        "{} (seq {seq}) at {} after seq {before} at offset {at}",
                        stored.value,
                        place(stored.offset)
                    ));
                }
            }
        }
    }
    Indexed {
        copy,
        by_offset,
        by_value,
    }
}

/// Compares every replica of a partition with the one that ends last, offset by offset
/// over the range both still hold.
fn compare_replicas(replicas: &[Indexed<'_>], report: &mut HistoryReport) {
    let Some(reference) = replicas.iter().max_by_key(|r| {
        (
            r.copy.log_end_offset,
            std::cmp::Reverse(r.copy.log_start_offset),
            std::cmp::Reverse(r.copy.node),
        )
    }) else {
        return;
    };
    report.stored += reference.copy.records.len();
    let (p, ref_node) = (reference.copy.partition, reference.copy.node);
    for other in replicas {
        let other_node = other.copy.node;
        if other_node == ref_node {
            continue;
        }
        if other.copy.log_end_offset != reference.copy.log_end_offset {
            report.diverged.push(format!(
                "partition {p}: node {other_node} ends at {}, node {ref_node} at {}",
                other.copy.log_end_offset, reference.copy.log_end_offset
            ));
        }
        let from = other
            .copy
            .log_start_offset
            .max(reference.copy.log_start_offset);
        let to = other.copy.log_end_offset.min(reference.copy.log_end_offset);
        let in_overlap = |s: &&Stored| (from..to).contains(&s.offset);
        for a in reference.copy.records.iter().filter(in_overlap) {
            let b = other.by_offset.get(&a.offset);
            if !b.is_some_and(|b| a.key == b.key && a.value == b.value) {
                report.diverged.push(format!(
                    "{p}:{}: node {ref_node} holds {:?}, node {other_node} {:?}",
                    a.offset,
                    a.value,
                    b.map(|s| &s.value)
                ));
            }
        }
        for b in other.copy.records.iter().filter(in_overlap) {
            if !reference.by_offset.contains_key(&b.offset) {
                report.diverged.push(format!(
                    "{p}:{}: node {ref_node} holds nothing, node {other_node} {:?}",
                    b.offset, b.value
                ));
            }
        }
    }
}

/// Every acknowledged record must be on every replica that covers its offset, at that
/// offset.
fn check_acknowledged(
    acknowledged: &[Seen],
    partitions: &BTreeMap<i32, Vec<Indexed<'_>>>,
    report: &mut HistoryReport,
) {
    let mut acked_values: HashSet<(i32, &str)> = HashSet::with_capacity(acknowledged.len());
    for ack in acknowledged {
        acked_values.insert((ack.partition, ack.value.as_str()));
        let Some(replicas) = partitions.get(&ack.partition) else {
            report.lost.push(format!(
                "{} acknowledged at {}:{}, no replica of partition {} read",
                ack.value, ack.partition, ack.offset, ack.partition
            ));
            continue;
        };
        let mut trimmed = false;
        for replica in replicas {
            if !replica.copy.covers(ack.offset) {
                trimmed = true;
                continue;
            }
            let node = replica.copy.node;
            match replica.by_value.get(ack.value.as_str()) {
                Some(at) if *at == ack.offset => {}
                Some(at) => report.reordered.push(format!(
                    "{} acknowledged at {}:{} but stored at offset {at} on node {node}",
                    ack.value, ack.partition, ack.offset
                )),
                None => report.lost.push(format!(
                    "{} acknowledged at {}:{}, not on node {node}",
                    ack.value, ack.partition, ack.offset
                )),
            }
        }
        if trimmed {
            report.trimmed += 1;
        }
    }
    for replicas in partitions.values() {
        let Some(longest) = replicas.iter().max_by_key(|r| r.copy.log_end_offset) else {
            continue;
        };
        let p = longest.copy.partition;
        report.unacknowledged += longest
            .copy
            .records
            .iter()
            .filter(|s| !acked_values.contains(&(p, s.value.as_str())))
            .count();
    }
}

/// Every record a consumer read must still be at its offset on every replica that
/// covers it.
fn check_observed(
    observed: &[Seen],
    partitions: &BTreeMap<i32, Vec<Indexed<'_>>>,
    report: &mut HistoryReport,
) {
    for seen in observed {
        let Some(replicas) = partitions.get(&seen.partition) else {
            report.vanished.push(format!(
                "{} read at {}:{}, no replica of partition {} read",
                seen.value, seen.partition, seen.offset, seen.partition
            ));
            continue;
        };
        let mut trimmed = false;
        for replica in replicas {
            if !replica.copy.covers(seen.offset) {
                trimmed = true;
                continue;
            }
            let held = replica.by_offset.get(&seen.offset).map(|s| &s.value);
            if held != Some(&seen.value) {
                report.vanished.push(format!(
                    "{} read at {}:{}, node {} holds {held:?} there",
                    seen.value, seen.partition, seen.offset, replica.copy.node
                ));
            }
        }
        if trimmed {
            report.trimmed += 1;
        }
    }
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

    /// A copy of partition 0 on `node` holding `values` from `start` on.
    fn copy(node: u64, start: i64, values: &[&str]) -> ReplicaCopy {
        let records: Vec<Stored> = values
            .iter()
            .enumerate()
            .map(|(i, v)| Stored {
                offset: start + i as i64,
                key: None,
                value: (*v).to_owned(),
            })
            .collect();
        ReplicaCopy {
            node,
            partition: 0,
            log_start_offset: start,
            log_end_offset: start + values.len() as i64,
            records,
        }
    }

    const LOG: [&str; 4] = ["a-0", "b-0", "a-1", "b-1"];

    fn acked() -> Vec<Seen> {
        LOG.iter()
            .enumerate()
            .map(|(i, v)| seen(0, i as i64, v))
            .collect()
    }

    fn three(values: &[&str]) -> Vec<ReplicaCopy> {
        (1..=3).map(|n| copy(n, 0, values)).collect()
    }

    fn run(acknowledged: &[Seen], observed: &[Seen], replicas: &[ReplicaCopy]) -> HistoryReport {
        let report = check_history(History {
            acknowledged,
            observed,
            replicas,
        });
        eprintln!("{}", report.summary());
        report
    }

    #[test]
    fn a_clean_history_passes() {
        let acked = acked();
        let report = run(&acked, &acked[..2], &three(&LOG));
        assert!(report.is_clean());
        assert_eq!(
            (report.stored, report.unacknowledged, report.trimmed),
            (4, 0, 0)
        );
        // An unacknowledged record in every copy is allowed.
        let report = run(&acked[..3], &[], &three(&LOG));
        assert!(report.is_clean());
        assert_eq!(report.unacknowledged, 1);
    }

    #[test]
    fn an_acknowledged_record_missing_from_every_copy_is_lost() {
        let report = run(&acked(), &[], &three(&LOG[..3]));
        assert_eq!(report.lost.len(), 3, "once per replica");
        assert!(report.lost[0].contains("b-1"));
        assert!(!report.is_clean());
        // And with no copy of its partition at all.
        let report = run(&acked(), &[], &[]);
        assert_eq!(report.lost.len(), 4);
    }

    #[test]
    fn a_record_stored_twice_is_duplicated() {
        let mut replicas = three(&LOG);
        for r in &mut replicas {
            r.records.push(Stored {
                offset: 4,
                key: None,
                value: "a-1".into(),
            });
            r.log_end_offset = 5;
        }
        let report = run(&acked(), &[], &replicas);
        assert_eq!(report.duplicated.len(), 3);
        // A retry of a-1 stored again also breaks a's order (seq 1 after seq 1).
        assert_eq!(report.reordered.len(), 3);
        assert!(report.lost.is_empty() && report.diverged.is_empty());
    }

    #[test]
    fn a_producer_out_of_order_or_a_moved_record_is_reordered() {
        let swapped = ["a-1", "b-0", "a-0", "b-1"];
        let report = run(&[], &[], &three(&swapped));
        assert_eq!(report.reordered.len(), 3, "a-0 after a-1, on each copy");
        // Acknowledged at 0 but stored at 2.
        let report = run(&[seen(0, 0, "a-0")], &[], &three(&swapped));
        assert_eq!(report.reordered.len(), 6, "{:?}", report.reordered);
        assert!(report
            .reordered
            .iter()
            .any(|r| r.contains("stored at offset 2")));
        assert!(report.lost.is_empty());
    }

    #[test]
    fn copies_that_differ_have_diverged() {
        let acked = acked();
        let mut replicas = three(&LOG);
        replicas[2] = copy(3, 0, &["a-0", "b-0", "x-0", "b-1"]);
        let report = run(&acked[..2], &[], &replicas);
        assert_eq!(
            report.diverged.len(),
            1,
            "node 3 against the reference only"
        );
        assert!(report.diverged[0].contains("x-0"));
        // A copy that ends early (a follower behind) or with a hole.
        let mut replicas = three(&LOG);
        replicas[1] = copy(2, 0, &LOG[..2]);
        replicas[2].records.remove(1);
        let report = run(&[], &[], &replicas);
        assert_eq!(report.diverged.len(), 2, "{:?}", report.diverged);
        assert!(report.diverged[0].contains("node 2 ends at 2"));
        assert!(report.diverged[1].contains("node 3 None"));
    }

    #[test]
    fn a_record_read_then_gone_or_changed_has_vanished() {
        let observed = [seen(0, 2, "a-1"), seen(0, 3, "b-1")];
        let mut replicas = three(&LOG[..3]);
        replicas[0] = copy(1, 0, &["a-0", "b-0", "c-0"]);
        let report = run(&[], &observed, &replicas);
        // a-1 replaced on node 1; b-1 gone from all three.
        assert_eq!(report.vanished.len(), 4, "{:?}", report.vanished);
        assert!(report.vanished.iter().any(|v| v.contains("Some(\"c-0\")")));
    }

    #[test]
    fn records_below_the_log_start_are_trimmed_not_lost() {
        let acked = acked();
        let trimmed: Vec<ReplicaCopy> = (1..=3).map(|n| copy(n, 2, &LOG[2..])).collect();
        let report = run(&acked, &acked[..1], &trimmed);
        assert!(report.is_clean());
        assert_eq!(report.trimmed, 3, "two acknowledged, one read");
        // A replica that trimmed more than another compares only what both hold.
        let mut mixed = three(&LOG);
        mixed[0] = copy(1, 3, &LOG[3..]);
        let report = run(&acked, &[], &mixed);
        assert!(report.is_clean());
    }

    #[test]
    fn record_ids_parse_the_last_dash() {
        assert_eq!(record_id("w1-p3-000012"), Some(("w1-p3", 12)));
        assert_eq!(record_id("plain"), None);
        assert_eq!(record_id("x-y"), None);
    }
}
