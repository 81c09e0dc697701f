//! One partition group on this broker: its openraft instance over the partition's Raft
//! log ([`super::log_store`]) and state machine ([`super::state_machine`]), how a write
//! goes through it, how a peer's request reaches it, and what it reports.
//!
//! Opening is blocking file work (on the blocking pool); the group is initialised with
//! every replica as a voter on first start (each replica may do it with the same
//! membership; a group already initialised is left alone).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, RaftMetrics, ServerState, SnapshotPolicy};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::isr::{Contacts, IsrTracker};
use super::log_store::PartitionLogStore;
use super::network::{GroupNetworkFactory, Peers};
use super::rpc::{self, Refusal, RequestBody, ResponseBody};
use super::state_machine::PartitionStateMachine;
use super::types::{Appended, Applied, GroupId, PartitionRaft, ReplicaWrite, SegmentChunk};
use super::{ReplicaStatus, ReplicationError, SegmentSource};
use crate::cluster::{ClusterConfig, NodeId};
use crate::topics::Partition;

/// Raft log entries between a group's snapshots (each snapshot fsyncs the segments and
/// lets the Raft log be purged).
pub const SNAPSHOT_EVERY_ENTRIES: u64 = 10_000;
/// Bytes of records applied since the last snapshot after which one is taken, whatever
/// the entry count (the Raft log holds about as many bytes).
pub const SNAPSHOT_EVERY_BYTES: u64 = 64 * 1024 * 1024;
/// Entries kept in the Raft log below a snapshot, so a follower a little behind catches
/// up from the log instead of a snapshot.
pub const LOG_KEPT_BELOW_SNAPSHOT_ENTRIES: u64 = 1_000;
/// How long installing a snapshot may take on the receiver (it copies the records it
/// lacks from another replica's segments).
pub const INSTALL_SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a write may wait to be committed (Kafka's `request.timeout.ms` default).
pub const REQUEST_TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);

/// The settings every group of this broker runs with.
#[derive(Debug, Clone)]
pub struct GroupSettings {
    /// This broker.
    pub node_id: NodeId,
    /// openraft's settings.
    pub raft: Arc<openraft::Config>,
    /// A write not committed within this is answered [`ReplicationError::Timeout`].
    pub request_timeout: Duration,
    /// Kafka's `replica.lag.time.max.ms`.
    pub replica_lag_max: Duration,
}

impl GroupSettings {
    /// The settings of broker `cluster.node_id`: the metadata quorum's heartbeat and
    /// election timeout, a snapshot every [`SNAPSHOT_EVERY_ENTRIES`].
    pub fn new(
        cluster: &ClusterConfig,
        request_timeout: Duration,
        replica_lag_max: Duration,
    ) -> Result<GroupSettings, ReplicationError> {
        let heartbeat_ms = cluster.raft_heartbeat.as_millis() as u64;
        let election_ms = cluster.raft_election_timeout.as_millis() as u64;
        let raft = openraft::Config {
            cluster_name: "rill-partition".into(),
            heartbeat_interval: heartbeat_ms,
            election_timeout_min: election_ms,
            election_timeout_max: election_ms * 2,
            install_snapshot_timeout: INSTALL_SNAPSHOT_TIMEOUT.as_millis() as u64,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(SNAPSHOT_EVERY_ENTRIES),
            max_in_snapshot_log_to_keep: LOG_KEPT_BELOW_SNAPSHOT_ENTRIES,
            snapshot_max_chunk_size: rpc::SNAPSHOT_BYTES_MAX,
            ..Default::default()
        };
        let raft = raft
            .validate()
            .map_err(|e| ReplicationError::Stopped(format!("partition Raft settings: {e}")))?;
        Ok(GroupSettings {
            node_id: cluster.node_id,
            raft: Arc::new(raft),
            request_timeout,
            replica_lag_max,
        })
    }
}

/// What a group is started for: the image's view of one partition this broker replicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    /// The group.
    pub id: GroupId,
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// The partition's replicas, with their inter-broker addresses when known.
    pub replicas: Vec<(NodeId, String)>,
}

