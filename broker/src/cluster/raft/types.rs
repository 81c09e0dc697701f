//! The openraft type configuration of the metadata quorum: its log entries carry
//! [`MetadataCommand`]s, applying one answers the command's [`CommandOutcome`], nodes
//! are known by their `u64` id and reached at their inter-broker `host:port`.

use std::io::Cursor;

use crate::cluster::{ApplyError, MetadataCommand};

/// What applying one metadata command answered: the image changed, or refused it.
pub type CommandOutcome = Result<(), ApplyError>;

openraft::declare_raft_types!(
    /// The metadata quorum's Raft types.
    pub TypeConfig:
        D = MetadataCommand,
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
