//! Broker-side partition assignment strategies (KIP-848 style: the coordinator, not a
//! client leader, decides who owns what).
//!
//! An assignor maps the group's members (with their subscriptions), the partition counts
//! of the subscribed topics and the current target assignment to a new target assignment.
//! Every strategy is deterministic (members and partitions are visited in sorted order) and
//! guarantees that each partition of a subscribed topic goes to exactly one member that
//! subscribes to its topic.
//!
//! - [`Assignor::Range`]: per topic, contiguous ranges (Kafka's `RangeAssignor`).
//! - [`Assignor::RoundRobin`]: all partitions dealt in turn.
//! - [`Assignor::Sticky`] (default): keeps every still-valid current ownership, then balances
//!   counts to within one by moving as few partitions as possible.

use std::collections::{BTreeMap, BTreeSet};

use super::TopicPartition;

/// The target assignment: member id → the partitions it should own.
pub type Assignment = BTreeMap<String, BTreeSet<TopicPartition>>;

/// What an assignor works from.
#[derive(Debug, Clone, Copy)]
pub struct AssignorInput<'a> {
    /// Member id → subscribed topic names.
    pub subscriptions: &'a BTreeMap<String, BTreeSet<String>>,
    /// Topic → partition count, for every subscribed topic that exists.
    pub partition_counts: &'a BTreeMap<String, u32>,
    /// The current target assignment (used by the sticky strategy).
    pub current: &'a Assignment,
}

/// A partition assignment strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Assignor {
    /// Per topic, each subscriber gets a contiguous range; the first ones one extra.
    Range,
    /// Partitions sorted by (topic, partition) dealt to subscribers in turn.
    RoundRobin,
    /// Keeps current ownership where valid, balances with the fewest moves.
    #[default]
    Sticky,
}

impl Assignor {
    /// The strategy with this wire name (`range`, `round-robin`, `sticky`).
    pub fn from_name(name: &str) -> Option<Assignor> {
        use rill_protocol::api::join_group::{
            ASSIGNOR_RANGE, ASSIGNOR_ROUND_ROBIN, ASSIGNOR_STICKY,
        };
        match name {
            ASSIGNOR_RANGE => Some(Assignor::Range),
            ASSIGNOR_ROUND_ROBIN => Some(Assignor::RoundRobin),
            ASSIGNOR_STICKY => Some(Assignor::Sticky),
            _ => None,
        }
    }

    /// The wire name.
    pub fn name(self) -> &'static str {
        use rill_protocol::api::join_group::{
            ASSIGNOR_RANGE, ASSIGNOR_ROUND_ROBIN, ASSIGNOR_STICKY,
        };
        match self {
            Assignor::Range => ASSIGNOR_RANGE,
            Assignor::RoundRobin => ASSIGNOR_ROUND_ROBIN,
            Assignor::Sticky => ASSIGNOR_STICKY,
        }
    }

    /// Computes a target assignment; every member appears in the result (possibly empty).
    pub fn assign(self, input: AssignorInput<'_>) -> Assignment {
        let mut out: Assignment = input
            .subscriptions
            .keys()
            .map(|m| (m.clone(), BTreeSet::new()))
            .collect();
        match self {
            Assignor::Range => range(input, &mut out),
            Assignor::RoundRobin => round_robin(input, &mut out),
            Assignor::Sticky => sticky(input, &mut out),
        }
        out
    }
}

/// Topic → its subscribers, sorted; only topics that exist and have a subscriber.
fn subscribers<'a>(input: &AssignorInput<'a>) -> BTreeMap<&'a str, Vec<&'a str>> {
    let mut by_topic: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (member, topics) in input.subscriptions {
        for topic in topics {
            if input.partition_counts.contains_key(topic) {
                by_topic.entry(topic).or_default().push(member);
            }
        }
    }
    by_topic
}

/// Every partition that must be assigned: those of topics with at least one subscriber.
fn wanted_partitions(input: &AssignorInput<'_>) -> Vec<TopicPartition> {
    subscribers(input)
        .keys()
        .flat_map(|topic| {
            let count = input.partition_counts.get(*topic).copied().unwrap_or(0);
            (0..count).map(move |p| TopicPartition::new(*topic, p as i32))
        })
        .collect()
}

