//! ConsumerGroupHeartbeat v0-1 (KIP-848): the broker-side-assignment group protocol,
//! mapped onto the native group coordinator, which works the same way (member epochs,
//! assignments computed by the broker, partitions released before they move). Members
//! of these groups are the native coordinator's members: a Kafka consumer using
//! `group.protocol=consumer` and a Rill client in the same group share its partitions.
//!
//! Epoch 0 joins, -1 (or -2, a static member) leaves, anything else is a heartbeat. A
//! heartbeat whose owned partitions are null ("unchanged") reports the set the member
//! last reported, remembered here per member.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use kafka_protocol::messages::consumer_group_heartbeat_request::{
    ConsumerGroupHeartbeatRequest, TopicPartitions as OwnedTopic,
};
use kafka_protocol::messages::consumer_group_heartbeat_response::{
    Assignment, ConsumerGroupHeartbeatResponse, TopicPartitions,
};
use rill_protocol::error_code::ErrorCode;
use uuid::Uuid;

use super::kstr;
use crate::group::coordinator::{HeartbeatParams, JoinParams, MemberUpdate};
use crate::group::{GroupError, TopicPartition};
use crate::kafka::topic_id::{find_name, id_of};
use crate::kafka::KafkaCtx;
use crate::server::handlers::groups::error_code;
use crate::storage::now_ms;

/// The session timeout of KIP-848 members (Kafka's `group.consumer.session.timeout.ms`),
/// within the broker's allowed range.
const SESSION_TIMEOUT_MS: i32 = 45_000;
/// Rebalance timeout when the client gives none.
const REBALANCE_TIMEOUT_MS_DEFAULT: i32 = 300_000;
/// Most members whose owned partitions are remembered (bounds the map).
const REMEMBERED_MEMBERS_MAX: usize = 100_000;

/// The owned partitions each KIP-848 member last reported, by `(group, member)`.
#[derive(Debug, Default)]
pub struct OwnedPartitions(Mutex<BTreeMap<(String, String), Vec<TopicPartition>>>);

impl OwnedPartitions {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Vec<TopicPartition>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Answers a ConsumerGroupHeartbeat request.
pub async fn heartbeat(
    ctx: &Arc<KafkaCtx>,
    req: ConsumerGroupHeartbeatRequest,
    peer: SocketAddr,
    client_id: Option<String>,
) -> ConsumerGroupHeartbeatResponse {
    let group_id = req.group_id.0.to_string();
    let member_id = req.member_id.to_string();
    let epoch = req.member_epoch;
    let mut response = ConsumerGroupHeartbeatResponse::default();
    if let Some(code) = super::groups::refusal(ctx, &group_id) {
        response.error_code = code;
        response.member_epoch = -1;
        return response;
    }
    if epoch < 0 {
        let (broker, g, m) = (ctx.broker.clone(), group_id.clone(), member_id.clone());
        let left = tokio::task::spawn_blocking(move || {
            broker.groups.leave(&g, &m, &broker.group_topics())
        })
        .await
        .unwrap_or_else(|e| Err(GroupError::Task(e)));
        ctx.owned.lock().remove(&(group_id, member_id.clone()));
        if let Err(e) = left {
            return failed(response, &e);
        }
        response.member_id = Some(kstr(member_id));
        response.member_epoch = epoch;
        return response;
    }
    if req
        .subscribed_topic_regex
        .as_ref()
        .is_some_and(|r| !r.is_empty())
    {
        response.error_code = ErrorCode::InvalidRequest.code();
        response.error_message = Some(kstr(
            "regex subscriptions are not supported: subscribe to topic names",
        ));
        response.member_epoch = -1;
        return response;
    }
    let topics: Option<Vec<String>> = req
        .subscribed_topic_names
        .map(|names| names.into_iter().map(|n| n.0.to_string()).collect());
    let owned = req.topic_partitions.map(|tps| reported(ctx, tps));
    let key = (group_id.clone(), member_id.clone());
    let owned = {
        let mut remembered = ctx.owned.lock();
        match owned {
            Some(owned) => {
                if remembered.len() >= REMEMBERED_MEMBERS_MAX {
                    remembered.clear();
                }
                remembered.insert(key, owned.clone());
                owned
            }
            None => remembered.get(&key).cloned().unwrap_or_default(),
        }
    };
    let limits = &ctx.broker.config.groups;
    let broker = ctx.broker.clone();
    let outcome = if epoch == 0 {
        let rebalance = match req.rebalance_timeout_ms {
            ms if ms > 0 => ms,
            _ => REBALANCE_TIMEOUT_MS_DEFAULT,
        };
        let params = JoinParams {
            group_id,
            member_id,
            session_timeout_ms: SESSION_TIMEOUT_MS
                .clamp(limits.session_timeout_ms_min, limits.session_timeout_ms_max),
            rebalance_timeout_ms: rebalance,
            topics: topics.unwrap_or_default(),
            assignor: req.server_assignor.map(|a| a.to_string()),
            client_id,
            client_host: peer.ip().to_string(),
        };
        tokio::task::spawn_blocking(move || {
            broker.groups.join(params, &broker.group_topics(), now_ms())
        })
        .await
    } else {
        let params = HeartbeatParams {
            group_id,
            member_id,
            member_epoch: epoch,
            topics,
            owned,
        };
        tokio::task::spawn_blocking(move || {
            broker
                .groups
                .heartbeat(params, &broker.group_topics(), now_ms())
        })
        .await
    };
    match outcome.unwrap_or_else(|e| Err(GroupError::Task(e))) {
        Ok(update) => answered(ctx, response, update),
        Err(e) => failed(response, &e),
    }
}

/// The partitions a member reports owning, by name (unknown topic ids are dropped: the
/// topic is gone, so the member cannot own it).
fn reported(ctx: &KafkaCtx, tps: Vec<OwnedTopic>) -> Vec<TopicPartition> {
    let mut names: BTreeMap<Uuid, Option<String>> = BTreeMap::new();
    let mut out = Vec::new();
    for tp in tps {
        let name = names
            .entry(tp.topic_id)
            .or_insert_with(|| find_name(&ctx.broker, tp.topic_id))
            .clone();
        if let Some(name) = name {
            out.extend(
                tp.partitions
                    .into_iter()
                    .map(|p| TopicPartition::new(name.clone(), p)),
            );
        }
    }
    out
}

fn answered(
    ctx: &KafkaCtx,
    mut response: ConsumerGroupHeartbeatResponse,
    update: MemberUpdate,
) -> ConsumerGroupHeartbeatResponse {
    response.member_id = Some(kstr(update.member_id));
    response.member_epoch = update.member_epoch;
    response.heartbeat_interval_ms = update.heartbeat_interval_ms;
    response.assignment = update.assignment.map(|set| {
        let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for tp in set {
            by_topic.entry(tp.topic).or_default().push(tp.partition);
        }
        let mut a = Assignment::default();
        a.topic_partitions = by_topic
            .into_iter()
            .map(|(topic, partitions)| {
                let mut t = TopicPartitions::default();
                t.topic_id = id_of(&ctx.broker, &topic);
                t.partitions = partitions;
                t
            })
            .collect();
        a
    });
    response
}

fn failed(
    mut response: ConsumerGroupHeartbeatResponse,
    e: &GroupError,
) -> ConsumerGroupHeartbeatResponse {
    let code: ErrorCode = error_code(e);
    response.error_code = code.code();
    response.error_message = Some(kstr(e.to_string()));
    response.member_epoch = -1;
    response
}
