//! Operator operations on groups: list, describe (members, assignment, committed offsets
//! and lag), delete an empty group, and reset an empty group's offsets.

use std::collections::{BTreeMap, BTreeSet};

use super::coordinator::GroupCoordinator;
use super::offsets::CommittedOffset;
use super::slots::lock;
use super::state::GroupState;
use super::{validate_group_id, GroupError, TopicPartition, TopicView};
use crate::topics::TopicRegistry;

/// One group in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// The group.
    pub group_id: String,
    /// Its state.
    pub state: GroupState,
}

/// One member in a description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// Id and client details.
    pub identity: super::member::MemberIdentity,
    /// The member's epoch.
    pub member_epoch: i32,
    /// Partitions the member owns now.
    pub owned: BTreeSet<TopicPartition>,
    /// Partitions the current target gives it.
    pub target: BTreeSet<TopicPartition>,
}

/// One committed partition with its lag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetLag {
    /// The partition.
    pub tp: TopicPartition,
    /// The committed offset.
    pub committed: CommittedOffset,
    /// The partition's high watermark (-1 when the partition no longer exists).
    pub high_watermark: i64,
    /// `high_watermark - committed` (0 when the commit is at or past the end).
    pub lag: i64,
}

/// A group's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group.
    pub group_id: String,
    /// Its state.
    pub state: GroupState,
    /// The assignor that computed the current target.
    pub assignor: &'static str,
    /// The group epoch.
    pub epoch: i32,
    /// Members, by id.
    pub members: Vec<MemberDescription>,
    /// Committed offsets and lag, by partition.
    pub offsets: Vec<OffsetLag>,
}

/// Where a reset moves committed offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTo {
    /// The partition's log start offset.
    Earliest,
    /// The partition's high watermark.
    Latest,
    /// This offset, clamped to the partition's range.
    Offset(i64),
    /// The first offset with a timestamp at or after this one (ms); the high watermark when
    /// every record is older.
    Timestamp(i64),
}

/// Per-partition reset outcomes: the new offset or why not.
pub type ResetResults = Vec<(TopicPartition, Result<i64, GroupError>)>;

impl GroupCoordinator {
    /// Every group with members or committed offsets, sorted by id.
    pub fn list_groups(&self) -> Vec<GroupListing> {
        let mut states: BTreeMap<String, GroupState> = self
            .groups
            .snapshot()
            .into_iter()
            .map(|(id, slot)| {
                let state = lock(&slot).state();
                (id, state)
            })
            .collect();
        for id in self.lock_offsets().group_ids() {
            states.entry(id.clone()).or_insert(GroupState::Empty);
        }
        states
            .into_iter()
            .map(|(group_id, state)| GroupListing { group_id, state })
            .collect()
    }

    /// Describes a group; [`GroupError::GroupNotFound`] when it has neither members nor
    /// committed offsets.
    pub fn describe_group(
        &self,
        group_id: &str,
        topics: &dyn TopicView,
    ) -> Result<GroupDescription, GroupError> {
        let slot = self.groups.get(group_id);
        let guard = slot.as_ref().map(lock);
        let group = guard.as_deref().filter(|g| !g.removed);
        let offsets = self.lock_offsets();
        let committed = offsets.group(group_id);
        if group.is_none() && committed.is_none() {
            return Err(GroupError::GroupNotFound(group_id.to_string()));
        }
        let members = group.map_or_else(Vec::new, |g| {
            g.members
                .iter()
                .map(|(id, m)| MemberDescription {
                    identity: m.identity.clone(),
                    member_epoch: m.epoch,
                    owned: m.owned.clone(),
                    target: g.target_of(id).clone(),
                })
                .collect()
        });
        let offsets = committed.map_or_else(Vec::new, |c| {
            c.iter()
                .map(|(tp, committed)| lag(tp, committed, topics))
                .collect()
        });
        Ok(GroupDescription {
            group_id: group_id.to_string(),
            state: group.map_or(GroupState::Empty, |g| g.state()),
            assignor: group.map_or(super::Assignor::default().name(), |g| g.assignor.name()),
            epoch: group.map_or(0, |g| g.epoch),
            members,
            offsets,
        })
    }

