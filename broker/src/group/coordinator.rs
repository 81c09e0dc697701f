//! The group coordinator: every group's membership (join, heartbeat, leave, expiry) and
//! the commit and fetch of offsets, with zombie fencing.
//!
//! Two locks, always taken in this order: `groups` (membership) then `offsets` (the store
//! and its log). A commit holds the membership lock while it writes, so a member fenced
//! by a rebalance cannot slip a commit in between the check and the write. Every method
//! takes the current time in ms, so tests run on a fake clock.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use tracing::info;

use super::assignor::Assignor;
use super::member::{Member, MemberIdentity};
use super::offsets::{CommittedOffset, OffsetStore};
use super::state::Group;
use super::{validate_group_id, GroupConfig, GroupError, TopicPartition, TopicView};
use super::{MEMBER_ID_MAX_BYTES, OFFSETS_TOPIC, SUBSCRIBED_TOPICS_MAX};
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

/// An offset commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitParams {
    /// The group.
    pub group_id: String,
    /// The member, or empty for a simple (admin / manual assignment) commit.
    pub member_id: String,
    /// The member's epoch, or `-1` for a simple commit.
    pub member_epoch: i32,
    /// `(partition, offset, metadata)` to commit.
    pub offsets: Vec<(TopicPartition, i64, Option<String>)>,
}

/// Per-partition commit outcomes, in request order.
pub type CommitResults = Vec<(TopicPartition, Result<(), GroupError>)>;

/// What a housekeeping round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HousekeepingReport {
    /// `(group, member)` removed for missing their session or revocation deadline.
    pub expired: Vec<(String, String)>,
    /// Groups rebalanced because a subscribed topic's partition count changed.
    pub metadata_rebalances: usize,
}

/// Every consumer group of this broker.
#[derive(Debug)]
pub struct GroupCoordinator {
    pub(super) config: GroupConfig,
    pub(super) groups: Mutex<BTreeMap<String, Group>>,
    pub(super) offsets: Mutex<OffsetStore>,
    member_seq: AtomicU64,
    boot_ms: i64,
}

impl GroupCoordinator {
    /// Opens the coordinator: creates `__consumer_offsets` (one partition, kept forever)
    /// if needed and loads every committed offset from it. Blocking.
    pub fn open(
        topics: &TopicRegistry,
        config: GroupConfig,
        now_ms: i64,
    ) -> Result<Self, GroupError> {
        let topic = match topics.get(OFFSETS_TOPIC) {
            Some(topic) => topic,
            None => {
                let keep_forever = [
                    (
                        crate::topics::config::RETENTION_MS.to_string(),
                        "-1".to_string(),
                    ),
                    (
                        crate::topics::config::RETENTION_BYTES.to_string(),
                        "-1".to_string(),
                    ),
                ];
                topics.create(OFFSETS_TOPIC, Some(1), keep_forever.into_iter().collect())?
            }
        };
        let partition =
            topic
                .partition(0)
                .cloned()
                .ok_or_else(|| GroupError::UnknownTopicOrPartition {
                    topic: OFFSETS_TOPIC.to_string(),
                    partition: 0,
                })?;
        Ok(GroupCoordinator {
            config,
            groups: Mutex::new(BTreeMap::new()),
            offsets: Mutex::new(OffsetStore::open(partition)?),
            member_seq: AtomicU64::new(0),
            boot_ms: now_ms,
        })
    }

