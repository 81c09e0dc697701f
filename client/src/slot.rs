//! [`ConnectionSlot`]: a connection to the cluster that re-establishes itself.
//!
//! A [`crate::connection::Connection`] never recovers once broken; the slot replaces
//! it on the next use. It dials the bootstrap addresses in order, starting from the
//! one that worked last, and moves to the next at once when one cannot be reached; only
//! when every address failed does it back off exponentially (`reconnect_backoff`
//! doubling up to `reconnect_backoff_max`, Kafka's policy). Concurrent users share one
//! attempt instead of each dialling the broker. Once [`ConnectionSlot::close`]d it
//! stays closed: every later use fails with [`ClientError::Closed`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::config::ConnectionConfig;
use crate::connection::{ApiCall, Connection};
use crate::error::{ClientError, Result};

#[derive(Debug, Default)]
struct SlotState {
    connection: Option<Arc<Connection>>,
    /// Consecutive failed connection attempts.
    failures: u32,
    /// No new attempt before this instant.
    next_attempt: Option<Instant>,
    /// Closed by its owner: no more connections.
    closed: bool,
}

/// A self-healing connection to the first reachable bootstrap address.
#[derive(Debug)]
pub struct ConnectionSlot {
    config: ConnectionConfig,
    /// The bootstrap addresses, in the order given (never empty).
    addrs: Vec<String>,
    /// Index in `addrs` of the address in use (or to dial next).
    current: AtomicUsize,
    /// The handle owning the slot (`"producer"`...), named by [`ClientError::Closed`].
    handle: &'static str,
    state: Mutex<SlotState>,
}

impl ConnectionSlot {
    /// A slot for `config.bootstrap`, owned by `handle` (`"producer"`, `"consumer"`,
    /// `"admin client"`); nothing is dialled until the first [`ConnectionSlot::get`].
    pub fn new(config: ConnectionConfig, handle: &'static str) -> Self {
        let mut addrs = config.bootstrap.addresses();
        if addrs.is_empty() {
            // `validate` refuses this; dialling the raw text gives a clear error anyway.
            addrs.push(config.bootstrap.as_str().to_owned());
        }
        Self {
            config,
            addrs,
            current: AtomicUsize::new(0),
            handle,
            state: Mutex::new(SlotState::default()),
        }
    }

    /// The broker address in use (or to be dialled next).
    pub fn addr(&self) -> &str {
        let index = self.current.load(Ordering::Relaxed) % self.addrs.len();
        &self.addrs[index]
    }

    /// The live connection, connecting (after any backoff) if there is none.
    ///
    /// Cancel-safe: dropping it abandons at most a connection attempt.
    pub async fn get(&self) -> Result<Arc<Connection>> {
        let mut state = self.state.lock().await;
        if state.closed {
            return Err(ClientError::Closed {
                handle: self.handle,
            });
        }
        if let Some(connection) = state.connection.as_ref().filter(|c| !c.is_closed()) {
            return Ok(Arc::clone(connection));
        }
        state.connection = None;
        if let Some(at) = state.next_attempt {
            tokio::time::sleep_until(at).await;
        }
        match self.connect_any().await {
            Ok(connection) => {
                let connection = Arc::new(connection);
                state.connection = Some(Arc::clone(&connection));
                state.failures = 0;
                state.next_attempt = None;
                Ok(connection)
            }
            Err(error) => {
                state.failures = state.failures.saturating_add(1);
                let delay = backoff(&self.config, state.failures);
                state.next_attempt = Some(Instant::now() + delay);
                tracing::debug!(addrs = ?self.addrs, ?delay, %error, "connect failed; backing off");
                Err(error)
            }
        }
    }

    /// Dials each address once, starting from the current one; the first that answers
    /// becomes current. Fails with the last address's error when none does.
    async fn connect_any(&self) -> Result<Connection> {
        let start = self.current.load(Ordering::Relaxed);
        let mut last_error = None;
        for step in 0..self.addrs.len() {
            let index = (start + step) % self.addrs.len();
            match Connection::connect(&self.config, &self.addrs[index]).await {
                Ok(connection) => {
                    self.current.store(index, Ordering::Relaxed);
                    return Ok(connection);
                }
                Err(error) => {
                    tracing::debug!(addr = %self.addrs[index], %error, "bootstrap address unreachable");
                    last_error = Some(error);
                }
            }
        }
        self.current
            .store((start + 1) % self.addrs.len(), Ordering::Relaxed);
        Err(last_error.unwrap_or(ClientError::Closed {
            handle: self.handle,
        }))
    }

    /// Sends `request` on the live connection (connecting first if needed).
    pub async fn call<R: ApiCall>(&self, request: &R) -> Result<R::Response> {
        self.get().await?.call(request).await
    }

    /// Like [`ConnectionSlot::call`] with an explicit request timeout.
    pub async fn call_with_timeout<R: ApiCall>(
        &self,
        request: &R,
        timeout: Duration,
    ) -> Result<R::Response> {
        self.get().await?.call_with_timeout(request, timeout).await
    }

    /// Closes the current connection, if any, for good: later calls fail with
    /// [`ClientError::Closed`]. Idempotent.
    pub async fn close(&self) {
        let mut state = self.state.lock().await;
        state.closed = true;
        if let Some(connection) = state.connection.take() {
            connection.close();
        }
    }
}

/// The delay after `failures` consecutive failed attempts.
fn backoff(config: &ConnectionConfig, failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    config
        .reconnect_backoff
        .saturating_mul(1u32 << exponent)
        .min(config.reconnect_backoff_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_max() {
        let mut config = ConnectionConfig::new("h:1");
        config.reconnect_backoff = Duration::from_millis(50);
        config.reconnect_backoff_max = Duration::from_millis(300);
        let delays: Vec<u128> = (1..=6).map(|f| backoff(&config, f).as_millis()).collect();
        assert_eq!(delays, vec![50, 100, 200, 300, 300, 300]);
    }

    #[tokio::test]
    async fn refused_then_backoff() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let mut config = ConnectionConfig::new(addr.clone());
        config.reconnect_backoff = Duration::from_millis(40);
        let slot = ConnectionSlot::new(config, "test");
        let err = slot.get().await.unwrap_err();
        assert!(err.is_retriable(), "{err}");
        let started = Instant::now();
        assert!(slot.get().await.is_err());
        assert!(started.elapsed() >= Duration::from_millis(35));
    }
}
