//! The network server: listener, connections, request handlers, housekeeping.
//!
//! [`Server::bind`] opens (and recovers) every topic and binds the listener;
//! [`Server::run`] serves until the shutdown signal, then drains in-flight requests and
//! writes every partition's clean-shutdown checkpoint.

pub mod connection;
pub mod handlers;
pub mod housekeeping;
pub mod listener;

use std::net::SocketAddr;
use std::sync::Arc;

use thiserror::Error;
use tokio::net::TcpListener;
use tracing::info;

use crate::config::BrokerConfig;
use crate::group::{GroupConfig, GroupCoordinator, GroupError};
use crate::metrics::Metrics;
use crate::producer_ids::{ProducerIdError, ProducerIds};
use crate::shutdown::{ShutdownListener, ShutdownSignal};
use crate::storage::now_ms;
use crate::topics::{TopicError, TopicRegistry};

/// Why the server could not start or stop cleanly.
#[derive(Debug, Error)]
pub enum ServerError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source} (is another rilld running? pick another port with --listen)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// Topics could not be opened or closed.
    #[error(transparent)]
    Topics(#[from] TopicError),
    /// The group coordinator could not load committed offsets.
    #[error(transparent)]
    Groups(#[from] GroupError),
    /// The producer id allocator could not be opened.
    #[error(transparent)]
    ProducerIds(#[from] ProducerIdError),
    /// A blocking task failed.
    #[error("background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Everything a request handler may touch.
#[derive(Debug)]
pub struct BrokerCtx {
    /// The effective configuration.
    pub config: BrokerConfig,
    /// All topics and their logs.
    pub topics: TopicRegistry,
    /// Consumer groups and their committed offsets.
    pub groups: GroupCoordinator,
    /// Activity counters.
    pub metrics: Metrics,
    /// The address clients reach this broker at (for Metadata).
    pub advertised: SocketAddr,
    /// Issues idempotent producer ids.
    pub producer_ids: ProducerIds,
}

/// A bound, recovered broker ready to serve.
#[derive(Debug)]
pub struct Server {
    ctx: Arc<BrokerCtx>,
    listener: TcpListener,
}

impl Server {
    /// Opens the data directory (recovering every partition) and binds the listener.
    pub async fn bind(config: BrokerConfig) -> Result<Server, ServerError> {
        let data_dir = config.data_dir.clone();
        let defaults = config.topic_defaults.clone();
        let max_batch_bytes = config.max_frame_bytes;
        let (topics, groups) = tokio::task::spawn_blocking(move || {
            let topics = TopicRegistry::open(&data_dir, defaults, max_batch_bytes)?;
            let groups = GroupCoordinator::open(&topics, GroupConfig::default(), now_ms())?;
            Ok::<_, ServerError>((topics, groups))
        })
        .await??;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let advertised = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
        let producer_ids = ProducerIds::open(&config.data_dir)?;
        let ctx = Arc::new(BrokerCtx {
            config,
            topics,
            groups,
            metrics: Metrics::default(),
            advertised,
            producer_ids,
        });
        Ok(Server { ctx, listener })
    }

    /// The address the listener is bound to (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.ctx.advertised
    }

    /// The shared broker state (tests and embedding).
    pub fn ctx(&self) -> Arc<BrokerCtx> {
        self.ctx.clone()
    }

    /// Serves until `shutdown` fires, then drains connections and closes every log cleanly.
    pub async fn run(self, shutdown: ShutdownListener) -> Result<(), ServerError> {
        let Server { ctx, listener } = self;
        info!(
            listen = %ctx.advertised,
            data_dir = %ctx.config.data_dir.display(),
            version = env!("CARGO_PKG_VERSION"),
            topics = ctx.topics.list().len(),
            "rilld ready"
        );
        let housekeeping = tokio::spawn(housekeeping::run(ctx.clone(), shutdown.clone()));
        listener::run(ctx.clone(), listener, shutdown).await;
        let _ = housekeeping.await;
        let closing = ctx.clone();
        tokio::task::spawn_blocking(move || closing.topics.close()).await??;
        info!("clean shutdown complete");
        Ok(())
    }
}

/// Starts a server on a background task (tests and embedding): returns its address, the
/// signal that stops it, and the task that finishes once it has shut down cleanly.
pub async fn spawn(
    config: BrokerConfig,
) -> Result<
    (
        SocketAddr,
        ShutdownSignal,
        tokio::task::JoinHandle<Result<(), ServerError>>,
    ),
    ServerError,
> {
    let server = Server::bind(config).await?;
    let addr = server.local_addr();
    let (signal, listener) = ShutdownSignal::new();
    let task = tokio::spawn(server.run(listener));
    Ok((addr, signal, task))
}
