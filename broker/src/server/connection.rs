//! One client connection: three stages joined by bounded channels.
//!
//! - read: decodes frames into requests (a frame that cannot be parsed closes this
//!   connection only; a connection silent for `idle_timeout`, including one stuck
//!   half-way through a frame, is closed);
//! - process: runs requests one at a time in arrival order, as Kafka does, so a
//!   connection's produces are appended in the order they were sent;
//! - write: writes responses in that same order.
//!
//! Pipelining comes from the stages overlapping: while request N runs, N+1 is being read
//! and N-1's response written. Requests waiting are bounded by `max_inflight`. Bytes are
//! bounded by budgets ([`super::budget`]): a request is charged from the moment it is
//! read, its response from the moment it is made until it is written, against this
//! connection's `max_connection_buffer_bytes` and every connection's
//! `max_total_buffer_bytes`. At either limit the connection stops reading requests; a
//! peer that does not read its responses thus stops itself, not the others.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::budget::{ByteBudget, Charge};
use super::frame_reader::FrameReader;
use super::handlers::{self, Incoming, Reply};
use super::read_clock::ReadClock;
use super::BrokerCtx;
use crate::security::sasl::SaslConfig;
use crate::security::Session;
use crate::shutdown::ShutdownListener;
use crate::tls::{BrokerReadHalf, BrokerStream, BrokerWriteHalf};

/// Responses buffered between the process and write stages.
const WRITE_QUEUE_DEPTH: usize = 4;

/// A decoded request with its charge (its frame's bytes). Boxed: a channel allocates
/// slots for its items up front, and an idle connection should not pay for 32 requests.
struct Queued {
    incoming: Box<Incoming>,
    charge: Charge,
}

/// A response ready to write, charged its bytes until it is written.
struct Answered {
    reply: Reply,
    _charge: Charge,
}

/// Serves one connection until the peer closes it, it misbehaves, or shutdown.
pub async fn serve(
    ctx: Arc<BrokerCtx>,
    stream: BrokerStream,
    peer: SocketAddr,
    shutdown: ShutdownListener,
) {
    let session = Session::for_stream(peer, &stream, ctx.config.sasl.enabled());
    let (read_half, write_half) = stream.into_split();
    let (request_tx, request_rx) = mpsc::channel::<Queued>(ctx.config.max_inflight);
    let (response_tx, response_rx) = mpsc::channel::<Answered>(WRITE_QUEUE_DEPTH);
    let writer = tokio::spawn(write_responses(
        response_rx,
        write_half,
        peer,
        ctx.config.idle_timeout,
        ctx.config.frame_timeout,
        shutdown.clone(),
    ));
    let authenticated = Arc::new(AtomicBool::new(false));
    let processor = tokio::spawn(process_requests(
        ctx.clone(),
        request_rx,
        response_tx,
        session,
        authenticated.clone(),
    ));
    let reading = read_requests(&ctx, read_half, request_tx, peer, shutdown);
    // Dropping the reader (on the authentication deadline) drops the request channel:
    // the processor finishes what it has, then the writer.
    tokio::select! {
        () = reading => {}
        () = sasl_deadline(&ctx.config.sasl, &authenticated, peer) => {}
    }
    // The reader has stopped: the processor drains what was read, then the writer.
    let _ = processor.await;
    let _ = writer.await;
}

/// Reads and decodes frames until EOF, an unreadable frame, the idle timeout, shutdown,
/// or the processor going away.
async fn read_requests(
    ctx: &BrokerCtx,
    read_half: BrokerReadHalf,
    requests: mpsc::Sender<Queued>,
    peer: SocketAddr,
    mut shutdown: ShutdownListener,
) {
    // Room for one largest response is kept out of reach of requests (see `budget`).
    let budget = ByteBudget::new(
        ctx.config.max_connection_buffer_bytes,
        ctx.config.max_frame_bytes + rill_protocol::frame::FRAME_PREFIX_BYTES,
    );
    let held = Charge::empty(&budget, &ctx.buffers);
    let mut reader = FrameReader::new(read_half, held, ctx.config.max_frame_bytes);
    let mut clock = ReadClock::new(ctx.config.idle_timeout, ctx.config.frame_timeout);
    loop {
        let (frame, charge) = match reader.next_frame() {
            Ok(Some(framed)) => framed,
            Ok(None) => {
                if !read_more(&mut reader, &mut clock, peer, ctx, &mut shutdown).await {
                    return;
                }
                continue;
            }
            Err(rill_protocol::frame::FrameError::TooLarge { len, .. })
                if crate::tls::looks_like_tls_record(len) =>
            {
                warn!(%peer, "closing connection: the client speaks TLS but this listener is plaintext (start rilld with --tls-cert and --tls-key, or connect without TLS)");
                ctx.metrics.frame_rejected();
                return;
            }
            Err(e) => {
                warn!(%peer, error = %e, "closing connection: unreadable frame");
                ctx.metrics.frame_rejected();
                return;
            }
        };
        clock.frame_arrived(reader.partial());
        let incoming = match handlers::decode(ctx, frame) {
            Ok(incoming) => incoming,
            Err(e) => {
                warn!(%peer, error = %e, "closing connection: malformed request");
                ctx.metrics.frame_rejected();
                return;
            }
        };
        let queued = Queued {
            incoming: Box::new(incoming),
            charge,
        };
        if requests.send(queued).await.is_err() {
            return; // the processor or writer stopped: the peer is gone
        }
    }
}

