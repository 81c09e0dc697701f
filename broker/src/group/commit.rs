//! Offset commit and fetch, with zombie fencing: a commit is accepted from a member of
//! the group at its current epoch, or as a simple commit (empty member id, epoch -1) to a
//! group without members. The membership lock is held across the write, so a member
//! fenced by a concurrent rebalance cannot commit between the check and the write.

use std::collections::BTreeMap;

use super::coordinator::GroupCoordinator;
use super::offsets::{CommittedOffset, OffsetStore};
use super::state::Group;
use super::{validate_group_id, GroupError, TopicPartition, TopicView};
use crate::topics::{TopicRegistry, TOPIC_NAME_MAX_CHARS};

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

impl GroupCoordinator {
    /// Commits offsets after fencing the committer: a member must be in the group at its
    /// current epoch; a simple commit (empty member id, epoch -1) needs a group without
    /// members. Blocking (writes the offsets log, creating it on first use).
    pub fn commit_offsets(
        &self,
        p: CommitParams,
        topics: &TopicRegistry,
        now_ms: i64,
    ) -> Result<CommitResults, GroupError> {
        self.commit_offsets_in(p, topics, topics, now_ms)
    }

    /// [`GroupCoordinator::commit_offsets`], checking that each partition exists in
    /// `view` (in a cluster: the metadata image, as partitions may live on other
    /// brokers) while the offsets log is written through `topics`.
    pub fn commit_offsets_in(
        &self,
        p: CommitParams,
        topics: &TopicRegistry,
        view: &dyn TopicView,
        now_ms: i64,
    ) -> Result<CommitResults, GroupError> {
        validate_group_id(&p.group_id)?;
        let group_id = p.group_id.clone();
        self.with_group(&group_id, |group| {
            check_committer(group, &p)?;
            let has_members = !group.members.is_empty();
            let mut offsets = self.lock_offsets();
            let mut results = Vec::with_capacity(p.offsets.len());
            // A partition named twice commits its last offset once, so a request cannot
            // make the log write one record per repetition.
            let mut accepted: BTreeMap<TopicPartition, CommittedOffset> = BTreeMap::new();
            // Checked under the offsets lock: a topic deleted after this check has its
            // offsets forgotten after this write (see `forget_topic`).
            for (tp, offset, metadata) in p.offsets {
                let checked = self
                    .validate_commit(&tp, offset, metadata.as_deref())
                    .and_then(|()| partition_exists(view, &tp));
                if checked.is_ok() {
                    let committed = CommittedOffset {
                        offset,
                        metadata,
                        commit_timestamp_ms: now_ms,
                    };
                    accepted.insert(tp.clone(), committed);
                }
                results.push((tp, checked));
            }
            let accepted: Vec<_> = accepted.into_iter().collect();
            self.check_offset_limits(has_members, &offsets, &p.group_id, &accepted)?;
            offsets.commit(topics, &p.group_id, accepted, now_ms)?;
            Ok(results)
        })
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
    pub(super) fn check_offset_limits(
        &self,
        has_members: bool,
        offsets: &OffsetStore,
        group_id: &str,
        accepted: &[(TopicPartition, CommittedOffset)],
    ) -> Result<(), GroupError> {
        let existing = offsets.group(group_id);
        if existing.is_none() && !has_members && offsets.group_count() >= self.config.groups_max {
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
}

/// The error for a commit to a topic or partition that does not exist.
fn partition_exists(topics: &dyn TopicView, tp: &TopicPartition) -> Result<(), GroupError> {
    let count = topics.partition_count(&tp.topic).unwrap_or(0);
    if u32::try_from(tp.partition).is_ok_and(|p| p < count) {
        return Ok(());
    }
    Err(GroupError::UnknownTopicOrPartition {
        topic: tp.topic.chars().take(TOPIC_NAME_MAX_CHARS).collect(),
        partition: tp.partition,
    })
}

/// Checks that a commit comes from a current member at its current epoch, or is a simple
/// commit to a group without members.
fn check_committer(group: &Group, p: &CommitParams) -> Result<(), GroupError> {
    if p.member_id.is_empty() && p.member_epoch < 0 {
        if group.members.is_empty() {
            return Ok(());
        }
        return Err(super::coordinator::unknown_member(
            &p.group_id,
            &p.member_id,
        ));
    }
    let member = group
        .members
        .get(&p.member_id)
        .ok_or_else(|| super::coordinator::unknown_member(&p.group_id, &p.member_id))?;
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
