//! What can go wrong in the group coordinator, with the group, member, topic or offset
//! involved. The server maps these to wire error codes in one place
//! (`server::handlers::groups::error_code`).

use std::path::PathBuf;

use rill_protocol::batch::BatchError;
use thiserror::Error;

use crate::storage::StorageError;
use crate::topics::TopicError;

/// Why a group operation failed.
#[derive(Debug, Error)]
pub enum GroupError {
    /// The group id is empty or too long.
    #[error("invalid group id `{group_id}`: {reason}")]
    InvalidGroupId {
        /// The id given (truncated for display by the caller if needed).
        group_id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The group does not exist (no members and no committed offsets).
    #[error("group `{0}` does not exist")]
    GroupNotFound(String),
    /// The member is not (or no longer) in the group.
    #[error("member `{member_id}` is not in group `{group_id}`")]
    UnknownMember {
        /// The group.
        group_id: String,
        /// The member id given.
        member_id: String,
    },
    /// The member's epoch is ahead of or unrelated to the coordinator's: it must rejoin.
    #[error("member `{member_id}` of group `{group_id}` sent epoch {epoch}, coordinator has {current}: fenced")]
    FencedMemberEpoch {
        /// The group.
        group_id: String,
        /// The member.
        member_id: String,
        /// The epoch the member sent.
        epoch: i32,
        /// The member's epoch at the coordinator.
        current: i32,
    },
    /// A commit carries an older epoch than the member's current one (a zombie or a late
    /// request from before a rebalance).
    #[error("member `{member_id}` of group `{group_id}` committed with stale epoch {epoch} (current {current})")]
    StaleMemberEpoch {
        /// The group.
        group_id: String,
        /// The member.
        member_id: String,
        /// The epoch the member sent.
        epoch: i32,
        /// The member's epoch at the coordinator.
        current: i32,
    },
    /// The session timeout is outside the broker's allowed range.
    #[error("session timeout {value_ms} ms is outside {min_ms}..={max_ms} ms")]
    InvalidSessionTimeout {
        /// The timeout given.
        value_ms: i32,
        /// Smallest allowed.
        min_ms: i32,
        /// Largest allowed.
        max_ms: i32,
    },
    /// The member asked for an assignor the broker does not have.
    #[error("unknown assignor `{0}` (known: range, round-robin, sticky)")]
    UnknownAssignor(String),
    /// A request field is out of bounds (too many topics, metadata too long...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The group is full.
    #[error("group `{group_id}` already has {max} members")]
    GroupFull {
        /// The group.
        group_id: String,
        /// The member limit.
        max: usize,
    },
    /// The broker coordinates as many groups as it allows.
    #[error("the broker already coordinates {max} groups")]
    TooManyGroups {
        /// The group limit.
        max: usize,
    },
    /// The operation needs a group without members.
    #[error("group `{0}` still has members")]
    NonEmptyGroup(String),
    /// The topic or partition does not exist.
    #[error("unknown topic or partition {topic}-{partition}")]
    UnknownTopicOrPartition {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// In a cluster, the partition is led by another broker: its offsets are not known
    /// to this coordinator.
    #[error(
        "partition {topic}-{partition} is led by another broker, whose offsets this \
         coordinator does not know: on a cluster, offsets can be reset only for the \
         partitions the group's coordinator leads (not yet for the others)"
    )]
    LedElsewhere {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// A record of `__consumer_offsets` cannot be decoded.
    #[error("corrupt record at offset {offset} of {path}: {reason}")]
    CorruptOffsetRecord {
        /// The partition directory of the offsets log.
        path: PathBuf,
        /// The record's offset.
        offset: i64,
        /// What is wrong with it.
        reason: String,
    },
    /// Encoding or decoding a record batch of the offsets log failed.
    #[error("offsets log batch: {0}")]
    Batch(#[from] BatchError),
    /// The offsets log could not be read or written.
    #[error("offsets log: {0}")]
    Storage(#[from] StorageError),
    /// A coordinator task on the blocking pool panicked or was cancelled.
    #[error("coordinator task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// This broker stopped leading the replicated offsets partition mid-write.
    #[error(
        "this broker no longer coordinates the group (it lost the offsets partition's leadership)"
    )]
    NotCoordinator,
    /// Replicating an offsets write failed (no majority in time, shutting down, ...).
    #[error("the committed offsets could not be replicated: {0}")]
    Replication(String),
    /// The internal topic could not be created or opened.
    #[error("offsets topic: {0}")]
    Topic(#[from] TopicError),
}
