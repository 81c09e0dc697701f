//! SASL as Kafka speaks it (sans-IO): the mechanisms, SCRAM's messages and key
//! derivation (RFC 5802 / RFC 7677), and PLAIN's single message (RFC 4616).
//!
//! Both sides of the exchange use this module: the broker checks what a client sends,
//! the client library answers the broker's challenges. Nothing here touches a socket
//! or a file; secrets only pass through, and are never formatted into errors.

pub mod mechanism;
pub mod plain;
pub mod scram;
pub mod scram_client;
pub mod scram_messages;

pub use mechanism::{SaslMechanism, ScramMechanism, UnknownMechanism};

/// Longest user name accepted anywhere (credentials, SASL messages, admin requests).
pub const USERNAME_BYTES_MAX: usize = 256;
/// Longest password accepted (PLAIN messages, `rill user create`).
pub const PASSWORD_BYTES_MAX: usize = 1024;
/// Largest SASL token either side accepts in one SaslAuthenticate round.
pub const TOKEN_BYTES_MAX: usize = 4096;
