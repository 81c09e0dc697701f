//! SASL settings: flags, `RILL_SASL_*` variables and the `[sasl]` table of `rill.toml`.
//!
//! ```toml
//! [sasl]
//! mechanisms = "SCRAM-SHA-256,SCRAM-SHA-512"   # empty (the default): authentication off
//! allow_plain_without_tls = false
//! timeout = "10s"
//! ```

use std::time::Duration;

use rill_protocol::sasl::SaslMechanism;
use serde::Deserialize;

use crate::config::{parse_duration, ConfigError};

/// Default time a connection has to authenticate before it is closed.
pub const SASL_TIMEOUT_MS_DEFAULT: u64 = 10_000;
/// Shortest delay before a failed login is answered.
pub const FAILURE_DELAY_MS_MIN: u64 = 500;
/// Random extra delay on top of [`FAILURE_DELAY_MS_MIN`], at most.
pub const FAILURE_DELAY_JITTER_MS_MAX: u64 = 500;

/// The SASL flags of `rilld`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SaslArgs {
    /// SASL mechanisms clients must authenticate with, comma-separated: SCRAM-SHA-256,
    /// SCRAM-SHA-512, PLAIN. Empty turns authentication off [default: empty].
    #[arg(long, env = "RILL_SASL_MECHANISMS", value_parser = parse_mechanisms)]
    pub sasl_mechanisms: Option<MechanismList>,
    /// Accept PLAIN on connections without TLS (the password then crosses the network
    /// in clear text) [default: false].
    #[arg(long, env = "RILL_SASL_ALLOW_PLAIN_WITHOUT_TLS", num_args = 0..=1, default_missing_value = "true")]
    pub sasl_allow_plain_without_tls: Option<bool>,
    /// Close a connection that has not authenticated within this, e.g. `10s` [default: 10s].
    #[arg(long, env = "RILL_SASL_TIMEOUT", value_parser = parse_duration)]
    pub sasl_timeout: Option<Duration>,
}

/// The `[sasl]` table of the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaslFileConfig {
    mechanisms: Option<String>,
    allow_plain_without_tls: Option<bool>,
    timeout: Option<String>,
}

/// A list of mechanisms (a newtype so clap parses it as one value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MechanismList(pub Vec<SaslMechanism>);

/// The effective SASL settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslConfig {
    /// Mechanisms offered; empty means authentication is off.
    pub mechanisms: Vec<SaslMechanism>,
    /// Whether PLAIN is accepted without TLS.
    pub allow_plain_without_tls: bool,
    /// Time a connection has to authenticate.
    pub timeout: Duration,
}

impl Default for SaslConfig {
    fn default() -> Self {
        Self {
            mechanisms: Vec::new(),
            allow_plain_without_tls: false,
            timeout: Duration::from_millis(SASL_TIMEOUT_MS_DEFAULT),
        }
    }
}

impl SaslConfig {
    /// Whether clients must authenticate.
    pub fn enabled(&self) -> bool {
        !self.mechanisms.is_empty()
    }

    /// The mechanisms' names, as SaslHandshake lists them.
    pub fn mechanism_names(&self) -> Vec<String> {
        self.mechanisms
            .iter()
            .map(|m| m.name().to_string())
            .collect()
    }

    /// Applies the `[sasl]` table.
    pub fn apply_file(&mut self, file: Option<&SaslFileConfig>) -> Result<(), ConfigError> {
        let Some(file) = file else {
            return Ok(());
        };
        if let Some(list) = &file.mechanisms {
            self.mechanisms = parse_mechanisms(list)
                .map_err(|reason| invalid("sasl.mechanisms", list, reason))?
                .0;
        }
        if let Some(allow) = file.allow_plain_without_tls {
            self.allow_plain_without_tls = allow;
        }
        if let Some(timeout) = &file.timeout {
            self.timeout = parse_duration(timeout)
                .map_err(|reason| invalid("sasl.timeout", timeout, reason))?;
        }
        Ok(())
    }

    /// Applies flags and environment variables.
    pub fn apply_args(&mut self, args: &SaslArgs) {
        if let Some(list) = &args.sasl_mechanisms {
            self.mechanisms = list.0.clone();
        }
        if let Some(allow) = args.sasl_allow_plain_without_tls {
            self.allow_plain_without_tls = allow;
        }
        if let Some(timeout) = args.sasl_timeout {
            self.timeout = timeout;
        }
    }

    /// Checks the timeout is usable.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.timeout.is_zero() {
            return Err(invalid("sasl-timeout", "0", "must be above zero"));
        }
        Ok(())
    }
}

fn invalid(key: &str, value: &str, reason: impl ToString) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// Parses `SCRAM-SHA-256,PLAIN` (empty: none); repeats are dropped.
pub fn parse_mechanisms(s: &str) -> Result<MechanismList, String> {
    let mut out = Vec::new();
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let mechanism = name.parse::<SaslMechanism>().map_err(|e| e.to_string())?;
        if !out.contains(&mechanism) {
            out.push(mechanism);
        }
    }
    Ok(MechanismList(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_refuses_unknown_names() {
        assert_eq!(parse_mechanisms("").unwrap().0, vec![]);
        assert_eq!(
            parse_mechanisms("scram-sha-512, PLAIN,PLAIN").unwrap().0,
            vec![SaslMechanism::ScramSha512, SaslMechanism::Plain]
        );
        let err = parse_mechanisms("SCRAM-SHA-1").unwrap_err();
        assert!(err.contains("SCRAM-SHA-256"), "{err}");
    }

    #[test]
    fn file_then_flags() {
        let file: SaslFileConfig =
            toml::from_str("mechanisms = \"PLAIN\"\ntimeout = \"3s\"").unwrap();
        let mut config = SaslConfig::default();
        config.apply_file(Some(&file)).unwrap();
        assert_eq!(config.mechanisms, vec![SaslMechanism::Plain]);
        assert_eq!(config.timeout, Duration::from_secs(3));
        config.apply_args(&SaslArgs {
            sasl_mechanisms: Some(MechanismList(vec![])),
            sasl_allow_plain_without_tls: Some(true),
            sasl_timeout: None,
        });
        assert!(!config.enabled());
        assert!(config.allow_plain_without_tls);
    }
}
