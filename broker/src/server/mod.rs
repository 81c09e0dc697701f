//! The network server: listener, connections, request handlers, housekeeping.
//!
//! [`Server::bind`] opens (and recovers) every topic and binds the listener;
//! [`Server::run`] serves until the shutdown signal, then drains in-flight requests and
//! writes every partition's clean-shutdown checkpoint. [`start`] does both after bringing
//! up the HTTP endpoint ([`http`]), so `/ready` answers 503 during recovery.

pub mod budget;
pub mod connection;
pub mod frame_reader;
pub mod handlers;
pub mod housekeeping;
pub mod http;
pub mod listener;
pub mod read_clock;
pub mod slots;

use std::net::SocketAddr;
use std::sync::Arc;

use thiserror::Error;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::config::BrokerConfig;
use crate::group::{GroupCoordinator, GroupError};
use crate::metrics::Metrics;
use crate::producer_ids::{ProducerIdError, ProducerIds};
use crate::shutdown::{ShutdownListener, ShutdownSignal};
use crate::storage::now_ms;
use crate::tls::Listener;
use crate::topics::{TopicError, TopicRegistry};
use http::{HttpEndpoint, Telemetry};

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
    /// The Kafka-protocol address could not be bound.
    #[error("cannot serve Kafka clients on {addr}: {source} (is a Kafka broker or another rilld on that port? pick another with --kafka-listen)")]
    KafkaBind {
        /// The address.
        addr: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// The HTTP (metrics) address could not be bound.
    #[error("cannot serve HTTP on {addr}: {source} (pick another port with --http-listen, or turn it off with --http-listen none)")]
    HttpBind {
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
    /// Another broker uses the data directory, or it cannot be locked.
    #[error(transparent)]
    DataDirLock(#[from] crate::data_dir_lock::DataDirLockError),
    /// The producer id allocator could not be opened.
    #[error(transparent)]
    ProducerIds(#[from] ProducerIdError),
    /// The TLS certificate, key or client CA could not be loaded.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The users' credentials could not be loaded.
    #[error(transparent)]
    Credentials(#[from] crate::security::credentials::StoreError),
    /// The ACLs could not be read.
    #[error(transparent)]
    Acls(#[from] crate::security::acl::AclStoreError),
    /// A blocking task failed.
    #[error("background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The broker could not join its cluster.
    #[error("cannot join the cluster: {0}")]
    Cluster(#[from] crate::cluster::ClusterError),
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
    pub metrics: Arc<Metrics>,
    /// The address clients reach this broker at (for Metadata).
    pub advertised: SocketAddr,
    /// Issues idempotent producer ids.
    pub producer_ids: ProducerIds,
    /// Bytes every connection together holds in requests not yet handled and responses
    /// not yet written (`max_total_buffer_bytes`).
    pub buffers: Arc<budget::ByteBudget>,
    /// The TLS identity of the listeners that use TLS; `None` when TLS is off.
    pub tls: Option<Arc<crate::tls::TlsAcceptor>>,
    /// Users' SCRAM credentials (SASL logins are checked against them).
    pub credentials: Arc<crate::security::credentials::CredentialStore>,
    /// ACLs and who may do what.
    pub authorizer: Arc<crate::security::Authorizer>,
    /// The cluster this broker belongs to; `None` for a single broker, whose code paths
    /// never look further.
    pub cluster: Option<crate::cluster::Cluster>,
    /// The metadata image the local topics last caught up with (clustered brokers).
    pub reconciled: crate::cluster::reconcile::Reconciled,
    /// Partition leadership as the hot paths read it (clustered brokers).
    pub routing: Option<crate::cluster::routing::RoutingCache>,
    /// The replica manager of partitions with several replicas (issue #16); set once at
    /// startup on clustered brokers, never on a single broker.
    pub replicator: std::sync::OnceLock<Arc<dyn crate::replication::Replicator>>,
}

impl BrokerCtx {
    /// The replica manager when `topic`/`partition` is replicated by a Raft group here.
    pub fn replicated(
        &self,
        topic: &str,
        partition: i32,
    ) -> Option<&Arc<dyn crate::replication::Replicator>> {
        self.replicator
            .get()
            .filter(|r| r.is_replicated(topic, partition))
    }

    /// The `host:port` native clients are told to dial: `--advertised` if set, else the
    /// address the listener is bound to.
    pub fn native_advertised(&self) -> (String, u16) {
        native_advertised(&self.config, self.advertised)
    }

    /// The topics the group coordinator assigns and commits against: the image's in a
    /// cluster, the local registry's on a single broker.
    pub fn group_topics(&self) -> crate::cluster::topic_view::GroupTopics<'_> {
        let image = self.cluster.as_ref().map(|c| c.image());
        let node_id = self.cluster.as_ref().map(|c| c.node_id());
        crate::cluster::topic_view::GroupTopics::new(image, node_id, &self.topics)
    }

    /// This broker's node id on the wire: its `--node-id` in a cluster, else 0.
    pub fn node_id(&self) -> i32 {
        self.cluster
            .as_ref()
            .map_or(handlers::metadata::NODE_ID, |c| {
                crate::cluster::routing::wire_id(c.node_id())
            })
    }

    /// The TLS acceptor of `listener`, or `None` when it serves plaintext.
    pub fn tls_for(&self, listener: crate::tls::Listener) -> Option<Arc<crate::tls::TlsAcceptor>> {
        self.tls.clone().filter(|tls| tls.applies_to(listener))
    }
}

/// A bound, recovered broker ready to serve.
#[derive(Debug)]
pub struct Server {
    ctx: Arc<BrokerCtx>,
    listener: TcpListener,
    telemetry: Arc<Telemetry>,
    /// The Kafka-protocol listener, when `kafka_listen` is set.
    kafka: Option<TcpListener>,
    /// The member of the metadata quorum this broker runs, when clustered.
    raft: Option<RaftMember>,
    /// This broker's hold on its data directory, released when the server is dropped.
    _data_dir_lock: crate::data_dir_lock::DataDirLock,
}

/// A running [`crate::cluster::raft::RaftNode`] (which has no `Debug` of its own).
struct RaftMember(crate::cluster::raft::RaftNode);

impl std::fmt::Debug for RaftMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RaftMember").finish()
    }
}

impl Server {
    /// Opens the data directory (recovering every partition) and binds the listener.
    pub async fn bind(config: BrokerConfig) -> Result<Server, ServerError> {
        Server::bind_observed(config, Telemetry::new()).await
    }

    /// [`Server::bind`], reporting to `telemetry` (whose HTTP endpoint may already serve).
    pub async fn bind_observed(
        config: BrokerConfig,
        telemetry: Arc<Telemetry>,
    ) -> Result<Server, ServerError> {
        let tls = load_tls(&config).await?;
        Server::bind_with(config, telemetry, tls, None).await
    }

    /// [`Server::bind_observed`] with the TLS identity already loaded.
    async fn bind_with(
        config: BrokerConfig,
        telemetry: Arc<Telemetry>,
        tls: Option<Arc<crate::tls::TlsAcceptor>>,
        given_cluster: Option<crate::cluster::Cluster>,
    ) -> Result<Server, ServerError> {
        let data_dir = config.data_dir.clone();
        let defaults = config.topic_defaults.clone();
        let max_batch_bytes = config.max_batch_bytes();
        let max_partitions = config.max_partitions;
        let group_config = config.groups.clone();
        let authorization = config.authorization.clone();
        let authorization_on = authorization.enabled(config.authentication_required());
        let (data_dir_lock, topics, groups, credentials, authorizer) =
            tokio::task::spawn_blocking(move || {
                let data_dir_lock = crate::data_dir_lock::DataDirLock::acquire(&data_dir)?;
                let topics = TopicRegistry::open(&data_dir, defaults, max_batch_bytes)?;
                topics.set_max_partitions(max_partitions);
                let groups = GroupCoordinator::open(&topics, group_config, now_ms())?;
                // A stop between deleting a topic and its committed offsets leaves offsets
                // that a re-created topic of that name must not inherit.
                groups.forget_missing_topics(&topics, now_ms())?;
                let credentials = crate::security::credentials::CredentialStore::open(&data_dir)?;
                let authorizer =
                    crate::security::Authorizer::open(&authorization, authorization_on, &data_dir)?;
                let authorizer = Arc::new(authorizer);
                Ok::<_, ServerError>((data_dir_lock, topics, groups, credentials, authorizer))
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
        let kafka = match config.kafka_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServerError::KafkaBind { addr, source })?,
            ),
            None => None,
        };
        let kafka_addr = kafka.as_ref().and_then(|l| l.local_addr().ok());
        let (cluster, raft) = match given_cluster {
            Some(cluster) => (Some(cluster), None),
            None => join_cluster(&config, advertised, kafka_addr).await?,
        };
        let producer_ids = ProducerIds::open(&config.data_dir)?;
        let buffers = budget::ByteBudget::new(
            config.max_total_buffer_bytes,
            config.max_frame_bytes + rill_protocol::frame::FRAME_PREFIX_BYTES,
        );
        let ctx = Arc::new(BrokerCtx {
            config,
            topics,
            groups,
            metrics: telemetry.metrics(),
            advertised,
            producer_ids,
            buffers,
            tls,
            credentials: Arc::new(credentials),
            authorizer,
            routing: cluster
                .as_ref()
                .map(crate::cluster::routing::RoutingCache::new),
            cluster,
            reconciled: Default::default(),
            replicator: std::sync::OnceLock::new(),
        });
        telemetry.attach(ctx.clone());
        if ctx.cluster.is_some() {
            crate::replication::offsets::ReplicatedOffsets::install(&ctx);
        }
        Ok(Server {
            ctx,
            listener,
            telemetry,
            kafka,
            raft,
            _data_dir_lock: data_dir_lock,
        })
    }

    /// The address the listener is bound to (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.ctx.advertised
    }

    /// The Kafka listener's address, when it is on.
    pub fn kafka_addr(&self) -> Option<SocketAddr> {
        self.kafka.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The shared broker state (tests and embedding).
    pub fn ctx(&self) -> Arc<BrokerCtx> {
        self.ctx.clone()
    }

    /// Serves until `shutdown` fires, then drains connections and closes every log cleanly.
    pub async fn run(self, shutdown: ShutdownListener) -> Result<(), ServerError> {
        let Server {
            ctx,
            listener,
            telemetry,
            kafka,
            raft,
            _data_dir_lock: data_dir_lock,
        } = self;
        info!(
            listen = %ctx.advertised,
            data_dir = %ctx.config.data_dir.display(),
            version = env!("CARGO_PKG_VERSION"),
            topics = ctx.topics.list().len(),
            authorization = ctx.authorizer.is_enabled(),
            acls = ctx.authorizer.store().snapshot().len(),
            "rilld ready"
        );
        warn_if_exposed(&ctx, kafka.as_ref().and_then(|l| l.local_addr().ok()));
        let housekeeping = tokio::spawn(housekeeping::run(ctx.clone(), shutdown.clone()));
        let cluster_tasks = crate::cluster::tasks::spawn(&ctx, &shutdown);
        // One budget of connections for both protocols (they share the open-file limit).
        let (slots, max_connections) = listener::connection_slots(&ctx).await;
        let kafka = kafka.map(|l| {
            let (slots, shutdown) = (slots.clone(), shutdown.clone());
            crate::kafka::listener::spawn(ctx.clone(), l, slots, max_connections, shutdown)
        });
        telemetry.set_ready(true);
        listener::run(ctx.clone(), listener, slots, max_connections, shutdown).await;
        if let Some(kafka) = kafka {
            let _ = kafka.await;
        }
        telemetry.set_ready(false);
        let _ = housekeeping.await;
        for task in cluster_tasks {
            let _ = task.await;
        }
        if let Some(RaftMember(raft)) = raft {
            raft.shutdown().await;
        }
        let closing = ctx.clone();
        tokio::task::spawn_blocking(move || closing.topics.close()).await??;
        // Held until every log is closed: another broker may open the directory now.
        drop(data_dir_lock);
        info!("clean shutdown complete");
        Ok(())
    }
}

/// `--advertised` if set, else `bound`.
fn native_advertised(config: &BrokerConfig, bound: SocketAddr) -> (String, u16) {
    match &config.advertised {
        Some(a) => (a.host.clone(), a.port),
        None => (bound.ip().to_string(), bound.port()),
    }
}

/// Starts this broker's member of the metadata quorum when `config.cluster` says so,
/// registering the addresses its listeners are bound to.
async fn join_cluster(
    config: &BrokerConfig,
    advertised: SocketAddr,
    kafka_addr: Option<SocketAddr>,
) -> Result<(Option<crate::cluster::Cluster>, Option<RaftMember>), ServerError> {
    let Some(cluster_config) = config.cluster.clone() else {
        return Ok((None, None));
    };
    let inter_broker = cluster_config
        .me()
        .map(|m| m.addr.clone())
        .unwrap_or_default();
    let kafka = match (&config.kafka_advertised, kafka_addr) {
        (Some(a), _) => Some((a.host.clone(), a.port)),
        (None, Some(addr)) => Some((addr.ip().to_string(), addr.port())),
        (None, None) => None,
    };
    let (host, port) = native_advertised(config, advertised);
    let registration = crate::cluster::BrokerRegistration {
        node_id: cluster_config.node_id,
        host,
        port,
        kafka,
        inter_broker,
        rack: cluster_config.rack.clone(),
        incarnation: rand_incarnation(),
    };
    if advertised.ip().is_unspecified() && config.advertised.is_none() {
        warn!(%advertised, "the listener is bound to an unspecified address, which other brokers and clients cannot dial: bind --listen to this broker's own address, or name it with --advertised, in a cluster");
    }
    info!(
        node_id = cluster_config.node_id,
        members = cluster_config.members.len(),
        "joining the cluster"
    );
    let node =
        crate::cluster::raft::RaftNode::start(cluster_config, &config.data_dir, registration)
            .await?;
    Ok((Some(node.cluster()), Some(RaftMember(node))))
}

/// Warns about each protocol listener that is reachable beyond loopback in plaintext,
/// and once when such a listener lets clients in without authentication.
fn warn_if_exposed(ctx: &BrokerCtx, kafka_addr: Option<SocketAddr>) {
    let native = ctx.tls_for(Listener::Native).is_some();
    crate::tls::exposure::warn_if_exposed(Listener::Native, ctx.advertised, native);
    if let Some(addr) = kafka_addr {
        let kafka = ctx.tls_for(Listener::Kafka).is_some();
        crate::tls::exposure::warn_if_exposed(Listener::Kafka, addr, kafka);
    }
    let exposed = std::iter::once(ctx.advertised)
        .chain(kafka_addr)
        .find(|addr| !addr.ip().is_loopback());
    if let Some(addr) = exposed {
        if !ctx.config.authentication_required() {
            warn!(
                %addr,
                "listening on a non-loopback address without authentication: anyone who reaches the port may create, delete and read every topic and group; require logins with --sasl-mechanisms (or --tls-client-auth required) and --super-users"
            );
        }
    }
}

/// Reads the TLS certificate files (off the async workers); `None` when TLS is off.
async fn load_tls(
    config: &BrokerConfig,
) -> Result<Option<Arc<crate::tls::TlsAcceptor>>, ServerError> {
    let settings = config.tls.clone();
    let tls =
        tokio::task::spawn_blocking(move || crate::tls::TlsAcceptor::load(&settings)).await??;
    if let Some(tls) = &tls {
        let settings = tls.settings();
        info!(
            listeners = ?settings.listeners,
            client_auth = ?settings.client_auth(),
            handshake_timeout = ?settings.handshake_timeout,
            "TLS on"
        );
    }
    Ok(tls)
}

/// A broker started by [`start`].
#[derive(Debug)]
pub struct Started {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// The HTTP endpoint's address, unless it is off.
    pub http_addr: Option<SocketAddr>,
    /// The Kafka listener's address, when it is on.
    pub kafka_addr: Option<SocketAddr>,
    /// The shared broker state (for config reloads).
    pub ctx: Arc<BrokerCtx>,
    /// Stops the broker and its HTTP endpoint.
    pub signal: ShutdownSignal,
    /// Finishes once both have shut down.
    pub task: tokio::task::JoinHandle<Result<(), ServerError>>,
}

/// Brings the HTTP endpoint up (when `config.http_listen` is set), then opens and
/// recovers the topics, binds the protocol listener and serves on a background task.
pub async fn start(config: BrokerConfig) -> Result<Started, ServerError> {
    start_with(config, None).await
}

/// [`start`] as a member of `cluster` instead of the quorum `config.cluster` names
/// (tests of the cluster paths over an in-memory quorum, and embedding).
pub async fn start_in_cluster(
    config: BrokerConfig,
    cluster: crate::cluster::Cluster,
) -> Result<Started, ServerError> {
    start_with(config, Some(cluster)).await
}

async fn start_with(
    config: BrokerConfig,
    given_cluster: Option<crate::cluster::Cluster>,
) -> Result<Started, ServerError> {
    let (signal, shutdown) = ShutdownSignal::new();
    let telemetry = Telemetry::new();
    // Loaded before anything else: a bad certificate stops the start at once.
    let tls = load_tls(&config).await?;
    let http_tls = tls.clone().filter(|tls| tls.applies_to(Listener::Http));
    let http = match config.http_listen {
        Some(addr) => Some(HttpEndpoint::bind(addr).await?),
        None => None,
    };
    let http_addr = http.as_ref().map(HttpEndpoint::local_addr);
    if let Some(addr) = http_addr {
        crate::tls::exposure::warn_if_exposed(Listener::Http, addr, http_tls.is_some());
    }
    let http_task = http.map(|endpoint| {
        info!(http_addr = %endpoint.local_addr(), "serving /metrics, /health and /ready");
        tokio::spawn(endpoint.serve(telemetry.clone(), http_tls, signal.subscribe()))
    });
    let server = match Server::bind_with(config, telemetry, tls, given_cluster).await {
        Ok(server) => server,
        Err(e) => {
            signal.trigger();
            return Err(e);
        }
    };
    let addr = server.local_addr();
    let kafka_addr = server.kafka_addr();
    let ctx = server.ctx();
    let task = tokio::spawn(async move {
        let outcome = server.run(shutdown).await;
        if let Some(http) = http_task {
            let _ = http.await;
        }
        outcome
    });
    Ok(Started {
        addr,
        http_addr,
        kafka_addr,
        ctx,
        signal,
        task,
    })
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
    let started = start(config).await?;
    Ok((started.addr, started.signal, started.task))
}

/// A random, non-zero incarnation number for this process's broker registration.
fn rand_incarnation() -> u64 {
    (uuid::Uuid::new_v4().as_u128() as u64).max(1)
}