/// A running group.
pub struct Group {
    /// What it was started for.
    pub spec: GroupSpec,
    /// Its Raft instance.
    pub raft: PartitionRaft,
    /// The local partition its state machine applies to.
    pub local: Arc<Partition>,
    /// Its files: `<data-dir>/cluster/partitions/<group>/`.
    pub dir: PathBuf,
    node_id: NodeId,
    isr: Mutex<IsrTracker>,
    /// When each follower last answered (kept by the group's network).
    contacts: Arc<Contacts>,
    /// The partition's size at the last snapshot, for [`SNAPSHOT_EVERY_BYTES`].
    since_snapshot: Mutex<SinceSnapshot>,
    /// Stops its reporting task.
    pub stop: CancellationToken,
    /// The reporting task.
    pub task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group").field("spec", &self.spec).finish()
    }
}

/// The directory of `group` under the broker's data directory.
pub fn group_dir(data_dir: &Path, group: GroupId) -> PathBuf {
    data_dir
        .join("cluster")
        .join("partitions")
        .join(group.to_string())
}

impl Group {
    /// Opens `spec`'s log and state machine (blocking pool), starts Raft and
    /// initialises the group on its first start.
    pub async fn open(
        spec: GroupSpec,
        local: Arc<Partition>,
        data_dir: &Path,
        settings: &GroupSettings,
        peers: Arc<Peers>,
    ) -> Result<Arc<Group>, ReplicationError> {
        let dir = group_dir(data_dir, spec.id);
        let (log, state_machine) = {
            let (dir, group, local) = (dir.clone(), spec.id, local.clone());
            let source: Arc<dyn SegmentSource> = peers.clone();
            let node_id = settings.node_id;
            tokio::task::spawn_blocking(move || {
                std::fs::create_dir_all(&dir).map_err(|source| ReplicationError::Io {
                    op: "create",
                    path: dir.clone(),
                    source,
                })?;
                let log = PartitionLogStore::open(&dir)?;
                let state_machine =
                    PartitionStateMachine::open(&dir, group, local, source)?.with_node_id(node_id);
                Ok::<_, ReplicationError>((log, state_machine))
            })
            .await
            .map_err(|e| ReplicationError::Stopped(format!("opening group {}: {e}", spec.id)))??
        };
        let contacts = Arc::new(Contacts::default());
        let network = GroupNetworkFactory {
            group: spec.id,
            peers,
            contacts: contacts.clone(),
        };
        let raft = PartitionRaft::new(
            settings.node_id,
            settings.raft.clone(),
            network,
            log,
            state_machine,
        )
        .await
        .map_err(|e| ReplicationError::Stopped(format!("starting group {}: {e}", spec.id)))?;
        initialize(&raft, &spec, settings.node_id).await?;
        Ok(Arc::new(Group {
            spec,
            raft,
            local,
            dir,
            node_id: settings.node_id,
            isr: Mutex::new(IsrTracker::new(settings.replica_lag_max)),
            contacts,
            since_snapshot: Mutex::new(SinceSnapshot::default()),
            stop: CancellationToken::new(),
            task: Mutex::new(None),
        }))
    }