    /// The coordinator's limits.
    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// Adds a member (or rejoins one, which then owns nothing), rebalances when that
    /// changes anything, and returns the member's first assignment.
    pub fn join(
        &self,
        p: JoinParams,
        topics: &dyn TopicView,
        now_ms: i64,
    ) -> Result<MemberUpdate, GroupError> {
        validate_group_id(&p.group_id)?;
        self.validate_join(&p)?;
        let subscription = validate_topics(&p.topics)?;
        let mut groups = self.lock_groups();
        let group = self.group_for_join(&mut groups, &p.group_id)?;
        let member_id = if p.member_id.is_empty() {
            self.new_member_id()
        } else {
            p.member_id.clone()
        };
        let full = group.members.len() >= self.config.members_per_group_max;
        let changed = match group.members.get_mut(&member_id) {
            Some(m) => {
                let changed = m.subscription != subscription || m.assignor != p.assignor;
                m.owned.clear();
                m.sent = None;
                m.epoch = 0;
                changed
            }
            None if full => {
                return Err(GroupError::GroupFull {
                    group_id: p.group_id,
                    max: self.config.members_per_group_max,
                });
            }
            None => true,
        };
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
        member.rebalance_timeout_ms = p.rebalance_timeout_ms.max(0);
        member.assignor = p.assignor;
        member.last_seen_ms = now_ms;
        if changed {
            group.rebalance(topics);
            info!(group = %group.group_id, member = %member_id, epoch = group.epoch, "member joined");
        }
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
        let mut groups = self.lock_groups();
        let group = member_group(&mut groups, &p.group_id, &p.member_id)?;
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
        if p.member_epoch != member.epoch {
            member.sent = None; // the answer that bumped it was lost: send it again
        }
        member.last_seen_ms = now_ms;
        member.record_released(&target, &p.owned.into_iter().collect());
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
        let mut groups = self.lock_groups();
        let group = member_group(&mut groups, group_id, member_id)?;
        group.remove_member(member_id, topics);
        info!(
            group = group_id,
            member = member_id,
            epoch = group.epoch,
            "member left"
        );
        Ok(())
    }

    /// Removes members past their session or revocation deadline and rebalances groups
    /// whose subscribed topics changed partition count. Called from housekeeping.
    pub fn housekeeping(&self, topics: &dyn TopicView, now_ms: i64) -> HousekeepingReport {
        let mut report = HousekeepingReport::default();
        for (id, group) in self.lock_groups().iter_mut() {
            for member in group.expire(now_ms, topics) {
                info!(group = %id, member = %member, epoch = group.epoch, "member session expired");
                report.expired.push((id.clone(), member));
            }
            if group.refresh_metadata(topics) {
                report.metadata_rebalances += 1;
            }
        }
        report
    }

    /// Commits offsets after fencing the committer: a member must be in the group at its
    /// current epoch; a simple commit (empty member id, epoch -1) needs a group without
    /// members. Blocking (writes the offsets log).
    pub fn commit_offsets(
        &self,
        p: CommitParams,
        now_ms: i64,
    ) -> Result<CommitResults, GroupError> {
        validate_group_id(&p.group_id)?;
        let groups = self.lock_groups();
        check_committer(&groups, &p)?;
        let mut offsets = self.lock_offsets();
        let mut results = Vec::with_capacity(p.offsets.len());
        let mut accepted = Vec::new();
        for (tp, offset, metadata) in p.offsets {
            let checked = self.validate_commit(&tp, offset, metadata.as_deref());
            if checked.is_ok() {
                let committed = CommittedOffset {
                    offset,
                    metadata,
                    commit_timestamp_ms: now_ms,
                };
                accepted.push((tp.clone(), committed));
            }
            results.push((tp, checked));
        }
        self.check_offset_limits(&groups, &offsets, &p.group_id, &accepted)?;
        offsets.commit(&p.group_id, accepted, now_ms)?;
        Ok(results)
    }

