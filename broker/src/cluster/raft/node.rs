//! [`Core`]: what one running quorum member shares between its listener, its
//! heartbeat and controller tasks and the [`Quorum`] the servers call: the Raft
//! handle, the image, when a leader was last heard, the liveness tracker.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};
use openraft::raft::AppendEntriesResponse;
use openraft::{BasicNode, RaftMetrics, ServerState};
use tokio::sync::watch;

use super::network::PeerConnection;
use super::rpc::{ForwardError, Request, Response, MAX_SNAPSHOT_BYTES};
use super::server::Dispatch;
use super::types::{Proposal, Raft};
use crate::cluster::handle::BoxFuture;
use crate::cluster::liveness::Tracker;
use crate::cluster::{
    ClusterConfig, ClusterError, MetadataCommand, MetadataImage, NodeId, Quorum, QuorumStatus,
};

/// One quorum member's shared state.
pub struct Core {
    /// This broker's settings.
    pub config: ClusterConfig,
    /// The Raft engine.
    pub raft: Raft,
    /// The image the state machine publishes.
    pub image: watch::Receiver<Arc<MetadataImage>>,
    /// Controller-side record of broker heartbeats.
    pub liveness: Tracker,
    /// When an AppendEntries or snapshot from a current leader last arrived.
    last_leader_contact: Mutex<Option<Instant>>,
    /// Connections for forwarded proposals, by peer.
    forward_connections: Mutex<HashMap<NodeId, Arc<tokio::sync::Mutex<PeerConnection>>>>,
}

impl Core {
    /// The shared state of a member running `raft`.
    pub fn new(
        config: ClusterConfig,
        raft: Raft,
        image: watch::Receiver<Arc<MetadataImage>>,
    ) -> Self {
        Self {
            config,
            raft,
            image,
            liveness: Tracker::default(),
            last_leader_contact: Mutex::new(None),
            forward_connections: Mutex::new(HashMap::new()),
        }
    }

    /// This broker's node id.
    pub fn node_id(&self) -> NodeId {
        self.config.node_id
    }

    /// Whether `node_id` votes in the quorum's current membership.
    pub fn is_voter(&self, node_id: NodeId) -> bool {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        let voter = m
            .membership_config
            .membership()
            .voter_ids()
            .any(|v| v == node_id);
        voter
    }

    /// The controller as this member knows it now.
    pub fn controller(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    /// Whether this member is the quorum's leader now and a majority acknowledged it
    /// lately (a member restarting with its own old vote briefly calls itself leader;
    /// it does not act as controller until a majority follows it).
    pub fn is_controller(&self) -> bool {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        m.state == ServerState::Leader
            && m.current_leader == Some(self.node_id())
            && !self.leader_is_stale(&m)
    }

    /// A leader whose last majority acknowledgement is older than [`Self::stale_after`].
    fn leader_is_stale(&self, m: &RaftMetrics<NodeId, BasicNode>) -> bool {
        let single = m.membership_config.membership().voter_ids().count() <= 1;
        let stale_after_ms = self.stale_after().as_millis() as u64;
        !single
            && m.millis_since_quorum_ack
                .is_none_or(|ms| ms > stale_after_ms)
    }

    /// How long a controller may go unheard before the image counts as stale.
    pub fn stale_after(&self) -> Duration {
        self.config.raft_election_timeout * 2
    }

    /// Proposes `command` (once, no retry) through this member's Raft, which must be
    /// the leader; resolves to the log index it was applied at, once applied here.
    pub async fn propose_local(&self, command: MetadataCommand) -> Result<u64, ForwardError> {
        self.write(Proposal::new(command)).await
    }

    /// Writes `proposal` through this member's Raft, which must be the leader.
    pub async fn write(&self, proposal: Proposal) -> Result<u64, ForwardError> {
        match self.raft.client_write(proposal).await {
            Ok(response) => match response.data {
                Ok(()) => Ok(response.log_id.index),
                Err(e) => Err(ForwardError::Rejected(e)),
            },
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(ForwardError::NotController {
                    leader: f.leader_id,
                })
            }
            Err(e) => Err(ForwardError::Failed(e.to_string())),
        }
    }

