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
use crate::cluster::routing::{self, Coordinator};
use crate::group::admin::{GroupDescription, ResetTo};
use crate::group::commit::CommitParams;
use crate::group::coordinator::{HeartbeatParams, JoinParams};
use crate::group::{GroupError, TopicPartition, TopicView};
use crate::security::acl::{AclOperation, ResourceType};
use crate::security::Access;
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
        GroupError::LedElsewhere { .. } => ErrorCode::NotLeaderOrFollower,
        GroupError::Storage(e) => storage_error_code(e),
        GroupError::Topic(e) => super::errors::topic_error_code(e),
        GroupError::CorruptOffsetRecord { .. } | GroupError::Batch(_) => {
            ErrorCode::KafkaStorageError
        }
        GroupError::Task(_) => ErrorCode::UnknownServerError,
        GroupError::NotCoordinator => ErrorCode::NotCoordinator,
        GroupError::Replication(_) => ErrorCode::CoordinatorNotAvailable,
    }
}

/// This broker coordinates every group (single node; the request exists for clustering).
/// Needs Describe on the group.
pub fn find_coordinator(
    ctx: &BrokerCtx,
    req: FindCoordinatorRequest,
    access: &Access,
) -> FindCoordinatorResponse {
    if !access.group(&req.key, AclOperation::Describe) {
        return FindCoordinatorResponse {
            error_code: ErrorCode::GroupAuthorizationFailed,
            node_id: -1,
            host: String::new(),
            port: -1,
        };
    }
    let Some(cluster) = &ctx.cluster else {
        return FindCoordinatorResponse {
            error_code: ErrorCode::None,
            node_id: NODE_ID,
            host: ctx.native_advertised().0,
            port: i32::from(ctx.native_advertised().1),
        };
    };
    let unavailable = FindCoordinatorResponse {
        error_code: ErrorCode::CoordinatorNotAvailable,
        node_id: -1,
        host: String::new(),
        port: -1,
    };
    if cluster.status().stale {
        return unavailable;
    }
    let image = cluster.image();
    let node = match routing::coordinator(&image, &req.key, cluster.node_id()) {
        Coordinator::Here => cluster.node_id(),
        Coordinator::There(node) => node,
        Coordinator::Unavailable => return unavailable,
    };
    match image.brokers.get(&node).filter(|b| !b.fenced) {
        Some(b) => FindCoordinatorResponse {
            error_code: ErrorCode::None,
            node_id: routing::wire_id(node),
            host: b.registration.host.clone(),
            port: i32::from(b.registration.port),
        },
        None => unavailable,
    }
}

/// In a cluster, why this broker does not serve `group_id` (NOT_COORDINATOR when another
/// broker coordinates it, COORDINATOR_NOT_AVAILABLE when none does now or this broker's
/// metadata is stale); `None` when it does (always, on a single broker).
pub fn coordinator_refusal(ctx: &BrokerCtx, group_id: &str) -> Option<ErrorCode> {
    let cluster = ctx.cluster.as_ref()?;
    if cluster.status().stale {
        return Some(ErrorCode::CoordinatorNotAvailable);
    }
    match routing::coordinator(&cluster.image(), group_id, cluster.node_id()) {
        Coordinator::Here => crate::replication::offsets::loaded_here(ctx, group_id),
        Coordinator::There(_) => Some(ErrorCode::NotCoordinator),
        Coordinator::Unavailable => Some(ErrorCode::CoordinatorNotAvailable),
    }
}

