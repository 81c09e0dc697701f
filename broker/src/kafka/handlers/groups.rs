//! The classic group protocol: JoinGroup v0-7, SyncGroup v0-5, Heartbeat v0-4,
//! LeaveGroup v0-4, DescribeGroups v0-5, ListGroups v0-4, on the Kafka listener's
//! classic coordinator ([`crate::kafka::groups`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::describe_groups_request::DescribeGroupsRequest;
use kafka_protocol::messages::describe_groups_response::{
    DescribeGroupsResponse, DescribedGroup, DescribedGroupMember,
};
use kafka_protocol::messages::heartbeat_request::HeartbeatRequest;
use kafka_protocol::messages::heartbeat_response::HeartbeatResponse;
use kafka_protocol::messages::join_group_request::JoinGroupRequest;
use kafka_protocol::messages::join_group_response::{JoinGroupResponse, JoinGroupResponseMember};
use kafka_protocol::messages::leave_group_request::LeaveGroupRequest;
use kafka_protocol::messages::leave_group_response::{LeaveGroupResponse, MemberResponse};
use kafka_protocol::messages::list_groups_request::ListGroupsRequest;
use kafka_protocol::messages::list_groups_response::{ListGroupsResponse, ListedGroup};
use kafka_protocol::messages::sync_group_request::SyncGroupRequest;
use kafka_protocol::messages::sync_group_response::SyncGroupResponse;
use kafka_protocol::messages::GroupId;
use tokio::time::Instant;
use tracing::debug;

use super::kstr;
use crate::kafka::groups::{codes, ClassicGroup, JoinInput, JoinOutcome, Phase};
use crate::kafka::request::RequestHeader;
use crate::kafka::KafkaCtx;
use crate::security::acl::{AclOperation, ResourceType};
use crate::security::Access;
use rill_protocol::error_code::ErrorCode;

/// Slack beyond a rebalance deadline before a waiting JoinGroup completes it itself.
const JOIN_SLACK: Duration = Duration::from_millis(500);

/// Answers a JoinGroup request once the rebalance it starts (or joins) completes.
pub async fn join(
    ctx: &Arc<KafkaCtx>,
    req: JoinGroupRequest,
    header: &RequestHeader,
    peer: SocketAddr,
    version: i16,
) -> JoinGroupResponse {
    let group_id = req.group_id.0.to_string();
    let outcome = match refusal(ctx, &group_id) {
        Some(code) => Err(code),
        None => match join_input(ctx, &req, header, peer) {
            Ok(input) => join_and_wait(ctx, &group_id, input).await,
            Err(code) => Err(code),
        },
    };
    match &outcome {
        Ok((member, joined)) => debug!(
            group = %group_id, %member, generation = joined.generation,
            leader = %joined.leader, "JoinGroup answered"
        ),
        Err(code) => debug!(group = %group_id, member = %req.member_id, code, "JoinGroup failed"),
    }
    let mut response = JoinGroupResponse::default();
    if version >= 7 {
        response.protocol_type = Some(req.protocol_type.clone());
    }
    match outcome {
        Ok((member_id, joined)) => {
            response.generation_id = joined.generation;
            response.protocol_name = Some(kstr(joined.protocol));
            response.leader = kstr(joined.leader);
            response.member_id = kstr(member_id);
            response.members = joined
                .members
                .into_iter()
                .map(|(id, metadata)| {
                    let mut m = JoinGroupResponseMember::default();
                    m.member_id = kstr(id);
                    m.metadata = metadata;
                    m
                })
                .collect();
        }
        Err(code) => {
            response.error_code = code;
            response.generation_id = -1;
            response.protocol_name = Some(kstr(""));
            response.member_id = req.member_id;
        }
    }
    response
}

fn join_input(
    ctx: &KafkaCtx,
    req: &JoinGroupRequest,
    header: &RequestHeader,
    peer: SocketAddr,
) -> Result<JoinInput, i16> {
    let limits = &ctx.broker.config.groups;
    if req.group_id.0.is_empty() || req.group_id.0.len() > crate::group::GROUP_ID_MAX_BYTES {
        return Err(codes::INVALID_GROUP_ID);
    }
    let session = req.session_timeout_ms;
    if session < limits.session_timeout_ms_min || session > limits.session_timeout_ms_max {
        return Err(codes::INVALID_SESSION_TIMEOUT);
    }
    // v0 has no rebalance timeout (the codec leaves -1): the session timeout serves.
    let rebalance = if req.rebalance_timeout_ms > 0 {
        req.rebalance_timeout_ms
            .min(limits.session_timeout_ms_max.max(session))
    } else {
        session
    };
    let ms = |v: i32| Duration::from_millis(u64::try_from(v).unwrap_or(0));
    Ok(JoinInput {
        member_id: req.member_id.to_string(),
        client_id: header.client_id.clone().unwrap_or_default(),
        client_host: peer.ip().to_string(),
        session_timeout: ms(session),
        rebalance_timeout: ms(rebalance),
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .iter()
            .map(|p| (p.name.to_string(), p.metadata.clone()))
            .collect(),
    })
}

