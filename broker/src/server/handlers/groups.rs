//! The consumer group APIs: FindCoordinator, JoinGroup, Heartbeat, LeaveGroup,
//! OffsetCommit, OffsetFetch, ListGroups, DescribeGroups, DeleteGroups and ResetOffsets.
//!
//! Each function maps a request onto [`crate::group::GroupCoordinator`] and its errors onto
//! wire codes ([`error_code`], the one place that mapping lives). Calls that write the
//! offsets log (commit, delete, reset) run on the blocking pool; membership calls only take
//! a short in-memory lock.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use rill_protocol::api::common::{PartitionResult, TopicAssignment, TopicPartitions};
use rill_protocol::api::delete_groups::{
    DeleteGroupResult, DeleteGroupsRequest, DeleteGroupsResponse,
};
use rill_protocol::api::describe_groups::{
    DescribeGroupsRequest, DescribeGroupsResponse, DescribedGroup, GroupMember, GroupOffset,
};
use rill_protocol::api::find_coordinator::{FindCoordinatorRequest, FindCoordinatorResponse};
use rill_protocol::api::heartbeat::{HeartbeatRequest, HeartbeatResponse};
use rill_protocol::api::join_group::{JoinGroupRequest, JoinGroupResponse};
use rill_protocol::api::leave_group::{LeaveGroupRequest, LeaveGroupResponse};
use rill_protocol::api::list_groups::{ListGroupsResponse, ListedGroup};
use rill_protocol::api::offset_commit::{OffsetCommitRequest, OffsetCommitResponse};
use rill_protocol::api::offset_fetch::{
    OffsetFetchPartition, OffsetFetchRequest, OffsetFetchResponse, NO_COMMITTED_OFFSET,
};
use rill_protocol::api::reset_offsets::{
    ResetOffsetsRequest, ResetOffsetsResponse, ResetPartition, ResetSpec,
};
use rill_protocol::api::RequestHeader;
use rill_protocol::error_code::ErrorCode;
use tracing::warn;

use super::errors::storage_error_code;
use super::metadata::NODE_ID;
use crate::group::admin::{GroupDescription, ResetTo};
use crate::group::commit::CommitParams;
use crate::group::coordinator::{HeartbeatParams, JoinParams};
use crate::group::{GroupError, TopicPartition, TopicView};
use crate::server::BrokerCtx;
use crate::storage::now_ms;

/// The wire code for a coordinator error.
pub fn error_code(e: &GroupError) -> ErrorCode {
    match e {
        GroupError::InvalidGroupId { .. } => ErrorCode::InvalidGroupId,
        GroupError::GroupNotFound(_) => ErrorCode::GroupIdNotFound,
        GroupError::UnknownMember { .. } => ErrorCode::UnknownMemberId,
        GroupError::FencedMemberEpoch { .. } => ErrorCode::FencedMemberEpoch,
        GroupError::StaleMemberEpoch { .. } => ErrorCode::IllegalGeneration,
        GroupError::InvalidSessionTimeout { .. } => ErrorCode::InvalidSessionTimeout,
        GroupError::UnknownAssignor(_) | GroupError::InvalidRequest(_) => ErrorCode::InvalidRequest,
        GroupError::GroupFull { .. } | GroupError::TooManyGroups { .. } => {
            ErrorCode::InvalidRequest
        }
        GroupError::NonEmptyGroup(_) => ErrorCode::NonEmptyGroup,
        GroupError::UnknownTopicOrPartition { .. } => ErrorCode::UnknownTopicOrPartition,
        GroupError::Storage(e) => storage_error_code(e),
        GroupError::Topic(e) => super::errors::topic_error_code(e),
        GroupError::CorruptOffsetRecord { .. } | GroupError::Batch(_) => {
            ErrorCode::KafkaStorageError
        }
        GroupError::Task(_) => ErrorCode::UnknownServerError,
    }
}

