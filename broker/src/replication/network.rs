//! The dialling side of the replication protocol ([`super::rpc`]): [`Peers`] keeps one
//! TCP connection per peer broker, shared by every partition group, with many calls in
//! flight on it (matched to their answers by id); openraft's network for one group
//! ([`GroupNetworkFactory`]) and the catch-up reads ([`SegmentSource`]) go over it.
//!
//! Bounded: at most [`IN_FLIGHT_PER_CONNECTION_MAX`] calls wait on a connection (more
//! wait for a slot within their own deadline), at most [`OUTBOX_FRAMES_MAX`] encoded
//! requests queue for the socket, every call has a deadline (openraft's `RPCOption`
//! for Raft's calls). A connection that fails fails the calls waiting on it and is
//! dialled again by the next call; a peer that cannot be dialled is tried again after a
//! pause that doubles up to the retry maximum, calls failing at once meanwhile.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError,
    Unreachable,
};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, EntryPayload};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::rpc::{
    self, FrameError, Refusal, RequestBody, RequestFrame, ResponseBody, ResponseFrame,
};
use super::types::{GroupId, PartitionConfig, SegmentChunk};
use super::{ReplicationError, SegmentSource};
use crate::cluster::handle::BoxFuture;
use crate::cluster::{MetadataImage, NodeId};

/// How long dialling a peer may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Calls waiting for their answer on one connection.
pub const IN_FLIGHT_PER_CONNECTION_MAX: usize = 256;
/// Encoded requests queued for one connection's socket.
pub const OUTBOX_FRAMES_MAX: usize = 64;
/// Writing one frame may take this long before the connection counts as dead.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// An AppendEntries of several entries whose batches pass this is split (openraft
/// retries with fewer entries), so one call stays well within a heartbeat's time.
pub const APPEND_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// How long a catch-up read ([`SegmentSource::read`]) may take.
pub const SEGMENT_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// First pause before dialling a peer again after a failed dial.
const DIAL_RETRY_FIRST: Duration = Duration::from_millis(100);
/// Bytes the response reader asks the socket for at a time (the buffer grows to a
/// whole frame, at most [`rpc::MAX_FRAME_BYTES`]).
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Why a call to a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The peer's address is not known (not registered in the metadata image).
    #[error("broker {node}: no inter-broker address known")]
    NoAddress {
        /// The peer.
        node: NodeId,
    },
    /// The peer could not be dialled (or was lately, and is not tried again yet).
    #[error("broker {node} at {addr} is unreachable: {reason}")]
    Unreachable {
        /// The peer.
        node: NodeId,
        /// Its address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// No answer within the call's deadline.
    #[error("broker {node}: no answer within {timeout_ms} ms")]
    Timeout {
        /// The peer.
        node: NodeId,
        /// The deadline.
        timeout_ms: u64,
    },
    /// The connection failed while the call waited.
    #[error("broker {node}: connection lost")]
    ConnectionLost {
        /// The peer.
        node: NodeId,
    },
    /// The request could not be encoded (too large, ...).
    #[error("broker {node}: {source}")]
    Frame {
        /// The peer.
        node: NodeId,
        /// Why.
        source: FrameError,
    },
    /// The peer did not serve the request.
    #[error("broker {node} refused: {refusal}")]
    Refused {
        /// The peer.
        node: NodeId,
        /// Why.
        refusal: Refusal,
    },
    /// The peer answered with the answer to another kind of request.
    #[error("broker {node} answered {kind} with something else")]
    Unexpected {
        /// The peer.
        node: NodeId,
        /// The request's kind.
        kind: &'static str,
    },
}

/// Where each broker's inter-broker address is looked up.
pub type AddressBook = Arc<dyn Fn(NodeId) -> Option<String> + Send + Sync>;

/// The connections to every peer broker, shared by all partition groups.
pub struct Peers {
    me: NodeId,
    addresses: AddressBook,
    links: Mutex<HashMap<NodeId, Arc<Link>>>,
    next_id: AtomicU64,
    retry_max: Duration,
}

impl std::fmt::Debug for Peers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peers").field("me", &self.me).finish()
    }
}

impl Peers {
    /// Connections of broker `me`, dialling the addresses `addresses` names; a peer that
    /// cannot be dialled is tried again after at most `retry_max`.
    pub fn new(me: NodeId, addresses: AddressBook, retry_max: Duration) -> Arc<Peers> {
        Arc::new(Peers {
            me,
            addresses,
            links: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            retry_max: retry_max.max(DIAL_RETRY_FIRST),
        })
    }