/// Joins a member and answers with its epoch and first assignment. Needs Read on the
/// group.
pub fn join(
    ctx: &BrokerCtx,
    req: JoinGroupRequest,
    header: &RequestHeader,
    peer: SocketAddr,
    access: &Access,
) -> JoinGroupResponse {
    if !access.group(&req.group_id, AclOperation::Read) {
        return JoinGroupResponse {
            error_code: ErrorCode::GroupAuthorizationFailed,
            member_id: String::new(),
            member_epoch: -1,
            heartbeat_interval_ms: 0,
            assignment: Vec::new(),
        };
    }
    if let Some(error_code) = coordinator_refusal(ctx, &req.group_id) {
        return JoinGroupResponse {
            error_code,
            member_id: String::new(),
            member_epoch: -1,
            heartbeat_interval_ms: 0,
            assignment: Vec::new(),
        };
    }
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
    match ctx.groups.join(params, &ctx.group_topics(), now_ms()) {
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
/// Needs Read on the group.
pub fn heartbeat(ctx: &BrokerCtx, req: HeartbeatRequest, access: &Access) -> HeartbeatResponse {
    if !access.group(&req.group_id, AclOperation::Read) {
        return HeartbeatResponse {
            error_code: ErrorCode::GroupAuthorizationFailed,
            member_epoch: -1,
            heartbeat_interval_ms: 0,
            assignment: None,
        };
    }
    if let Some(error_code) = coordinator_refusal(ctx, &req.group_id) {
        return HeartbeatResponse {
            error_code,
            member_epoch: -1,
            heartbeat_interval_ms: 0,
            assignment: None,
        };
    }
    let params = HeartbeatParams {
        group_id: req.group_id,
        member_id: req.member_id,
        member_epoch: req.member_epoch,
        topics: req.topics,
        owned: from_wire(req.owned),
    };
    match ctx.groups.heartbeat(params, &ctx.group_topics(), now_ms()) {
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

/// Removes a member. Needs Read on the group.
pub fn leave(ctx: &BrokerCtx, req: LeaveGroupRequest, access: &Access) -> LeaveGroupResponse {
    if !access.group(&req.group_id, AclOperation::Read) {
        return LeaveGroupResponse {
            error_code: ErrorCode::GroupAuthorizationFailed,
        };
    }
    if let Some(error_code) = coordinator_refusal(ctx, &req.group_id) {
        return LeaveGroupResponse { error_code };
    }
    let outcome = ctx
        .groups
        .leave(&req.group_id, &req.member_id, &ctx.group_topics());
    LeaveGroupResponse {
        error_code: outcome.err().map_or(ErrorCode::None, |e| logged(&e)),
    }
}

/// Commits offsets (fenced by member and epoch) on the blocking pool. Needs Read on the
/// group, and on each topic (a partition of a topic without it is refused alone).
pub async fn offset_commit(
    ctx: &Arc<BrokerCtx>,
    req: OffsetCommitRequest,
    access: &Access,
) -> OffsetCommitResponse {
    let group_allowed = access.group(&req.group_id, AclOperation::Read);
    let refusal = coordinator_refusal(ctx, &req.group_id).filter(|_| group_allowed);
    let mut denied = Vec::new();
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        if let Some(code) = refusal {
            denied.extend(t.partitions.iter().map(|p| {
                let result = PartitionResult {
                    partition: p.partition,
                    error_code: code,
                };
                (t.name.clone(), result)
            }));
            continue;
        }
        if group_allowed && access.topic(&t.name, AclOperation::Read) {
            topics.push(t);
            continue;
        }
        let code = match group_allowed {
            true => ErrorCode::TopicAuthorizationFailed,
            false => ErrorCode::GroupAuthorizationFailed,
        };
        denied.extend(t.partitions.iter().map(|p| {
            let result = PartitionResult {
                partition: p.partition,
                error_code: code,
            };
            (t.name.clone(), result)
        }));
    }
    if !group_allowed || refusal.is_some() || (topics.is_empty() && !denied.is_empty()) {
        return OffsetCommitResponse {
            topics: group_by_topic(denied.into_iter()),
        };
    }
    let offsets: Vec<_> = topics
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
        let view = ctx.group_topics();
        ctx.groups
            .commit_offsets_in(params, &ctx.topics, &view, now_ms())
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
    let committed = results.into_iter().map(|(tp, code)| {
        let partition = tp.partition;
        (
            tp.topic,
            PartitionResult {
                partition,
                error_code: code,
            },
        )
    });
    let grouped = group_by_topic(committed.chain(denied));
    OffsetCommitResponse { topics: grouped }
}

/// The committed offsets asked for (all of the group's when `topics` is null). Needs
/// Read on the group and (Kafka's rule) Describe on each topic: a named topic without it
/// is answered TOPIC_AUTHORIZATION_FAILED, and left out of "all of the group's".
pub fn offset_fetch(
    ctx: &BrokerCtx,
    req: OffsetFetchRequest,
    access: &Access,
) -> OffsetFetchResponse {
    if !access.group(&req.group_id, AclOperation::Read) {
        return OffsetFetchResponse {
            error_code: ErrorCode::GroupAuthorizationFailed,
            topics: Vec::new(),
        };
    }
    if let Some(error_code) = coordinator_refusal(ctx, &req.group_id) {
        return OffsetFetchResponse {
            error_code,
            topics: Vec::new(),
        };
    }
    let listing_all = req.topics.is_none();
    let mut denied = Vec::new();
    let wanted = req.topics.map(|topics| {
        let (allowed, refused): (Vec<_>, Vec<_>) = topics
            .into_iter()
            .partition(|t| access.topic(&t.name, AclOperation::Describe));
        denied = from_wire(refused);
        from_wire(allowed)
    });
    let found = ctx.groups.fetch_offsets(&req.group_id, wanted);
    let found = found.into_iter().filter(|(tp, _)| {
        !listing_all || access.permits(ResourceType::Topic, &tp.topic, AclOperation::Describe)
    });
    let refused = denied.into_iter().map(|tp| {
        (
            tp.topic,
            OffsetFetchPartition {
                partition: tp.partition,
                offset: NO_COMMITTED_OFFSET,
                metadata: None,
                error_code: ErrorCode::TopicAuthorizationFailed,
            },
        )
    });
    let entries = found.map(|(tp, committed)| {
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
        topics: group_by_topic(entries.chain(refused)),
    }
}

/// Every group with its state: all of them with Describe on the cluster, else those the
/// principal may describe.
pub fn list_groups(ctx: &BrokerCtx, access: &Access) -> ListGroupsResponse {
    let all = access.cluster_permits(AclOperation::Describe);
    let groups = ctx
        .groups
        .list_groups()
        .into_iter()
        .filter(|g| all || access.permits(ResourceType::Group, &g.group_id, AclOperation::Describe))
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

/// Describes each requested group (Describe on the group).
pub fn describe_groups(
    ctx: &BrokerCtx,
    req: DescribeGroupsRequest,
    access: &Access,
) -> DescribeGroupsResponse {
    let groups = super::unique(req.group_ids)
        .into_iter()
        .map(|id| {
            if !access.group(&id, AclOperation::Describe) {
                return Err((id, ErrorCode::GroupAuthorizationFailed));
            }
            if let Some(code) = coordinator_refusal(ctx, &id) {
                return Err((id, code));
            }
            match ctx.groups.describe_group(&id, &ctx.group_topics()) {
                Ok(d) => Ok(d),
                Err(e) => Err((id, error_code(&e))),
            }
        })
        .map(|outcome| match outcome {
            Ok(d) => described(d),
            Err((id, code)) => DescribedGroup {
                error_code: code,
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

/// Deletes each requested group (only empty ones, with Delete on the group) on the
/// blocking pool.
pub async fn delete_groups(
    ctx: &Arc<BrokerCtx>,
    req: DeleteGroupsRequest,
    access: &Access,
) -> DeleteGroupsResponse {
    let access = access.clone();
    let results = blocking(ctx, move |ctx| {
        let results = req
            .group_ids
            .into_iter()
            .map(|group_id| {
                if !access.group(&group_id, AclOperation::Delete) {
                    return DeleteGroupResult {
                        group_id,
                        error_code: ErrorCode::GroupAuthorizationFailed,
                    };
                }
                if let Some(error_code) = coordinator_refusal(ctx, &group_id) {
                    return DeleteGroupResult {
                        group_id,
                        error_code,
                    };
                }
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

/// Resets an empty group's offsets on the blocking pool. Needs Read on the group and on
/// every topic named.
pub async fn reset_offsets(
    ctx: &Arc<BrokerCtx>,
    req: ResetOffsetsRequest,
    access: &Access,
) -> ResetOffsetsResponse {
    if !access.group(&req.group_id, AclOperation::Read) {
        return ResetOffsetsResponse {
            error_code: ErrorCode::GroupAuthorizationFailed,
            topics: Vec::new(),
        };
    }
    if let Some(error_code) = coordinator_refusal(ctx, &req.group_id) {
        return ResetOffsetsResponse {
            error_code,
            topics: Vec::new(),
        };
    }
    let (mut partitions, mut unknown, mut refused) = (Vec::new(), Vec::new(), Vec::new());
    let to = match req.spec {
        ResetSpec::Earliest => ResetTo::Earliest,
        ResetSpec::Latest => ResetTo::Latest,
        ResetSpec::Offset(o) => ResetTo::Offset(o),
        ResetSpec::Timestamp(ms) => ResetTo::Timestamp(ms),
    };
    for topic in req.topics {
        if !access.topic(&topic.name, AclOperation::Read) {
            refused.push(topic.name);
            continue;
        }
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
        ctx.groups.reset_offsets(
            &group_id,
            partitions,
            to,
            dry_run,
            &ctx.topics,
            &ctx.group_topics(),
            now_ms(),
        )
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
            let refused = refused.into_iter().map(|t| {
                (
                    TopicPartition::new(t, -1),
                    Err(ErrorCode::TopicAuthorizationFailed),
                )
            });
            let all = results
                .into_iter()
                .map(|(tp, r)| (tp, r.map_err(|e| error_code(&e))))
                .chain(unknown)
                .chain(refused);
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
