//! What can go wrong in the cluster layer.

use super::command::ApplyError;
use super::NodeId;

/// A cluster operation that did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The metadata log applied the command and refused it (the topic exists, ...).
    #[error(transparent)]
    Rejected(#[from] ApplyError),
    /// No controller now (an election is under way, or this broker cannot reach a
    /// majority of the quorum); retry later.
    #[error("the cluster has no controller now (election under way or no majority reachable)")]
    NoController,
    /// The controller did not answer in time; the command may or may not be applied.
    #[error(
        "{} did not answer within {timeout_ms} ms",
        match controller { Some(id) => format!("the controller (node {id})"), None => "no controller".to_string() }
    )]
    Timeout {
        /// Who was asked, if known.
        controller: Option<NodeId>,
        /// How long we waited.
        timeout_ms: u64,
    },
    /// Talking to another broker failed.
    #[error("inter-broker call to node {node} failed: {reason}")]
    Network {
        /// The node called.
        node: NodeId,
        /// What failed.
        reason: String,
    },
    /// Reading or writing the metadata log on disk failed.
    #[error("metadata log storage: {0}")]
    Storage(#[from] std::io::Error),
    /// The Raft engine reported an error.
    #[error("raft: {0}")]
    Raft(String),
    /// Invalid settings.
    #[error("cluster settings: {0}")]
    Config(String),
    /// The broker is shutting down.
    #[error("the broker is shutting down")]
    Shutdown,
}

impl ClusterError {
    /// Whether the same request may succeed if retried (no controller, timeouts,
    /// network).
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            ClusterError::NoController
                | ClusterError::Timeout { .. }
                | ClusterError::Network { .. }
        )
    }
}