    /// [`Peers::new`] with the addresses brokers registered in the metadata image.
    pub fn from_image(
        me: NodeId,
        image: watch::Receiver<Arc<MetadataImage>>,
        retry_max: Duration,
    ) -> Arc<Peers> {
        let addresses: AddressBook = Arc::new(move |node| {
            let image = image.borrow();
            let broker = image.brokers.get(&node)?;
            Some(broker.registration.inter_broker.clone()).filter(|a| !a.is_empty())
        });
        Peers::new(me, addresses, retry_max)
    }

    /// This broker's id.
    pub fn me(&self) -> NodeId {
        self.me
    }

    /// Sends `body` to `group`'s replica on `node` and waits for the answer, all within
    /// `timeout`. `fallback_addr` is dialled when the address book does not know `node`.
    pub async fn call(
        &self,
        node: NodeId,
        group: GroupId,
        body: RequestBody,
        fallback_addr: Option<&str>,
        timeout: Duration,
    ) -> Result<ResponseBody, CallError> {
        let deadline = Instant::now() + timeout;
        let timed_out = || CallError::Timeout {
            node,
            timeout_ms: timeout.as_millis() as u64,
        };
        let link = self.link(node, fallback_addr)?;
        let conn = link.connection(deadline, self.retry_max).await?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = rpc::encode_frame(&RequestFrame {
            id,
            to: node,
            group,
            body,
        })
        .map_err(|source| CallError::Frame { node, source })?;
        let _slot = tokio::time::timeout_at(deadline, conn.in_flight.clone().acquire_owned())
            .await
            .map_err(|_| timed_out())?
            .map_err(|_| CallError::ConnectionLost { node })?;
        let (answer, answered) = oneshot::channel();
        let pending = PendingCall::register(&conn.pending, id, answer);
        tokio::time::timeout_at(deadline, conn.outbox.send(frame))
            .await
            .map_err(|_| timed_out())?
            .map_err(|_| CallError::ConnectionLost { node })?;
        let body = tokio::time::timeout_at(deadline, answered)
            .await
            .map_err(|_| timed_out())?
            .map_err(|_| CallError::ConnectionLost { node })?;
        drop(pending);
        match body {
            ResponseBody::Refused(refusal) => Err(CallError::Refused { node, refusal }),
            body => Ok(body),
        }
    }

    /// The link to `node` at its current address (a new one when the address changed).
    fn link(&self, node: NodeId, fallback_addr: Option<&str>) -> Result<Arc<Link>, CallError> {
        let addr = (self.addresses)(node)
            .or_else(|| fallback_addr.filter(|a| !a.is_empty()).map(str::to_string))
            .ok_or(CallError::NoAddress { node })?;
        let mut links = self.links.lock().unwrap_or_else(|p| p.into_inner());
        match links.get(&node) {
            Some(link) if link.addr == addr => Ok(link.clone()),
            _ => {
                let link = Arc::new(Link::new(node, addr));
                links.insert(node, link.clone());
                Ok(link)
            }
        }
    }

    /// Closes every connection (calls waiting on them fail).
    pub fn close_all(&self) {
        self.links.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

impl SegmentSource for Peers {
    fn read(
        &self,
        node: NodeId,
        group: GroupId,
        offset: i64,
        max_bytes: u32,
    ) -> BoxFuture<'_, Result<SegmentChunk, ReplicationError>> {
        Box::pin(async move {
            let body = RequestBody::ReadSegments { offset, max_bytes };
            let failed = |message: String| ReplicationError::Peer { node, message };
            match self
                .call(node, group, body, None, SEGMENT_READ_TIMEOUT)
                .await
            {
                Ok(ResponseBody::Segments(chunk)) => Ok(chunk),
                Ok(_) => Err(failed("answered ReadSegments with something else".into())),
                Err(e) => Err(failed(e.to_string())),
            }
        })
    }
}

/// Removes a call's answer slot when the call ends, however it ends (cancel-safe: a
/// call dropped by its caller leaves nothing behind).
struct PendingCall {
    pending: Arc<Mutex<HashMap<u64, oneshot::Sender<ResponseBody>>>>,
    id: u64,
}

impl PendingCall {
    fn register(
        pending: &Arc<Mutex<HashMap<u64, oneshot::Sender<ResponseBody>>>>,
        id: u64,
        answer: oneshot::Sender<ResponseBody>,
    ) -> PendingCall {
        lock(pending).insert(id, answer);
        PendingCall {
            pending: pending.clone(),
            id,
        }
    }
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        lock(&self.pending).remove(&self.id);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One peer: its address, its live connection, and the dial backoff.
struct Link {
    node: NodeId,
    addr: String,
    conn: Mutex<Option<Arc<Conn>>>,
    /// Held while dialling, so one caller dials and the others wait for its result.
    dial: tokio::sync::Mutex<DialState>,
}

#[derive(Default)]
struct DialState {
    failures: u32,
    retry_at: Option<Instant>,
    last_error: String,
}

impl Link {
    fn new(node: NodeId, addr: String) -> Link {
        Link {
            node,
            addr,
            conn: Mutex::new(None),
            dial: tokio::sync::Mutex::new(DialState::default()),
        }
    }

