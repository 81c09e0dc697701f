//! The accept loop of both listeners (native and Kafka): bounds connections in total and
//! per client IP ([`slots`], one budget shared by the two), backs off on accept errors,
//! and stops accepting on shutdown.
//!
//! The connection limit is kept inside the open-file limit ([`connections_that_fit`]);
//! the limits in force are logged when the listener starts. On a TLS listener each
//! connection's handshake runs on that connection's task ([`crate::tls::accept`]), under
//! the handshake timeout, before the protocol sees the stream.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tracing::{debug, error, info, warn};

use super::connection;
use super::slots::{ConnectionSlots, Refused};
use super::BrokerCtx;
use crate::fd_limit::connections_that_fit;
use crate::shutdown::ShutdownListener;
use crate::tls::{BrokerStream, Listener, TlsAcceptor};

/// Longest pause between accept retries after errors (e.g. out of file descriptors).
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Refused connections are logged as a warning at most this often (the counters in
/// /metrics count every one).
const REFUSED_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// The connection slots both listeners share: `max_connections` (kept inside the
/// open-file limit, logged) in total, `max_connections_per_ip` per client host.
pub async fn connection_slots(ctx: &BrokerCtx) -> (Arc<ConnectionSlots>, usize) {
    let max_connections = connection_limit(ctx).await;
    let slots = ConnectionSlots::new(max_connections, ctx.config.max_connections_per_ip);
    (slots, max_connections)
}

/// Accepts native-protocol connections until shutdown, then waits for every connection
/// to finish its in-flight requests.
pub async fn run(
    ctx: Arc<BrokerCtx>,
    listener: TcpListener,
    slots: Arc<ConnectionSlots>,
    max_connections: usize,
    shutdown: ShutdownListener,
) {
    let serving = ctx.clone();
    let tls = ctx.tls_for(Listener::Native);
    accept_loop(
        &ctx,
        listener,
        slots,
        max_connections,
        tls,
        shutdown,
        move |stream, peer, shutdown| connection::serve(serving.clone(), stream, peer, shutdown),
    )
    .await;
}

/// The accept loop of every listener: takes a slot per connection (refusals counted and
/// warned about at most once per interval), backs off on accept errors, runs the TLS
/// handshake (when `tls` is given) and then `serve` on its own task per connection, and
/// after shutdown waits for those tasks to end.
pub async fn accept_loop<S, F>(
    ctx: &Arc<BrokerCtx>,
    listener: TcpListener,
    slots: Arc<ConnectionSlots>,
    max_connections: usize,
    tls: Option<Arc<TlsAcceptor>>,
    mut shutdown: ShutdownListener,
    serve: S,
) where
    S: Fn(BrokerStream, SocketAddr, ShutdownListener) -> F + Clone + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let mut connections = JoinSet::new();
    let mut backoff = Duration::from_millis(5);
    let mut warned_at: Option<tokio::time::Instant> = None;
    loop {
        let accepted = tokio::select! {
            _ = shutdown.recv() => break,
            accepted = listener.accept() => accepted,
            // Reap finished connection tasks so the set stays small.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(ok) => {
                backoff = Duration::from_millis(5);
                ok
            }
            Err(e) => {
                error!(error = %e, "accept failed; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                continue;
            }
        };
        let slot = match slots.try_take(peer.ip()) {
            Ok(slot) => slot,
            Err(why) => {
                refuse(ctx, peer, why, max_connections);
                warn_refused(ctx, &mut warned_at, max_connections);
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        debug!(%peer, "connection accepted");
        ctx.metrics.connection_accepted();
        let metrics = ctx.metrics.clone();
        let (serve, tls, shutdown) = (serve.clone(), tls.clone(), shutdown.clone());
        connections.spawn(async move {
            serve_accepted(stream, peer, tls, shutdown, serve).await;
            metrics.connection_closed();
            drop(slot);
        });
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// Runs the TLS handshake if the listener has one (unless shutdown comes first), then
/// serves the connection.
async fn serve_accepted<S, F>(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<Arc<TlsAcceptor>>,
    mut shutdown: ShutdownListener,
    serve: S,
) where
    S: Fn(BrokerStream, SocketAddr, ShutdownListener) -> F,
    F: Future<Output = ()>,
{
    let accepted = tokio::select! {
        accepted = crate::tls::accept(tls.as_ref(), stream, peer) => accepted,
        () = shutdown.recv() => None,
    };
    if let Some(stream) = accepted {
        serve(stream, peer, shutdown).await;
    }
}

/// Counts and logs a refused connection (at debug level: a flood must not flood the log
/// too; the counters say how many).
fn refuse(ctx: &BrokerCtx, peer: SocketAddr, why: Refused, max_connections: usize) {
    match why {
        Refused::Total => {
            ctx.metrics.connection_refused();
            debug!(%peer, max_connections, "connection refused: too many open connections");
        }
        Refused::PerIp => {
            ctx.metrics.connection_refused_per_ip();
            debug!(
                %peer,
                max_connections_per_ip = ctx.config.max_connections_per_ip,
                "connection refused: too many open connections from this client IP"
            );
        }
    }
}

/// Warns that connections are being refused, at most once per interval.
fn warn_refused(
    ctx: &BrokerCtx,
    warned_at: &mut Option<tokio::time::Instant>,
    max_connections: usize,
) {
    let now = tokio::time::Instant::now();
    if warned_at.is_some_and(|at| now < at + REFUSED_WARNING_INTERVAL) {
        return;
    }
    *warned_at = Some(now);
    let counts = ctx.metrics.snapshot();
    warn!(
        max_connections,
        max_connections_per_ip = ctx.config.max_connections_per_ip,
        refused_at_max_connections = counts.connections_refused,
        refused_per_ip = counts.connections_refused_per_ip,
        "refusing connections at the connection limits (counts since start; see rill_connections_refused_total)"
    );
}

/// The connection limit in force: `max_connections`, lowered if the open-file limit has
/// no room for it. Says which at start, and how to raise it when it was lowered.
async fn connection_limit(ctx: &BrokerCtx) -> usize {
    let configured = ctx.config.max_connections;
    let per_ip = ctx.config.max_connections_per_ip;
    let fit = tokio::task::spawn_blocking(move || connections_that_fit(configured))
        .await
        .ok()
        .flatten();
    let Some(fit) = fit else {
        warn!(
            max_connections = configured,
            "cannot read the open-file limit; a connection flood may run the broker out of file descriptors"
        );
        return configured;
    };
    if fit.lowered(configured) {
        warn!(
            max_connections = fit.max_connections,
            configured,
            open_files_limit = fit.open_files_limit,
            open_files = fit.open_files,
            "the open-file limit leaves room for fewer connections than max_connections: serving at most {} (raise the hard limit with `ulimit -Hn` or systemd LimitNOFILE=)",
            fit.max_connections
        );
    } else {
        info!(
            max_connections = configured,
            max_connections_per_ip = per_ip,
            open_files_limit = fit.open_files_limit,
            open_files = fit.open_files,
            "connection limits"
        );
    }
    fit.max_connections
}
