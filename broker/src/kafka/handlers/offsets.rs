//! OffsetCommit v2-8 and OffsetFetch v1-8 on the broker's one committed-offsets store.
//!
//! A commit from a classic member is fenced by the Kafka listener's classic group
//! (member and generation), then written through the native handler as a simple
//! commit, so the native protocol sees the same offsets (and its own live members, if
//! any, fence Kafka commits). A commit naming a member of a native or KIP-848 group is
//! fenced by the native coordinator (member id and epoch).

use std::sync::Arc;

use kafka_protocol::messages::offset_commit_request::OffsetCommitRequest;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponse, OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequest;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponse, OffsetFetchResponseGroup, OffsetFetchResponsePartition,
    OffsetFetchResponsePartitions, OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, TopicName};
use rill_protocol::api::common::{TopicAssignment, TopicPartitions};
use rill_protocol::api::{offset_commit as native_commit, offset_fetch as native_fetch};
use rill_protocol::error_code::ErrorCode;

use super::kstr;
use crate::kafka::groups::{codes, Phase};
use crate::kafka::KafkaCtx;
use crate::security::acl::AclOperation;
use crate::security::Access;
use crate::server::handlers::groups as native_handler;

/// Answers an OffsetCommit request.
///
/// Needs Read on the group (checked before the member is, so a refused principal learns
/// nothing of the group) and on each topic.
pub async fn commit(
    ctx: &Arc<KafkaCtx>,
    req: OffsetCommitRequest,
    access: &Access,
) -> OffsetCommitResponse {
    let fence = match access.group(&req.group_id, AclOperation::Read) {
        true => fence(ctx, &req),
        false => Err(ErrorCode::GroupAuthorizationFailed.code()),
    };
    let topics: Vec<TopicPartitions<native_commit::OffsetCommitPartition>> = req
        .topics
        .iter()
        .map(|t| TopicPartitions {
            name: t.name.0.to_string(),
            partitions: t
                .partitions
                .iter()
                .map(|p| native_commit::OffsetCommitPartition {
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                })
                .collect(),
        })
        .collect();
    let results: Vec<(String, Vec<(i32, i16)>)> = match fence {
        Err(code) => topics
            .into_iter()
            .map(|t| {
                (
                    t.name,
                    t.partitions.iter().map(|p| (p.partition, code)).collect(),
                )
            })
            .collect(),
        Ok(committer) => {
            let (member_id, member_epoch) = match committer {
                Committer::Checked => (String::new(), -1),
                Committer::Native { member_id, epoch } => (member_id, epoch),
            };
            let native_req = native_commit::OffsetCommitRequest {
                group_id: req.group_id.0.to_string(),
                member_id,
                member_epoch,
                topics,
            };
            native_handler::offset_commit(&ctx.broker, native_req, access)
                .await
                .topics
                .into_iter()
                .map(|t| {
                    let parts = t
                        .partitions
                        .iter()
                        .map(|p| (p.partition, p.error_code.code()))
                        .collect();
                    (t.name, parts)
                })
                .collect()
        }
    };
    let mut response = OffsetCommitResponse::default();
    response.topics = results
        .into_iter()
        .map(|(name, parts)| {
            let mut t = OffsetCommitResponseTopic::default();
            t.name = TopicName(kstr(name));
            t.partitions = parts
                .into_iter()
                .map(|(index, code)| {
                    let mut p = OffsetCommitResponsePartition::default();
                    p.partition_index = index;
                    p.error_code = code;
                    p
                })
                .collect();
            t
        })
        .collect();
    response
}

/// Who commits, once fenced.
enum Committer {
    /// Checked here (a classic member at its generation, or a simple commit to a
    /// group without classic members): written as a simple commit.
    Checked,
    /// A member of a native or KIP-848 group: the native coordinator fences it by
    /// member id and epoch.
    Native { member_id: String, epoch: i32 },
}

