//! The metadata quorum on openraft: the durable log and vote, the state machine that
//! applies [`super::MetadataCommand`]s to the image, snapshots, and the inter-broker
//! network. [`RaftNode::start`] is the entry point the broker calls.
//!
//! | file | what |
//! |---|---|
//! | [`types`] | openraft's type configuration |
//! | [`log_file`] | the log file's format and recovery |
//! | [`log_store`] | openraft's log storage over it, the vote and markers |
//! | [`marker`] | small checksummed JSON files (vote, purged, committed, snapshot) |
//! | [`state_machine`] | applying entries to the image; snapshots |
//! | [`recent`] | recent proposals' outcomes, so retries apply once |
//! | [`rpc`] | the inter-broker frames and messages |
//! | [`network`] | dialling peers; openraft's network over it |
//! | [`server`] | the inter-broker listener |
//! | [`node`] | one member's shared state, the [`super::Quorum`] impl |
//! | [`forward`] | proposing from any broker |

pub mod forward;
pub mod log_file;
pub mod log_store;
pub mod marker;
pub mod network;
pub mod node;
pub mod recent;
pub mod rpc;
pub mod server;
pub mod state_machine;
pub mod types;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use openraft::error::{InitializeError, RaftError};
use openraft::{BasicNode, SnapshotPolicy};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{BrokerRegistration, Cluster, ClusterConfig, ClusterError, MetadataImage};
use log_store::LogStore;
use node::{Core, RaftQuorum};
use state_machine::StateMachine;
use types::Raft;

/// Bytes of snapshot sent per InstallSnapshot call.
const SNAPSHOT_CHUNK_BYTES: u64 = 1024 * 1024;

/// A running member of the metadata quorum.
pub struct RaftNode {
    cluster: Cluster,
    core: Arc<Core>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    replication: Arc<crate::replication::server::Handoff>,
}

impl std::fmt::Debug for RaftNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftNode")
            .field("node_id", &self.core.node_id())
            .field("status", &self.core.status())
            .finish()
    }
}

impl RaftNode {
    /// Starts this broker's member of the quorum: opens (or creates) the metadata log
    /// under `<data_dir>/cluster/`, binds the inter-broker listener at this broker's
    /// `--cluster` address, forms the quorum with the other members on first start,
    /// then registers `registration` with the controller and keeps heartbeating.
    /// Returns once the node runs (not once a controller is elected).
    pub async fn start(
        config: ClusterConfig,
        data_dir: &Path,
        registration: BrokerRegistration,
    ) -> Result<RaftNode, ClusterError> {
        config.validate().map_err(ClusterError::Config)?;
        let me = config
            .me()
            .ok_or_else(|| ClusterError::Config("this broker is not in --cluster".into()))?
            .clone();
        let dir = data_dir.join("cluster");
        let (image_tx, image_rx) = watch::channel(Arc::new(MetadataImage::default()));
        let (log_store, state_machine) = open_storage(&dir, image_tx).await?;
        let listener = bind(&me.addr).await?;
        let raft = Raft::new(
            config.node_id,
            Arc::new(raft_config(&config)?),
            network::NetworkFactory {
                retry_max: config.raft_election_timeout / 2,
            },
            log_store,
            state_machine,
        )
        .await
        .map_err(|e| ClusterError::Raft(e.to_string()))?;
        initialize(&raft, &config).await?;

        let incarnation = registration.incarnation;
        let core = Arc::new(Core::new(config.clone(), raft, image_rx.clone()));
        let (stop, stopped) = watch::channel(false);
        let replication = crate::replication::server::Handoff::new();
        let tasks = vec![
            server::spawn(listener, core.clone(), replication.clone(), stopped.clone()),
            tokio::spawn(super::liveness::run_heartbeats(
                core.clone(),
                registration,
                stopped.clone(),
            )),
            tokio::spawn(super::liveness::run_controller_duties(
                core.clone(),
                stopped,
            )),
        ];
        let quorum = Arc::new(RaftQuorum { core: core.clone() });
        tracing::info!(node_id = config.node_id, addr = %me.addr, "metadata quorum member started");
        Ok(RaftNode {
            cluster: Cluster::new(config.node_id, image_rx, quorum).with_incarnation(incarnation),
            core,
            stop,
            tasks,
            replication,
        })
    }

