//! Consumer group administration: list, describe (members, assignment, committed
//! offsets, end offsets and lag), delete, and reset an inactive group's offsets.
//!
//! A group-level error from the broker comes back as [`ClientError::Broker`] naming the
//! group (e.g. `GROUP_ID_NOT_FOUND`, `NON_EMPTY_GROUP` for a group with members).
//!
//! On a cluster each group lives on its coordinator (FindCoordinator names it): group
//! requests go there, end offsets come from each partition's leader, and
//! [`Admin::list_groups`] asks every broker.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use rill_protocol::api::find_coordinator::FindCoordinatorRequest;

use rill_protocol::api::delete_groups::DeleteGroupsRequest;
use rill_protocol::api::describe_groups::{DescribeGroupsRequest, DescribedGroup};
use rill_protocol::api::fetch::READ_UNCOMMITTED;
use rill_protocol::api::list_groups::ListGroupsRequest;
use rill_protocol::api::reset_offsets::{ResetOffsetsRequest, ResetSpec, ResetTopic};
use rill_protocol::api::ApiKey;
use rill_protocol::error_code::ErrorCode;

use super::Admin;
use crate::brokers::format_addr;
use crate::error::{ClientError, Result};
use crate::offsets::{list_offsets_from_leaders, LATEST_TIMESTAMP};
use crate::record::TopicPartition;
use crate::slot::ConnectionSlot;

/// FindCoordinator's key type for a consumer group.
const KEY_TYPE_GROUP: i8 = 0;

/// A group as listed by [`Admin::list_groups`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// The group id.
    pub group_id: String,
    /// `Empty`, `Stable` or `Reconciling`.
    pub state: String,
}

/// One member in a [`GroupDescription`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMemberDescription {
    /// The member id the broker gave it.
    pub member_id: String,
    /// The client id it connected with.
    pub client_id: Option<String>,
    /// Its address as the broker sees it.
    pub client_host: String,
    /// The partitions it owns now, sorted.
    pub assignment: Vec<TopicPartition>,
}

/// One partition's progress in a [`GroupDescription`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPartitionOffset {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The group's committed offset (next record to read), `None` if never committed.
    pub committed_offset: Option<i64>,
    /// The partition's end (high watermark), `None` if the partition is gone.
    pub end_offset: Option<i64>,
    /// `end_offset - committed_offset`, when both are known.
    pub lag: Option<i64>,
    /// The member owning the partition now, if any.
    pub member_id: Option<String>,
}

/// Everything [`Admin::describe_group`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// `Empty`, `Stable` or `Reconciling`.
    pub state: String,
    /// The assignor computing the assignment.
    pub assignor: String,
    /// The group epoch (bumps on every rebalance).
    pub epoch: i32,
    /// Members, by id.
    pub members: Vec<GroupMemberDescription>,
    /// Committed and assigned partitions, by topic and partition.
    pub offsets: Vec<GroupPartitionOffset>,
}

impl GroupDescription {
    /// The sum of the known lags.
    pub fn total_lag(&self) -> i64 {
        self.offsets.iter().filter_map(|o| o.lag).sum()
    }
}

/// Where [`Admin::reset_offsets`] moves a group's committed offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    /// The oldest record kept.
    Earliest,
    /// The end: only records produced from now on.
    Latest,
    /// This offset, clamped into the partition's range by the broker.
    Offset(i64),
    /// The first record at or after this time (ms since the epoch); the end if none.
    Timestamp(i64),
}

impl OffsetReset {
    fn to_wire(self) -> ResetSpec {
        match self {
            OffsetReset::Earliest => ResetSpec::Earliest,
            OffsetReset::Latest => ResetSpec::Latest,
            OffsetReset::Offset(offset) => ResetSpec::Offset(offset),
            OffsetReset::Timestamp(ms) => ResetSpec::Timestamp(ms),
        }
    }
}

/// One partition's new committed offset from [`Admin::reset_offsets`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetOffset {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset committed (or that would be, on a dry run).
    pub offset: i64,
}

impl Admin {
    /// Every group the brokers know (with members or committed offsets), by id; on a
    /// cluster, the groups of every broker that answers.
    pub async fn list_groups(&self) -> Result<Vec<GroupListing>> {
        let mut slots = vec![Arc::clone(&self.slot)];
        self.brokers.metadata(Some(Vec::new()), false).await?;
        if self.brokers.single_broker().is_none() {
            slots = self.brokers.all_slots();
        }
        let mut groups: BTreeMap<String, GroupListing> = BTreeMap::new();
        for slot in slots {
            let response = slot.call(&ListGroupsRequest).await?;
            if response.error_code != ErrorCode::None {
                return Err(group_error(response.error_code, None));
            }
            for g in response.groups {
                groups.entry(g.group_id.clone()).or_insert(GroupListing {
                    group_id: g.group_id,
                    state: g.state,
                });
            }
        }
        Ok(groups.into_values().collect())
    }

