//! Offset lookups through the ListOffsets API, shared by the consumer (`seek`) and the
//! admin client (`describe_topic`). In a cluster each partition answers from its
//! leader ([`list_offsets_from_leaders`]).

use std::collections::HashMap;

use rill_protocol::api::common::TopicPartitions;
use rill_protocol::api::list_offsets::{ListOffsetsPartition, ListOffsetsRequest};
use rill_protocol::api::ApiKey;
use rill_protocol::error_code::ErrorCode;

pub(crate) use rill_protocol::api::list_offsets::{EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};

use crate::brokers::Brokers;
use crate::error::{ClientError, Result};
use crate::record::TopicPartition;
use crate::slot::ConnectionSlot;

/// Offset found for a partition: the first offset whose timestamp is at or after the
/// one asked for (`None` if there is none), or the earliest/latest offset.
pub(crate) type OffsetLookup = HashMap<TopicPartition, Option<i64>>;

/// [`list_offsets`] asked of each partition's leader (`leaders`, from metadata): one
/// request per leader, all at once. A partition without a known leader fails the
/// lookup with a retriable `LEADER_NOT_AVAILABLE`.
pub(crate) async fn list_offsets_from_leaders(
    brokers: &Brokers,
    leaders: &HashMap<TopicPartition, i32>,
    isolation_level: i8,
    partitions: &[(TopicPartition, i64)],
) -> Result<OffsetLookup> {
    let mut found = OffsetLookup::new();
    for (_, lookup) in ask_leaders(brokers, leaders, isolation_level, partitions).await? {
        found.extend(lookup?);
    }
    Ok(found)
}

/// [`list_offsets_from_leaders`] for a report (`describe_topic`): the partitions of a
/// leader that cannot be reached now (connection refused, lost or timed out: a broker
/// that died and is not fenced yet) come back apart instead of failing the lookup.
pub(crate) async fn list_offsets_from_reachable_leaders(
    brokers: &Brokers,
    leaders: &HashMap<TopicPartition, i32>,
    isolation_level: i8,
    partitions: &[(TopicPartition, i64)],
) -> Result<(OffsetLookup, Vec<TopicPartition>)> {
    let mut found = OffsetLookup::new();
    let mut unreachable = Vec::new();
    for (asked, lookup) in ask_leaders(brokers, leaders, isolation_level, partitions).await? {
        match lookup {
            Ok(lookup) => found.extend(lookup),
            Err(e) if is_unreachable(&e) => unreachable.extend(asked),
            Err(e) => return Err(e),
        }
    }
    Ok((found, unreachable))
}

/// Whether `error` says the broker could not be talked to (rather than answering).
fn is_unreachable(error: &ClientError) -> bool {
    matches!(
        error,
        ClientError::Connect { .. }
            | ClientError::ConnectTimeout { .. }
            | ClientError::ConnectionLost { .. }
            | ClientError::Timeout { .. }
    )
}

/// One ListOffsets per leader, all at once: each leader's partitions with its answer.
async fn ask_leaders(
    brokers: &Brokers,
    leaders: &HashMap<TopicPartition, i32>,
    isolation_level: i8,
    partitions: &[(TopicPartition, i64)],
) -> Result<Vec<(Vec<TopicPartition>, Result<OffsetLookup>)>> {
    let mut by_leader: Vec<(i32, Vec<(TopicPartition, i64)>)> = Vec::new();
    for (tp, timestamp) in partitions {
        let node = leaders.get(tp).copied().filter(|&n| n >= 0);
        let Some(node) = node else {
            return Err(ClientError::broker(
                ErrorCode::LeaderNotAvailable,
                tp.topic.to_string(),
                Some(tp.partition),
                Some(format!(
                    "partition {tp} has no leader now; try again shortly"
                )),
            ));
        };
        match by_leader.iter_mut().find(|(n, _)| *n == node) {
            Some((_, list)) => list.push((tp.clone(), *timestamp)),
            None => by_leader.push((node, vec![(tp.clone(), *timestamp)])),
        }
    }
    let lookups = by_leader.into_iter().map(|(node, list)| async move {
        let asked: Vec<TopicPartition> = list.iter().map(|(tp, _)| tp.clone()).collect();
        let Some(slot) = brokers.slot_for(node) else {
            let error = ClientError::Broker {
                code: ErrorCode::BrokerNotAvailable,
                topic: None,
                partition: None,
                message: Some(format!("broker {node} is not in the cluster's metadata")),
            };
            return (asked, Err(error));
        };
        (asked, list_offsets(&slot, isolation_level, &list).await)
    });
    Ok(futures::future::join_all(lookups).await)
}

/// Looks up `timestamp` (or [`EARLIEST_TIMESTAMP`] / [`LATEST_TIMESTAMP`]) for every
/// partition in one request. A partition error fails the whole lookup.
pub(crate) async fn list_offsets(
    slot: &ConnectionSlot,
    isolation_level: i8,
    partitions: &[(TopicPartition, i64)],
) -> Result<OffsetLookup> {
    let mut topics: Vec<TopicPartitions<ListOffsetsPartition>> = Vec::new();
    for (tp, timestamp) in partitions {
        let entry = ListOffsetsPartition {
            partition: tp.partition,
            timestamp: *timestamp,
        };
        match topics.iter_mut().find(|t| *t.name == *tp.topic) {
            Some(topic) => topic.partitions.push(entry),
            None => topics.push(TopicPartitions {
                name: tp.topic.to_string(),
                partitions: vec![entry],
            }),
        }
    }
    let request = ListOffsetsRequest {
        isolation_level,
        topics,
    };
    let response = slot.call(&request).await?;
    let mut found = OffsetLookup::new();
    for topic in response.topics {
        for p in topic.partitions {
            if p.error_code != ErrorCode::None {
                return Err(ClientError::broker(
                    p.error_code,
                    topic.name,
                    Some(p.partition),
                    None,
                ));
            }
            let offset = (p.offset >= 0).then_some(p.offset);
            found.insert(TopicPartition::new(topic.name.clone(), p.partition), offset);
        }
    }
    if let Some((missing, _)) = partitions.iter().find(|(tp, _)| !found.contains_key(tp)) {
        return Err(ClientError::MissingInResponse {
            api: ApiKey::ListOffsets,
            what: format!("partition {missing}"),
        });
    }
    Ok(found)
}