    fn live(&self) -> Option<Arc<Conn>> {
        lock(&self.conn)
            .clone()
            .filter(|c| !c.closed.is_cancelled())
    }

    /// The live connection, dialled if there is none (unless a recent dial failed).
    async fn connection(
        &self,
        deadline: Instant,
        retry_max: Duration,
    ) -> Result<Arc<Conn>, CallError> {
        if let Some(conn) = self.live() {
            return Ok(conn);
        }
        let timed_out = CallError::Timeout {
            node: self.node,
            timeout_ms: deadline
                .saturating_duration_since(Instant::now())
                .as_millis() as u64,
        };
        let mut dial = tokio::time::timeout_at(deadline, self.dial.lock())
            .await
            .map_err(|_| timed_out)?;
        if let Some(conn) = self.live() {
            return Ok(conn);
        }
        let unreachable = |reason: String| CallError::Unreachable {
            node: self.node,
            addr: self.addr.clone(),
            reason,
        };
        if dial.retry_at.is_some_and(|at| Instant::now() < at) {
            return Err(unreachable(format!(
                "{} (not dialled again yet)",
                dial.last_error
            )));
        }
        let connect_by = deadline.min(Instant::now() + CONNECT_TIMEOUT);
        match tokio::time::timeout_at(connect_by, Conn::open(&self.addr)).await {
            Ok(Ok(conn)) => {
                *dial = DialState::default();
                let conn = Arc::new(conn);
                *lock(&self.conn) = Some(conn.clone());
                Ok(conn)
            }
            failed => {
                let reason = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "connect timed out".to_string(),
                };
                dial.failures = dial.failures.saturating_add(1);
                let pause = DIAL_RETRY_FIRST
                    .saturating_mul(1 << dial.failures.min(16))
                    .min(retry_max);
                dial.retry_at = Some(Instant::now() + pause);
                dial.last_error = reason.clone();
                Err(unreachable(reason))
            }
        }
    }
}

/// One open connection: its outbox, the calls waiting for answers, and a token that
/// both its tasks (writer, reader) and its owner cancel to close it.
struct Conn {
    outbox: mpsc::Sender<Vec<u8>>,
    pending: Arc<Mutex<HashMap<u64, oneshot::Sender<ResponseBody>>>>,
    in_flight: Arc<Semaphore>,
    closed: CancellationToken,
}

impl Conn {
    /// Dials `addr`, sends the replication preamble and starts the connection's tasks.
    async fn open(addr: &str) -> std::io::Result<Conn> {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        stream.write_all(&rpc::MAGIC).await?;
        let (reader, writer) = stream.into_split();
        let (outbox, frames) = mpsc::channel(OUTBOX_FRAMES_MAX);
        let pending = Arc::new(Mutex::new(HashMap::new()));
        let closed = CancellationToken::new();
        tokio::spawn(write_frames(writer, frames, closed.clone()));
        tokio::spawn(read_answers(reader, pending.clone(), closed.clone()));
        Ok(Conn {
            outbox,
            pending,
            in_flight: Arc::new(Semaphore::new(IN_FLIGHT_PER_CONNECTION_MAX)),
            closed,
        })
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.closed.cancel();
    }
}

/// Writes queued frames until the connection closes, flushing when the queue runs dry.
async fn write_frames(
    writer: OwnedWriteHalf,
    mut frames: mpsc::Receiver<Vec<u8>>,
    closed: CancellationToken,
) {
    let mut writer = BufWriter::new(writer);
    loop {
        let frame = tokio::select! {
            frame = frames.recv() => frame,
            _ = closed.cancelled() => None,
        };
        let Some(frame) = frame else { break };
        let written = tokio::time::timeout(WRITE_TIMEOUT, async {
            writer.write_all(&frame).await?;
            if frames.is_empty() {
                writer.flush().await?;
            }
            Ok::<_, std::io::Error>(())
        })
        .await;
        if !matches!(written, Ok(Ok(()))) {
            break;
        }
    }
    closed.cancel();
}

/// Reads answers and hands each to its waiting call until the connection closes;
/// then fails every call still waiting.
async fn read_answers(
    mut reader: OwnedReadHalf,
    pending: Arc<Mutex<HashMap<u64, oneshot::Sender<ResponseBody>>>>,
    closed: CancellationToken,
) {
    let mut buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    'read: loop {
        buf.reserve(READ_CHUNK_BYTES);
        let read = tokio::select! {
            read = reader.read_buf(&mut buf) => read,
            _ = closed.cancelled() => break,
        };
        if !matches!(read, Ok(n) if n > 0) {
            break;
        }
        loop {
            let body = match rpc::split_frame(&mut buf) {
                Ok(Some(body)) => body,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "replication: closing a connection");
                    break 'read;
                }
            };
            let Ok(answer) = rpc::decode_body::<ResponseFrame>(&body) else {
                tracing::warn!("replication: undecodable answer, closing the connection");
                break 'read;
            };
            if let Some(waiting) = lock(&pending).remove(&answer.id) {
                let _ = waiting.send(answer.body);
            }
        }
    }
    closed.cancel();
    lock(&pending).clear();
}

