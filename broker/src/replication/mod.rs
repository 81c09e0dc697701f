//! Replicated partitions (issue #16): one openraft group per partition with several
//! replicas, as Redpanda does. The group's leader is the partition leader; a record is
//! committed once a majority of the replicas hold it, and the commit index is the high
//! watermark.
//!
//! Design: **a separate Raft log applied to the segments** (two writes). Each produce
//! request's validated batches for one partition become one Raft entry
//! ([`ReplicaWrite`]: the batches' bytes and the leader's clock). The entry is appended
//! to the partition's own Raft log (`<data-dir>/cluster/partitions/<topic-id>-<p>/`,
//! fsynced under `flush = always`) on a majority; once committed, every replica's state
//! machine applies it to its segment files with [`crate::storage::PartitionLog`]'s
//! ordinary append, which stamps the offsets. Applying is deterministic (the same
//! entries in the same order, the leader's clock carried in the entry, producer state
//! rebuilt from the segments), so every replica assigns the same offsets and refuses the
//! same duplicates. Consequences:
//! - segments hold committed records only: the log end offset *is* the high watermark,
//!   readers need no new rule, and a divergent uncommitted tail lives (and is truncated)
//!   in the Raft log alone;
//! - idempotent producers' state is replicated for free (it is rebuilt from segments);
//! - `acks=1` is answered after commit too (the offset is only known once applied);
//!   `acks=0` is not answered at all.
//!
//! The segments are written without an fsync of their own: the Raft log is the durable
//! copy until a snapshot (which fsyncs the segments and the applied-index file) lets
//! openraft purge it. A snapshot is small (the applied log id, membership, the
//! partition's start and end offsets); a replica installing one pulls the records it
//! lacks from the sender's segments ([`SegmentSource`]), starting over at the sender's
//! log start offset when retention already deleted what it lacks.
//!
//! | file | what | who |
//! |---|---|---|
//! | [`types`] | openraft's type configuration, the entry, the group id | lead |
//! | [`error`] | [`ReplicationError`] | lead |
//! | [`offsets`] | `__consumer_offsets` through its group; reload on leadership | lead |
//! | [`codec`] | MessagePack for the Raft log and every replication RPC | storage |
//! | [`log_store`] | the partition's Raft log and vote on disk | storage |
//! | [`log_segment`] | one file of that log: records, scan, reads | storage |
//! | [`state_machine`] | applying entries to the segments, snapshots, install | storage |
//! | [`applied`] | the applied-index file (what was applied, crash-safe) | storage |
//! | [`snapshot`] | the snapshot descriptor and the state machine's markers | storage |
//! | [`rpc`] | the replication protocol's messages and frames | network |
//! | [`network`] | openraft's network for many groups over shared connections | network |
//! | [`server`] | the inter-broker side of it | network |
//! | [`isr`] | in-sync replicas from openraft's metrics | network |
//! | [`isr`] | which replicas are in sync (Kafka's lag-time rule) | network |

pub mod applied;
pub mod codec;
pub mod error;
pub mod isr;
pub mod log_segment;
pub mod log_store;
pub mod network;
pub mod offsets;
pub mod rpc;
pub mod server;
pub mod snapshot;
pub mod state_machine;
#[cfg(test)]
pub(crate) mod test_support;
pub mod types;

pub use error::ReplicationError;
pub use types::{Acks, Appended, ApplyRefusal, GroupId, ReplicaWrite, SegmentChunk};

use crate::cluster::handle::BoxFuture;
use crate::cluster::NodeId;

/// What the request handlers ask of replication. Implemented by the replica manager;
/// `None` in [`crate::server::BrokerCtx`] on a single broker.
pub trait Replicator: std::fmt::Debug + Send + Sync + 'static {
    /// Whether `topic`/`partition` has a Raft group on this broker (a partition with
    /// several replicas, this broker among them). Produce to such a partition goes
    /// through [`Replicator::append`], never straight to the log.
    fn is_replicated(&self, topic: &str, partition: i32) -> bool;

    /// Replicates `write` through the partition's group and resolves once it is
    /// committed and applied to this broker's segments, with the offsets the apply
    /// stamped (or why the apply refused it: a sequence error, ...).
    /// [`ReplicationError::NotLeader`] when this broker does not lead the group.
    fn append(
        &self,
        topic: &str,
        partition: i32,
        write: ReplicaWrite,
    ) -> BoxFuture<'_, Result<Appended, ReplicationError>>;

    /// Whether this broker leads the partition's group now and has applied every entry
    /// committed before its term (so its segments hold every committed record).
    fn is_serving_leader(&self, topic: &str, partition: i32) -> bool;

    /// The group's replicas as this broker sees them (for describe and metrics).
    fn replica_status(&self, topic: &str, partition: i32) -> Option<ReplicaStatus>;
}

/// One partition's group as a broker sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplicaStatus {
    /// The group's leader, if known.
    pub leader: Option<NodeId>,
    /// The Raft term.
    pub term: u64,
    /// Last log index this broker has applied to its segments.
    pub applied_index: Option<u64>,
    /// Last committed index this broker knows of.
    pub committed_index: Option<u64>,
    /// On the leader: each replica's matched log index (`None`: nothing matched yet).
    /// Empty on followers.
    pub matched: Vec<(NodeId, Option<u64>)>,
    /// On the leader: replicas in sync (matched recently enough), the leader included.
    pub in_sync: Vec<NodeId>,
    /// Leader elections this broker's copy of the group has seen (terms started).
    pub elections: u64,
}

/// Where a replica installing a snapshot reads the committed records it lacks: another
/// replica's segments, over the inter-broker network. Implemented by the network.
pub trait SegmentSource: Send + Sync + 'static {
    /// Whole batches of `group` from `offset` on `node`'s segments, at most `max_bytes`
    /// (at least one batch). Starts at the source's log start offset when `offset` is
    /// below it.
    fn read(
        &self,
        node: NodeId,
        group: GroupId,
        offset: i64,
        max_bytes: u32,
    ) -> BoxFuture<'_, Result<SegmentChunk, ReplicationError>>;
}