/// This broker coordinates every group (single node; the request exists for clustering).
pub fn find_coordinator(ctx: &BrokerCtx, _req: FindCoordinatorRequest) -> FindCoordinatorResponse {
    FindCoordinatorResponse {
        error_code: ErrorCode::None,
        node_id: NODE_ID,
        host: ctx.advertised.ip().to_string(),
        port: i32::from(ctx.advertised.port()),
    }
}

/// Joins a member and answers with its epoch and first assignment.
pub fn join(
    ctx: &BrokerCtx,
    req: JoinGroupRequest,
    header: &RequestHeader,
    peer: SocketAddr,
) -> JoinGroupResponse {
    let params = JoinParams {
        group_id: req.group_id,
        member_id: req.member_id,
        session_timeout_ms: req.session_timeout_ms,
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        topics: req.topics,
        assignor: req.assignor,
        client_id: header.client_id.clone(),
        client_host: peer.ip().to_string(),
    };
    match ctx.groups.join(params, &ctx.topics, now_ms()) {
        Ok(update) => JoinGroupResponse {
            error_code: ErrorCode::None,
            member_id: update.member_id,
            member_epoch: update.member_epoch,
            heartbeat_interval_ms: update.heartbeat_interval_ms,
            assignment: to_wire(update.assignment.unwrap_or_default()),
        },
        Err(e) => JoinGroupResponse {
            error_code: logged(&e),
            member_id: String::new(),
            member_epoch: -1,
            heartbeat_interval_ms: 0,
            assignment: Vec::new(),
        },
    }
}

/// Records a heartbeat and answers with the member's epoch and any new assignment.
pub fn heartbeat(ctx: &BrokerCtx, req: HeartbeatRequest) -> HeartbeatResponse {
    let params = HeartbeatParams {
        group_id: req.group_id,
        member_id: req.member_id,
        member_epoch: req.member_epoch,
        topics: req.topics,
        owned: from_wire(req.owned),
    };
    match ctx.groups.heartbeat(params, &ctx.topics, now_ms()) {
        Ok(update) => HeartbeatResponse {
            error_code: ErrorCode::None,
            member_epoch: update.member_epoch,
            heartbeat_interval_ms: update.heartbeat_interval_ms,
            assignment: update.assignment.map(to_wire),
        },
        Err(e) => HeartbeatResponse {
            error_code: logged(&e),
            member_epoch: -1,
            heartbeat_interval_ms: 0,
            assignment: None,
        },
    }
}

/// Removes a member.
pub fn leave(ctx: &BrokerCtx, req: LeaveGroupRequest) -> LeaveGroupResponse {
    let outcome = ctx.groups.leave(&req.group_id, &req.member_id, &ctx.topics);
    LeaveGroupResponse {
        error_code: outcome.err().map_or(ErrorCode::None, |e| logged(&e)),
    }
}

/// Commits offsets (fenced by member and epoch) on the blocking pool.
pub async fn offset_commit(ctx: &Arc<BrokerCtx>, req: OffsetCommitRequest) -> OffsetCommitResponse {
    let offsets: Vec<_> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    TopicPartition::new(t.name.as_str(), p.partition),
                    p.offset,
                    p.metadata.clone(),
                )
            })
        })
        .collect();
    let requested: Vec<TopicPartition> = offsets.iter().map(|(tp, _, _)| tp.clone()).collect();
    let params = CommitParams {
        group_id: req.group_id,
        member_id: req.member_id,
        member_epoch: req.member_epoch,
        offsets,
    };
    let outcome = blocking(ctx, move |ctx| {
        ctx.groups.commit_offsets(params, &ctx.topics, now_ms())
    })
    .await;
    let results: Vec<(TopicPartition, ErrorCode)> = match outcome {
        Ok(results) => results
            .into_iter()
            .map(|(tp, r)| (tp, r.err().map_or(ErrorCode::None, |e| error_code(&e))))
            .collect(),
        Err(e) => {
            let code = logged(&e);
            requested.into_iter().map(|tp| (tp, code)).collect()
        }
    };
    let grouped = group_by_topic(results.into_iter().map(|(tp, code)| {
        let partition = tp.partition;
        (
            tp.topic,
            PartitionResult {
                partition,
                error_code: code,
            },
        )
    }));
    OffsetCommitResponse { topics: grouped }
}