    /// Replicates `write`; resolves once committed and applied here.
    pub async fn append(
        &self,
        write: ReplicaWrite,
        timeout: Duration,
    ) -> Result<Appended, ReplicationError> {
        let written = tokio::time::timeout(timeout, self.raft.client_write(write))
            .await
            .map_err(|_| {
                ReplicationError::Timeout(format!(
                    "partition {}/{} did not commit the write within {} ms",
                    self.spec.topic,
                    self.spec.partition,
                    timeout.as_millis()
                ))
            })?;
        match written {
            Ok(response) => match response.data {
                Applied::Appended(appended) => Ok(appended),
                Applied::Refused(refusal) => Err(ReplicationError::Refused(refusal)),
                Applied::Nothing => Err(ReplicationError::Stopped(
                    "the write was applied as no write".into(),
                )),
            },
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(ReplicationError::NotLeader {
                    leader: f.leader_id,
                })
            }
            Err(e) => Err(ReplicationError::Stopped(e.to_string())),
        }
    }

    /// Whether this broker leads the group and has applied an entry of its own term,
    /// so every entry committed before it is in the segments.
    pub fn is_serving_leader(&self) -> bool {
        serving_leader(&self.raft.metrics().borrow(), self.node_id)
    }

    /// Takes in the group's latest metrics (ISR, elections); returns the elections
    /// this call saw start.
    pub fn observe(&self, m: &RaftMetrics<NodeId, BasicNode>) -> u64 {
        let mut isr = self.isr.lock().unwrap_or_else(|p| p.into_inner());
        let before = isr.elections();
        isr.observe(m, &self.contacts, self.node_id, Instant::now());
        isr.elections() - before
    }

    /// Whether the records applied since the last snapshot passed
    /// [`SNAPSHOT_EVERY_BYTES`] (`true` once per snapshot: the caller triggers one).
    pub fn snapshot_due(&self, m: &RaftMetrics<NodeId, BasicNode>) -> bool {
        let size_bytes = self.local.log().map_or(0, |log| log.size_bytes());
        let mut since = self
            .since_snapshot
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        since.due(m.snapshot.map(|l| l.index), size_bytes)
    }

    /// The replicas in sync now (empty unless this broker leads).
    pub fn in_sync(&self) -> Vec<NodeId> {
        let isr = self.isr.lock().unwrap_or_else(|p| p.into_inner());
        isr.in_sync(Instant::now())
    }

    /// The group as this broker sees it.
    pub fn status(&self) -> ReplicaStatus {
        let m = self.raft.metrics().borrow().clone();
        let elections = self
            .isr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elections();
        let matched = m
            .replication
            .as_ref()
            .map(|r| r.iter().map(|(n, l)| (*n, l.map(|l| l.index))).collect())
            .unwrap_or_default();
        ReplicaStatus {
            leader: m.current_leader,
            term: m.current_term,
            applied_index: m.last_applied.map(|l| l.index),
            committed_index: m.last_applied.map(|l| l.index),
            matched,
            in_sync: self.in_sync(),
            elections,
        }
    }

    /// Each follower's lag behind the leader's log, in entries (on the leader; empty
    /// elsewhere).
    pub fn follower_lag(&self) -> BTreeMap<NodeId, u64> {
        let m = self.raft.metrics().borrow().clone();
        let (Some(replication), Some(last)) = (&m.replication, m.last_log_index) else {
            return BTreeMap::new();
        };
        replication
            .iter()
            .filter(|(n, _)| **n != self.node_id)
            .map(|(n, matched)| {
                let matched = matched.map_or(0, |l| l.index + 1);
                (*n, (last + 1).saturating_sub(matched))
            })
            .collect()
    }

    /// Serves a peer's request for this group.
    pub async fn serve(&self, body: RequestBody) -> ResponseBody {
        match body {
            RequestBody::AppendEntries(rpc) => match rpc::check_append_entries(&rpc) {
                Ok(()) => ResponseBody::AppendEntries(self.raft.append_entries(rpc).await),
                Err(reason) => ResponseBody::Refused(Refusal::Invalid(reason)),
            },
            RequestBody::Vote(rpc) => ResponseBody::Vote(self.raft.vote(rpc).await),
            RequestBody::InstallSnapshot(rpc) => {
                let end = rpc.offset.checked_add(rpc.data.len() as u64);
                if end.is_none_or(|end| end > rpc::SNAPSHOT_BYTES_MAX) {
                    return ResponseBody::Refused(Refusal::Invalid(format!(
                        "snapshot chunk at offset {} reaches past the {} byte limit",
                        rpc.offset,
                        rpc::SNAPSHOT_BYTES_MAX
                    )));
                }
                ResponseBody::InstallSnapshot(self.raft.install_snapshot(rpc).await)
            }
            RequestBody::ReadSegments { offset, max_bytes } => {
                match read_segments(&self.local, offset, max_bytes) {
                    Ok(chunk) => ResponseBody::Segments(chunk),
                    Err(e) => ResponseBody::Refused(Refusal::Failed(e.to_string())),
                }
            }
        }
    }

    /// Stops the reporting task and Raft.
    pub async fn shut_down(&self) {
        self.stop.cancel();
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(group = %self.spec.id, error = %e, "partition group did not stop cleanly");
        }
    }
}

