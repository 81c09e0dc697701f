//! openraft's type configuration for partition groups, and what their entries carry.

use std::io::Cursor;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::cluster::NodeId;

/// A partition's Raft group: the topic's stable id and the partition index. Topic ids
/// make a deleted-and-recreated topic a different group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupId {
    /// The topic's id ([`crate::cluster::image::TopicRecord::id`]).
    pub topic_id: u128,
    /// Partition index.
    pub partition: u32,
}

impl std::fmt::Display for GroupId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}-{}",
            uuid::Uuid::from_u128(self.topic_id).simple(),
            self.partition
        )
    }
}

/// One produce request's batches for one partition, as a Raft entry. The batches are
/// validated (structure, CRC, sequence fields well formed) and, for a log-append-time
/// topic, already stamped by the leader before they are proposed; applying them stamps
/// only the offsets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaWrite {
    /// Whole record batches, back to back.
    pub batches: Bytes,
    /// The leader's clock when it proposed the write (ms since the epoch): the apply's
    /// "now" on every replica, so time-based decisions agree.
    pub timestamp_ms: i64,
}

/// Producer acknowledgement level, as the request asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// `acks=0`: no answer.
    None,
    /// `acks=1`.
    Leader,
    /// `acks=all` (`-1`).
    All,
}

/// What applying a [`ReplicaWrite`] did: the offsets stamped, or why every replica
/// refused it. The response half of the type configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Applied {
    /// Appended (or recognised as a retry of batches already in the log).
    Appended(Appended),
    /// Refused the same way on every replica (sequence or epoch errors, ...).
    Refused(ApplyRefusal),
    /// Not a write (blank and membership entries).
    Nothing,
}

/// The offsets an applied write got ([`crate::storage::AppendInfo`] on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appended {
    /// Offset of the first batch.
    pub base_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// The apply's clock (the entry's `timestamp_ms`).
    pub log_append_time_ms: i64,
    /// A retry of batches already in the log: nothing written, original offsets.
    pub duplicate: bool,
}

/// Why an apply refused a write: a wire error code and a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message} (error code {code})")]
pub struct ApplyRefusal {
    /// The Kafka error code the producer sees.
    pub code: i16,
    /// What was wrong.
    pub message: String,
}

/// A run of committed batches read from a replica's segments, for a replica catching up
/// after installing a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentChunk {
    /// The source's log start offset (retention may have deleted what was asked for).
    pub log_start_offset: i64,
    /// The source's log end offset (its applied end).
    pub log_end_offset: i64,
    /// Whole batches from the requested offset (or from `log_start_offset` when the
    /// requested one is gone), at most the requested bytes (one batch at least).
    pub batches: Bytes,
}

/// The snapshot as openraft moves it: a small serialized descriptor (see the module
/// docs), never the partition's data.
pub type SnapshotData = Cursor<Vec<u8>>;

openraft::declare_raft_types!(
    /// A partition group's Raft types.
    pub PartitionConfig:
        D = ReplicaWrite,
        R = Applied,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<PartitionConfig>,
        SnapshotData = SnapshotData,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A partition group's log entry.
pub type Entry = openraft::Entry<PartitionConfig>;
/// A partition group's Raft handle.
pub type PartitionRaft = openraft::Raft<PartitionConfig>;
