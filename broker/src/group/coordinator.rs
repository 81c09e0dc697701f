//! The group coordinator: every group's membership (join, heartbeat, leave, expiry); the
//! commit and fetch of offsets are in [`super::commit`], operator calls in [`super::admin`].
//!
//! Locks, always taken in this order: the group map ([`GroupSlots`], held only for a
//! lookup), one group's lock, then `offsets` (the store and its log); `emptied` is a leaf.
//! Each group has its own lock, so one group's rebalance or offset write never delays
//! another group's heartbeats. A commit holds its group's lock while it writes, so a
//! member fenced by a rebalance cannot slip a commit in between the check and the write.
//! Every method takes the current time in ms, so tests run on a fake clock.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use tracing::info;

use super::assignor::Assignor;
use super::member::{Member, MemberIdentity};
use super::offsets::OffsetStore;
use super::slots::{lock, GroupSlots};
use super::state::Group;
use super::{validate_group_id, GroupConfig, GroupError, TopicPartition, TopicView};
use super::{MEMBER_ID_MAX_BYTES, SUBSCRIBED_TOPICS_MAX};
use crate::topics::{TopicRegistry, TOPIC_NAME_MAX_CHARS};

/// A join (or rejoin) request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinParams {
    /// The group.
    pub group_id: String,
    /// Empty on a first join (the coordinator picks one); a known id rejoins owning nothing.
    pub member_id: String,
    /// Session timeout, in ms.
    pub session_timeout_ms: i32,
    /// Time allowed for revocations, in ms.
    pub rebalance_timeout_ms: i32,
    /// Subscribed topics.
    pub topics: Vec<String>,
    /// Preferred assignor name.
    pub assignor: Option<String>,
    /// Client id from the request header.
    pub client_id: Option<String>,
    /// The client's address.
    pub client_host: String,
}

/// A heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatParams {
    /// The group.
    pub group_id: String,
    /// The member.
    pub member_id: String,
    /// The member's epoch as it knows it.
    pub member_epoch: i32,
    /// A new subscription, when it changed.
    pub topics: Option<Vec<String>>,
    /// What the member owns now (after finishing any revocation).
    pub owned: Vec<TopicPartition>,
}

/// What a member is told after a join or heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberUpdate {
    /// The member's id.
    pub member_id: String,
    /// The member's epoch.
    pub member_epoch: i32,
    /// How often to heartbeat, in ms.
    pub heartbeat_interval_ms: i32,
    /// The partitions the member should own, when that changed since the last answer.
    pub assignment: Option<BTreeSet<TopicPartition>>,
}

/// What a housekeeping round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HousekeepingReport {
    /// `(group, member)` removed for missing their session or revocation deadline.
    pub expired: Vec<(String, String)>,
    /// Groups rebalanced because a subscribed topic's partition count changed.
    pub metadata_rebalances: usize,
}

/// How often a join or a group-locked call looks a group up again after finding it
/// removed between its lookup and its lock.
const JOIN_ATTEMPTS_MAX: usize = 16;

/// Every consumer group of this broker.
#[derive(Debug)]
pub struct GroupCoordinator {
    pub(super) config: GroupConfig,
    pub(super) groups: GroupSlots,
    pub(super) offsets: Mutex<OffsetStore>,
    /// When each group without members last had one (ms), for offset expiry.
    pub(super) emptied_ms: Mutex<BTreeMap<String, i64>>,
    /// Groups with committed offsets when the broker started (they may have had members
    /// before the restart); see `in_restart_hold`.
    restored_groups: BTreeSet<String>,
    member_seq: AtomicU64,
    pub(super) boot_ms: i64,
}

impl GroupCoordinator {
    /// Opens the coordinator and loads every committed offset from `__consumer_offsets`
    /// (created on the first commit). Blocking.
    pub fn open(
        topics: &TopicRegistry,
        config: GroupConfig,
        now_ms: i64,
    ) -> Result<Self, GroupError> {
        let offsets = OffsetStore::open(topics)?;
        let restored_groups = offsets.group_ids().cloned().collect();
        Ok(GroupCoordinator {
            config,
            groups: GroupSlots::default(),
            offsets: Mutex::new(offsets),
            restored_groups,
            emptied_ms: Mutex::new(BTreeMap::new()),
            member_seq: AtomicU64::new(0),
            boot_ms: now_ms,
        })
    }

    /// Sends the offsets log's writes through `writer` (replicated `__consumer_offsets`).
    pub fn set_offsets_writer(&self, writer: std::sync::Arc<dyn super::offsets::OffsetsWriter>) {
        self.lock_offsets().set_writer(writer);
    }

