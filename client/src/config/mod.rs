//! Client configuration: one builder per role, Kafka's defaults and names where they
//! exist, every limit with its unit in the name.
//!
//! - [`ConnectionConfig`]: what every role shares (bootstrap address, timeouts,
//!   requests in flight, reconnect backoff). [`crate::Admin`] uses it alone.
//! - [`ProducerConfig`] / [`ProducerConfigBuilder`]: batching, acks, retries, memory.
//! - [`ConsumerConfig`] / [`ConsumerConfigBuilder`]: fetch sizes, waits, offset reset.
//!
//! `build()` validates and returns [`ClientError::InvalidConfig`] naming the field.

mod bootstrap;
mod consumer;
mod producer;
mod sasl;
mod tls;

use std::time::Duration;

pub use bootstrap::BootstrapServers;
pub use consumer::{AutoOffsetReset, ConsumerConfig, ConsumerConfigBuilder, IsolationLevel};
pub use producer::{Acks, ProducerConfig, ProducerConfigBuilder};
pub use rill_protocol::batch::Compression;
pub use rill_protocol::sasl::SaslMechanism;
pub use sasl::SaslConfig;
pub use tls::{TlsConfig, TlsConfigBuilder};

use crate::error::{ClientError, Result};

/// Default time to establish a TCP connection and finish the ApiVersions handshake.
pub const CONNECT_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);
/// Default time a request may wait for its response (Kafka's `request.timeout.ms`).
pub const REQUEST_TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);
/// Default requests in flight per connection (Kafka's
/// `max.in.flight.requests.per.connection`).
pub const MAX_IN_FLIGHT_DEFAULT: usize = 5;
/// Default first reconnect backoff (Kafka's `reconnect.backoff.ms`).
pub const RECONNECT_BACKOFF_DEFAULT: Duration = Duration::from_millis(50);
/// Default cap on the exponential reconnect backoff (Kafka's `reconnect.backoff.max.ms`).
pub const RECONNECT_BACKOFF_MAX_DEFAULT: Duration = Duration::from_secs(1);
/// Default client id sent in every request header.
pub const CLIENT_ID_DEFAULT: &str = "rill-client";

/// Settings shared by producers, consumers and admin clients.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionConfig {
    /// `host:port` of the brokers to bootstrap from, comma-separated; tried in order.
    pub bootstrap: BootstrapServers,
    /// Name sent in request headers, for the broker's logs.
    pub client_id: String,
    /// Limit on connecting plus the ApiVersions handshake.
    pub connect_timeout: Duration,
    /// Limit on each request's round trip.
    pub request_timeout: Duration,
    /// Requests in flight on one connection; more wait for a slot.
    pub max_in_flight: usize,
    /// First delay before reconnecting after a failure; doubles per failure.
    pub reconnect_backoff: Duration,
    /// Cap on the reconnect delay.
    pub reconnect_backoff_max: Duration,
    /// Largest frame accepted from or sent to the broker.
    pub max_frame_bytes: usize,
    /// TLS to the brokers; `None` (the default) speaks plaintext.
    pub tls: Option<TlsConfig>,
    /// SASL credentials every new connection authenticates with; `None`: no SASL.
    pub sasl: Option<SaslConfig>,
}

impl ConnectionConfig {
    /// Defaults for the brokers at `bootstrap`: `"host:port"`, `"a:9420,b:9420"` or a
    /// list of addresses.
    pub fn new(bootstrap: impl Into<BootstrapServers>) -> Self {
        Self {
            bootstrap: bootstrap.into(),
            client_id: CLIENT_ID_DEFAULT.to_owned(),
            connect_timeout: CONNECT_TIMEOUT_DEFAULT,
            request_timeout: REQUEST_TIMEOUT_DEFAULT,
            max_in_flight: MAX_IN_FLIGHT_DEFAULT,
            reconnect_backoff: RECONNECT_BACKOFF_DEFAULT,
            reconnect_backoff_max: RECONNECT_BACKOFF_MAX_DEFAULT,
            max_frame_bytes: rill_protocol::frame::MAX_FRAME_BYTES_DEFAULT,
            tls: None,
            sasl: None,
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        if self.bootstrap.addresses().is_empty() {
            return Err(ClientError::config(
                "bootstrap",
                "must name at least one host:port (several: comma-separated)",
            ));
        }
        if self.max_in_flight == 0 {
            return Err(ClientError::config("max_in_flight", "must be at least 1"));
        }
        if self.connect_timeout.is_zero() || self.request_timeout.is_zero() {
            return Err(ClientError::config("timeout", "timeouts must be positive"));
        }
        if self.reconnect_backoff > self.reconnect_backoff_max {
            return Err(ClientError::config(
                "reconnect_backoff",
                "must not exceed reconnect_backoff_max",
            ));
        }
        if self.max_frame_bytes < 1024 {
            return Err(ClientError::config(
                "max_frame_bytes",
                "must be at least 1 KiB",
            ));
        }
        self.sasl.as_ref().map_or(Ok(()), SaslConfig::validate)
    }
}

/// Builder methods for the [`ConnectionConfig`] inside each role's builder.
macro_rules! connection_setters {
    ($($path:ident).+) => {
        /// Authenticates every connection with these SASL credentials.
        pub fn sasl(mut self, sasl: $crate::config::SaslConfig) -> Self {
            self.$($path).+.sasl = Some(sasl);
            self
        }

        /// Sets the client id sent in request headers.
        pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
            self.$($path).+.client_id = client_id.into();
            self
        }

        /// Sets the limit on connecting plus the handshake.
        pub fn connect_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.$($path).+.connect_timeout = timeout;
            self
        }

        /// Sets the limit on each request's round trip.
        pub fn request_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.$($path).+.request_timeout = timeout;
            self
        }

        /// Sets the number of requests in flight per connection.
        pub fn max_in_flight(mut self, requests: usize) -> Self {
            self.$($path).+.max_in_flight = requests;
            self
        }

        /// Sets the first and the largest reconnect backoff.
        pub fn reconnect_backoff(
            mut self,
            first: std::time::Duration,
            max: std::time::Duration,
        ) -> Self {
            self.$($path).+.reconnect_backoff = first;
            self.$($path).+.reconnect_backoff_max = max;
            self
        }

        /// Speaks TLS to the brokers (see [`crate::TlsConfig`]); `None` for plaintext.
        pub fn tls(mut self, tls: impl Into<Option<crate::TlsConfig>>) -> Self {
            self.$($path).+.tls = tls.into();
            self
        }

        /// Sets the largest frame accepted or sent.
        pub fn max_frame_bytes(mut self, bytes: usize) -> Self {
            self.$($path).+.max_frame_bytes = bytes;
            self
        }
    };
}
pub(crate) use connection_setters;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_defaults_validate() {
        let c = ConnectionConfig::new("127.0.0.1:9420");
        assert!(c.validate().is_ok());
        let mut bad = c.clone();
        bad.max_in_flight = 0;
        assert!(matches!(
            bad.validate(),
            Err(ClientError::InvalidConfig {
                field: "max_in_flight",
                ..
            })
        ));
        let mut bad = c;
        bad.bootstrap = " ".into();
        assert!(bad.validate().is_err());
    }
}
