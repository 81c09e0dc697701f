//! AlterPartitionReassignments: records where replicated partitions move (`rill topic
//! reassign`, `rill cluster rebalance`, `rill cluster drain`). Needs Alter on the
//! cluster. The controller records each topic's targets in one metadata command (all of
//! a topic's partitions or none); the partitions' Raft groups carry the moves out and
//! report them done ([`crate::cluster::MetadataCommand::CompleteReassignment`]).

use std::sync::Arc;

use rill_protocol::api::alter_partition_reassignments::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, ReassignableTopic,
    ReassignmentResult, ReassignmentTopicResult,
};
use rill_protocol::error_code::ErrorCode;
use tracing::info;

use crate::cluster::admin::{admin_timeout, cluster_error_code};
use crate::cluster::{ApplyError, ClusterError, MetadataCommand, NodeId};
use crate::security::acl::AclOperation;
use crate::security::Access;
use crate::server::BrokerCtx;

/// Whether recorded moves are carried out: not until the replica manager changes a
/// group's voters to the recorded target (then flip this and drop the refusal).
const EXECUTE_MOVES: bool = false;

/// Most partitions one request may move.
const MOVES_MAX: usize = 10_000;

/// Answers AlterPartitionReassignments.
pub async fn handle(
    ctx: &Arc<BrokerCtx>,
    req: AlterPartitionReassignmentsRequest,
    access: &Access,
) -> AlterPartitionReassignmentsResponse {
    let refuse = |code: ErrorCode, message: &str| AlterPartitionReassignmentsResponse {
        error_code: code,
        error_message: Some(message.to_string()),
        topics: Vec::new(),
    };
    if !access.cluster(AclOperation::Alter) {
        return refuse(
            ErrorCode::ClusterAuthorizationFailed,
            "moving partitions needs Alter on the cluster",
        );
    }
    let Some(cluster) = &ctx.cluster else {
        return refuse(
            ErrorCode::InvalidRequest,
            "this broker is not in a cluster: there is nowhere to move partitions",
        );
    };
    let moves: usize = req.topics.iter().map(|t| t.partitions.len()).sum();
    if moves > MOVES_MAX {
        return refuse(
            ErrorCode::InvalidRequest,
            &format!("{moves} partitions in one request; at most {MOVES_MAX}"),
        );
    }
    let timeout = admin_timeout(req.timeout_ms);
    let mut topics = Vec::with_capacity(req.topics.len());
    for topic in req.topics {
        let outcome = reassign_topic(cluster, &topic, timeout).await;
        let partitions = topic
            .partitions
            .iter()
            .map(|p| ReassignmentResult {
                partition: p.partition,
                error_code: outcome.as_ref().err().map_or(ErrorCode::None, |e| e.0),
                error_message: outcome.as_ref().err().map(|e| e.1.clone()),
            })
            .collect();
        topics.push(ReassignmentTopicResult {
            name: topic.name,
            partitions,
        });
    }
    AlterPartitionReassignmentsResponse {
        error_code: ErrorCode::None,
        error_message: None,
        topics,
    }
}

/// Proposes one topic's moves; the code and message when refused.
async fn reassign_topic(
    cluster: &crate::cluster::Cluster,
    topic: &ReassignableTopic,
    timeout: std::time::Duration,
) -> Result<(), (ErrorCode, String)> {
    let image = cluster.image();
    let record = image.topics.get(&topic.name).ok_or_else(|| {
        (
            ErrorCode::UnknownTopicOrPartition,
            format!("topic `{}` does not exist", topic.name),
        )
    })?;
    let mut moves = Vec::with_capacity(topic.partitions.len());
    for p in &topic.partitions {
        let partition = u32::try_from(p.partition)
            .ok()
            .filter(|i| (*i as usize) < record.partitions.len())
            .ok_or_else(|| {
                (
                    ErrorCode::UnknownTopicOrPartition,
                    format!("`{}` has no partition {}", topic.name, p.partition),
                )
            })?;
        let target = match &p.replicas {
            None => None,
            Some(ids) => Some(
                ids.iter()
                    .map(|id| NodeId::try_from(*id).ok().filter(|id| *id > 0))
                    .collect::<Option<Vec<NodeId>>>()
                    .ok_or_else(|| {
                        (
                            ErrorCode::InvalidReplicaAssignment,
                            format!("{ids:?} holds an invalid broker id"),
                        )
                    })?,
            ),
        };
        moves.push((partition, target));
    }
    if !EXECUTE_MOVES {
        // The partitions' groups do not change their voters yet (issue #15): recording a
        // target nobody carries out would leave it pending forever.
        return Err((
            ErrorCode::InvalidRequest,
            "moving replicas is planned but not carried out by this version: the partition groups cannot change their voters yet (show plans with `rill cluster rebalance` / `rill cluster drain` without --execute)".into(),
        ));
    }
    let command = MetadataCommand::ReassignPartitions {
        topic: topic.name.clone(),
        topic_id: record.id,
        moves: moves.clone(),
    };
    match tokio::time::timeout(timeout, cluster.propose(command)).await {
        Ok(Ok(())) => {
            info!(topic = %topic.name, ?moves, "partition reassignment recorded");
            Ok(())
        }
        Ok(Err(ClusterError::Rejected(
            e @ (ApplyError::Invalid(_) | ApplyError::UnknownBroker(_)),
        ))) => Err((ErrorCode::InvalidReplicaAssignment, e.to_string())),
        Ok(Err(e)) => Err((cluster_error_code(&e), e.to_string())),
        Err(_) => Err((
            ErrorCode::RequestTimedOut,
            "the controller did not record the move in time; retry".into(),
        )),
    }
}
