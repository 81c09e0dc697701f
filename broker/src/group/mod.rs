//! Consumer groups: membership, broker-side assignment and committed offsets.
//!
//! The coordinator is sans network: the server's handlers call it with decoded requests,
//! the current time in ms and a [`TopicView`] of the topic registry, so tests drive it with
//! a fake clock and fake topics. Membership lives in memory (members rejoin after a broker
//! restart); committed offsets are written to the internal topic `__consumer_offsets` and
//! reloaded at start, the newest record per group/topic/partition winning.
//!
//! - [`assignor`]: the `range`, `round-robin` and `sticky` strategies.
//! - [`member`] and [`state`]: one member and one group's cooperative rebalance state.
//! - [`slots`]: the group map, one lock per group.
//! - [`coordinator`]: every group, join / heartbeat / leave / expiry.
//! - [`commit`]: offset commit (with zombie fencing) and fetch.
//! - [`admin`]: list, describe, delete and reset offsets.
//! - [`offsets`] and [`offset_record`]: the committed-offset store and its record layout.
//! - `retention`: expiry of the offsets of groups without members, and of a deleted
//!   topic's offsets.
//! - `lag_source`: committed offsets for the lag metrics.
//!
//! Invariant: a partition is in at most one member's owned set at any time; a partition
//! moves only after its previous owner reported releasing it, left, or timed out.

pub mod admin;
pub mod assignor;
pub mod commit;
pub mod coordinator;
mod error;
mod lag_source;
pub mod member;
pub mod offset_record;
pub mod offsets;
mod retention;
pub mod slots;
pub mod state;

#[cfg(test)]
mod tests;

use std::fmt;

pub use assignor::{Assignment, Assignor};
pub use coordinator::GroupCoordinator;
pub use error::GroupError;
pub use state::GroupState;

use crate::storage::StorageError;
use crate::topics::TopicRegistry;

/// Name of the internal topic holding committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Longest group id, in bytes.
pub const GROUP_ID_MAX_BYTES: usize = 255;
/// Longest member id a client may choose, in bytes.
pub const MEMBER_ID_MAX_BYTES: usize = 255;
/// Longest metadata string stored with a committed offset (Kafka's default), in bytes.
pub const OFFSET_METADATA_MAX_BYTES_DEFAULT: usize = 4096;
/// Most members in one group.
pub const MEMBERS_PER_GROUP_MAX_DEFAULT: usize = 1000;
/// Most groups the coordinator keeps (with members or committed offsets).
pub const GROUPS_MAX_DEFAULT: usize = 10_000;
/// Most topics in one member's subscription.
pub const SUBSCRIBED_TOPICS_MAX: usize = 1000;
/// Most committed partitions per group.
pub const OFFSETS_PER_GROUP_MAX_DEFAULT: usize = 100_000;
/// Shortest session timeout a member may ask for, in ms.
pub const SESSION_TIMEOUT_MS_MIN_DEFAULT: i32 = 500;
/// Longest session timeout a member may ask for, in ms (30 minutes).
pub const SESSION_TIMEOUT_MS_MAX_DEFAULT: i32 = 30 * 60 * 1000;
/// Longest heartbeat interval the coordinator asks for, in ms.
pub const HEARTBEAT_INTERVAL_MS_MAX_DEFAULT: i32 = 3000;
/// Longest rebalance timeout a member may ask for, in ms (30 minutes): a member that
/// never finishes a revocation cannot hold its partitions for longer.
pub const REBALANCE_TIMEOUT_MS_MAX_DEFAULT: i32 = 30 * 60 * 1000;
/// How long a group without members keeps its committed offsets, in ms (7 days, Kafka's
/// `offsets.retention.minutes`).
pub const OFFSETS_RETENTION_MS_DEFAULT: i64 = 7 * 24 * 60 * 60 * 1000;

