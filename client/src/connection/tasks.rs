//! The two tasks that own a connection's socket: the writer and the reader.
//!
//! The writer is the only code that writes the socket, the reader the only code that
//! reads it. They share [`Shared`]: the first failure cause and a cancellation token.
//! Whichever task sees a failure first records it and cancels the other; every waiter
//! then fails because its reply channel is dropped, and reads the cause from `Shared`.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use rill_protocol::frame::{FrameCodec, OutFrame};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use crate::error::{ClientError, Disconnect};

/// Write buffer: small requests coalesce into one syscall; large chunks bypass it.
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

/// State both tasks and every handle see.
#[derive(Debug)]
pub(super) struct Shared {
    /// The broker's address, for errors.
    pub(super) addr: String,
    cancel: CancellationToken,
    cause: Mutex<Option<Disconnect>>,
}

impl Shared {
    pub(super) fn new(addr: String) -> Self {
        Self {
            addr,
            cancel: CancellationToken::new(),
            cause: Mutex::new(None),
        }
    }

    /// Marks the connection dead; the first cause wins.
    pub(super) fn fail(&self, cause: Disconnect) {
        {
            let mut slot = self.cause.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(cause);
            }
        }
        self.cancel.cancel();
    }

    pub(super) fn is_closed(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// The error for a request that could not complete on this connection.
    pub(super) fn lost(&self) -> ClientError {
        let cause = self
            .cause
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or(Disconnect::Closed);
        ClientError::ConnectionLost {
            addr: self.addr.clone(),
            cause,
        }
    }
}

/// How the writer tells the caller its request is done.
#[derive(Debug)]
pub(super) enum Reply {
    /// A response is expected: the reader delivers its payload.
    Response(oneshot::Sender<Bytes>),
    /// No response will come (`acks=0`): signalled once written and flushed.
    Written(oneshot::Sender<()>),
}

/// A request on its way to the writer.
#[derive(Debug)]
pub(super) struct Outgoing {
    pub(super) correlation_id: u32,
    pub(super) frame: OutFrame,
    pub(super) reply: Reply,
    /// The in-flight slot, released when the request is answered (or written, without
    /// a response).
    pub(super) permit: OwnedSemaphorePermit,
}

/// A written request awaiting its response, oldest first.
#[derive(Debug)]
struct Pending {
    correlation_id: u32,
    reply: oneshot::Sender<Bytes>,
    _permit: OwnedSemaphorePermit,
}

/// Starts the writer and reader tasks over a stream's two halves (a TCP socket's own
/// halves, or a TLS session's).
pub(super) fn spawn<R, W>(
    read_half: R,
    write_half: W,
    outgoing: mpsc::Receiver<Outgoing>,
    shared: Arc<Shared>,
    max_frame_bytes: usize,
) where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    let (pending_tx, pending_rx) = mpsc::unbounded_channel();
    let frames = FramedRead::new(read_half, FrameCodec::new(max_frame_bytes));
    tokio::spawn(write_loop(
        outgoing,
        pending_tx,
        BufWriter::with_capacity(WRITE_BUFFER_BYTES, write_half),
        Arc::clone(&shared),
    ));
    tokio::spawn(read_loop(frames, pending_rx, shared));
}

/// Writes queued requests; flushes whenever the queue runs dry. The pending queue is
/// bounded by the in-flight semaphore, so its channel needs no bound of its own.
async fn write_loop<W: AsyncWrite + Unpin>(
    mut outgoing: mpsc::Receiver<Outgoing>,
    pending: mpsc::UnboundedSender<Pending>,
    mut writer: BufWriter<W>,
    shared: Arc<Shared>,
) {
    let cancel = shared.cancel.clone();
    let work = async {
        let mut written = Vec::new();
        while let Some(first) = outgoing.recv().await {
            let mut next = Some(first);
            while let Some(request) = next {
                write_one(request, &pending, &mut writer, &mut written).await?;
                next = outgoing.try_recv().ok();
            }
            writer.flush().await?;
            for done in written.drain(..) {
                let _ = done.send(());
            }
        }
        Ok::<(), std::io::Error>(())
    };
    let cause = tokio::select! {
        // Cancel-safe enough: once cancelled the socket is abandoned mid-write anyway.
        _ = cancel.cancelled() => return,
        result = work => match result {
            Ok(()) => Disconnect::Closed,
            Err(error) => Disconnect::Io(Arc::new(error)),
        },
    };
    shared.fail(cause);
}

async fn write_one<W: AsyncWrite + Unpin>(
    request: Outgoing,
    pending: &mpsc::UnboundedSender<Pending>,
    writer: &mut BufWriter<W>,
    written: &mut Vec<oneshot::Sender<()>>,
) -> std::io::Result<()> {
    let Outgoing {
        correlation_id,
        mut frame,
        reply,
        permit,
    } = request;
    match reply {
        Reply::Response(reply) => {
            // Registered before the bytes leave, so the reader always finds it.
            let entry = Pending {
                correlation_id,
                reply,
                _permit: permit,
            };
            if pending.send(entry).is_err() {
                return Err(std::io::Error::other("connection reader stopped"));
            }
            writer.write_all_buf(&mut frame).await
        }
        Reply::Written(done) => {
            writer.write_all_buf(&mut frame).await?;
            drop(permit);
            written.push(done);
            Ok(())
        }
    }
}

/// Reads responses and hands each to the oldest pending request.
async fn read_loop<R: AsyncRead + Unpin>(
    mut frames: FramedRead<R, FrameCodec>,
    mut pending: mpsc::UnboundedReceiver<Pending>,
    shared: Arc<Shared>,
) {
    let cancel = shared.cancel.clone();
    let cause = loop {
        let frame = tokio::select! {
            _ = cancel.cancelled() => break None,
            // FramedRead::next is cancel-safe: partial frames stay in its buffer.
            frame = frames.next() => frame,
        };
        let payload = match frame {
            None => break Some(Disconnect::Eof),
            Some(Err(error)) => break Some(Disconnect::Frame(Arc::new(error))),
            Some(Ok(payload)) => payload,
        };
        if let Err(cause) = dispatch(payload, &mut pending) {
            break Some(cause);
        }
    };
    if let Some(cause) = cause {
        shared.fail(cause);
    }
    // Dropping the pending entries fails their waiters with the recorded cause.
    pending.close();
    while pending.try_recv().is_ok() {}
}

/// Delivers one response payload to the oldest pending request.
fn dispatch(
    payload: Bytes,
    pending: &mut mpsc::UnboundedReceiver<Pending>,
) -> Result<(), Disconnect> {
    let got = match payload.get(..4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => return Err(Disconnect::ShortResponse { len: payload.len() }),
    };
    let oldest = pending.try_recv().ok();
    match oldest {
        Some(entry) if entry.correlation_id == got => {
            // The caller may have given up (timeout, drop); the response is discarded.
            let _ = entry.reply.send(payload);
            Ok(())
        }
        other => Err(Disconnect::CorrelationMismatch {
            expected: other.map(|entry| entry.correlation_id),
            got,
        }),
    }
}
