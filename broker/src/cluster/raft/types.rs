//! The openraft type configuration of the metadata quorum: its log entries carry
//! [`Proposal`]s (a [`MetadataCommand`] with the id that makes retrying it safe),
//! applying one answers the command's [`CommandOutcome`], nodes are known by their
//! `u64` id and reached at their inter-broker `host:port`.

use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::cluster::{ApplyError, MetadataCommand};

/// A command as proposed: `id` is random per proposal and kept across its retries, so
/// a retry of a proposal that was committed after all is answered from the first
/// outcome instead of being applied twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Unique per proposal (not per attempt).
    pub id: u128,
    /// The change.
    pub command: MetadataCommand,
}

impl Proposal {
    /// A new proposal of `command` with a fresh random id.
    pub fn new(command: MetadataCommand) -> Self {
        Self {
            id: uuid::Uuid::new_v4().as_u128(),
            command,
        }
    }
}

/// What applying one metadata command answered: the image changed, or refused it.
pub type CommandOutcome = Result<(), ApplyError>;

openraft::declare_raft_types!(
    /// The metadata quorum's Raft types.
    pub TypeConfig:
        D = Proposal,
        R = CommandOutcome,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A metadata log entry.
pub type Entry = openraft::Entry<TypeConfig>;
/// A log entry's id (term, leader, index).
pub type LogId = openraft::LogId<u64>;
/// A node's vote.
pub type Vote = openraft::Vote<u64>;
/// A storage failure as openraft sees it.
pub type StorageError = openraft::StorageError<u64>;
/// The membership as applied.
pub type StoredMembership = openraft::StoredMembership<u64, openraft::BasicNode>;
/// A snapshot's metadata.
pub type SnapshotMeta = openraft::SnapshotMeta<u64, openraft::BasicNode>;
/// The Raft handle.
pub type Raft = openraft::Raft<TypeConfig>;