async fn join_and_wait(
    ctx: &KafkaCtx,
    group_id: &str,
    input: JoinInput,
) -> Result<(String, JoinOutcome), i16> {
    let groups = &ctx.groups;
    let limits = &ctx.broker.config.groups;
    let rebalance_timeout = input.rebalance_timeout;
    let member_id = {
        let mut all = groups.lock();
        if !all.contains_key(group_id) && all.len() >= limits.groups_max {
            return Err(codes::GROUP_MAX_SIZE_REACHED);
        }
        let group = all.entry(group_id.to_string()).or_default();
        let now = std::time::Instant::now();
        let member_id = group.join(input, limits.members_per_group_max, now)?;
        group.try_complete_join(now);
        member_id
    };
    groups.notify();
    let deadline = Instant::now() + rebalance_timeout + JOIN_SLACK;
    let waited = groups
        .wait_for(deadline, |all, overdue| {
            let Some(group) = all.get_mut(group_id) else {
                return Some(Err(codes::UNKNOWN_MEMBER_ID));
            };
            if overdue {
                group.try_complete_join(std::time::Instant::now());
            }
            match group.members.get_mut(&member_id) {
                None => Some(Err(codes::UNKNOWN_MEMBER_ID)),
                Some(m) => match m.pending_join.take() {
                    Some(joined) => Some(Ok(joined)),
                    None if overdue => Some(Err(codes::REBALANCE_IN_PROGRESS)),
                    None => None,
                },
            }
        })
        .await?;
    Ok((member_id, waited))
}

/// Answers a SyncGroup request: at once for the leader, once the leader's assignment has
/// arrived for the others.
pub async fn sync(ctx: &Arc<KafkaCtx>, req: SyncGroupRequest, version: i16) -> SyncGroupResponse {
    let group_id = req.group_id.0.to_string();
    let member_id = req.member_id.to_string();
    let generation = req.generation_id;
    let assignments = req
        .assignments
        .iter()
        .map(|a| (a.member_id.to_string(), a.assignment.clone()))
        .collect();
    let refused = refusal(ctx, &group_id);
    let first = {
        let mut all = ctx.groups.lock();
        match all.get_mut(&group_id) {
            _ if refused.is_some() => Err(refused.unwrap_or(ErrorCode::NotCoordinator.code())),
            None => Err(codes::UNKNOWN_MEMBER_ID),
            Some(g) => g
                .sync(
                    &member_id,
                    generation,
                    assignments,
                    std::time::Instant::now(),
                )
                .map(|a| (a, session_of(g, &member_id), g.protocol.clone())),
        }
    };
    ctx.groups.notify();
    let outcome = match first {
        Err(code) => Err(code),
        Ok((Some(assignment), _, protocol)) => Ok((assignment, protocol)),
        Ok((None, session, protocol)) => {
            let deadline = Instant::now() + session;
            ctx.groups
                .wait_for(deadline, |all, overdue| {
                    let g = all.get(&group_id)?;
                    if let Some(a) = g.assignment_of(&member_id, generation) {
                        return Some(Ok(a));
                    }
                    let moved_on =
                        g.generation != generation || g.phase == Phase::PreparingRebalance;
                    (moved_on || overdue).then_some(Err(codes::REBALANCE_IN_PROGRESS))
                })
                .await
                .map(|a| (a, protocol))
        }
    };
    debug!(group = %group_id, member = %member_id, generation, ok = outcome.is_ok(), code = outcome.as_ref().err().copied().unwrap_or(0), "SyncGroup answered");
    let mut response = SyncGroupResponse::default();
    match outcome {
        Ok((assignment, protocol)) => {
            response.assignment = assignment;
            if version >= 5 {
                response.protocol_type = req.protocol_type;
                response.protocol_name = protocol.map(kstr);
            }
        }
        Err(code) => {
            response.error_code = code;
            response.assignment = Bytes::new();
        }
    }
    response
}

fn session_of(g: &ClassicGroup, member_id: &str) -> Duration {
    g.members
        .get(member_id)
        .map_or(Duration::from_secs(10), |m| m.join.session_timeout)
}

/// Answers a Heartbeat request.
pub fn heartbeat(ctx: &KafkaCtx, req: HeartbeatRequest) -> HeartbeatResponse {
    let refused = refusal(ctx, req.group_id.0.as_str());
    let code = match ctx.groups.lock().get_mut(req.group_id.0.as_str()) {
        _ if refused.is_some() => refused.unwrap_or(ErrorCode::NotCoordinator.code()),
        None => codes::UNKNOWN_MEMBER_ID,
        Some(g) => g.heartbeat(&req.member_id, req.generation_id, std::time::Instant::now()),
    };
    if code != codes::NONE {
        debug!(group = %req.group_id.0, member = %req.member_id, generation = req.generation_id, code, "Heartbeat refused");
    }
    let mut response = HeartbeatResponse::default();
    response.error_code = code;
    response
}

