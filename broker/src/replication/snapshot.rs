//! A partition group's snapshot: a small descriptor of what the segments hold once an
//! entry is applied, never the records themselves (a replica installing it copies what
//! it lacks from another replica's segments). Also the two small marker files the state
//! machine keeps beside it: `snapshot` (the current snapshot) and `membership` (the
//! last memberships applied).

use std::io;
use std::path::Path;

use openraft::{BasicNode, LogId, SnapshotMeta, StoredMembership};
use serde::{Deserialize, Serialize};

use super::codec;
use crate::cluster::raft::marker;
use crate::cluster::NodeId;

const SNAPSHOT_FILE: &str = "snapshot";
const SNAPSHOT_PREFIX: &str = "rill-partition-snapshot v1 crc32=";
const MEMBERSHIP_FILE: &str = "membership";
const MEMBERSHIP_PREFIX: &str = "rill-partition-membership v1 crc32=";

/// What a snapshot says: after applying `last_log_id`, the partition's segments held
/// `[log_start_offset, log_end_offset)` on `node`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotDescriptor {
    /// The last entry the snapshot covers.
    pub last_log_id: Option<LogId<u64>>,
    /// The membership as of that entry.
    pub membership: StoredMembership<u64, BasicNode>,
    /// The builder's log start offset when it built the snapshot.
    pub log_start_offset: i64,
    /// The log end offset right after applying `last_log_id`.
    pub log_end_offset: i64,
    /// The broker that built it (where to copy records from first), if it knew its id.
    pub node: Option<NodeId>,
}

impl SnapshotDescriptor {
    /// The descriptor as openraft moves it.
    pub fn to_bytes(&self) -> Result<Vec<u8>, codec::CodecError> {
        codec::encode(self)
    }

    /// A descriptor received from another replica.
    pub fn from_bytes(bytes: &[u8]) -> Result<SnapshotDescriptor, codec::CodecError> {
        codec::decode(bytes)
    }
}

/// The current snapshot as stored: openraft's meta and the descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSnapshot {
    /// openraft's view of it.
    pub meta: SnapshotMeta<u64, BasicNode>,
    /// What it describes.
    pub descriptor: SnapshotDescriptor,
}

/// Reads the current snapshot of the group in `dir`, if any. Blocking.
pub fn read_current(dir: &Path) -> io::Result<Option<StoredSnapshot>> {
    marker::read(&dir.join(SNAPSHOT_FILE), SNAPSHOT_PREFIX)
}

/// Replaces the current snapshot of the group in `dir`, atomically and durably. Blocking.
pub fn write_current(dir: &Path, snapshot: &StoredSnapshot) -> io::Result<()> {
    marker::write(&dir.join(SNAPSHOT_FILE), SNAPSHOT_PREFIX, snapshot)
}

/// The last two memberships applied, oldest first (a crash may come between writing a
/// membership and recording its entry as applied: the older one is then the answer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memberships {
    /// Up to two, by log id.
    pub recent: Vec<StoredMembership<u64, BasicNode>>,
}

impl Memberships {
    /// Reads the memberships of the group in `dir` (none if never written). Blocking.
    pub fn read(dir: &Path) -> io::Result<Memberships> {
        Ok(marker::read(&dir.join(MEMBERSHIP_FILE), MEMBERSHIP_PREFIX)?.unwrap_or_default())
    }

    /// Records `membership` as the newest and writes the file durably. Blocking.
    pub fn record(
        &mut self,
        dir: &Path,
        membership: StoredMembership<u64, BasicNode>,
    ) -> io::Result<()> {
        self.recent.push(membership);
        if self.recent.len() > 2 {
            self.recent.remove(0);
        }
        marker::write(&dir.join(MEMBERSHIP_FILE), MEMBERSHIP_PREFIX, self)
    }

    /// The newest membership whose log id is at or below `applied`.
    pub fn as_of(&self, applied: Option<LogId<u64>>) -> Option<&StoredMembership<u64, BasicNode>> {
        self.recent
            .iter()
            .rev()
            .find(|m| m.log_id().as_ref() <= applied.as_ref())
    }
}