/// The partition's size when the group's last snapshot was seen.
#[derive(Debug, Default)]
struct SinceSnapshot {
    /// Index of the last snapshot seen (`None`: none yet, or not seen yet).
    snapshot_index: Option<Option<u64>>,
    size_bytes_at: u64,
    requested: bool,
}

impl SinceSnapshot {
    fn due(&mut self, snapshot_index: Option<u64>, size_bytes: u64) -> bool {
        if self.snapshot_index != Some(snapshot_index) || size_bytes < self.size_bytes_at {
            // A new snapshot (or retention shrank the log): count from here.
            *self = SinceSnapshot {
                snapshot_index: Some(snapshot_index),
                size_bytes_at: size_bytes,
                requested: false,
            };
            return false;
        }
        if self.requested || size_bytes - self.size_bytes_at <= SNAPSHOT_EVERY_BYTES {
            return false;
        }
        self.requested = true;
        true
    }
}

/// Whether `m` shows broker `me` leading with an applied entry of its current term.
pub fn serving_leader(m: &RaftMetrics<NodeId, BasicNode>, me: NodeId) -> bool {
    m.state == ServerState::Leader
        && m.current_leader == Some(me)
        && m.last_applied
            .is_some_and(|l| l.leader_id.term == m.current_term)
}

/// Whole committed batches of `local` from `offset` (from its log start when retention
/// removed `offset`), at most `max_bytes` capped by [`rpc::SEGMENT_READ_BYTES_MAX`],
/// one batch at least; none when `offset` is at or past the end.
pub fn read_segments(
    local: &Partition,
    offset: i64,
    max_bytes: u32,
) -> Result<SegmentChunk, crate::storage::StorageError> {
    let log = local.log()?;
    let log_start_offset = log.log_start_offset();
    let log_end_offset = log.high_watermark();
    let from = offset.max(log_start_offset);
    let batches = if from >= log_end_offset {
        bytes::Bytes::new()
    } else {
        let max_bytes = max_bytes.min(rpc::SEGMENT_READ_BYTES_MAX) as usize;
        log.read(from, max_bytes)?.records
    };
    Ok(SegmentChunk {
        log_start_offset,
        log_end_offset,
        batches,
    })
}

/// Forms the group with every replica as a voter, unless it has a log or vote already.
async fn initialize(
    raft: &PartitionRaft,
    spec: &GroupSpec,
    me: NodeId,
) -> Result<(), ReplicationError> {
    let failed =
        |e: String| ReplicationError::Stopped(format!("initializing group {}: {e}", spec.id));
    if raft
        .is_initialized()
        .await
        .map_err(|e| failed(e.to_string()))?
    {
        return Ok(());
    }
    let members: BTreeMap<NodeId, BasicNode> = spec
        .replicas
        .iter()
        .map(|(node, addr)| (*node, BasicNode::new(addr)))
        .collect();
    match raft.initialize(members).await {
        Ok(()) => {}
        Err(RaftError::APIError(InitializeError::NotAllowed(_))) => return Ok(()),
        Err(e) => return Err(failed(e.to_string())),
    }
    // The preferred leader (the first replica, which placement spreads over the
    // brokers) campaigns at once instead of waiting for an election timeout, so a new
    // topic's partitions are led where placement put them, not all by whichever broker
    // times out first.
    if spec.replicas.first().map(|(node, _)| *node) == Some(me) {
        if let Err(e) = raft.trigger().elect().await {
            tracing::debug!(group = %spec.id, error = %e, "preferred leader could not campaign at once");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_is_due_once_per_snapshot_after_enough_bytes() {
        let mut since = SinceSnapshot::default();
        assert!(!since.due(None, 10), "the first look sets the baseline");
        assert!(!since.due(None, 10 + SNAPSHOT_EVERY_BYTES));
        assert!(since.due(None, 11 + SNAPSHOT_EVERY_BYTES));
        assert!(
            !since.due(None, 12 + SNAPSHOT_EVERY_BYTES),
            "requested once"
        );
        assert!(
            !since.due(Some(40), 12 + SNAPSHOT_EVERY_BYTES),
            "a new snapshot"
        );
        assert!(!since.due(Some(40), 5), "retention shrank the log");
        assert!(since.due(Some(40), 6 + SNAPSHOT_EVERY_BYTES));
    }
}
