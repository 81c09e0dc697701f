//! Test support: a real broker on an ephemeral loopback port with its own temporary
//! data directory, for this crate's and other crates' end-to-end tests.
//!
//! Panics on failure: it is for tests only.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::config::BrokerConfig;
use crate::server::{BrokerCtx, ServerError};
use crate::shutdown::ShutdownSignal;

/// A broker running in this process.
pub struct TestBroker {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// The HTTP endpoint (`/metrics`, `/health`, `/ready`), on an ephemeral port unless a
    /// test turned it off.
    pub http_addr: Option<SocketAddr>,
    /// The Kafka listener, when a test turned it on (`kafka_listen`).
    pub kafka_addr: Option<SocketAddr>,
    /// The broker's shared state.
    pub ctx: Arc<BrokerCtx>,
    /// Stops the broker.
    pub signal: ShutdownSignal,
    /// Finishes when the broker has shut down.
    pub task: JoinHandle<Result<(), ServerError>>,
    /// The data directory.
    pub dir: tempfile::TempDir,
}

impl TestBroker {
    /// Starts a broker with defaults on 127.0.0.1:0 (HTTP on another ephemeral port) in a
    /// fresh data directory.
    pub async fn start() -> TestBroker {
        Self::start_with(|_| {}).await
    }

    /// Starts a broker after `tweak` adjusts its configuration.
    pub async fn start_with(tweak: impl FnOnce(&mut BrokerConfig)) -> TestBroker {
        let dir = tempfile::tempdir().expect("temporary directory");
        Self::start_in(dir, tweak).await
    }

    /// Starts a broker on an existing data directory.
    pub async fn start_in(
        dir: tempfile::TempDir,
        tweak: impl FnOnce(&mut BrokerConfig),
    ) -> TestBroker {
        let mut config = BrokerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: dir.path().to_path_buf(),
            http_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            ..BrokerConfig::default()
        };
        tweak(&mut config);
        let started = crate::server::start(config)
            .await
            .expect("test broker starts");
        TestBroker {
            addr: started.addr,
            http_addr: started.http_addr,
            kafka_addr: started.kafka_addr,
            ctx: started.ctx,
            signal: started.signal,
            task: started.task,
            dir,
        }
    }

    /// Shuts down cleanly and hands back the data directory.
    pub async fn stop(self) -> tempfile::TempDir {
        self.signal.trigger();
        self.task
            .await
            .expect("broker task")
            .expect("clean shutdown");
        self.dir
    }
}
