//! Why replicating a write, or running a partition's group, failed.

use rill_protocol::error_code::ErrorCode;

use super::types::ApplyRefusal;
use crate::cluster::NodeId;

/// A replication failure.
#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    /// This broker does not lead the partition's group (`leader`: who does, if known).
    #[error("this broker does not lead the partition (leader: {leader:?})")]
    NotLeader {
        /// The leader as this broker knows it.
        leader: Option<NodeId>,
    },
    /// The partition has no Raft group on this broker.
    #[error("partition {topic}/{partition} is not replicated by this broker")]
    UnknownPartition {
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
    },
    /// Committed, and every replica's apply refused it the same way.
    #[error("refused: {0}")]
    Refused(ApplyRefusal),
    /// Not committed within the request's time (the group lost its majority, ...).
    /// The write may still commit later.
    #[error("not committed in time: {0}")]
    Timeout(String),
    /// The group is shutting down or its storage failed.
    #[error("replication stopped: {0}")]
    Stopped(String),
    /// Reading or writing the group's files failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The partition's segments failed.
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    /// A peer could not be reached or answered nonsense.
    #[error("peer {node}: {message}")]
    Peer {
        /// The peer.
        node: NodeId,
        /// What happened.
        message: String,
    },
}

impl ReplicationError {
    /// The error code a producer sees.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            ReplicationError::NotLeader { .. } => ErrorCode::NotLeaderOrFollower,
            ReplicationError::UnknownPartition { .. } => ErrorCode::UnknownTopicOrPartition,
            ReplicationError::Refused(refusal) => ErrorCode::from(refusal.code),
            ReplicationError::Timeout(_) => ErrorCode::RequestTimedOut,
            ReplicationError::Stopped(_) | ReplicationError::Peer { .. } => {
                ErrorCode::NotLeaderOrFollower
            }
            ReplicationError::Io { .. } | ReplicationError::Storage(_) => {
                ErrorCode::KafkaStorageError
            }
        }
    }
}