/// The committed offsets asked for (all of the group's when `topics` is null).
pub fn offset_fetch(ctx: &BrokerCtx, req: OffsetFetchRequest) -> OffsetFetchResponse {
    let wanted = req.topics.map(from_wire);
    let found = ctx.groups.fetch_offsets(&req.group_id, wanted);
    let entries = found.into_iter().map(|(tp, committed)| {
        let (offset, metadata) =
            committed.map_or((NO_COMMITTED_OFFSET, None), |c| (c.offset, c.metadata));
        (
            tp.topic,
            OffsetFetchPartition {
                partition: tp.partition,
                offset,
                metadata,
                error_code: ErrorCode::None,
            },
        )
    });
    OffsetFetchResponse {
        error_code: ErrorCode::None,
        topics: group_by_topic(entries),
    }
}

/// Every group with its state.
pub fn list_groups(ctx: &BrokerCtx) -> ListGroupsResponse {
    let groups = ctx
        .groups
        .list_groups()
        .into_iter()
        .map(|g| ListedGroup {
            group_id: g.group_id,
            state: g.state.name().to_string(),
        })
        .collect();
    ListGroupsResponse {
        error_code: ErrorCode::None,
        groups,
    }
}

/// Describes each requested group.
pub fn describe_groups(ctx: &BrokerCtx, req: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let groups = super::unique(req.group_ids)
        .into_iter()
        .map(|id| match ctx.groups.describe_group(&id, &ctx.topics) {
            Ok(d) => described(d),
            Err(e) => DescribedGroup {
                error_code: error_code(&e),
                group_id: id,
                state: "Dead".into(),
                assignor: String::new(),
                epoch: -1,
                members: Vec::new(),
                offsets: Vec::new(),
            },
        })
        .collect();
    DescribeGroupsResponse { groups }
}

/// Deletes each requested group (only empty ones) on the blocking pool.
pub async fn delete_groups(ctx: &Arc<BrokerCtx>, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let results = blocking(ctx, move |ctx| {
        let results = req
            .group_ids
            .into_iter()
            .map(|group_id| {
                let error_code = ctx
                    .groups
                    .delete_group(&group_id, &ctx.topics, now_ms())
                    .err()
                    .map_or(ErrorCode::None, |e| logged(&e));
                DeleteGroupResult {
                    group_id,
                    error_code,
                }
            })
            .collect();
        Ok(results)
    })
    .await
    .unwrap_or_default();
    DeleteGroupsResponse { results }
}