    /// The Raft term offsets partition `index` was last loaded at (replicated
    /// `__consumer_offsets`).
    pub fn offsets_loaded_term(&self, index: i32) -> Option<u64> {
        self.lock_offsets().loaded_term(index)
    }

    /// Reloads the committed offsets of offsets partition `index` from its local copy,
    /// as its new leader at `term`, unless already loaded at that term. Blocking.
    pub fn reload_offsets(
        &self,
        topics: &TopicRegistry,
        index: i32,
        term: u64,
    ) -> Result<(), GroupError> {
        let mut offsets = self.lock_offsets();
        if offsets.loaded_term(index) != Some(term) {
            offsets.reload(topics, index, term)?;
        }
        Ok(())
    }

    /// The coordinator's limits.
    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// Adds a member, or rejoins one: a known member id that joins again is a new
    /// incarnation of that member, which owns nothing and gets a new epoch, so the old
    /// incarnation (a process that restarted, a zombie) is fenced: its heartbeats and
    /// commits at the old epoch are refused. Rebalances and returns the first assignment.
    pub fn join(
        &self,
        p: JoinParams,
        topics: &dyn TopicView,
        now_ms: i64,
    ) -> Result<MemberUpdate, GroupError> {
        validate_group_id(&p.group_id)?;
        self.validate_join(&p)?;
        let subscription = validate_topics(&p.topics)?;
        for _ in 0..JOIN_ATTEMPTS_MAX {
            let slot = self
                .groups
                .get_or_insert(&p.group_id, self.config.groups_max)?;
            let mut group = lock(&slot);
            if group.removed {
                continue; // emptied and removed after the lookup: look again
            }
            return self.join_locked(&mut group, p, subscription, topics, now_ms);
        }
        Err(GroupError::InvalidRequest(format!(
            "group `{}` kept being removed while joining; retry",
            p.group_id
        )))
    }

    fn join_locked(
        &self,
        group: &mut Group,
        p: JoinParams,
        subscription: BTreeSet<String>,
        topics: &dyn TopicView,
        now_ms: i64,
    ) -> Result<MemberUpdate, GroupError> {
        let member_id = if p.member_id.is_empty() {
            self.new_member_id()
        } else {
            p.member_id.clone()
        };
        if !group.members.contains_key(&member_id)
            && group.members.len() >= self.config.members_per_group_max
        {
            return Err(GroupError::GroupFull {
                group_id: p.group_id,
                max: self.config.members_per_group_max,
            });
        }
        if let Some(m) = group.members.get_mut(&member_id) {
            // A new incarnation: it owns nothing, and the rebalance below gives it a new
            // epoch, which the old incarnation does not know.
            m.owned.clear();
            m.sent = None;
            m.epoch = 0;
            m.previous_epoch = 0;
            m.revoke_deadline_ms = None;
        }
        let identity = MemberIdentity {
            member_id: member_id.clone(),
            client_id: p.client_id,
            client_host: p.client_host,
        };
        let member = group
            .members
            .entry(member_id.clone())
            .or_insert_with(|| Member::new(identity, BTreeSet::new(), now_ms));
        member.subscription = subscription;
        member.session_timeout_ms = p.session_timeout_ms;
        member.rebalance_timeout_ms = p.rebalance_timeout_ms;
        member.assignor = p.assignor;
        member.last_seen_ms = now_ms;
        group.rebalance(topics);
        info!(group = %group.group_id, member = %member_id, epoch = group.epoch, "member joined");
        Ok(self.reconcile(group, &member_id, now_ms))
    }

    /// Records a heartbeat: releases what the member no longer owns, applies a new
    /// subscription, notices partition count changes, and moves the member on.
    pub fn heartbeat(
        &self,
        p: HeartbeatParams,
        topics: &dyn TopicView,
        now_ms: i64,
    ) -> Result<MemberUpdate, GroupError> {
        let subscription = p.topics.as_deref().map(validate_topics).transpose()?;
        let slot = self.member_slot(&p.group_id, &p.member_id)?;
        let mut guard = lock(&slot);
        let group = member_group(&mut guard, &p.group_id, &p.member_id)?;
        let target = group.target_of(&p.member_id).clone();
        let Some(member) = group.members.get_mut(&p.member_id) else {
            return Err(unknown_member(&p.group_id, &p.member_id));
        };
        if p.member_epoch != member.epoch && p.member_epoch != member.previous_epoch {
            return Err(GroupError::FencedMemberEpoch {
                group_id: p.group_id,
                member_id: p.member_id,
                epoch: p.member_epoch,
                current: member.epoch,
            });
        }
        let reported: BTreeSet<TopicPartition> = p.owned.into_iter().collect();
        // The member is not where the last answer put it: that answer was lost (a bumped
        // epoch, or at the same epoch an assignment it does not report) or is still being
        // applied. Sending it again is harmless; not sending it could leave a partition
        // assigned to it that nobody reads.
        if p.member_epoch != member.epoch || member.sent.as_ref().is_some_and(|s| *s != reported) {
            member.sent = None;
        }
        member.last_seen_ms = now_ms;
        member.record_released(&target, &reported);
        let resubscribed = subscription.filter(|s| *s != member.subscription);
        if let Some(s) = resubscribed {
            member.subscription = s;
            group.rebalance(topics);
        } else {
            group.refresh_metadata(topics);
        }
        Ok(self.reconcile(group, &p.member_id, now_ms))
    }

