//! The Kafka listener: the native listener's accept loop ([`accept_loop`]) with the same
//! connection slots, so `max_connections` and `max_connections_per_ip` bound the two
//! protocols' connections together; each connection is served by [`connection::serve`].

use std::sync::Arc;

use tokio::net::TcpListener;
use tracing::{error, info, warn};

use super::connection;
use super::KafkaCtx;
use crate::server::listener::accept_loop;
use crate::server::slots::ConnectionSlots;
use crate::shutdown::ShutdownListener;

/// Accepts Kafka connections until shutdown, through the native listener's accept loop
/// and connection slots.
async fn run(
    ctx: Arc<KafkaCtx>,
    listener: TcpListener,
    slots: Arc<ConnectionSlots>,
    max_connections: usize,
    shutdown: ShutdownListener,
) {
    if let Ok(addr) = listener.local_addr() {
        info!(kafka_listen = %addr, advertised = %format!("{}:{}", ctx.advertised.host, ctx.advertised.port), "serving Kafka clients");
    }
    let broker = ctx.broker.clone();
    let tls = broker.tls_for(crate::tls::Listener::Kafka);
    accept_loop(
        &broker,
        listener,
        slots,
        max_connections,
        tls,
        shutdown,
        move |stream, peer, shutdown| connection::serve(ctx.clone(), stream, peer, shutdown),
    )
    .await;
}

/// Starts the Kafka listener on its own task, advertising `kafka_advertised` or else the
/// address it is bound to.
pub fn spawn(
    broker: Arc<crate::server::BrokerCtx>,
    listener: TcpListener,
    slots: Arc<ConnectionSlots>,
    max_connections: usize,
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
    tokio::spawn(run(ctx, listener, slots, max_connections, shutdown))
}
