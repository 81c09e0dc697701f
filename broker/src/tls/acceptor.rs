//! [`TlsAcceptor`]: the broker's TLS identity, shared by every listener that uses TLS,
//! and the handshake each accepted connection goes through on its own task.
//!
//! The rustls configuration sits behind a lock that new handshakes read once (a clone
//! of an `Arc`); a reload swaps it, so connections already open keep the session they
//! have and new ones get the new certificate. A reload that cannot read the files keeps
//! the running configuration.
//!
//! A handshake that does not complete within `handshake_timeout` is abandoned and its
//! connection closed; failures and timeouts are counted ([`TlsStats`]) and logged at
//! most once per [`FAILURE_WARNING_INTERVAL`] (a flood must not flood the log).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rustls::ServerConfig;
use tokio::net::TcpStream;
use tracing::{debug, warn};

use super::certs::{server_config, TlsError};
use super::config::{Listener, TlsSettings};
use super::stream::BrokerStream;

/// Failed handshakes are logged as a warning at most this often (the counters in
/// /metrics count every one).
pub const FAILURE_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// Handshake counters since start, read by /metrics.
#[derive(Debug, Default)]
pub struct TlsStats {
    /// Handshakes completed.
    pub handshakes: AtomicU64,
    /// Handshakes that failed (bad certificate, not TLS, connection closed...).
    pub failures: AtomicU64,
    /// Connections closed because their handshake took longer than the timeout.
    pub timeouts: AtomicU64,
    /// Certificate reloads that kept the old certificate because the new files failed.
    pub reload_failures: AtomicU64,
}

/// Why a handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The peer did not finish within the handshake timeout.
    #[error("no TLS handshake within {0:?}")]
    TimedOut(Duration),
    /// The handshake failed (rustls' reason, or the connection's error).
    #[error("TLS handshake failed: {0}")]
    Failed(std::io::Error),
}

/// The broker's TLS identity and policy, and the listeners it applies to.
#[derive(Debug)]
pub struct TlsAcceptor {
    settings: RwLock<TlsSettings>,
    current: RwLock<Arc<ServerConfig>>,
    stats: TlsStats,
    warned_at: Mutex<Option<Instant>>,
}

impl TlsAcceptor {
    /// Reads the certificate files; `Ok(None)` when TLS is off. Blocking.
    pub fn load(settings: &TlsSettings) -> Result<Option<Arc<TlsAcceptor>>, TlsError> {
        if !settings.enabled() {
            return Ok(None);
        }
        let config = server_config(settings)?;
        Ok(Some(Arc::new(TlsAcceptor {
            settings: RwLock::new(settings.clone()),
            current: RwLock::new(config),
            stats: TlsStats::default(),
            warned_at: Mutex::new(None),
        })))
    }

    /// True when `listener` serves TLS.
    pub fn applies_to(&self, listener: Listener) -> bool {
        self.settings().applies_to(listener)
    }

    /// The settings in force.
    pub fn settings(&self) -> TlsSettings {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Handshake counters.
    pub fn stats(&self) -> &TlsStats {
        &self.stats
    }

    /// Re-reads the files `settings` names and, if they are good, serves new handshakes
    /// with them; otherwise keeps the running certificate and says why. Blocking.
    pub fn reload(&self, settings: &TlsSettings) -> Result<(), TlsError> {
        let config = match server_config(settings) {
            Ok(config) => config,
            Err(e) => {
                self.stats.reload_failures.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        };
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = config;
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) = settings.clone();
        Ok(())
    }

    /// Runs the server side of the handshake on `tcp` within the handshake timeout.
    pub async fn accept(
        &self,
        tcp: TcpStream,
        peer: SocketAddr,
    ) -> Result<BrokerStream, HandshakeError> {
        let config = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let timeout = self.settings().handshake_timeout;
        let handshake = tokio_rustls::TlsAcceptor::from(config).accept(tcp);
        let outcome = match tokio::time::timeout(timeout, handshake).await {
            Ok(Ok(tls)) => Ok(BrokerStream::Tls(Box::new(tls))),
            Ok(Err(e)) => Err(HandshakeError::Failed(e)),
            Err(_) => Err(HandshakeError::TimedOut(timeout)),
        };
        self.count(&outcome, peer);
        outcome
    }

    fn count(&self, outcome: &Result<BrokerStream, HandshakeError>, peer: SocketAddr) {
        let error = match outcome {
            Ok(stream) => {
                self.stats.handshakes.fetch_add(1, Ordering::Relaxed);
                debug!(%peer, version = ?stream.tls_version(), client = ?stream.peer_certificate_subject(), "TLS handshake completed");
                return;
            }
            Err(e) => e,
        };
        let counter = match error {
            HandshakeError::TimedOut(_) => &self.stats.timeouts,
            HandshakeError::Failed(_) => &self.stats.failures,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if self.time_to_warn() {
            warn!(%peer, error = %error, failures = self.stats.failures.load(Ordering::Relaxed), timeouts = self.stats.timeouts.load(Ordering::Relaxed), "closing connection: TLS handshake did not complete (counts since start; see rill_tls_handshake_failures_total)");
        } else {
            debug!(%peer, error = %error, "closing connection: TLS handshake did not complete");
        }
    }

    fn time_to_warn(&self) -> bool {
        let mut warned_at = self.warned_at.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if warned_at.is_some_and(|at| now < at + FAILURE_WARNING_INTERVAL) {
            return false;
        }
        *warned_at = Some(now);
        true
    }
}