fn give(out: &mut Assignment, member: &str, tp: TopicPartition) {
    if let Some(set) = out.get_mut(member) {
        set.insert(tp);
    }
}

fn range(input: AssignorInput<'_>, out: &mut Assignment) {
    for (topic, members) in subscribers(&input) {
        let count = input.partition_counts.get(topic).copied().unwrap_or(0) as usize;
        let (per_member, extra) = (count / members.len(), count % members.len());
        let mut next = 0;
        for (i, member) in members.iter().enumerate() {
            let take = per_member + usize::from(i < extra);
            for p in next..next + take {
                give(out, member, TopicPartition::new(topic, p as i32));
            }
            next += take;
        }
    }
}

fn round_robin(input: AssignorInput<'_>, out: &mut Assignment) {
    let members: Vec<&String> = input.subscriptions.keys().collect();
    if members.is_empty() {
        return;
    }
    let mut cursor = 0;
    for tp in wanted_partitions(&input) {
        // Some member subscribes to every wanted partition's topic, so this ends.
        for step in 0..members.len() {
            let member = members[(cursor + step) % members.len()];
            if subscribes(&input, member, &tp.topic) {
                give(out, member, tp);
                cursor = (cursor + step + 1) % members.len();
                break;
            }
        }
    }
}

fn subscribes(input: &AssignorInput<'_>, member: &str, topic: &str) -> bool {
    input
        .subscriptions
        .get(member)
        .is_some_and(|topics| topics.contains(topic))
}

fn sticky(input: AssignorInput<'_>, out: &mut Assignment) {
    let wanted: BTreeSet<TopicPartition> = wanted_partitions(&input).into_iter().collect();
    let mut taken = BTreeSet::new();
    for (member, current) in input.current {
        if !out.contains_key(member) {
            continue;
        }
        for tp in current {
            if wanted.contains(tp) && subscribes(&input, member, &tp.topic) && taken.insert(tp) {
                give(out, member, tp.clone());
            }
        }
    }
    for tp in wanted.iter().filter(|tp| !taken.contains(tp)) {
        if let Some(member) = least_loaded(&input, out, &tp.topic, None) {
            give(out, &member, tp.clone());
        }
    }
    balance(&input, out);
}

/// The eligible member with the fewest partitions (ties: smallest id), other than `not`.
fn least_loaded(
    input: &AssignorInput<'_>,
    out: &Assignment,
    topic: &str,
    not: Option<&str>,
) -> Option<String> {
    out.iter()
        .filter(|(m, _)| Some(m.as_str()) != not && subscribes(input, m, topic))
        .min_by_key(|(m, set)| (set.len(), m.as_str()))
        .map(|(m, _)| m.clone())
}

/// Moves partitions from the most to the least loaded eligible members until no move can
/// narrow a gap of two or more. Each move lowers the sum of squared counts, so it ends.
fn balance(input: &AssignorInput<'_>, out: &mut Assignment) {
    while let Some((from, to, tp)) = best_move(input, out) {
        if let Some(set) = out.get_mut(&from) {
            set.remove(&tp);
        }
        give(out, &to, tp);
    }
}

/// The move from the most loaded member (ties: smallest id) of one of its partitions
/// (highest first, so ranges stay contiguous at the low end) to its least loaded
/// eligible member, when that narrows a gap of at least two.
fn best_move(
    input: &AssignorInput<'_>,
    out: &Assignment,
) -> Option<(String, String, TopicPartition)> {
    let mut givers: Vec<(&String, &BTreeSet<TopicPartition>)> = out.iter().collect();
    givers.sort_by_key(|(m, set)| (std::cmp::Reverse(set.len()), m.as_str()));
    for (giver, owned) in givers {
        for tp in owned.iter().rev() {
            let Some(taker) = least_loaded(input, out, &tp.topic, Some(giver)) else {
                continue;
            };
            let taker_len = out.get(&taker).map_or(0, BTreeSet::len);
            if owned.len() > taker_len + 1 {
                return Some((giver.clone(), taker, tp.clone()));
            }
        }
    }
    None
}

#[cfg(test)]
#[path = "assignor_tests.rs"]
mod tests;