    /// The group's committed offsets: for `partitions`, or all of them when `None`.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<Vec<TopicPartition>>,
    ) -> Vec<(TopicPartition, Option<CommittedOffset>)> {
        let offsets = self.lock_offsets();
        match partitions {
            Some(tps) => tps
                .into_iter()
                .map(|tp| {
                    let committed = offsets.get(group_id, &tp).cloned();
                    (tp, committed)
                })
                .collect(),
            None => offsets
                .group(group_id)
                .map(|g| {
                    g.iter()
                        .map(|(tp, c)| (tp.clone(), Some(c.clone())))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    fn reconcile(&self, group: &mut Group, member_id: &str, now_ms: i64) -> MemberUpdate {
        group.reconcile(member_id, now_ms);
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

    fn group_for_join<'a>(
        &self,
        groups: &'a mut BTreeMap<String, Group>,
        group_id: &str,
    ) -> Result<&'a mut Group, GroupError> {
        if !groups.contains_key(group_id) && groups.len() >= self.config.groups_max {
            return Err(GroupError::TooManyGroups {
                max: self.config.groups_max,
            });
        }
        Ok(groups
            .entry(group_id.to_string())
            .or_insert_with(|| Group::new(group_id)))
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

    fn validate_commit(
        &self,
        tp: &TopicPartition,
        offset: i64,
        metadata: Option<&str>,
    ) -> Result<(), GroupError> {
        let max = self.config.offset_metadata_max_bytes;
        if metadata.is_some_and(|m| m.len() > max) {
            return Err(GroupError::InvalidRequest(format!(
                "offset metadata longer than {max} bytes"
            )));
        }
        if offset < 0
            || tp.partition < 0
            || tp.topic.is_empty()
            || tp.topic.len() > TOPIC_NAME_MAX_CHARS
        {
            return Err(GroupError::InvalidRequest(format!(
                "invalid commit of offset {offset} for {tp}"
            )));
        }
        Ok(())
    }

    /// Bounds the number of groups and of committed partitions per group.
    fn check_offset_limits(
        &self,
        groups: &BTreeMap<String, Group>,
        offsets: &OffsetStore,
        group_id: &str,
        accepted: &[(TopicPartition, CommittedOffset)],
    ) -> Result<(), GroupError> {
        let existing = offsets.group(group_id);
        if existing.is_none()
            && !groups.contains_key(group_id)
            && offsets.group_count() >= self.config.groups_max
        {
            return Err(GroupError::TooManyGroups {
                max: self.config.groups_max,
            });
        }
        let new = accepted
            .iter()
            .filter(|(tp, _)| existing.is_none_or(|g| !g.contains_key(tp)))
            .count();
        if existing.map_or(0, |g| g.len()) + new > self.config.offsets_per_group_max {
            return Err(GroupError::InvalidRequest(format!(
                "group `{group_id}` would commit more than {} partitions",
                self.config.offsets_per_group_max
            )));
        }
        Ok(())
    }

    fn new_member_id(&self) -> String {
        let seq = self.member_seq.fetch_add(1, Ordering::Relaxed);
        format!("rill-{:x}-{seq}", self.boot_ms)
    }

    pub(super) fn lock_groups(&self) -> MutexGuard<'_, BTreeMap<String, Group>> {
        self.groups.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn lock_offsets(&self) -> MutexGuard<'_, OffsetStore> {
        self.offsets.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Checks that a commit comes from a current member at its current epoch, or is a simple
/// commit to a group without members.
fn check_committer(groups: &BTreeMap<String, Group>, p: &CommitParams) -> Result<(), GroupError> {
    let group = groups.get(&p.group_id);
    if p.member_id.is_empty() && p.member_epoch < 0 {
        return match group {
            Some(g) if !g.members.is_empty() => Err(unknown_member(&p.group_id, &p.member_id)),
            _ => Ok(()),
        };
    }
    let member = group
        .and_then(|g| g.members.get(&p.member_id))
        .ok_or_else(|| unknown_member(&p.group_id, &p.member_id))?;
    let (group_id, member_id) = (p.group_id.clone(), p.member_id.clone());
    let (epoch, current) = (p.member_epoch, member.epoch);
    match epoch.cmp(&current) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Less => Err(GroupError::StaleMemberEpoch {
            group_id,
            member_id,
            epoch,
            current,
        }),
        std::cmp::Ordering::Greater => Err(GroupError::FencedMemberEpoch {
            group_id,
            member_id,
            epoch,
            current,
        }),
    }
}

fn member_group<'a>(
    groups: &'a mut BTreeMap<String, Group>,
    group_id: &str,
    member_id: &str,
) -> Result<&'a mut Group, GroupError> {
    groups
        .get_mut(group_id)
        .filter(|g| g.members.contains_key(member_id))
        .ok_or_else(|| unknown_member(group_id, member_id))
}

fn unknown_member(group_id: &str, member_id: &str) -> GroupError {
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