    /// Deletes a group without members and its committed offsets (writing tombstones).
    /// Blocking.
    pub fn delete_group(
        &self,
        group_id: &str,
        topics: &TopicRegistry,
        now_ms: i64,
    ) -> Result<(), GroupError> {
        validate_group_id(group_id)?;
        self.with_group(group_id, |group| {
            if !group.members.is_empty() {
                return Err(GroupError::NonEmptyGroup(group_id.to_string()));
            }
            let mut offsets = self.lock_offsets();
            if offsets.group(group_id).is_none() {
                return Err(GroupError::GroupNotFound(group_id.to_string()));
            }
            offsets.delete_group(topics, group_id, now_ms)?;
            Ok(())
        })?;
        self.forget_emptied(group_id);
        Ok(())
    }

    /// Moves a group's committed offsets for `partitions` to `to`, or only computes them on
    /// a dry run. The group must have no members. Blocking.
    // `topics` is where the commits are written; `view` says what each partition's
    // offsets are (they differ in a cluster, where other brokers lead some partitions).
    #[allow(clippy::too_many_arguments)]
    pub fn reset_offsets(
        &self,
        group_id: &str,
        partitions: Vec<TopicPartition>,
        to: ResetTo,
        dry_run: bool,
        topics: &TopicRegistry,
        view: &dyn TopicView,
        now_ms: i64,
    ) -> Result<ResetResults, GroupError> {
        validate_group_id(group_id)?;
        self.with_group(group_id, |group| {
            if !group.members.is_empty() {
                return Err(GroupError::NonEmptyGroup(group_id.to_string()));
            }
            self.reset_locked(group_id, partitions, to, dry_run, topics, view, now_ms)
        })
    }

    /// [`Self::reset_offsets`] once the group is locked and known to be empty.
    #[allow(clippy::too_many_arguments)]
    fn reset_locked(
        &self,
        group_id: &str,
        partitions: Vec<TopicPartition>,
        to: ResetTo,
        dry_run: bool,
        topics: &TopicRegistry,
        view: &dyn TopicView,
        now_ms: i64,
    ) -> Result<ResetResults, GroupError> {
        let results: ResetResults = partitions
            .into_iter()
            .map(|tp| {
                let offset = reset_target(&tp, to, view);
                (tp, offset)
            })
            .collect();
        if !dry_run {
            let commits: BTreeMap<TopicPartition, CommittedOffset> = results
                .iter()
                .filter_map(|(tp, r)| r.as_ref().ok().map(|o| (tp.clone(), *o)))
                .map(|(tp, offset)| {
                    let committed = CommittedOffset {
                        offset,
                        metadata: None,
                        commit_timestamp_ms: now_ms,
                    };
                    (tp, committed)
                })
                .collect();
            let commits: Vec<_> = commits.into_iter().collect();
            let mut offsets = self.lock_offsets();
            // The same limits as any commit: groups, and partitions per group.
            self.check_offset_limits(false, &offsets, group_id, &commits)?;
            offsets.commit(topics, group_id, commits, now_ms)?;
        }
        Ok(results)
    }
}

fn lag(tp: &TopicPartition, committed: &CommittedOffset, topics: &dyn TopicView) -> OffsetLag {
    let high_watermark = topics.offset_range(tp).map_or(-1, |(_, hw)| hw);
    OffsetLag {
        tp: tp.clone(),
        committed: committed.clone(),
        high_watermark,
        lag: (high_watermark - committed.offset).max(0),
    }
}

/// The offset a reset moves `tp` to.
fn reset_target(
    tp: &TopicPartition,
    to: ResetTo,
    topics: &dyn TopicView,
) -> Result<i64, GroupError> {
    if topics.led_elsewhere(tp) {
        return Err(GroupError::LedElsewhere {
            topic: tp.topic.clone(),
            partition: tp.partition,
        });
    }
    let (start, end) =
        topics
            .offset_range(tp)
            .ok_or_else(|| GroupError::UnknownTopicOrPartition {
                topic: tp.topic.clone(),
                partition: tp.partition,
            })?;
    Ok(match to {
        ResetTo::Earliest => start,
        ResetTo::Latest => end,
        ResetTo::Offset(offset) => offset.clamp(start, end),
        ResetTo::Timestamp(ms) => topics
            .offset_for_timestamp(tp, ms)?
            .unwrap_or(end)
            .clamp(start, end),
    })
}