    /// Removes a member at its request; its partitions move at once.
    pub fn leave(
        &self,
        group_id: &str,
        member_id: &str,
        topics: &dyn TopicView,
    ) -> Result<(), GroupError> {
        let slot = self.member_slot(group_id, member_id)?;
        let mut guard = lock(&slot);
        let group = member_group(&mut guard, group_id, member_id)?;
        let left = group.remove_member(member_id, topics);
        info!(
            group = group_id,
            member = member_id,
            epoch = group.epoch,
            "member left"
        );
        let emptied = group.members.is_empty();
        drop(guard);
        if emptied {
            // An empty group holds nothing but its committed offsets, which live in the
            // offset store; keeping it would count against `groups_max` forever.
            let last_seen_ms = left.map_or(self.boot_ms, |m| m.last_seen_ms);
            self.note_emptied(group_id, last_seen_ms);
            self.groups.remove_if_empty(group_id);
        }
        Ok(())
    }

    /// Removes members past their session or revocation deadline and rebalances groups
    /// whose subscribed topics changed partition count; removes groups left without
    /// members. Each group is locked on its own. Called from housekeeping.
    pub fn housekeeping(&self, topics: &dyn TopicView, now_ms: i64) -> HousekeepingReport {
        let mut report = HousekeepingReport::default();
        let mut emptied = Vec::new();
        for (id, slot) in self.groups.snapshot() {
            let mut group = lock(&slot);
            if group.removed {
                continue;
            }
            for member in group.expire(now_ms, topics) {
                info!(group = %id, member = %member, epoch = group.epoch, "member session expired");
                report.expired.push((id.clone(), member));
            }
            if group.refresh_metadata(topics) {
                report.metadata_rebalances += 1;
            }
            if group.members.is_empty() {
                emptied.push(id);
            }
        }
        for id in emptied {
            // Groups whose last member left or expired (see `leave`).
            self.note_emptied(&id, now_ms);
            self.groups.remove_if_empty(&id);
        }
        report
    }

    /// Runs `f` under the group's lock, creating an empty group for the call when it has
    /// no members (so a member cannot join between a check that the group is empty and
    /// the write that relies on it); an empty group is removed again afterwards.
    pub(super) fn with_group<T>(
        &self,
        group_id: &str,
        f: impl FnOnce(&mut Group) -> Result<T, GroupError>,
    ) -> Result<T, GroupError> {
        for _ in 0..JOIN_ATTEMPTS_MAX {
            let slot = self
                .groups
                .get_or_insert(group_id, self.config.groups_max)?;
            let mut group = lock(&slot);
            if group.removed {
                continue;
            }
            let outcome = f(&mut group);
            let empty = group.members.is_empty();
            drop(group);
            if empty {
                self.groups.remove_if_empty(group_id);
            }
            return outcome;
        }
        Err(GroupError::InvalidRequest(format!(
            "group `{group_id}` kept being removed; retry"
        )))
    }

    /// True while partitions of a group that existed before this broker started must not
    /// be handed out: membership is not persisted, so a member from before the restart
    /// may still be consuming its partitions until its next heartbeat, answered with
    /// `UNKNOWN_MEMBER_ID`, makes it drop them; see [`restart_hold_ms`].
    fn in_restart_hold(&self, group_id: &str, now_ms: i64) -> bool {
        now_ms < self.boot_ms.saturating_add(restart_hold_ms(&self.config))
            && self.restored_groups.contains(group_id)
    }

    /// Records that `group_id` had a member until `at_ms` (for offset expiry).
    fn note_emptied(&self, group_id: &str, at_ms: i64) {
        let mut emptied = self.emptied_ms.lock().unwrap_or_else(|e| e.into_inner());
        let entry = emptied.entry(group_id.to_string()).or_insert(at_ms);
        *entry = (*entry).max(at_ms);
    }