/// Answers a LeaveGroup request (v3+ may name several members).
pub fn leave(ctx: &KafkaCtx, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
    let leaving: Vec<String> = if version >= 3 {
        req.members
            .iter()
            .map(|m| m.member_id.to_string())
            .collect()
    } else {
        vec![req.member_id.to_string()]
    };
    let refused = refusal(ctx, req.group_id.0.as_str());
    let results: Vec<(String, i16)> = {
        let mut all = ctx.groups.lock();
        let now = std::time::Instant::now();
        match all.get_mut(req.group_id.0.as_str()) {
            _ if refused.is_some() => leaving
                .into_iter()
                .map(|m| (m, refused.unwrap_or(ErrorCode::NotCoordinator.code())))
                .collect(),
            None => leaving
                .into_iter()
                .map(|m| (m, codes::UNKNOWN_MEMBER_ID))
                .collect(),
            Some(g) => leaving
                .into_iter()
                .map(|m| {
                    let code = g.remove(&m, now);
                    (m, code)
                })
                .collect(),
        }
    };
    ctx.groups.notify();
    let mut response = LeaveGroupResponse::default();
    if version >= 3 {
        response.members = results
            .into_iter()
            .map(|(id, code)| {
                let mut m = MemberResponse::default();
                m.member_id = kstr(id);
                m.error_code = code;
                m
            })
            .collect();
    } else {
        response.error_code = results.first().map_or(codes::NONE, |(_, c)| *c);
    }
    response
}

/// In a cluster, the Kafka code refusing a group this broker does not coordinate
/// (NOT_COORDINATOR, or COORDINATOR_NOT_AVAILABLE when nobody does now).
pub(crate) fn refusal(ctx: &KafkaCtx, group_id: &str) -> Option<i16> {
    crate::server::handlers::groups::coordinator_refusal(&ctx.broker, group_id).map(|c| c.code())
}

/// Answers a DescribeGroups request: members with their metadata and assignments.
/// Needs Describe on each group.
pub fn describe(
    ctx: &KafkaCtx,
    req: DescribeGroupsRequest,
    access: &Access,
) -> DescribeGroupsResponse {
    let all = ctx.groups.lock();
    let mut response = DescribeGroupsResponse::default();
    response.groups = req
        .groups
        .into_iter()
        .map(|id| {
            let mut out = DescribedGroup::default();
            if !access.group(&id.0, AclOperation::Describe) {
                out.error_code = ErrorCode::GroupAuthorizationFailed.code();
                out.group_id = id;
                return out;
            }
            if let Some(code) = refusal(ctx, &id.0) {
                out.error_code = code;
                out.group_id = id;
                return out;
            }
            match all.get(id.0.as_str()) {
                None => out.group_state = kstr("Dead"),
                Some(g) => {
                    out.group_state = kstr(g.phase.name());
                    out.protocol_type = kstr(g.protocol_type.clone().unwrap_or_default());
                    out.protocol_data = kstr(g.protocol.clone().unwrap_or_default());
                    out.members = g.members.iter().map(|(mid, m)| member(g, mid, m)).collect();
                }
            }
            out.group_id = id;
            out
        })
        .collect();
    response
}

fn member(
    g: &ClassicGroup,
    id: &str,
    m: &crate::kafka::groups::state::Member,
) -> DescribedGroupMember {
    let mut out = DescribedGroupMember::default();
    out.member_id = kstr(id);
    out.client_id = kstr(m.join.client_id.clone());
    out.client_host = kstr(m.join.client_host.clone());
    out.member_metadata = g
        .protocol
        .as_ref()
        .and_then(|p| m.join.protocols.iter().find(|(n, _)| n == p))
        .map(|(_, meta)| meta.clone())
        .unwrap_or_default();
    out.member_assignment = m.assignment.clone();
    out
}

/// Answers a ListGroups request: the Kafka listener's groups, then groups that only
/// have committed offsets or native members (protocol type empty, as Kafka lists
/// groups that only commit). All of them with Describe on the cluster, else those the
/// principal may describe.
pub async fn list(
    ctx: &Arc<KafkaCtx>,
    _req: ListGroupsRequest,
    access: &Access,
) -> ListGroupsResponse {
    let all = access.cluster_permits(AclOperation::Describe);
    let mut listed: Vec<(String, String, String)> = ctx
        .groups
        .lock()
        .iter()
        .map(|(id, g)| {
            let kind = g.protocol_type.clone().unwrap_or_default();
            (id.clone(), kind, g.phase.name().to_string())
        })
        .collect();
    let broker = ctx.broker.clone();
    let native = tokio::task::spawn_blocking(move || broker.groups.list_groups())
        .await
        .unwrap_or_default();
    for g in native {
        if !listed.iter().any(|(id, _, _)| *id == g.group_id) {
            listed.push((g.group_id, String::new(), "Empty".to_string()));
        }
    }
    let mut response = ListGroupsResponse::default();
    response.groups = listed
        .into_iter()
        .filter(|(id, _, _)| all || access.permits(ResourceType::Group, id, AclOperation::Describe))
        .map(|(id, kind, state)| {
            let mut g = ListedGroup::default();
            g.group_id = GroupId(kstr(id));
            g.protocol_type = kstr(kind);
            g.group_state = kstr(state);
            g
        })
        .collect();
    response
}
