//! The client side of the inter-broker protocol: [`PeerConnection`] (one reused TCP
//! connection to a peer, re-dialled after any error) and openraft's
//! [`RaftNetworkFactory`]/[`RaftNetwork`] over it.

use std::io;
use std::time::{Duration, Instant};

use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError,
    Unreachable,
};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::rpc::{self, FrameError, Request, Response};
use super::types::TypeConfig;
use crate::cluster::NodeId;

/// How long dialling a peer may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A connection idle longer than this is re-dialled before use (the server closes
/// idle ones after [`super::server::IDLE_TIMEOUT`]).
const REUSE_IDLE_MAX: Duration = Duration::from_secs(20);

/// An AppendEntries of several entries larger than this is split: each call then
/// fits in the Raft heartbeat interval openraft allows it.
pub const APPEND_BATCH_BYTES: usize = 256 * 1024;

/// First pause before replicating again to a peer that could not be dialled.
const UNREACHABLE_RETRY_FIRST: Duration = Duration::from_millis(100);

/// Why a call to a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Could not connect.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The peer's address.
        addr: String,
        /// Why.
        source: io::Error,
    },
    /// No answer in time.
    #[error("no answer from {addr} within {timeout_ms} ms")]
    Timeout {
        /// The peer's address.
        addr: String,
        /// The deadline.
        timeout_ms: u64,
    },
    /// The connection failed or the answer was malformed.
    #[error("call to {addr} failed: {source}")]
    Frame {
        /// The peer's address.
        addr: String,
        /// Why.
        source: FrameError,
    },
    /// The answer was not for the request sent, or refused it.
    #[error("{addr} did not answer the request: {answer}")]
    Unexpected {
        /// The peer's address.
        addr: String,
        /// What came back.
        answer: String,
    },
}

struct Open {
    stream: BufReader<TcpStream>,
    last_used: Instant,
}

/// One connection to a peer, reused across calls.
pub struct PeerConnection {
    addr: String,
    open: Option<Open>,
}

impl PeerConnection {
    /// A connection to `addr` (`host:port`), dialled on first use.
    pub fn new(addr: String) -> Self {
        Self { addr, open: None }
    }

    /// The peer's address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends `request` and reads its response, all within `timeout`. Any failure
    /// drops the connection (the next call dials again).
    pub async fn call(
        &mut self,
        request: &Request,
        timeout: Duration,
    ) -> Result<Response, CallError> {
        let frame = rpc::encode_frame(request).map_err(|source| CallError::Frame {
            addr: self.addr.clone(),
            source,
        })?;
        self.call_frame(&frame, timeout).await
    }

    /// [`Self::call`] with the request already encoded ([`rpc::encode_frame`]).
    pub async fn call_frame(
        &mut self,
        frame: &[u8],
        timeout: Duration,
    ) -> Result<Response, CallError> {
        // Cancel-safe: the connection is taken out for the exchange and put back only
        // once the answer is read, so a call dropped halfway (a caller's timeout)
        // takes its connection with it and no later call reads its answer.
        let open = self
            .open
            .take()
            .filter(|o| o.last_used.elapsed() <= REUSE_IDLE_MAX);
        let result = tokio::time::timeout(timeout, exchange(&self.addr, open, frame)).await;
        match result {
            Ok(Ok((response, mut open))) => {
                open.last_used = Instant::now();
                self.open = Some(open);
                Ok(response)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(CallError::Timeout {
                addr: self.addr.clone(),
                timeout_ms: timeout.as_millis() as u64,
            }),
        }
    }
}

/// Sends `frame` over `open` (or a new connection) and reads the answer.
async fn exchange(
    addr: &str,
    open: Option<Open>,
    frame: &[u8],
) -> Result<(Response, Open), CallError> {
    let mut open = match open {
        Some(open) => open,
        None => Open {
            stream: BufReader::new(dial(addr).await?),
            last_used: Instant::now(),
        },
    };
    let frame_error = |source| CallError::Frame {
        addr: addr.to_string(),
        source,
    };
    let stream = open.stream.get_mut();
    let written = async {
        stream.write_all(frame).await?;
        stream.flush().await
    };
    written.await.map_err(|e| frame_error(FrameError::Io(e)))?;
    match rpc::read_frame(&mut open.stream).await {
        Ok(Some(response)) => Ok((response, open)),
        Ok(None) => Err(frame_error(FrameError::Io(
            io::ErrorKind::UnexpectedEof.into(),
        ))),
        Err(e) => Err(frame_error(e)),
    }
}

async fn dial(addr: &str) -> Result<TcpStream, CallError> {
    let connect_error = |source| CallError::Connect {
        addr: addr.to_string(),
        source,
    };
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| connect_error(io::ErrorKind::TimedOut.into()))?
        .map_err(connect_error)?;
    stream.set_nodelay(true).map_err(connect_error)?;
    Ok(stream)
}

/// Makes a [`PeerNetwork`] per peer openraft talks to.
#[derive(Debug, Clone)]
pub struct NetworkFactory {
    /// Longest pause before dialling an unreachable peer again.
    pub retry_max: Duration,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerNetwork;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerNetwork {
        PeerNetwork {
            target,
            connection: PeerConnection::new(node.addr.clone()),
            retry_max: self.retry_max,
        }
    }
}

