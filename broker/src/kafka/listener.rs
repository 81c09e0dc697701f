//! The Kafka accept loop: connections bounded by `max_connections` in total and
//! `max_connections_per_ip` per client host (budgets of their own, beside the native
//! listener's), back-off on accept errors, stop on shutdown and wait for open
//! connections to finish the request in hand.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tracing::{debug, error, info, warn};

use super::connection;
use super::KafkaCtx;
use crate::server::slots::{ConnectionSlots, Refused};
use crate::shutdown::ShutdownListener;

/// Longest pause between accept retries after errors (e.g. out of file descriptors).
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Accepts Kafka connections until shutdown.
pub async fn run(ctx: Arc<KafkaCtx>, listener: TcpListener, mut shutdown: ShutdownListener) {
    let max_connections = ctx.broker.config.max_connections;
    let max_per_ip = ctx.broker.config.max_connections_per_ip;
    let slots = ConnectionSlots::new(max_connections, max_per_ip);
    let mut connections = JoinSet::new();
    let mut backoff = Duration::from_millis(5);
    if let Ok(addr) = listener.local_addr() {
        info!(kafka_listen = %addr, advertised = %format!("{}:{}", ctx.advertised.host, ctx.advertised.port), "serving Kafka clients");
    }
    loop {
        let accepted = tokio::select! {
            _ = shutdown.recv() => break,
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(ok) => {
                backoff = Duration::from_millis(5);
                ok
            }
            Err(e) => {
                error!(error = %e, "Kafka accept failed; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                continue;
            }
        };
        let permit = match slots.try_take(peer.ip()) {
            Ok(slot) => slot,
            Err(Refused::Total) => {
                ctx.broker.metrics.connection_refused();
                debug!(%peer, max_connections, "Kafka connection refused: too many open connections");
                continue;
            }
            Err(Refused::PerIp) => {
                ctx.broker.metrics.connection_refused_per_ip();
                debug!(%peer, max_per_ip, "Kafka connection refused: too many open connections from this client IP");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        debug!(%peer, "Kafka connection accepted");
        ctx.broker.metrics.connection_accepted();
        let ctx = ctx.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            connection::serve(ctx.clone(), stream, peer, shutdown).await;
            ctx.broker.metrics.connection_closed();
            drop(permit);
        });
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// Starts the Kafka listener on its own task, advertising `kafka_advertised` or else the
/// address it is bound to.
pub fn spawn(
    broker: Arc<crate::server::BrokerCtx>,
    listener: TcpListener,
    shutdown: ShutdownListener,
) -> tokio::task::JoinHandle<()> {
    let advertised = match (&broker.config.kafka_advertised, listener.local_addr()) {
        (Some(advertised), _) => advertised.clone(),
        (None, Ok(addr)) => {
            if addr.ip().is_unspecified() {
                warn!(%addr, "the Kafka listener is bound to an unspecified address: set --kafka-advertised to a name clients can reach");
            }
            crate::config::HostPort {
                host: addr.ip().to_string(),
                port: addr.port(),
            }
        }
        (None, Err(e)) => {
            error!(error = %e, "cannot read the Kafka listener's address");
            crate::config::HostPort {
                host: "127.0.0.1".into(),
                port: 9092,
            }
        }
    };
    let groups = Arc::new(super::groups::ClassicGroups::default());
    tokio::spawn(super::groups::run_sweeper(groups.clone(), shutdown.clone()));
    let ctx = Arc::new(KafkaCtx {
        broker,
        advertised,
        groups,
        owned: Default::default(),
    });
    tokio::spawn(run(ctx, listener, shutdown))
}
