//! Offset lookups through the ListOffsets API, shared by the consumer (`seek`) and the
//! admin client (`describe_topic`).

use std::collections::HashMap;

use rill_protocol::api::common::TopicPartitions;
use rill_protocol::api::list_offsets::{ListOffsetsPartition, ListOffsetsRequest};
use rill_protocol::api::ApiKey;
use rill_protocol::error_code::ErrorCode;

pub(crate) use rill_protocol::api::list_offsets::{EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};

use crate::error::{ClientError, Result};
use crate::record::TopicPartition;
use crate::slot::ConnectionSlot;

/// Offset found for a partition: the first offset whose timestamp is at or after the
/// one asked for (`None` if there is none), or the earliest/latest offset.
pub(crate) type OffsetLookup = HashMap<TopicPartition, Option<i64>>;

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
