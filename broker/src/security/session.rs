//! One connection's security state.

use std::net::SocketAddr;

use super::sasl::SaslState;
use super::Principal;
use crate::tls::BrokerStream;

/// Who is on the other end of one connection: its address and its principal.
///
/// A connection starts as `User:ANONYMOUS`, not authenticated; authentication
/// (SASL, or a client certificate) replaces the principal once.
#[derive(Debug, Clone)]
pub struct Session {
    peer: SocketAddr,
    principal: Principal,
    authenticated: bool,
    /// Whether the connection is TLS (PLAIN is accepted only over TLS by default).
    over_tls: bool,
    /// Where this connection's SASL exchange stands.
    pub(crate) sasl: SaslState,
}

impl Session {
    /// A new connection from `peer`, not authenticated.
    pub fn new(peer: SocketAddr) -> Self {
        Self {
            peer,
            principal: Principal::anonymous(),
            authenticated: false,
            over_tls: false,
            sasl: SaslState::Start,
        }
    }

    /// A new connection from `peer` over `stream`. A verified client certificate makes
    /// the connection `User:<subject DN>` (Kafka's mTLS principal) unless `sasl_enabled`:
    /// with SASL on, the principal comes from the SASL login, as on Kafka's SASL_SSL.
    pub fn for_stream(peer: SocketAddr, stream: &BrokerStream, sasl_enabled: bool) -> Self {
        let mut session = Self::new(peer);
        session.over_tls = stream.is_tls();
        if !sasl_enabled {
            if let Some(subject) = stream.peer_certificate_subject() {
                session.authenticated_as(Principal::user(subject));
            }
        }
        session
    }

    /// Whether the connection is TLS.
    pub fn is_over_tls(&self) -> bool {
        self.over_tls
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The principal requests run as.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Whether the connection has authenticated.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Records a successful authentication as `principal`.
    pub fn authenticated_as(&mut self, principal: Principal) {
        self.principal = principal;
        self.authenticated = true;
    }
}
