//! What a connection may do before it authenticates, and where PLAIN is accepted.

use super::SaslConfig;
use crate::security::Session;

/// Whether `session` may send a request that is not ApiVersions, SaslHandshake or
/// SaslAuthenticate: always when authentication is off, else once authenticated.
pub fn admits(config: &SaslConfig, session: &Session) -> bool {
    !config.enabled() || session.is_authenticated()
}

/// Whether PLAIN may be used on `session`'s connection: over TLS, or anywhere when
/// `--sasl-allow-plain-without-tls` is set. The one place this is decided.
pub fn plain_allowed(config: &SaslConfig, session: &Session) -> bool {
    session.is_over_tls() || config.allow_plain_without_tls
}
