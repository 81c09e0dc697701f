//! One client connection: reads frames, runs requests concurrently, writes responses in
//! request order.
//!
//! The reader decodes each frame and spawns its handler; the handler's `JoinHandle` goes
//! into a bounded channel (`max_inflight`) that the writer drains in order, so requests
//! pipeline and responses keep their order. Request bytes in flight are bounded by a
//! per-connection byte budget. A frame that cannot be parsed closes this connection
//! only; a connection silent for `idle_timeout` (including one stuck half-way through a
//! frame) is closed.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use rill_protocol::frame::{FrameCodec, OutFrame};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::codec::FramedRead;
use tracing::{debug, warn};

use super::{handlers, BrokerCtx};
use crate::shutdown::ShutdownListener;

/// A request being handled, in arrival order.
struct Pending {
    response: JoinHandle<Option<OutFrame>>,
    /// Holds this request's share of the connection's byte budget until it is answered.
    _budget: OwnedSemaphorePermit,
}

/// Serves one connection until the peer closes it, it misbehaves, or shutdown.
pub async fn serve(
    ctx: Arc<BrokerCtx>,
    stream: TcpStream,
    peer: SocketAddr,
    mut shutdown: ShutdownListener,
) {
    let (read_half, write_half) = stream.into_split();
    let mut frames = FramedRead::new(read_half, FrameCodec::new(ctx.config.max_frame_bytes));
    let (tx, rx) = mpsc::channel::<Pending>(ctx.config.max_inflight);
    let writer = tokio::spawn(write_responses(rx, write_half, peer));
    let budget_bytes = ctx.config.max_connection_buffer_bytes;
    let budget = Arc::new(Semaphore::new(budget_bytes));
    let idle = ctx.config.idle_timeout;
    loop {
        // Cancel-safety: FramedRead::next keeps partial frames in its buffer, so losing
        // the race to shutdown or the timeout loses no bytes we would still use.
        let next = tokio::select! {
            _ = shutdown.recv() => break,
            next = tokio::time::timeout(idle, frames.next()) => next,
        };
        let frame = match next {
            Err(_) => {
                debug!(%peer, ?idle, "closing idle connection");
                break;
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                warn!(%peer, error = %e, "closing connection: unreadable frame");
                ctx.metrics.frame_rejected();
                break;
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Some(pending) = start_request(&ctx, frame, peer, &budget, budget_bytes).await else {
            break;
        };
        if tx.send(pending).await.is_err() {
            break; // the writer failed: the peer is gone
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// Decodes a frame and spawns its handler; `None` closes the connection.
async fn start_request(
    ctx: &Arc<BrokerCtx>,
    frame: Bytes,
    peer: SocketAddr,
    budget: &Arc<Semaphore>,
    budget_bytes: usize,
) -> Option<Pending> {
    let cost = u32::try_from(frame.len().clamp(1, budget_bytes)).unwrap_or(u32::MAX);
    let permit = budget.clone().acquire_many_owned(cost).await.ok()?;
    let request = match handlers::decode(ctx, frame) {
        Ok(request) => request,
        Err(e) => {
            warn!(%peer, error = %e, "closing connection: malformed request");
            ctx.metrics.frame_rejected();
            return None;
        }
    };
    let ctx = ctx.clone();
    let response = tokio::spawn(async move { handlers::handle(&ctx, request, peer).await });
    Some(Pending {
        response,
        _budget: permit,
    })
}

/// Writes responses in request order until the reader stops and everything is answered.
async fn write_responses(
    mut rx: mpsc::Receiver<Pending>,
    mut out: OwnedWriteHalf,
    peer: SocketAddr,
) {
    while let Some(pending) = rx.recv().await {
        let frame = match pending.response.await {
            Ok(Some(frame)) => frame,
            Ok(None) => continue, // acks=0 produce: no response
            Err(e) => {
                warn!(%peer, error = %e, "request handler failed; closing connection");
                break;
            }
        };
        let mut frame = frame;
        if let Err(e) = out.write_all_buf(&mut frame).await {
            debug!(%peer, error = %e, "write failed; closing connection");
            break;
        }
    }
    let _ = out.shutdown().await;
}
