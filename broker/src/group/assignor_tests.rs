//! Unit and property tests of the assignment strategies.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;

fn subs(members: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
    members
        .iter()
        .map(|(m, topics)| {
            (
                m.to_string(),
                topics.iter().map(|t| t.to_string()).collect(),
            )
        })
        .collect()
}

fn counts(topics: &[(&str, u32)]) -> BTreeMap<String, u32> {
    topics.iter().map(|(t, n)| (t.to_string(), *n)).collect()
}

fn tps(topic: &str, partitions: &[i32]) -> BTreeSet<TopicPartition> {
    partitions
        .iter()
        .map(|p| TopicPartition::new(topic, *p))
        .collect()
}

fn run(
    assignor: Assignor,
    subscriptions: &BTreeMap<String, BTreeSet<String>>,
    partition_counts: &BTreeMap<String, u32>,
    current: &Assignment,
) -> Assignment {
    assignor.assign(AssignorInput {
        subscriptions,
        partition_counts,
        current,
    })
}

/// Every partition of a subscribed topic assigned exactly once, to a subscriber.
fn assert_valid(
    out: &Assignment,
    subscriptions: &BTreeMap<String, BTreeSet<String>>,
    partition_counts: &BTreeMap<String, u32>,
) {
    let mut seen = BTreeSet::new();
    for (member, set) in out {
        for tp in set {
            assert!(
                subscriptions[member].contains(&tp.topic),
                "{member} got {tp:?}"
            );
            assert!(seen.insert(tp.clone()), "{tp:?} assigned twice");
        }
    }
    let subscribed: BTreeSet<&String> = subscriptions.values().flatten().collect();
    for (topic, n) in partition_counts {
        if subscribed.contains(topic) {
            for p in 0..*n as i32 {
                assert!(
                    seen.contains(&TopicPartition::new(topic, p)),
                    "{topic}-{p} unassigned"
                );
            }
        }
    }
}

fn spread(out: &Assignment) -> usize {
    let lens: Vec<usize> = out.values().map(BTreeSet::len).collect();
    lens.iter().max().unwrap_or(&0) - lens.iter().min().unwrap_or(&0)
}

/// Partitions taken from a member that is still in the group.
fn moved(before: &Assignment, after: &Assignment) -> usize {
    before
        .iter()
        .filter(|(m, _)| after.contains_key(*m))
        .flat_map(|(m, set)| set.iter().map(move |tp| (m, tp)))
        .filter(|(m, tp)| {
            after.values().any(|s| s.contains(*tp))
                && !after.get(*m).is_some_and(|s| s.contains(*tp))
        })
        .count()
}

#[test]
fn names_round_trip() {
    for a in [Assignor::Range, Assignor::RoundRobin, Assignor::Sticky] {
        assert_eq!(Assignor::from_name(a.name()), Some(a));
    }
    assert_eq!(Assignor::from_name("cooperative-magic"), None);
    assert_eq!(Assignor::default(), Assignor::Sticky);
}

#[test]
fn range_gives_contiguous_ranges_per_topic() {
    let s = subs(&[("a", &["t", "u"]), ("b", &["t", "u"])]);
    let c = counts(&[("t", 3), ("u", 3)]);
    let out = run(Assignor::Range, &s, &c, &Assignment::new());
    let a: BTreeSet<_> = tps("t", &[0, 1])
        .into_iter()
        .chain(tps("u", &[0, 1]))
        .collect();
    assert_eq!(out["a"], a);
    assert_eq!(
        out["b"],
        tps("t", &[2]).into_iter().chain(tps("u", &[2])).collect()
    );
}

#[test]
fn round_robin_deals_in_turn() {
    let s = subs(&[("a", &["t"]), ("b", &["t"]), ("c", &["t"])]);
    let out = run(
        Assignor::RoundRobin,
        &s,
        &counts(&[("t", 7)]),
        &Assignment::new(),
    );
    assert_eq!(out["a"], tps("t", &[0, 3, 6]));
    assert_eq!(out["b"], tps("t", &[1, 4]));
    assert_eq!(out["c"], tps("t", &[2, 5]));
}

#[test]
fn unknown_topics_and_unsubscribed_members_get_nothing() {
    let s = subs(&[("a", &["missing"]), ("b", &[])]);
    for assignor in [Assignor::Range, Assignor::RoundRobin, Assignor::Sticky] {
        let out = run(assignor, &s, &counts(&[("t", 2)]), &Assignment::new());
        assert_eq!(out.len(), 2);
        assert!(out.values().all(BTreeSet::is_empty), "{assignor:?}");
    }
}

#[test]
fn sticky_join_moves_only_what_the_new_member_gets() {
    let c = counts(&[("t", 6)]);
    let three = subs(&[("a", &["t"]), ("b", &["t"]), ("c", &["t"])]);
    let before = run(Assignor::Sticky, &three, &c, &Assignment::new());
    assert_eq!(spread(&before), 0);
    let four = subs(&[("a", &["t"]), ("b", &["t"]), ("c", &["t"]), ("d", &["t"])]);
    let after = run(Assignor::Sticky, &four, &c, &before);
    assert_valid(&after, &four, &c);
    assert_eq!(after["d"].len(), 1);
    assert_eq!(moved(&before, &after), 1);
    assert!(spread(&after) <= 1);
}