    /// The lock of a group that has members, or the error for an unknown member.
    fn member_slot(
        &self,
        group_id: &str,
        member_id: &str,
    ) -> Result<super::slots::GroupSlot, GroupError> {
        self.groups
            .get(group_id)
            .ok_or_else(|| unknown_member(group_id, member_id))
    }

    fn reconcile(&self, group: &mut Group, member_id: &str, now_ms: i64) -> MemberUpdate {
        let grant_new = !self.in_restart_hold(&group.group_id, now_ms);
        group.reconcile(member_id, now_ms, grant_new);
        let target = group.target_of(member_id).clone();
        let (epoch, session_ms, assignment) = match group.members.get_mut(member_id) {
            Some(m) => (m.epoch, m.session_timeout_ms, m.take_update(&target)),
            None => (0, 0, None),
        };
        MemberUpdate {
            member_id: member_id.to_string(),
            member_epoch: epoch,
            heartbeat_interval_ms: (session_ms / 3)
                .clamp(1, self.config.heartbeat_interval_ms_max.max(1)),
            assignment,
        }
    }

    fn validate_join(&self, p: &JoinParams) -> Result<(), GroupError> {
        let (min_ms, max_ms) = (
            self.config.session_timeout_ms_min,
            self.config.session_timeout_ms_max,
        );
        if !(min_ms..=max_ms).contains(&p.session_timeout_ms) {
            return Err(GroupError::InvalidSessionTimeout {
                value_ms: p.session_timeout_ms,
                min_ms,
                max_ms,
            });
        }
        let rebalance_max_ms = self.config.rebalance_timeout_ms_max;
        if !(0..=rebalance_max_ms).contains(&p.rebalance_timeout_ms) {
            return Err(GroupError::InvalidRequest(format!(
                "rebalance timeout {} ms is outside 0..={rebalance_max_ms} ms",
                p.rebalance_timeout_ms
            )));
        }
        if p.member_id.len() > MEMBER_ID_MAX_BYTES {
            return Err(GroupError::InvalidRequest(format!(
                "member id longer than {MEMBER_ID_MAX_BYTES} bytes"
            )));
        }
        match p.assignor.as_deref() {
            Some(name) if Assignor::from_name(name).is_none() => {
                Err(GroupError::UnknownAssignor(name.chars().take(64).collect()))
            }
            _ => Ok(()),
        }
    }

    fn new_member_id(&self) -> String {
        let seq = self.member_seq.fetch_add(1, Ordering::Relaxed);
        format!("rill-{:x}-{seq}", self.boot_ms)
    }

    pub(super) fn lock_offsets(&self) -> MutexGuard<'_, OffsetStore> {
        self.offsets.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How long after the broker starts a group from before the start gets no partitions:
/// every member heartbeats at least every `heartbeat_interval_ms_max`, so within twice
/// that (plus a margin for reconnecting) every member from before has been told it is
/// unknown and has dropped its partitions.
pub fn restart_hold_ms(config: &GroupConfig) -> i64 {
    2 * i64::from(config.heartbeat_interval_ms_max.max(0)) + RESTART_HOLD_MARGIN_MS
}

/// Margin of [`restart_hold_ms`] for members reconnecting to the restarted broker.
pub const RESTART_HOLD_MARGIN_MS: i64 = 1000;

/// The locked group, if it is still reachable and `member_id` is one of its members.
fn member_group<'a>(
    group: &'a mut Group,
    group_id: &str,
    member_id: &str,
) -> Result<&'a mut Group, GroupError> {
    if group.removed || !group.members.contains_key(member_id) {
        return Err(unknown_member(group_id, member_id));
    }
    Ok(group)
}

/// The error for a member the group does not know.
pub(super) fn unknown_member(group_id: &str, member_id: &str) -> GroupError {
    GroupError::UnknownMember {
        group_id: group_id.to_string(),
        member_id: member_id.chars().take(64).collect(),
    }
}

/// Checks a subscription's size and names.
fn validate_topics(topics: &[String]) -> Result<BTreeSet<String>, GroupError> {
    if topics.len() > SUBSCRIBED_TOPICS_MAX {
        return Err(GroupError::InvalidRequest(format!(
            "more than {SUBSCRIBED_TOPICS_MAX} subscribed topics"
        )));
    }
    if let Some(bad) = topics
        .iter()
        .find(|t| t.is_empty() || t.len() > TOPIC_NAME_MAX_CHARS)
    {
        return Err(GroupError::InvalidRequest(format!(
            "invalid topic name `{}`",
            bad.chars().take(64).collect::<String>()
        )));
    }
    Ok(topics.iter().cloned().collect())
}