/// Makes openraft's network for one partition group.
#[derive(Debug, Clone)]
pub struct GroupNetworkFactory {
    /// The group.
    pub group: GroupId,
    /// The shared connections.
    pub peers: Arc<Peers>,
}

impl RaftNetworkFactory<PartitionConfig> for GroupNetworkFactory {
    type Network = GroupNetwork;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> GroupNetwork {
        GroupNetwork {
            group: self.group,
            target,
            fallback_addr: node.addr.clone(),
            peers: self.peers.clone(),
        }
    }
}

/// openraft's RPCs from one group's replica to the same group's replica on `target`.
pub struct GroupNetwork {
    group: GroupId,
    target: NodeId,
    fallback_addr: String,
    peers: Arc<Peers>,
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

impl GroupNetwork {
    async fn send<E: std::error::Error>(
        &self,
        body: RequestBody,
        option: &RPCOption,
    ) -> Result<ResponseBody, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>> {
        let fallback = Some(self.fallback_addr.as_str());
        let timeout = option.hard_ttl();
        self.peers
            .call(self.target, self.group, body, fallback, timeout)
            .await
            .map_err(|e| match e {
                // A peer that does not run the group yet (still opening it) is as good
                // as unreachable: openraft backs off before trying again.
                CallError::Unreachable { .. }
                | CallError::NoAddress { .. }
                | CallError::Refused {
                    refusal: Refusal::UnknownGroup(_),
                    ..
                } => RPCError::Unreachable(Unreachable::new(&e)),
                _ => RPCError::Network(NetworkError::new(&e)),
            })
    }

    fn unexpected<E: std::error::Error>(
        &self,
        kind: &'static str,
    ) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
        let e = CallError::Unexpected {
            node: self.target,
            kind,
        };
        RPCError::Network(NetworkError::new(&e))
    }
}

/// Bytes of record batches `rpc` carries (what its frame's size is about).
fn batch_bytes(rpc: &AppendEntriesRequest<PartitionConfig>) -> usize {
    rpc.entries
        .iter()
        .map(|e| match &e.payload {
            EntryPayload::Normal(write) => write.batches.len(),
            _ => 0,
        })
        .sum()
}

impl RaftNetwork<PartitionConfig> for GroupNetwork {
    /// A peer that cannot be dialled is retried after 100 ms, doubling up to the
    /// retry maximum (half the election timeout): a returning broker hears from the
    /// leader before it would start an election of its own.
    fn backoff(&self) -> Backoff {
        let retry_max = self.peers.retry_max;
        Backoff::new((0..).map(move |attempt: u32| {
            DIAL_RETRY_FIRST
                .saturating_mul(2u32.saturating_pow(attempt.min(16)))
                .min(retry_max)
        }))
    }

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<PartitionConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        let entries = rpc.entries.len() as u64;
        if entries > 1 && batch_bytes(&rpc) > APPEND_BATCH_BYTES {
            // Nothing is sent; openraft retries at once with fewer entries.
            return Err(RPCError::PayloadTooLarge(
                PayloadTooLarge::new_entries_hint(entries / 2),
            ));
        }
        match self.send(RequestBody::AppendEntries(rpc), &option).await? {
            ResponseBody::AppendEntries(r) => {
                r.map_err(|e| RemoteError::new(self.target, e).into())
            }
            _ => Err(self.unexpected("AppendEntries")),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<PartitionConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        match self
            .send(RequestBody::InstallSnapshot(rpc), &option)
            .await?
        {
            ResponseBody::InstallSnapshot(r) => {
                r.map_err(|e| RemoteError::new(self.target, e).into())
            }
            _ => Err(self.unexpected("InstallSnapshot")),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        match self.send(RequestBody::Vote(rpc), &option).await? {
            ResponseBody::Vote(r) => r.map_err(|e| RemoteError::new(self.target, e).into()),
            _ => Err(self.unexpected("Vote")),
        }
    }
}