    /// Where the inter-broker listener hands partition groups' replication connections
    /// (the replica manager attaches itself there).
    pub fn replication_handoff(&self) -> Arc<crate::replication::server::Handoff> {
        self.replication.clone()
    }

    /// The handle the servers use.
    pub fn cluster(&self) -> Cluster {
        self.cluster.clone()
    }

    /// openraft's view of this member (term, log, snapshot, purged), for diagnostics
    /// and tests.
    pub fn raft_metrics(&self) -> openraft::RaftMetrics<u64, BasicNode> {
        self.core.raft.metrics().borrow().clone()
    }

    /// Stops heartbeating, leaves the quorum's network and stops Raft.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        if let Err(e) = self.core.raft.shutdown().await {
            tracing::warn!(error = %e, "metadata quorum: Raft did not stop cleanly");
        }
        tracing::info!(
            node_id = self.core.node_id(),
            "metadata quorum member stopped"
        );
    }
}

async fn open_storage(
    dir: &Path,
    image: watch::Sender<Arc<MetadataImage>>,
) -> Result<(LogStore, StateMachine), ClusterError> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        // The metadata log holds users' hashed credentials: owner only.
        std::fs::create_dir_all(&dir)?;
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        let log_store = LogStore::open(&dir)?;
        let state_machine = StateMachine::open(&dir, image)?;
        Ok::<_, std::io::Error>((log_store, state_machine))
    })
    .await
    .map_err(|e| ClusterError::Storage(std::io::Error::other(e)))?
    .map_err(ClusterError::Storage)
}

/// Binds the inter-broker listener (address reuse on, so a restarted broker rebinds
/// at once).
async fn bind(addr: &str) -> Result<TcpListener, ClusterError> {
    let cannot = |e: std::io::Error| {
        ClusterError::Config(format!(
            "cannot listen on the inter-broker address {addr} (this broker's --cluster entry): {e}"
        ))
    };
    let resolved = tokio::net::lookup_host(addr)
        .await
        .map_err(cannot)?
        .next()
        .ok_or_else(|| cannot(std::io::ErrorKind::NotFound.into()))?;
    let socket = if resolved.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(cannot)?;
    socket.set_reuseaddr(true).map_err(cannot)?;
    socket.bind(resolved).map_err(cannot)?;
    socket.listen(1024).map_err(cannot)
}

/// openraft's settings from the cluster's.
fn raft_config(config: &ClusterConfig) -> Result<openraft::Config, ClusterError> {
    let heartbeat_ms = config.raft_heartbeat.as_millis() as u64;
    let election_ms = config.raft_election_timeout.as_millis() as u64;
    let raft = openraft::Config {
        cluster_name: "rill-metadata".into(),
        heartbeat_interval: heartbeat_ms,
        election_timeout_min: election_ms,
        election_timeout_max: election_ms * 2,
        install_snapshot_timeout: election_ms.max(2000),
        snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_every),
        max_in_snapshot_log_to_keep: config.snapshot_every,
        snapshot_max_chunk_size: SNAPSHOT_CHUNK_BYTES,
        ..Default::default()
    };
    raft.validate()
        .map_err(|e| ClusterError::Config(format!("Raft settings: {e}")))
}

/// Forms the quorum from `--cluster` on a member's first start. Every member may do
/// it with the same voters; a member that already has a log or a vote is left alone.
/// A broker that is not a voter never does: the controller adds it as a learner when
/// its first heartbeat arrives, and the metadata log reaches it from there.
async fn initialize(raft: &Raft, config: &ClusterConfig) -> Result<(), ClusterError> {
    if !config.is_voter() {
        return Ok(());
    }
    let initialized = raft
        .is_initialized()
        .await
        .map_err(|e| ClusterError::Raft(e.to_string()))?;
    if initialized {
        return Ok(());
    }
    let members: BTreeMap<u64, BasicNode> = config
        .members
        .iter()
        .map(|m| (m.node_id, BasicNode::new(&m.addr)))
        .collect();
    match raft.initialize(members).await {
        Ok(()) => Ok(()),
        Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
        Err(e) => Err(ClusterError::Raft(e.to_string())),
    }
}