    /// Sends `request` to `node` over this member's forwarding connection to it.
    pub async fn call_peer(
        &self,
        node: NodeId,
        request: &Request,
        timeout: Duration,
    ) -> Result<Response, ClusterError> {
        let connection = self.forward_connection(node)?;
        // The wait for the connection counts against the deadline too.
        let call = async {
            let mut connection = connection.lock().await;
            connection.call(request, timeout).await
        };
        match tokio::time::timeout(timeout, call).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(ClusterError::Network {
                node,
                reason: e.to_string(),
            }),
            Err(_) => Err(ClusterError::Timeout {
                controller: Some(node),
                timeout_ms: timeout.as_millis() as u64,
            }),
        }
    }

    fn forward_connection(
        &self,
        node: NodeId,
    ) -> Result<Arc<tokio::sync::Mutex<PeerConnection>>, ClusterError> {
        let mut connections = self
            .forward_connections
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(connection) = connections.get(&node) {
            return Ok(connection.clone());
        }
        let member = self
            .config
            .members
            .iter()
            .find(|m| m.node_id == node)
            .ok_or_else(|| ClusterError::Network {
                node,
                reason: "not a member of --cluster".into(),
            })?;
        let connection = Arc::new(tokio::sync::Mutex::new(PeerConnection::new(
            member.addr.clone(),
        )));
        connections.insert(node, connection.clone());
        Ok(connection)
    }

    fn heard_from_leader(&self) {
        *self
            .last_leader_contact
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// The quorum as this member sees it.
    pub fn status(&self) -> QuorumStatus {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        let voters: Vec<NodeId> = m.membership_config.membership().voter_ids().collect();
        let stale = if m.state == ServerState::Leader {
            self.leader_is_stale(&m)
        } else {
            let contact = *self
                .last_leader_contact
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            m.current_leader.is_none() || contact.is_none_or(|at| at.elapsed() > self.stale_after())
        };
        QuorumStatus {
            controller: m.current_leader,
            term: m.current_term,
            applied_index: m.last_applied.map(|l| l.index),
            stale,
            voters,
        }
    }

    async fn dispatch_request(&self, request: Request) -> Response {
        match request {
            Request::AppendEntries(rpc) => {
                if let Err(reason) = super::rpc::check_append_entries(&rpc) {
                    return Response::Refused(reason);
                }
                let result = self.raft.append_entries(rpc).await;
                if matches!(&result, Ok(r) if !matches!(r, AppendEntriesResponse::HigherVote(_))) {
                    self.heard_from_leader();
                }
                Response::AppendEntries(result)
            }
            Request::Vote(rpc) => Response::Vote(self.raft.vote(rpc).await),
            Request::InstallSnapshot(rpc) => {
                let end = rpc.offset.checked_add(rpc.data.len() as u64);
                if end.is_none_or(|end| end > MAX_SNAPSHOT_BYTES) {
                    return Response::Refused(format!(
                        "snapshot chunk at offset {} reaches past the {MAX_SNAPSHOT_BYTES} byte limit",
                        rpc.offset
                    ));
                }
                let result = self.raft.install_snapshot(rpc).await;
                if result.is_ok() {
                    self.heard_from_leader();
                }
                Response::InstallSnapshot(result)
            }
            Request::Propose(proposal) => {
                let result = match super::forward::check_size(&proposal.command) {
                    Ok(()) => {
                        let proposed = self.write(proposal);
                        tokio::time::timeout(super::forward::PROPOSE_TIMEOUT, proposed)
                            .await
                            .unwrap_or_else(|_| {
                                Err(ForwardError::Failed("not committed in time".into()))
                            })
                    }
                    Err(e) => Err(ForwardError::Rejected(e)),
                };
                Response::Propose(result)
            }
            Request::BrokerHeartbeat(registration) => Response::BrokerHeartbeat(
                crate::cluster::liveness::on_heartbeat(self, registration).await,
            ),
        }
    }
}

impl Dispatch for Core {
    fn dispatch(&self, request: Request) -> BoxFuture<'_, Response> {
        Box::pin(self.dispatch_request(request))
    }
}

/// The [`Quorum`] the servers call, over a running member.
pub struct RaftQuorum {
    /// The member.
    pub core: Arc<Core>,
}

impl Quorum for RaftQuorum {
    fn propose(&self, command: MetadataCommand) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(super::forward::propose(&self.core, command))
    }

    fn status(&self) -> QuorumStatus {
        self.core.status()
    }
}
