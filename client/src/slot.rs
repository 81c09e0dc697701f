//! [`ConnectionSlot`]: a connection to one broker that re-establishes itself.
//!
//! A [`crate::connection::Connection`] never recovers once broken; the slot replaces
//! it on the next use. Failed connection attempts back off exponentially
//! (`reconnect_backoff` doubling up to `reconnect_backoff_max`, Kafka's policy), and
//! concurrent users share one attempt instead of each dialling the broker.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::config::ConnectionConfig;
use crate::connection::{ApiCall, Connection};
use crate::error::Result;

#[derive(Debug, Default)]
struct SlotState {
    connection: Option<Arc<Connection>>,
    /// Consecutive failed connection attempts.
    failures: u32,
    /// No new attempt before this instant.
    next_attempt: Option<Instant>,
}

/// A self-healing connection to the broker at one address.
#[derive(Debug)]
pub struct ConnectionSlot {
    config: ConnectionConfig,
    addr: String,
    state: Mutex<SlotState>,
}

impl ConnectionSlot {
    /// A slot for `addr`; nothing is dialled until the first [`ConnectionSlot::get`].
    pub fn new(config: ConnectionConfig, addr: impl Into<String>) -> Self {
        Self {
            config,
            addr: addr.into(),
            state: Mutex::new(SlotState::default()),
        }
    }

    /// The broker address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The live connection, connecting (after any backoff) if there is none.
    ///
    /// Cancel-safe: dropping it abandons at most a connection attempt.
    pub async fn get(&self) -> Result<Arc<Connection>> {
        let mut state = self.state.lock().await;
        if let Some(connection) = state.connection.as_ref().filter(|c| !c.is_closed()) {
            return Ok(Arc::clone(connection));
        }
        state.connection = None;
        if let Some(at) = state.next_attempt {
            tokio::time::sleep_until(at).await;
        }
        match Connection::connect(&self.config, &self.addr).await {
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
                tracing::debug!(addr = %self.addr, ?delay, %error, "connect failed; backing off");
                Err(error)
            }
        }
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

    /// Closes the current connection, if any.
    pub async fn close(&self) {
        if let Some(connection) = self.state.lock().await.connection.take() {
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
        let slot = ConnectionSlot::new(config, addr);
        let err = slot.get().await.unwrap_err();
        assert!(err.is_retriable(), "{err}");
        let started = Instant::now();
        assert!(slot.get().await.is_err());
        assert!(started.elapsed() >= Duration::from_millis(35));
    }
}