/// Resets an empty group's offsets on the blocking pool.
pub async fn reset_offsets(ctx: &Arc<BrokerCtx>, req: ResetOffsetsRequest) -> ResetOffsetsResponse {
    let to = match req.spec {
        ResetSpec::Earliest => ResetTo::Earliest,
        ResetSpec::Latest => ResetTo::Latest,
        ResetSpec::Offset(o) => ResetTo::Offset(o),
        ResetSpec::Timestamp(ms) => ResetTo::Timestamp(ms),
    };
    let (mut partitions, mut unknown) = (Vec::new(), Vec::new());
    for topic in req.topics {
        match (topic.partitions, ctx.topics.partition_count(&topic.name)) {
            (Some(ps), _) => partitions.extend(
                ps.into_iter()
                    .map(|p| TopicPartition::new(topic.name.as_str(), p)),
            ),
            (None, Some(n)) => partitions
                .extend((0..n as i32).map(|p| TopicPartition::new(topic.name.as_str(), p))),
            (None, None) => unknown.push(topic.name),
        }
    }
    let (group_id, dry_run) = (req.group_id, req.dry_run);
    let outcome = blocking(ctx, move |ctx| {
        ctx.groups
            .reset_offsets(&group_id, partitions, to, dry_run, &ctx.topics, now_ms())
    })
    .await;
    match outcome {
        Ok(results) => {
            let unknown = unknown.into_iter().map(|t| {
                (
                    TopicPartition::new(t, -1),
                    Err(ErrorCode::UnknownTopicOrPartition),
                )
            });
            let all = results
                .into_iter()
                .map(|(tp, r)| (tp, r.map_err(|e| error_code(&e))))
                .chain(unknown);
            let entries = all.map(|(tp, r)| {
                let (error_code, offset) = match r {
                    Ok(o) => (ErrorCode::None, o),
                    Err(code) => (code, -1),
                };
                (
                    tp.topic,
                    ResetPartition {
                        partition: tp.partition,
                        error_code,
                        offset,
                    },
                )
            });
            ResetOffsetsResponse {
                error_code: ErrorCode::None,
                topics: group_by_topic(entries),
            }
        }
        Err(e) => ResetOffsetsResponse {
            error_code: logged(&e),
            topics: Vec::new(),
        },
    }
}

fn described(d: GroupDescription) -> DescribedGroup {
    DescribedGroup {
        error_code: ErrorCode::None,
        group_id: d.group_id,
        state: d.state.name().to_string(),
        assignor: d.assignor.to_string(),
        epoch: d.epoch,
        members: d
            .members
            .into_iter()
            .map(|m| GroupMember {
                member_id: m.identity.member_id,
                client_id: m.identity.client_id,
                client_host: m.identity.client_host,
                assignment: to_wire(m.owned),
            })
            .collect(),
        offsets: d
            .offsets
            .into_iter()
            .map(|o| GroupOffset {
                topic: o.tp.topic,
                partition: o.tp.partition,
                committed_offset: o.committed.offset,
                high_watermark: o.high_watermark,
                lag: o.lag,
            })
            .collect(),
    }
}

/// Runs coordinator work that writes the offsets log on the blocking pool.
async fn blocking<T, F>(ctx: &Arc<BrokerCtx>, work: F) -> Result<T, GroupError>
where
    T: Send + 'static,
    F: FnOnce(&BrokerCtx) -> Result<T, GroupError> + Send + 'static,
{
    let ctx = ctx.clone();
    match tokio::task::spawn_blocking(move || work(&ctx)).await {
        Ok(outcome) => outcome,
        Err(e) => Err(GroupError::Task(e)),
    }
}

/// The code for `e`, logging failures that are the broker's, not the client's.
fn logged(e: &GroupError) -> ErrorCode {
    let code = error_code(e);
    if matches!(
        code,
        ErrorCode::KafkaStorageError | ErrorCode::UnknownServerError
    ) {
        warn!(error = %e, "group operation failed");
    }
    code
}

fn to_wire(partitions: impl IntoIterator<Item = TopicPartition>) -> Vec<TopicAssignment> {
    group_by_topic(partitions.into_iter().map(|tp| (tp.topic, tp.partition)))
}

fn from_wire(topics: Vec<TopicAssignment>) -> Vec<TopicPartition> {
    topics
        .into_iter()
        .flat_map(|t| {
            let name = t.name;
            t.partitions
                .into_iter()
                .map(move |p| TopicPartition::new(name.as_str(), p))
        })
        .collect()
}

/// Gathers `(topic, entry)` pairs into per-topic lists, topics sorted by name.
fn group_by_topic<P>(entries: impl Iterator<Item = (String, P)>) -> Vec<TopicPartitions<P>> {
    let mut by_topic: BTreeMap<String, Vec<P>> = BTreeMap::new();
    for (topic, entry) in entries {
        by_topic.entry(topic).or_default().push(entry);
    }
    by_topic
        .into_iter()
        .map(|(name, partitions)| TopicPartitions { name, partitions })
        .collect()
}