/// openraft's RPCs to one peer.
pub struct PeerNetwork {
    target: NodeId,
    connection: PeerConnection,
    retry_max: Duration,
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

impl PeerNetwork {
    async fn send<E: std::error::Error>(
        &mut self,
        request: Request,
        option: &RPCOption,
    ) -> Result<Response, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>> {
        let entries = match &request {
            Request::AppendEntries(rpc) => rpc.entries.len() as u64,
            _ => 0,
        };
        let frame = match rpc::encode_frame(&request) {
            // Nothing is sent; openraft retries at once with fewer entries.
            Ok(frame) if entries > 1 && frame.len() > APPEND_BATCH_BYTES => Err(None),
            Ok(frame) => Ok(frame),
            Err(FrameError::TooLarge { .. }) if entries > 1 => Err(None),
            Err(e) => Err(Some(e)),
        };
        let frame = match frame {
            Ok(frame) => frame,
            Err(None) => {
                return Err(RPCError::PayloadTooLarge(
                    PayloadTooLarge::new_entries_hint(entries / 2),
                ))
            }
            Err(Some(source)) => {
                let e = CallError::Frame {
                    addr: self.connection.addr().to_string(),
                    source,
                };
                return Err(RPCError::Network(NetworkError::new(&e)));
            }
        };
        self.connection
            .call_frame(&frame, option.hard_ttl())
            .await
            .map_err(|e| match e {
                CallError::Connect { .. } => RPCError::Unreachable(Unreachable::new(&e)),
                _ => RPCError::Network(NetworkError::new(&e)),
            })
    }

    fn unexpected<E: std::error::Error>(
        &self,
        response: Response,
    ) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
        let answer = match response {
            Response::Refused(reason) => format!("refused: {reason}"),
            _ => "an answer to another kind of request".into(),
        };
        let e = CallError::Unexpected {
            addr: self.connection.addr().to_string(),
            answer,
        };
        RPCError::Network(NetworkError::new(&e))
    }
}

impl RaftNetwork<TypeConfig> for PeerNetwork {
    /// A peer that cannot be dialled is retried after 100 ms, doubling up to half the
    /// election timeout: a returning broker hears from the leader before it would
    /// start an election of its own (which would unseat the leader).
    fn backoff(&self) -> Backoff {
        let retry_max = self.retry_max;
        Backoff::new((0..).map(move |attempt: u32| {
            (UNREACHABLE_RETRY_FIRST * 2u32.saturating_pow(attempt.min(16))).min(retry_max)
        }))
    }

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        match self.send(Request::AppendEntries(rpc), &option).await? {
            Response::AppendEntries(r) => r.map_err(|e| RemoteError::new(self.target, e).into()),
            other => Err(self.unexpected(other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        match self.send(Request::InstallSnapshot(rpc), &option).await? {
            Response::InstallSnapshot(r) => r.map_err(|e| RemoteError::new(self.target, e).into()),
            other => Err(self.unexpected(other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        match self.send(Request::Vote(rpc), &option).await? {
            Response::Vote(r) => r.map_err(|e| RemoteError::new(self.target, e).into()),
            other => Err(self.unexpected(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;

    use super::*;
    use crate::cluster::MetadataCommand;

    fn ask(name: &str) -> Request {
        Request::Propose(MetadataCommand::DeleteTopic { name: name.into() })
    }

    /// Answers each `Propose(DeleteTopic{name})` with `Refused(name)`, the one named
    /// "slow" after a pause.
    async fn echo_server() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    while let Ok(Some(request)) = rpc::read_frame::<Request, _>(&mut stream).await {
                        let Request::Propose(MetadataCommand::DeleteTopic { name }) = request
                        else {
                            return;
                        };
                        if name == "slow" {
                            tokio::time::sleep(Duration::from_millis(300)).await;
                        }
                        if rpc::write_frame(&mut stream, &Response::Refused(name))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    fn answer(response: Response) -> String {
        match response {
            Response::Refused(name) => name,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_call_dropped_halfway_never_hands_its_answer_to_the_next_call() {
        let addr = echo_server().await;
        let mut connection = PeerConnection::new(addr);
        let timeout = Duration::from_secs(5);
        assert_eq!(
            answer(connection.call(&ask("a"), timeout).await.unwrap()),
            "a"
        );
        // Dropped by an outer timeout while the answer is on its way.
        let dropped = tokio::time::timeout(
            Duration::from_millis(50),
            connection.call(&ask("slow"), timeout),
        )
        .await;
        assert!(dropped.is_err());
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            answer(connection.call(&ask("b"), timeout).await.unwrap()),
            "b"
        );
        // Its own timeout behaves the same.
        let timed_out = connection
            .call(&ask("slow"), Duration::from_millis(50))
            .await;
        assert!(
            matches!(timed_out, Err(CallError::Timeout { .. })),
            "{timed_out:?}"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            answer(connection.call(&ask("c"), timeout).await.unwrap()),
            "c"
        );
    }

    #[tokio::test]
    async fn an_unreachable_peer_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let mut connection = PeerConnection::new(addr);
        let result = connection.call(&ask("a"), Duration::from_secs(5)).await;
        assert!(
            matches!(result, Err(CallError::Connect { .. })),
            "{result:?}"
        );
    }
}
