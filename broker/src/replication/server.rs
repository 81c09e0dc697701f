//! The accepting side of the replication protocol ([`super::rpc`]). The inter-broker
//! listener ([`crate::cluster::raft::server`]) reads a connection's first 4 bytes and
//! hands a connection that starts with [`rpc::MAGIC`] to the [`Handoff`]; from then on
//! this module reads its [`RequestFrame`]s, serves each through the [`GroupDispatch`]
//! (the replica manager) on a task of its own, and writes the answers back in the order
//! they are ready.
//!
//! Bounded: at most [`IN_FLIGHT_PER_CONNECTION_MAX`] requests of a connection are being
//! served (reading waits for a slot), frames being read or served hold at most
//! [`READ_BUDGET_BYTES`] across all connections, a connection with no request for
//! [`IDLE_TIMEOUT`] or an answer not written within [`WRITE_TIMEOUT`] is closed. A frame
//! over the limit or one that does not decode closes its own connection, nothing more.
//! The number of connections is the inter-broker listener's to bound.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::rpc::{
    self, FrameError, Refusal, RequestBody, RequestFrame, ResponseBody, ResponseFrame,
};
use super::types::GroupId;
use crate::cluster::handle::BoxFuture;
use crate::cluster::NodeId;

/// Requests of one connection served at once.
pub const IN_FLIGHT_PER_CONNECTION_MAX: usize = 256;
/// Bytes of request frames all replication connections may hold at once (being read or
/// served).
pub const READ_BUDGET_BYTES: usize = 4 * rpc::MAX_FRAME_BYTES;
/// A connection with no request for this long is closed (leaders send heartbeats far
/// more often; the dialler dials again when it next needs to).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Writing one answer may take this long.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Answers queued for one connection's socket.
const OUTBOX_FRAMES_MAX: usize = 64;
/// The read budget is counted in these.
const BUDGET_UNIT_BYTES: usize = 64 * 1024;

/// Serves the requests addressed to this broker's partition groups.
pub trait GroupDispatch: Send + Sync + 'static {
    /// This broker's node id (a request meant for another is refused).
    fn node_id(&self) -> NodeId;

    /// The answer to `body` for `group` (a [`ResponseBody::Refused`] when the group
    /// does not run here).
    fn dispatch(&self, group: GroupId, body: RequestBody) -> BoxFuture<'_, ResponseBody>;
}

/// Where the inter-broker listener hands replication connections. Made before the
/// replica manager exists (the listener starts with the metadata quorum); connections
/// arriving before [`Handoff::attach`] are closed (their dialler tries again).
pub struct Handoff {
    dispatch: OnceLock<Arc<dyn GroupDispatch>>,
    budget: Arc<Semaphore>,
}

impl std::fmt::Debug for Handoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handoff")
            .field("attached", &self.dispatch.get().is_some())
            .finish()
    }
}

impl Default for Handoff {
    fn default() -> Self {
        Handoff {
            dispatch: OnceLock::new(),
            budget: Arc::new(Semaphore::new(READ_BUDGET_BYTES / BUDGET_UNIT_BYTES)),
        }
    }
}

impl Handoff {
    /// A handoff with nothing attached yet.
    pub fn new() -> Arc<Handoff> {
        Arc::new(Handoff::default())
    }

    /// Serves replication connections through `dispatch` from now on; `false` (and
    /// nothing changes) when one is attached already.
    pub fn attach(&self, dispatch: Arc<dyn GroupDispatch>) -> bool {
        self.dispatch.set(dispatch).is_ok()
    }

    /// Serves `stream`, whose [`rpc::MAGIC`] was already read, until it closes, fails,
    /// idles out or `shutdown` turns true.
    pub async fn serve(&self, stream: TcpStream, shutdown: watch::Receiver<bool>) {
        let Some(dispatch) = self.dispatch.get().cloned() else {
            tracing::debug!("replication connection before the replica manager started; closing");
            return;
        };
        serve_connection(stream, dispatch, self.budget.clone(), shutdown).await;
    }
}

