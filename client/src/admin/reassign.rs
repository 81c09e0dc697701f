//! [`Admin::reassign_partitions`]: move replicated partitions to other brokers
//! (AlterPartitionReassignments), what `rill topic reassign`, `rill cluster rebalance`
//! and `rill cluster drain` send. The move itself runs in the background: each
//! partition's group adds its new replicas, lets them catch up, switches over and drops
//! the old ones; [`Admin::describe_topic`] shows the replicas once it is done.

use std::collections::BTreeMap;

use rill_protocol::api::alter_partition_reassignments::{
    AlterPartitionReassignmentsRequest, ReassignablePartition, ReassignableTopic,
};
use rill_protocol::api::ApiKey;
use rill_protocol::error_code::ErrorCode;

use super::Admin;
use crate::error::{ClientError, Result};

/// One partition's move: its new replicas (preferred leader first), or `None` to
/// cancel a move still under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMove {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// The brokers that should hold it.
    pub replicas: Option<Vec<i32>>,
}

impl Admin {
    /// Records `moves` with the controller; fails with the first partition refused
    /// (a topic's partitions are recorded all or none).
    pub async fn reassign_partitions(&self, moves: &[PartitionMove]) -> Result<()> {
        let connection = self.slot.get().await?;
        if !connection.broker_serves(ApiKey::AlterPartitionReassignments) {
            return Err(ClientError::BrokerTooOld {
                addr: connection.addr().to_owned(),
                api: ApiKey::AlterPartitionReassignments,
            });
        }
        let mut by_topic: BTreeMap<&str, Vec<ReassignablePartition>> = BTreeMap::new();
        for m in moves {
            by_topic
                .entry(&m.topic)
                .or_default()
                .push(ReassignablePartition {
                    partition: m.partition,
                    replicas: m.replicas.clone(),
                });
        }
        let request = AlterPartitionReassignmentsRequest {
            timeout_ms: self.timeout_ms,
            topics: by_topic
                .into_iter()
                .map(|(name, partitions)| ReassignableTopic {
                    name: name.to_owned(),
                    partitions,
                })
                .collect(),
        };
        let response = connection.call(&request).await?;
        if response.error_code != ErrorCode::None {
            return Err(ClientError::Broker {
                code: response.error_code,
                topic: None,
                partition: None,
                message: response.error_message,
            });
        }
        for topic in response.topics {
            if let Some(p) = topic
                .partitions
                .into_iter()
                .find(|p| p.error_code != ErrorCode::None)
            {
                return Err(ClientError::Broker {
                    code: p.error_code,
                    topic: Some(topic.name),
                    partition: Some(p.partition),
                    message: p.error_message,
                });
            }
        }
        Ok(())
    }
}
