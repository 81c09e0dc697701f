//! TLS on the broker's listeners (native, Kafka, HTTP), with rustls and the `ring`
//! provider: TLS 1.3 and 1.2 only, optional client-certificate verification (mTLS).
//!
//! - [`config`]: the `--tls-*` settings and which listeners they apply to.
//! - [`certs`]: PEM files to a rustls `ServerConfig`.
//! - [`acceptor`]: the shared, reloadable identity and the timed handshake.
//! - [`stream`]: the plain-or-TLS stream handed to the connection code.
//! - [`exposure`]: the warning for plaintext beyond loopback.
//! - [`subject`]: a client certificate's subject in RFC 4514 form (the mTLS principal).
//!
//! The handshake runs on the connection's own task ([`accept`]), never on the accept
//! loop, so a client that never sends a ClientHello holds only its own slot until the
//! handshake timeout.

pub mod acceptor;
pub mod certs;
pub mod config;
pub mod exposure;
pub mod stream;
pub mod subject;

use std::net::SocketAddr;
use std::sync::Arc;

pub use acceptor::{HandshakeError, TlsAcceptor};
pub use certs::TlsError;
pub use config::{ClientAuth, Listener, TlsSettings};
pub use rill_protocol::tls_sniff::looks_like_tls_record;
pub use stream::{BrokerReadHalf, BrokerStream, BrokerWriteHalf};
use tokio::net::TcpStream;

/// Turns an accepted TCP connection into the stream its listener serves: plaintext as
/// is, or TLS after the handshake (`None` when the handshake did not complete; it was
/// counted and logged).
pub async fn accept(
    tls: Option<&Arc<TlsAcceptor>>,
    tcp: TcpStream,
    peer: SocketAddr,
) -> Option<BrokerStream> {
    match tls {
        None => Some(BrokerStream::Plain(tcp)),
        Some(tls) => tls.accept(tcp, peer).await.ok(),
    }
}
