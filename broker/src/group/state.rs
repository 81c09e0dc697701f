//! One group's membership and target assignment, and how it changes.
//!
//! The group epoch bumps on every change that can move partitions (a member joins,
//! leaves or times out, a subscription changes, a subscribed topic's partition count
//! changes); each bump recomputes the target assignment with the group's assignor, giving
//! the previous target as the sticky baseline. Members then converge to the target one
//! heartbeat at a time ([`super::member`]).

use std::collections::{BTreeMap, BTreeSet};

use super::assignor::{Assignment, Assignor, AssignorInput};
use super::member::Member;
use super::{TopicPartition, TopicView};

/// A group's state, with Kafka's names (for describe and list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members.
    Empty,
    /// Every member is at the group epoch and owns exactly its target.
    Stable,
    /// Some member still has partitions to revoke or to receive.
    Reconciling,
}

impl GroupState {
    /// The name shown to operators (`Empty`, `Stable`, `Reconciling`).
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::Stable => "Stable",
            GroupState::Reconciling => "Reconciling",
        }
    }
}

/// One consumer group's membership.
#[derive(Debug, Clone)]
pub struct Group {
    /// The group id.
    pub group_id: String,
    /// The group epoch; bumps on every membership or metadata change.
    pub epoch: i32,
    /// The strategy that computed the current target.
    pub assignor: Assignor,
    /// Members by id.
    pub members: BTreeMap<String, Member>,
    /// The target assignment computed at `epoch`.
    pub target: Assignment,
    /// Partition counts of the subscribed topics when `target` was computed.
    pub partition_counts: BTreeMap<String, u32>,
    /// Set when the group was taken out of the coordinator's map: a caller that looked it
    /// up just before must look again (see [`super::slots`]).
    pub removed: bool,
}

/// The empty partition set, for members without a target.
static NO_PARTITIONS: BTreeSet<TopicPartition> = BTreeSet::new();

impl Group {
    /// A group with no members at epoch 0.
    pub fn new(group_id: &str) -> Group {
        Group {
            group_id: group_id.to_string(),
            epoch: 0,
            assignor: Assignor::default(),
            members: BTreeMap::new(),
            target: Assignment::new(),
            partition_counts: BTreeMap::new(),
            removed: false,
        }
    }

    /// The group's state.
    pub fn state(&self) -> GroupState {
        if self.members.is_empty() {
            return GroupState::Empty;
        }
        let settled = self
            .members
            .iter()
            .all(|(id, m)| m.epoch == self.epoch && &m.owned == self.target_of(id));
        if settled {
            GroupState::Stable
        } else {
            GroupState::Reconciling
        }
    }

    /// The member's target partitions (empty when it has none).
    pub fn target_of(&self, member_id: &str) -> &BTreeSet<TopicPartition> {
        self.target.get(member_id).unwrap_or(&NO_PARTITIONS)
    }

    /// Bumps the epoch and recomputes the target assignment from the current members,
    /// subscriptions and partition counts.
    pub fn rebalance(&mut self, topics: &dyn TopicView) {
        self.epoch = self.epoch.wrapping_add(1).max(1);
        self.partition_counts = self.current_counts(topics);
        self.assignor = self.preferred_assignor();
        let subscriptions: BTreeMap<String, BTreeSet<String>> = self
            .members
            .iter()
            .map(|(id, m)| (id.clone(), m.subscription.clone()))
            .collect();
        self.target = self.assignor.assign(AssignorInput {
            subscriptions: &subscriptions,
            partition_counts: &self.partition_counts,
            current: &self.target,
        });
    }

    /// Rebalances when a subscribed topic appeared, disappeared or changed its partition
    /// count since the target was computed; returns whether it did.
    pub fn refresh_metadata(&mut self, topics: &dyn TopicView) -> bool {
        if self.members.is_empty() || self.current_counts(topics) == self.partition_counts {
            return false;
        }
        self.rebalance(topics);
        true
    }

    /// Moves one member towards its target (see [`Member::reconcile`]). With `grant_new`
    /// false the member is given no partition it does not own yet (after a broker
    /// restart, while members from before it may still be consuming).
    pub fn reconcile(&mut self, member_id: &str, now_ms: i64, grant_new: bool) {
        let mut taken = self.owned_by_others(member_id);
        if !grant_new {
            taken.extend(self.target_of(member_id).iter().cloned());
        }
        let target = self.target_of(member_id).clone();
        let epoch = self.epoch;
        if let Some(member) = self.members.get_mut(member_id) {
            member.reconcile(&target, epoch, &taken, now_ms);
        }
    }

    /// Removes a member, freeing its partitions, and rebalances the rest.
    pub fn remove_member(&mut self, member_id: &str, topics: &dyn TopicView) -> Option<Member> {
        let removed = self.members.remove(member_id)?;
        self.rebalance(topics);
        Some(removed)
    }

    /// Removes every member whose session or revocation deadline passed; returns their
    /// ids. Rebalances once if any left.
    pub fn expire(&mut self, now_ms: i64, topics: &dyn TopicView) -> Vec<String> {
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| m.is_expired(now_ms))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &expired {
            self.members.remove(id);
        }
        if !expired.is_empty() {
            self.rebalance(topics);
        }
        expired
    }

    /// Partitions owned by members other than `member_id`.
    fn owned_by_others(&self, member_id: &str) -> BTreeSet<TopicPartition> {
        self.members
            .iter()
            .filter(|(id, _)| id.as_str() != member_id)
            .flat_map(|(_, m)| m.owned.iter().cloned())
            .collect()
    }

    /// Partition counts of every subscribed topic that exists.
    fn current_counts(&self, topics: &dyn TopicView) -> BTreeMap<String, u32> {
        let subscribed: BTreeSet<&String> = self
            .members
            .values()
            .flat_map(|m| m.subscription.iter())
            .collect();
        subscribed
            .into_iter()
            .filter_map(|t| topics.partition_count(t).map(|n| (t.clone(), n)))
            .collect()
    }

    /// The assignor most members prefer (ties: the first by name); the default if none
    /// names one it knows.
    fn preferred_assignor(&self) -> Assignor {
        let mut votes: BTreeMap<&'static str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(a) = m.assignor.as_deref().and_then(Assignor::from_name) {
                *votes.entry(a.name()).or_default() += 1;
            }
        }
        votes
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .and_then(|(name, _)| Assignor::from_name(name))
            .unwrap_or_default()
    }
}