/// Reads, serves and answers requests on one connection.
async fn serve_connection(
    stream: TcpStream,
    dispatch: Arc<dyn GroupDispatch>,
    budget: Arc<Semaphore>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().ok();
    let (reader, writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let closed = CancellationToken::new();
    let (outbox, answers) = mpsc::channel(OUTBOX_FRAMES_MAX);
    let writing = tokio::spawn(write_answers(writer, answers, closed.clone()));
    let slots = Arc::new(Semaphore::new(IN_FLIGHT_PER_CONNECTION_MAX));
    loop {
        let read = tokio::select! {
            read = tokio::time::timeout(IDLE_TIMEOUT, read_request(&mut reader, &budget)) => read,
            _ = closed.cancelled() => break,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let (request, share) = match read {
            Ok(Ok(Some(read))) => read,
            Ok(Ok(None)) | Err(_) => break,
            Ok(Err(e)) => {
                tracing::warn!(?peer, error = %e, "replication: closing a connection");
                break;
            }
        };
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            _ = closed.cancelled() => break,
        };
        let Ok(slot) = slot else { break };
        let (dispatch, outbox) = (dispatch.clone(), outbox.clone());
        tokio::spawn(async move {
            let id = request.id;
            let body = answer(dispatch.as_ref(), request).await;
            drop(share);
            if let Ok(frame) = encode_answer(id, body) {
                let _ = outbox.send(frame).await;
            }
            drop(slot);
        });
    }
    closed.cancel();
    let _ = writing.await;
}

/// The answer to one request.
async fn answer(dispatch: &dyn GroupDispatch, request: RequestFrame) -> ResponseBody {
    let me = dispatch.node_id();
    if request.to != me {
        return ResponseBody::Refused(Refusal::WrongBroker {
            expected: request.to,
            actual: me,
        });
    }
    dispatch.dispatch(request.group, request.body).await
}

/// The answer as a frame; an answer too large to send becomes a refusal saying so.
fn encode_answer(id: u64, body: ResponseBody) -> Result<Vec<u8>, FrameError> {
    match rpc::encode_frame(&ResponseFrame { id, body }) {
        Err(FrameError::TooLarge { len }) => rpc::encode_frame(&ResponseFrame {
            id,
            body: ResponseBody::Refused(Refusal::Failed(format!(
                "the answer of {len} bytes is over the frame limit"
            ))),
        }),
        other => other,
    }
}

/// Writes answers until the connection closes, flushing when none is queued.
async fn write_answers(
    writer: OwnedWriteHalf,
    mut answers: mpsc::Receiver<Vec<u8>>,
    closed: CancellationToken,
) {
    let mut writer = BufWriter::new(writer);
    loop {
        let frame = tokio::select! {
            frame = answers.recv() => frame,
            _ = closed.cancelled() => None,
        };
        let Some(frame) = frame else { break };
        let written = tokio::time::timeout(WRITE_TIMEOUT, async {
            writer.write_all(&frame).await?;
            if answers.is_empty() {
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

/// Reads one request, its bytes counted against the shared budget (the share is held
/// until the request is served); `None` at a clean end of stream.
async fn read_request<R: AsyncRead + Unpin>(
    reader: &mut R,
    budget: &Arc<Semaphore>,
) -> Result<Option<(RequestFrame, OwnedSemaphorePermit)>, FrameError> {
    let mut header = [0u8; rpc::FRAME_PREFIX_BYTES];
    let mut filled = 0;
    while filled < header.len() {
        let n = reader.read(&mut header[filled..]).await?;
        if n == 0 {
            if filled == 0 {
                return Ok(None);
            }
            return Err(FrameError::Truncated {
                need: header.len(),
                have: filled,
            });
        }
        filled += n;
    }
    let len = rpc::frame_len(header)?;
    let units = (len / BUDGET_UNIT_BYTES + 1) as u32;
    let share = budget
        .clone()
        .acquire_many_owned(units)
        .await
        .map_err(|e| FrameError::Io(std::io::Error::other(e)))?;
    // Grows as bytes arrive: a peer that claims much and sends little costs little.
    let mut body = Vec::new();
    reader.take(len as u64).read_to_end(&mut body).await?;
    if body.len() < len {
        return Err(FrameError::Truncated {
            need: len,
            have: body.len(),
        });
    }
    Ok(Some((rpc::decode_body(&body)?, share)))
}
