//! SASL credentials for brokers that require authentication (`rilld --sasl-mechanisms`).

use std::fmt;

use rill_protocol::sasl::{SaslMechanism, PASSWORD_BYTES_MAX, USERNAME_BYTES_MAX};

use crate::error::{ClientError, Result};

/// How to authenticate every new connection: mechanism, user name, password.
/// `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslConfig {
    /// SCRAM-SHA-256, SCRAM-SHA-512 (the password never crosses the wire) or PLAIN
    /// (the password does: use it over TLS).
    pub mechanism: SaslMechanism,
    /// The user.
    pub username: String,
    password: String,
}

impl SaslConfig {
    /// Credentials for `username` with `password`, by `mechanism`.
    pub fn new(
        mechanism: SaslMechanism,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self {
            mechanism,
            username: username.into(),
            password: password.into(),
        }
    }

    /// SCRAM-SHA-256 credentials.
    pub fn scram_sha256(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::new(SaslMechanism::ScramSha256, username, password)
    }

    /// SCRAM-SHA-512 credentials.
    pub fn scram_sha512(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::new(SaslMechanism::ScramSha512, username, password)
    }

    /// PLAIN credentials.
    pub fn plain(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::new(SaslMechanism::Plain, username, password)
    }

    /// The password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// Checks the lengths.
    pub fn validate(&self) -> Result<()> {
        if self.username.is_empty() || self.username.len() > USERNAME_BYTES_MAX {
            return Err(ClientError::config(
                "sasl.username",
                format!("must be 1 to {USERNAME_BYTES_MAX} bytes"),
            ));
        }
        if self.password.is_empty() || self.password.len() > PASSWORD_BYTES_MAX {
            return Err(ClientError::config(
                "sasl.password",
                format!("must be 1 to {PASSWORD_BYTES_MAX} bytes"),
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for SaslConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslConfig")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_password_and_lengths_are_checked() {
        let config = SaslConfig::scram_sha256("alice", "hunter2");
        assert!(!format!("{config:?}").contains("hunter2"));
        assert!(config.validate().is_ok());
        assert!(SaslConfig::plain("", "x").validate().is_err());
        assert!(SaslConfig::plain("a", "").validate().is_err());
    }
}
