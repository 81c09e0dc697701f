//! One connection's security state.

use std::net::SocketAddr;

use super::sasl::SaslState;
use super::Principal;

/// Who is on the other end of one connection: its address and its principal.
///
/// A connection starts as `User:ANONYMOUS`, not authenticated; authentication
/// (SASL, or a client certificate) replaces the principal once.
#[derive(Debug, Clone)]
pub struct Session {
    peer: SocketAddr,
    principal: Principal,
    authenticated: bool,
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
            sasl: SaslState::Start,
        }
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
