//! The warning for a listener reachable from the network without TLS: anyone who can
//! reach the port reads and writes in plaintext.

use std::net::SocketAddr;

use tracing::warn;

use super::config::Listener;

/// Warns when `addr` is not a loopback address and `listener` serves plaintext (`tls_on`
/// false). Returns whether it warned.
pub fn warn_if_exposed(listener: Listener, addr: SocketAddr, tls_on: bool) -> bool {
    if tls_on || addr.ip().is_loopback() {
        return false;
    }
    let name = match listener {
        Listener::Native => "listen",
        Listener::Kafka => "kafka_listen",
        Listener::Http => "http_listen",
    };
    warn!(
        listener = name,
        %addr,
        "listening on a non-loopback address without TLS: traffic (records, and any credentials) crosses the network in plaintext; turn TLS on with --tls-cert and --tls-key"
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plaintext_beyond_loopback_is_warned_about() {
        let any: SocketAddr = "0.0.0.0:9420".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:9420".parse().unwrap();
        let local6: SocketAddr = "[::1]:9420".parse().unwrap();
        assert!(warn_if_exposed(Listener::Native, any, false));
        assert!(!warn_if_exposed(Listener::Native, any, true));
        assert!(!warn_if_exposed(Listener::Kafka, local, false));
        assert!(!warn_if_exposed(Listener::Http, local6, false));
    }
}