/// Limits of the group coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// Most members in one group.
    pub members_per_group_max: usize,
    /// Most groups.
    pub groups_max: usize,
    /// Most committed partitions per group.
    pub offsets_per_group_max: usize,
    /// Longest offset metadata string, in bytes.
    pub offset_metadata_max_bytes: usize,
    /// Allowed session timeouts, in ms.
    pub session_timeout_ms_min: i32,
    /// Allowed session timeouts, in ms.
    pub session_timeout_ms_max: i32,
    /// Heartbeat interval ceiling; a member is asked for a third of its session timeout
    /// when that is shorter.
    pub heartbeat_interval_ms_max: i32,
    /// Longest rebalance timeout a member may ask for, in ms.
    pub rebalance_timeout_ms_max: i32,
    /// A group without members for this long (ms) loses its committed offsets, and with
    /// them the group.
    pub offsets_retention_ms: i64,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            members_per_group_max: MEMBERS_PER_GROUP_MAX_DEFAULT,
            groups_max: GROUPS_MAX_DEFAULT,
            offsets_per_group_max: OFFSETS_PER_GROUP_MAX_DEFAULT,
            offset_metadata_max_bytes: OFFSET_METADATA_MAX_BYTES_DEFAULT,
            session_timeout_ms_min: SESSION_TIMEOUT_MS_MIN_DEFAULT,
            session_timeout_ms_max: SESSION_TIMEOUT_MS_MAX_DEFAULT,
            heartbeat_interval_ms_max: HEARTBEAT_INTERVAL_MS_MAX_DEFAULT,
            rebalance_timeout_ms_max: REBALANCE_TIMEOUT_MS_MAX_DEFAULT,
            offsets_retention_ms: OFFSETS_RETENTION_MS_DEFAULT,
        }
    }
}

/// One partition of one topic, ordered by topic then partition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// The topic.
    pub topic: String,
    /// The partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// The partition `partition` of `topic`.
    pub fn new(topic: impl Into<String>, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// What the coordinator needs to know about topics: partition counts (for assignment) and
/// each partition's offset range (for lag and offset resets). The server passes its
/// [`TopicRegistry`]; tests pass a fake.
pub trait TopicView {
    /// The topic's partition count, `None` when it does not exist.
    fn partition_count(&self, topic: &str) -> Option<u32>;

    /// `(log_start_offset, high_watermark)` of a partition, `None` when it does not exist.
    fn offset_range(&self, tp: &TopicPartition) -> Option<(i64, i64)>;

    /// In a cluster, whether another broker leads the partition, so the local log
    /// (an empty copy) says nothing of its offsets. Never on a single broker.
    fn led_elsewhere(&self, _tp: &TopicPartition) -> bool {
        false
    }

    /// The first offset whose batch has a timestamp at or after `timestamp_ms`; `Ok(None)`
    /// when every record is older.
    fn offset_for_timestamp(
        &self,
        tp: &TopicPartition,
        timestamp_ms: i64,
    ) -> Result<Option<i64>, StorageError>;
}

impl TopicView for TopicRegistry {
    fn partition_count(&self, topic: &str) -> Option<u32> {
        self.get(topic)
            .map(|t| u32::try_from(t.partitions.len()).unwrap_or(u32::MAX))
    }

    fn offset_range(&self, tp: &TopicPartition) -> Option<(i64, i64)> {
        let p = self.partition(&tp.topic, tp.partition).ok()?;
        let log = p.log().ok()?;
        Some((log.log_start_offset(), log.high_watermark()))
    }

    fn offset_for_timestamp(
        &self,
        tp: &TopicPartition,
        timestamp_ms: i64,
    ) -> Result<Option<i64>, StorageError> {
        match self.partition(&tp.topic, tp.partition) {
            Ok(p) => Ok(p.log()?.offset_for_timestamp(timestamp_ms)?.map(|(o, _)| o)),
            Err(_) => Ok(None),
        }
    }
}

/// Checks a group id: 1 to [`GROUP_ID_MAX_BYTES`] bytes.
pub fn validate_group_id(group_id: &str) -> Result<(), GroupError> {
    let bad = |reason| GroupError::InvalidGroupId {
        group_id: group_id.chars().take(64).collect(),
        reason,
    };
    if group_id.is_empty() {
        return Err(bad("the id is empty"));
    }
    if group_id.len() > GROUP_ID_MAX_BYTES {
        return Err(bad("longer than 255 bytes"));
    }
    Ok(())
}
