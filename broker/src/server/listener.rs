//! The accept loop: bounds connections with a semaphore, backs off on accept errors, and
//! stops accepting on shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{debug, error, warn};

use super::connection;
use super::BrokerCtx;
use crate::shutdown::ShutdownListener;

/// Longest pause between accept retries after errors (e.g. out of file descriptors).
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Accepts connections until shutdown, then waits for every connection to finish its
/// in-flight requests.
pub async fn run(ctx: Arc<BrokerCtx>, listener: TcpListener, mut shutdown: ShutdownListener) {
    let slots = Arc::new(Semaphore::new(ctx.config.max_connections));
    let mut connections = JoinSet::new();
    let mut backoff = Duration::from_millis(5);
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
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            ctx.metrics.connection_refused();
            warn!(%peer, max_connections = ctx.config.max_connections, "connection refused: too many open connections");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        debug!(%peer, "connection accepted");
        ctx.metrics.connection_accepted();
        let ctx = ctx.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            connection::serve(ctx.clone(), stream, peer, shutdown).await;
            ctx.metrics.connection_closed();
            drop(permit);
        });
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}
