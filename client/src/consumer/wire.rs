//! Group requests' partition lists: sets of [`TopicPartition`] to and from the wire's
//! per-topic arrays (assignments, owned partitions, commit offsets), each topic once.

use std::collections::BTreeSet;

use rill_protocol::api::common::{TopicAssignment, TopicPartitions};
use rill_protocol::api::offset_commit::OffsetCommitPartition;

use crate::record::TopicPartition;

/// Partitions on the wire, grouped by topic (`owned` is sorted, so each topic once).
pub(crate) fn to_wire(partitions: &BTreeSet<TopicPartition>) -> Vec<TopicAssignment> {
    let mut topics: Vec<TopicAssignment> = Vec::new();
    for tp in partitions {
        match topics.last_mut() {
            Some(t) if *t.name == *tp.topic => t.partitions.push(tp.partition),
            _ => topics.push(TopicPartitions {
                name: tp.topic.to_string(),
                partitions: vec![tp.partition],
            }),
        }
    }
    topics
}

/// Partitions from the wire.
pub(crate) fn from_wire(topics: Vec<TopicAssignment>) -> BTreeSet<TopicPartition> {
    topics
        .into_iter()
        .flat_map(|t| {
            let name = t.name;
            t.partitions
                .into_iter()
                .map(move |p| TopicPartition::new(name.clone(), p))
        })
        .collect()
}

/// Commit offsets grouped by topic.
pub(crate) fn commit_topics(
    mut offsets: Vec<(TopicPartition, i64)>,
) -> Vec<TopicPartitions<OffsetCommitPartition>> {
    offsets.sort();
    let mut topics: Vec<TopicPartitions<OffsetCommitPartition>> = Vec::new();
    for (tp, offset) in offsets {
        let partition = OffsetCommitPartition {
            partition: tp.partition,
            offset,
            metadata: None,
        };
        match topics.last_mut() {
            Some(t) if *t.name == *tp.topic => t.partitions.push(partition),
            _ => topics.push(TopicPartitions {
                name: tp.topic.to_string(),
                partitions: vec![partition],
            }),
        }
    }
    topics
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_round_trip_groups_by_topic() {
        let set: BTreeSet<TopicPartition> = [("a", 1), ("a", 0), ("b", 2)]
            .into_iter()
            .map(|(t, p)| TopicPartition::new(t, p))
            .collect();
        let wire = to_wire(&set);
        assert_eq!(wire.len(), 2);
        assert_eq!(wire[0].partitions, vec![0, 1]);
        assert_eq!(from_wire(wire), set);
    }

    #[test]
    fn commits_group_by_topic() {
        let topics = commit_topics(vec![
            (TopicPartition::new("b", 0), 3),
            (TopicPartition::new("a", 1), 2),
            (TopicPartition::new("a", 0), 1),
        ]);
        assert_eq!(topics.len(), 2);
        assert_eq!(
            (topics[0].name.as_str(), topics[0].partitions[1].offset),
            ("a", 2)
        );
    }
}