/// Who may commit: a member of the classic group at its generation (not while the group
/// waits for its assignment); anyone when the group has no classic members and names no
/// member ("simple" commit: generation -1); otherwise the member of the native group it
/// names (KIP-848 consumers commit with their member epoch from v9).
fn fence(ctx: &KafkaCtx, req: &OffsetCommitRequest) -> Result<Committer, i16> {
    let member_id = req.member_id.to_string();
    let generation = req.generation_id_or_member_epoch;
    let simple = member_id.is_empty() && generation < 0;
    let all = ctx.groups.lock();
    let classic = all.get(req.group_id.0.as_str());
    match classic {
        Some(g) if g.members.contains_key(&member_id) => {
            g.check_member(&member_id, generation)?;
            if g.phase == Phase::CompletingRebalance {
                return Err(codes::REBALANCE_IN_PROGRESS);
            }
            Ok(Committer::Checked)
        }
        Some(g) if simple && !g.members.is_empty() => Err(codes::ILLEGAL_GENERATION),
        _ if simple => Ok(Committer::Checked),
        _ => Ok(Committer::Native {
            member_id,
            epoch: generation,
        }),
    }
}

/// Answers an OffsetFetch request (v8 batches groups).
pub async fn fetch(
    ctx: &Arc<KafkaCtx>,
    req: OffsetFetchRequest,
    version: i16,
    access: &Access,
) -> OffsetFetchResponse {
    let mut response = OffsetFetchResponse::default();
    if version >= 8 {
        for g in req.groups {
            let wanted = g.topics.map(|ts| {
                ts.into_iter()
                    .map(|t| TopicAssignment {
                        name: t.name.0.to_string(),
                        partitions: t.partition_indexes,
                    })
                    .collect()
            });
            let found = fetch_one(ctx, g.group_id.0.to_string(), wanted, access).await;
            let mut out = OffsetFetchResponseGroup::default();
            out.group_id = GroupId(g.group_id.0);
            out.error_code = found.error_code.code();
            out.topics = found.topics.into_iter().map(topic_v8).collect();
            response.groups.push(out);
        }
        return response;
    }
    let wanted = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| TopicAssignment {
                name: t.name.0.to_string(),
                partitions: t.partition_indexes,
            })
            .collect()
    });
    let found = fetch_one(ctx, req.group_id.0.to_string(), wanted, access).await;
    if version >= 2 {
        response.error_code = found.error_code.code();
    }
    response.topics = found.topics.into_iter().map(topic).collect();
    response
}

async fn fetch_one(
    ctx: &Arc<KafkaCtx>,
    group_id: String,
    topics: Option<Vec<TopicAssignment>>,
    access: &Access,
) -> native_fetch::OffsetFetchResponse {
    let broker = ctx.broker.clone();
    let access = access.clone();
    let req = native_fetch::OffsetFetchRequest { group_id, topics };
    // The offsets lock may be held by a commit that writes (and fsyncs) the offsets log.
    tokio::task::spawn_blocking(move || native_handler::offset_fetch(&broker, req, &access))
        .await
        .unwrap_or_else(|_| native_fetch::OffsetFetchResponse {
            error_code: ErrorCode::UnknownServerError,
            topics: Vec::new(),
        })
}

fn topic(t: TopicPartitions<native_fetch::OffsetFetchPartition>) -> OffsetFetchResponseTopic {
    let mut out = OffsetFetchResponseTopic::default();
    out.name = TopicName(kstr(t.name));
    out.partitions = t
        .partitions
        .into_iter()
        .map(|p| {
            let mut r = OffsetFetchResponsePartition::default();
            r.partition_index = p.partition;
            r.committed_offset = p.offset;
            r.committed_leader_epoch = -1;
            r.metadata = Some(kstr(p.metadata.unwrap_or_default()));
            r.error_code = p.error_code.code();
            r
        })
        .collect();
    out
}

fn topic_v8(t: TopicPartitions<native_fetch::OffsetFetchPartition>) -> OffsetFetchResponseTopics {
    let mut out = OffsetFetchResponseTopics::default();
    out.name = TopicName(kstr(t.name));
    out.partitions = t
        .partitions
        .into_iter()
        .map(|p| {
            let mut r = OffsetFetchResponsePartitions::default();
            r.partition_index = p.partition;
            r.committed_offset = p.offset;
            r.committed_leader_epoch = -1;
            r.metadata = Some(kstr(p.metadata.unwrap_or_default()));
            r.error_code = p.error_code.code();
            r
        })
        .collect();
    out
}