#[test]
fn sticky_leave_moves_only_the_leavers_partitions() {
    let c = counts(&[("t", 6)]);
    let three = subs(&[("a", &["t"]), ("b", &["t"]), ("c", &["t"])]);
    let before = run(Assignor::Sticky, &three, &c, &Assignment::new());
    let two = subs(&[("a", &["t"]), ("c", &["t"])]);
    let after = run(Assignor::Sticky, &two, &c, &before);
    assert_valid(&after, &two, &c);
    assert!(before["a"].is_subset(&after["a"]));
    assert!(before["c"].is_subset(&after["c"]));
    assert_eq!(after["a"].len(), 3);
}

#[test]
fn sticky_drops_partitions_of_unsubscribed_topics_and_shrunk_topics() {
    let s = subs(&[("a", &["t"])]);
    let mut current = Assignment::new();
    current.insert(
        "a".into(),
        tps("t", &[0, 5])
            .into_iter()
            .chain(tps("u", &[0]))
            .collect(),
    );
    let out = run(
        Assignor::Sticky,
        &s,
        &counts(&[("t", 2), ("u", 1)]),
        &current,
    );
    assert_eq!(out["a"], tps("t", &[0, 1]));
}

#[test]
fn heterogeneous_subscriptions_are_respected() {
    let s = subs(&[("a", &["t"]), ("b", &["t", "u"]), ("c", &["u"])]);
    let c = counts(&[("t", 4), ("u", 4)]);
    for assignor in [Assignor::Range, Assignor::RoundRobin, Assignor::Sticky] {
        let out = run(assignor, &s, &c, &Assignment::new());
        assert_valid(&out, &s, &c);
    }
    let sticky = run(Assignor::Sticky, &s, &c, &Assignment::new());
    assert!(spread(&sticky) <= 1, "{sticky:?}");
}

/// The fewest moves any balanced assignment needs from `before` (homogeneous subscriptions):
/// members keeping the most get the larger quotas.
fn min_moves(before: &Assignment, members: &[String], total: usize) -> usize {
    let mut held: Vec<usize> = members
        .iter()
        .map(|m| before.get(m).map_or(0, BTreeSet::len))
        .collect();
    held.sort_unstable_by(|a, b| b.cmp(a));
    let (floor, extra) = (total / members.len(), total % members.len());
    held.iter()
        .enumerate()
        .map(|(i, h)| h.saturating_sub(floor + usize::from(i < extra)))
        .sum()
}

fn homogeneous(
    members: &[String],
    topics: &BTreeMap<String, u32>,
) -> BTreeMap<String, BTreeSet<String>> {
    members
        .iter()
        .map(|m| (m.clone(), topics.keys().cloned().collect()))
        .collect()
}

fn member_names(n: usize, offset: usize) -> Vec<String> {
    (offset..offset + n).map(|i| format!("m{i:03}")).collect()
}

proptest! {
    #[test]
    fn every_strategy_is_valid_and_deterministic(
        topic_sizes in prop::collection::vec(0u32..12, 1..4),
        member_topics in prop::collection::vec(prop::collection::btree_set(0usize..4, 0..4), 1..7),
    ) {
        let c: BTreeMap<String, u32> = topic_sizes.iter().enumerate().map(|(i, n)| (format!("t{i}"), *n)).collect();
        let s: BTreeMap<String, BTreeSet<String>> = member_topics.iter().enumerate()
            .map(|(i, ts)| (format!("m{i}"), ts.iter().map(|t| format!("t{t}")).collect()))
            .collect();
        for assignor in [Assignor::Range, Assignor::RoundRobin, Assignor::Sticky] {
            let out = run(assignor, &s, &c, &Assignment::new());
            assert_valid(&out, &s, &c);
            prop_assert_eq!(&out, &run(assignor, &s, &c, &Assignment::new()));
        }
    }

    #[test]
    fn round_robin_and_sticky_balance_homogeneous_groups(
        topic_sizes in prop::collection::vec(1u32..20, 1..4),
        members in 1usize..9,
    ) {
        let c: BTreeMap<String, u32> = topic_sizes.iter().enumerate().map(|(i, n)| (format!("t{i}"), *n)).collect();
        let s = homogeneous(&member_names(members, 0), &c);
        for assignor in [Assignor::RoundRobin, Assignor::Sticky] {
            let out = run(assignor, &s, &c, &Assignment::new());
            prop_assert!(spread(&out) <= 1, "{:?}: {:?}", assignor, out);
        }
    }

    #[test]
    fn sticky_moves_the_minimum_when_members_come_and_go(
        partitions in 1u32..40,
        before_members in 1usize..8,
        leave in 0usize..8,
        join in 0usize..4,
    ) {
        let c = counts(&[("t", partitions)]);
        let first = member_names(before_members, 0);
        let before = run(Assignor::Sticky, &homogeneous(&first, &c), &c, &Assignment::new());
        let mut next: Vec<String> = first.iter().skip(leave.min(before_members - 1)).cloned().collect();
        next.extend(member_names(join, 100));
        let s = homogeneous(&next, &c);
        let after = run(Assignor::Sticky, &s, &c, &before);
        assert_valid(&after, &s, &c);
        prop_assert!(spread(&after) <= 1);
        prop_assert_eq!(moved(&before, &after), min_moves(&before, &next, partitions as usize));
    }
}