    /// The connection to `group_id`'s coordinator: the broker FindCoordinator names (on
    /// a single broker, the one this client talks to).
    async fn coordinator(&self, group_id: &str) -> Result<Arc<ConnectionSlot>> {
        if self.brokers.node_count() == 0 {
            self.brokers.metadata(Some(Vec::new()), false).await?;
        }
        if self.brokers.single_broker().is_some() {
            return Ok(Arc::clone(&self.slot));
        }
        let request = FindCoordinatorRequest {
            key: group_id.to_owned(),
            key_type: KEY_TYPE_GROUP,
        };
        let response = self.slot.call(&request).await?;
        if response.error_code != ErrorCode::None {
            return Err(group_error(response.error_code, Some(group_id)));
        }
        let addr = format_addr(&response.host, response.port);
        match self.brokers.slot_for(response.node_id) {
            Some(slot) if self.brokers.addr_of(response.node_id).as_deref() == Some(&addr) => {
                Ok(slot)
            }
            _ => Ok(Arc::new(self.brokers.dedicated_slot(&addr))),
        }
    }

    /// A group's state, members with their partitions, and per partition the committed
    /// offset, the end offset and the lag. Assigned partitions without a commit are
    /// listed too (no committed offset, no lag).
    pub async fn describe_group(&self, group_id: &str) -> Result<GroupDescription> {
        let request = DescribeGroupsRequest {
            group_ids: vec![group_id.to_owned()],
        };
        let response = self.coordinator(group_id).await?.call(&request).await?;
        let group = response
            .groups
            .into_iter()
            .find(|g| g.group_id == group_id)
            .ok_or_else(|| ClientError::MissingInResponse {
                api: ApiKey::DescribeGroups,
                what: format!("group {group_id}"),
            })?;
        if group.error_code != ErrorCode::None {
            return Err(group_error(group.error_code, Some(group_id)));
        }
        self.describe_from(group).await
    }