/// Waits for bytes, makes room for them in the budgets, then reads once; false when the
/// connection is done (EOF, error, a timeout, or shutdown).
async fn read_more(
    reader: &mut FrameReader,
    clock: &mut ReadClock,
    peer: SocketAddr,
    ctx: &BrokerCtx,
    shutdown: &mut ShutdownListener,
) -> bool {
    // Cancel-safety: waiting for readiness consumes nothing.
    let ready = tokio::select! {
        _ = shutdown.recv() => return false,
        ready = tokio::time::timeout_at(clock.deadline(), reader.readable()) => ready,
    };
    match ready {
        Err(_) => {
            debug!(%peer, why = clock.reason(), "closing connection");
            return false;
        }
        Ok(Err(e)) => {
            debug!(%peer, error = %e, "read failed; closing connection");
            return false;
        }
        Ok(Ok(())) => {}
    }
    let want = reader.want();
    // Waits while earlier requests and unwritten responses fill a budget (a peer that
    // does not read); the timeouts do not run meanwhile, since the broker is not reading.
    let waiting_since = tokio::time::Instant::now();
    tokio::select! {
        _ = shutdown.recv() => return false,
        () = reader.make_room(want) => {}
    }
    clock.paused(waiting_since.elapsed());
    let read = reader.try_read(want);
    clock.bytes_read(reader.partial());
    match read {
        Ok(0) => {
            if reader.partial() {
                warn!(%peer, "closing connection: the stream ended inside a frame");
                ctx.metrics.frame_rejected();
            }
            false
        }
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => true,
        Err(e) => {
            debug!(%peer, error = %e, "read failed; closing connection");
            false
        }
    }
}

/// Runs requests one at a time, in order.
async fn process_requests(
    ctx: Arc<BrokerCtx>,
    mut requests: mpsc::Receiver<Queued>,
    responses: mpsc::Sender<Answered>,
    mut session: Session,
    authenticated: Arc<AtomicBool>,
) {
    while let Some(Queued {
        incoming,
        mut charge,
    }) = requests.recv().await
    {
        let reply = handlers::handle(&ctx, *incoming, &mut session, &mut charge).await;
        // From here the charge counts the response, not the request (gone once handled).
        match &reply {
            Reply::Frame(frame) | Reply::Last(frame) => {
                charge.resize(bytes::Buf::remaining(frame)).await
            }
            Reply::Nothing | Reply::Close => charge.shrink_to(0),
        }
        let last = matches!(reply, Reply::Last(_) | Reply::Close);
        authenticated.store(session.is_authenticated(), Ordering::Release);
        let answered = Answered {
            reply,
            _charge: charge,
        };
        if responses.send(answered).await.is_err() || last {
            return;
        }
    }
}

/// Completes when SASL is on and the connection has not authenticated within
/// `--sasl-timeout`; never otherwise.
async fn sasl_deadline(config: &SaslConfig, authenticated: &AtomicBool, peer: SocketAddr) {
    if !config.enabled() {
        return std::future::pending().await;
    }
    tokio::time::sleep(config.timeout).await;
    if authenticated.load(Ordering::Acquire) {
        return std::future::pending().await;
    }
    info!(%peer, timeout_ms = crate::config::duration_ms(config.timeout), "closing connection: not authenticated within --sasl-timeout");
}

/// Writes responses in order until the processor stops. A response the peer does not
/// read within `idle` closes the connection (a client that never reads must not hold its
/// connection slot and buffers forever); after shutdown, each write gets `grace` (the
/// frame timeout) to finish.
async fn write_responses(
    mut responses: mpsc::Receiver<Answered>,
    mut out: BrokerWriteHalf,
    peer: SocketAddr,
    idle: std::time::Duration,
    grace: std::time::Duration,
    mut shutdown: ShutdownListener,
) {
    while let Some(answered) = responses.recv().await {
        let (mut frame, last) = match answered.reply {
            Reply::Frame(frame) => (frame, false),
            Reply::Last(frame) => (frame, true),
            Reply::Nothing => continue, // acks=0 produce: no response is due
            Reply::Close => break,
        };
        let write = tokio::time::timeout(idle, out.write_all_buf(&mut frame));
        tokio::pin!(write);
        let written = tokio::select! {
            written = &mut write => written,
            () = shutdown.recv() => tokio::time::timeout(grace, &mut write)
                .await
                .unwrap_or(Ok(Err(std::io::ErrorKind::TimedOut.into()))),
        };
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                debug!(%peer, error = %e, "write failed; closing connection");
                break;
            }
            Err(_) => {
                debug!(%peer, "closing connection: the client read no response within the idle timeout");
                break;
            }
        }
        if last {
            break;
        }
    }
    let _ = out.shutdown().await;
}
