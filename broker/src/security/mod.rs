//! Who is on the other end of a connection, and what they may do.
//!
//! [`Session`] is one connection's security state (its peer and its [`Principal`]),
//! created when the connection is accepted and handed to every request handler.

pub mod acl;
pub mod authorizer;
pub mod bootstrap;
pub mod credentials;
pub mod principal;
pub mod sasl;
pub mod scram;
pub mod session;

pub use authorizer::{Access, Authorizer};
pub use principal::{Principal, PrincipalParseError};
pub use session::Session;