    async fn describe_from(&self, group: DescribedGroup) -> Result<GroupDescription> {
        let mut owners: BTreeMap<TopicPartition, String> = BTreeMap::new();
        let members: Vec<GroupMemberDescription> = group
            .members
            .into_iter()
            .map(|m| {
                let assignment: BTreeSet<TopicPartition> =
                    crate::consumer::partitions_from_wire(m.assignment);
                for tp in &assignment {
                    owners.insert(tp.clone(), m.member_id.clone());
                }
                GroupMemberDescription {
                    member_id: m.member_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    assignment: assignment.into_iter().collect(),
                }
            })
            .collect();
        let mut offsets: BTreeMap<TopicPartition, GroupPartitionOffset> = BTreeMap::new();
        for o in group.offsets {
            let tp = TopicPartition::new(o.topic.clone(), o.partition);
            let known = o.high_watermark >= 0;
            offsets.insert(
                tp.clone(),
                GroupPartitionOffset {
                    topic: o.topic,
                    partition: o.partition,
                    committed_offset: (o.committed_offset >= 0).then_some(o.committed_offset),
                    end_offset: known.then_some(o.high_watermark),
                    lag: known.then_some(o.lag),
                    member_id: owners.get(&tp).cloned(),
                },
            );
        }
        // On a cluster the coordinator knows the ends of the partitions it leads only:
        // ask every partition's leader. On a single broker, only the partitions the
        // answer lacks (assigned but never committed).
        let cluster = self.brokers.single_broker().is_none();
        let lookup: Vec<(TopicPartition, i64)> = owners
            .keys()
            .chain(offsets.keys())
            .filter(|tp| cluster || !offsets.contains_key(*tp))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|tp| (tp.clone(), LATEST_TIMESTAMP))
            .collect();
        if !lookup.is_empty() {
            let leaders = self.leaders_of(&lookup).await?;
            // A partition without a leader now (its broker is down) has no known end.
            let answerable: Vec<(TopicPartition, i64)> = lookup
                .iter()
                .filter(|(tp, _)| leaders.get(tp).is_some_and(|&leader| leader >= 0))
                .cloned()
                .collect();
            let ends =
                list_offsets_from_leaders(&self.brokers, &leaders, READ_UNCOMMITTED, &answerable)
                    .await?;
            for (tp, _) in lookup {
                let end_offset = ends.get(&tp).copied().flatten();
                let entry = offsets
                    .entry(tp.clone())
                    .or_insert_with(|| GroupPartitionOffset {
                        member_id: owners.get(&tp).cloned(),
                        topic: tp.topic.to_string(),
                        partition: tp.partition,
                        committed_offset: None,
                        end_offset: None,
                        lag: None,
                    });
                entry.end_offset = end_offset;
                entry.lag = entry
                    .committed_offset
                    .zip(end_offset)
                    .map(|(committed, end)| (end - committed).max(0));
            }
        }
        Ok(GroupDescription {
            group_id: group.group_id,
            state: group.state,
            assignor: group.assignor,
            epoch: group.epoch,
            members,
            offsets: offsets.into_values().collect(),
        })
    }

    /// Deletes a group without members and its committed offsets.
    pub async fn delete_group(&self, group_id: &str) -> Result<()> {
        let request = DeleteGroupsRequest {
            group_ids: vec![group_id.to_owned()],
        };
        let response = self.coordinator(group_id).await?.call(&request).await?;
        let result = response
            .results
            .into_iter()
            .find(|r| r.group_id == group_id)
            .ok_or_else(|| ClientError::MissingInResponse {
                api: ApiKey::DeleteGroups,
                what: format!("group {group_id}"),
            })?;
        match result.error_code {
            ErrorCode::None => Ok(()),
            code => Err(group_error(code, Some(group_id))),
        }
    }

    /// Moves the committed offsets of a group without active members, for every
    /// partition of `topics`, to `to`; with `dry_run` only reports where they would
    /// go. Returns the new offsets by topic and partition.
    pub async fn reset_offsets(
        &self,
        group_id: &str,
        topics: &[&str],
        to: OffsetReset,
        dry_run: bool,
    ) -> Result<Vec<ResetOffset>> {
        let topics = topics
            .iter()
            .map(|t| ResetTopic {
                name: (*t).to_owned(),
                partitions: None,
            })
            .collect();
        self.reset(group_id, topics, to.to_wire(), dry_run).await
    }

    /// Moves the committed offsets of a group without active members, for the given
    /// partitions of each topic, to `offset` (clamped into each partition's range by
    /// the broker). Returns the new offsets.
    pub async fn reset_partition_offsets(
        &self,
        group_id: &str,
        partitions: &[(&str, Vec<i32>)],
        offset: i64,
    ) -> Result<Vec<ResetOffset>> {
        let topics = partitions
            .iter()
            .map(|(topic, partitions)| ResetTopic {
                name: (*topic).to_owned(),
                partitions: Some(partitions.clone()),
            })
            .collect();
        self.reset(group_id, topics, ResetSpec::Offset(offset), false)
            .await
    }

    /// Sends one ResetOffsets to the group's coordinator.
    async fn reset(
        &self,
        group_id: &str,
        topics: Vec<ResetTopic>,
        spec: ResetSpec,
        dry_run: bool,
    ) -> Result<Vec<ResetOffset>> {
        let request = ResetOffsetsRequest {
            group_id: group_id.to_owned(),
            topics,
            spec,
            dry_run,
        };
        let response = self.coordinator(group_id).await?.call(&request).await?;
        if response.error_code != ErrorCode::None {
            return Err(group_error(response.error_code, Some(group_id)));
        }
        let mut reset = Vec::new();
        for topic in response.topics {
            for p in topic.partitions {
                if p.error_code != ErrorCode::None {
                    let partition = (p.partition >= 0).then_some(p.partition);
                    return Err(ClientError::broker(
                        p.error_code,
                        topic.name,
                        partition,
                        None,
                    ));
                }
                reset.push(ResetOffset {
                    topic: topic.name.clone(),
                    partition: p.partition,
                    offset: p.offset,
                });
            }
        }
        reset.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(reset)
    }
}

impl Admin {
    /// The leaders of the partitions in `partitions`, from metadata.
    async fn leaders_of(
        &self,
        partitions: &[(TopicPartition, i64)],
    ) -> Result<HashMap<TopicPartition, i32>> {
        let topics: BTreeSet<String> = partitions
            .iter()
            .map(|(tp, _)| tp.topic.to_string())
            .collect();
        let response = self
            .brokers
            .metadata(Some(topics.into_iter().collect()), false)
            .await?;
        Ok(response
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(move |p| (TopicPartition::new(t.name.clone(), p.partition), p.leader))
            })
            .collect())
    }
}

/// A group-level broker error, naming the group.
fn group_error(code: ErrorCode, group_id: Option<&str>) -> ClientError {
    ClientError::Broker {
        code,
        topic: None,
        partition: None,
        message: group_id.map(|g| format!("group {g}: {}", code.description())),
    }
}
