//! The inter-broker listener: accepts peers on this broker's `--cluster` address, reads
//! [`Request`] frames and answers each through a [`Dispatch`].
//!
//! Bounded: at most [`CONNECTIONS_MAX`] connections (more are closed at once), frames
//! being read hold at most [`READ_BUDGET_BYTES`] between them (a frame waits for its
//! share), a connection idle for [`IDLE_TIMEOUT`] is closed, an answer that cannot be
//! written within [`WRITE_TIMEOUT`] closes it. A frame that is too large or does not decode
//! closes only its own connection.
//!
//! A connection whose first 4 bytes are [`crate::replication::rpc::MAGIC`] (never a valid
//! frame length here) carries partition groups' replication instead: it is handed to
//! [`crate::replication::server::Handoff`] with its slot among the connections.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use super::rpc::{self, Request, Response};
use crate::cluster::handle::BoxFuture;
use crate::replication::server::Handoff;

/// Connections the listener serves at once.
pub const CONNECTIONS_MAX: usize = 128;
/// A connection with no request for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Bytes of request frames all connections may be reading at once.
pub const READ_BUDGET_BYTES: usize = 4 * rpc::MAX_FRAME_BYTES;
/// Writing one answer may take this long.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Answers inter-broker requests.
pub trait Dispatch: Send + Sync + 'static {
    /// The answer to `request`.
    fn dispatch(&self, request: Request) -> BoxFuture<'_, Response>;
}

/// Serves `listener` until `shutdown` turns true; replication connections go to
/// `replication`.
pub fn spawn(
    listener: TcpListener,
    dispatch: Arc<dyn Dispatch>,
    replication: Arc<Handoff>,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let permits = Arc::new(Semaphore::new(CONNECTIONS_MAX));
        let budget = Arc::new(Semaphore::new(READ_BUDGET_BYTES / BUDGET_UNIT_BYTES));
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            let (mut stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "inter-broker listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                tracing::warn!(%peer, "inter-broker listener: connection limit reached, closing");
                continue;
            };
            let dispatch = dispatch.clone();
            let shutdown = shutdown.clone();
            let budget = budget.clone();
            let replication = replication.clone();
            tokio::spawn(async move {
                match read_preamble(&mut stream).await {
                    Some(Preamble::Replication) => replication.serve(stream, shutdown).await,
                    Some(Preamble::Header(header)) => {
                        serve(stream, dispatch, budget, shutdown, header).await
                    }
                    None => {}
                }
                drop(permit);
            });
        }
    })
}

/// What a connection's first 4 bytes say it is.
enum Preamble {
    /// A replication connection ([`crate::replication::rpc::MAGIC`]).
    Replication,
    /// The first frame header of the metadata protocol.
    Header([u8; 4]),
}

/// Reads a connection's first 4 bytes (`None`: closed or silent for [`IDLE_TIMEOUT`]).
async fn read_preamble(stream: &mut TcpStream) -> Option<Preamble> {
    let mut first = [0u8; 4];
    match tokio::time::timeout(IDLE_TIMEOUT, stream.read_exact(&mut first)).await {
        Ok(Ok(_)) if first == crate::replication::rpc::MAGIC => Some(Preamble::Replication),
        Ok(Ok(_)) => Some(Preamble::Header(first)),
        _ => None,
    }
}

/// The read budget is counted in these.
const BUDGET_UNIT_BYTES: usize = 64 * 1024;

/// Answers requests on one connection until it closes, fails or idles out.
async fn serve(
    stream: TcpStream,
    dispatch: Arc<dyn Dispatch>,
    budget: Arc<Semaphore>,
    mut shutdown: watch::Receiver<bool>,
    first_header: [u8; 4],
) {
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().ok();
    let mut stream = BufReader::new(stream);
    let mut header = Some(first_header);
    loop {
        let read = tokio::select! {
            read = tokio::time::timeout(IDLE_TIMEOUT, read_request(&mut stream, &budget, header.take())) => read,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let request = match read {
            Ok(Ok(Some(request))) => request,
            Ok(Ok(None)) | Err(_) => return,
            Ok(Err(e)) => {
                tracing::warn!(?peer, error = %e, "inter-broker listener: closing a connection");
                return;
            }
        };
        let response = tokio::select! {
            response = dispatch.dispatch(request) => response,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let written =
            tokio::time::timeout(WRITE_TIMEOUT, rpc::write_frame(stream.get_mut(), &response))
                .await;
        if !matches!(written, Ok(Ok(()))) {
            return;
        }
    }
}

/// Reads one request, its bytes counted against the shared read budget.
/// `header`: the frame's length prefix when it was read already.
async fn read_request(
    stream: &mut BufReader<TcpStream>,
    budget: &Semaphore,
    header: Option<[u8; 4]>,
) -> Result<Option<Request>, rpc::FrameError> {
    let len = match header {
        Some(header) => rpc::frame_len(header)?,
        None => match rpc::read_header(stream).await? {
            Some(len) => len,
            None => return Ok(None),
        },
    };
    let units = (len / BUDGET_UNIT_BYTES + 1) as u32;
    let _share = budget
        .acquire_many(units)
        .await
        .map_err(|e| rpc::FrameError::Io(std::io::Error::other(e)))?;
    rpc::read_body(stream, len).await.map(Some)
}
