//! SASL authentication on both listeners, as Kafka does it: SaslHandshake names a
//! mechanism, SaslAuthenticate rounds carry its messages, and until a connection has
//! authenticated it may send nothing but ApiVersions and those two ([`gate`]).
//!
//! - [`config`]: `--sasl-mechanisms`, `--sasl-allow-plain-without-tls`, `--sasl-timeout`.
//! - [`exchange`]: one connection's exchange (the state lives in its `Session`), shared
//!   by the native and Kafka handlers.
//! - [`metrics`]: the `rill_sasl_authentications_total` series (by mechanism and result).

pub mod config;
pub mod exchange;
pub mod gate;
pub mod metrics;

pub use config::{SaslArgs, SaslConfig, SaslFileConfig};
pub use exchange::SaslState;
