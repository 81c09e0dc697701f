//! TLS settings of the broker: flags (`--tls-*`), `RILL_TLS_*` variables and the
//! `[tls]` table of `rill.toml`, with the same precedence as every other setting.
//!
//! TLS is on when a certificate and a key are given; it then applies to the listeners
//! named in `listeners` (all of them by default). The settings describe a server
//! identity and a client-certificate policy, not a listener, so a later inter-broker
//! listener can use the same [`TlsSettings`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{parse_duration, ConfigError};

/// Default time a client has to complete the TLS handshake after connecting.
pub const TLS_HANDSHAKE_TIMEOUT_MS_DEFAULT: u64 = 10_000;

/// Whether and how client certificates are asked for (mTLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// No client certificate is asked for.
    #[default]
    None,
    /// A client certificate is asked for and verified if sent; clients without one are
    /// served too.
    Requested,
    /// Every client must present a certificate signed by `--tls-client-ca`.
    Required,
}

/// A listener TLS may apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Listener {
    /// Rill's own protocol (`listen`).
    Native,
    /// Kafka's protocol (`kafka_listen`).
    Kafka,
    /// The HTTP endpoint (`http_listen`: /metrics, /health, /ready).
    Http,
}

impl Listener {
    /// Every listener, the default of `listeners`.
    pub const ALL: [Listener; 3] = [Listener::Native, Listener::Kafka, Listener::Http];
}

/// The TLS flags of `rilld` (flattened into [`crate::config::Args`]).
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "TLS")]
pub struct TlsArgs {
    /// Server certificate chain (PEM, leaf first); with --tls-key turns TLS on. Reloaded
    /// on SIGHUP [default: off].
    #[arg(long, value_name = "FILE", env = "RILL_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// Private key of the server certificate (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", env = "RILL_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// CA certificates (PEM) that client certificates must chain to (mTLS).
    #[arg(long, value_name = "FILE", env = "RILL_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// Client certificates: none, requested (verified if sent) or required
    /// [default: none; requested when --tls-client-ca is given].
    #[arg(long, env = "RILL_TLS_CLIENT_AUTH", value_enum)]
    pub tls_client_auth: Option<ClientAuth>,
    /// Close a connection that has not completed the TLS handshake within this, e.g.
    /// `10s` [default: 10s].
    #[arg(long, value_name = "DURATION", env = "RILL_TLS_HANDSHAKE_TIMEOUT", value_parser = parse_duration)]
    pub tls_handshake_timeout: Option<Duration>,
    /// Listeners that use TLS, comma-separated: native, kafka, http (e.g. `native,kafka`
    /// leaves /metrics in plaintext) [default: native,kafka,http].
    #[arg(long, env = "RILL_TLS_LISTENERS", value_enum, value_delimiter = ',')]
    pub tls_listeners: Option<Vec<Listener>>,
}

/// The `[tls]` table of `rill.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFileConfig {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
    client_auth: Option<ClientAuth>,
    handshake_timeout: Option<String>,
    listeners: Option<Vec<Listener>>,
}

/// The effective TLS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// Server certificate chain file (PEM); TLS is off without it.
    pub cert: Option<PathBuf>,
    /// Server private key file (PEM).
    pub key: Option<PathBuf>,
    /// CA file client certificates are verified against.
    pub client_ca: Option<PathBuf>,
    /// Whether client certificates are asked for; `None`: `requested` with a client CA,
    /// else `none`.
    pub client_auth: Option<ClientAuth>,
    /// Longest a handshake may take.
    pub handshake_timeout: Duration,
    /// The listeners TLS applies to.
    pub listeners: Vec<Listener>,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            cert: None,
            key: None,
            client_ca: None,
            client_auth: None,
            handshake_timeout: Duration::from_millis(TLS_HANDSHAKE_TIMEOUT_MS_DEFAULT),
            listeners: Listener::ALL.to_vec(),
        }
    }
}

impl TlsSettings {
    /// True when a certificate is configured (TLS serves on `listeners`).
    pub fn enabled(&self) -> bool {
        self.cert.is_some()
    }

    /// True when TLS is on and applies to `listener`.
    pub fn applies_to(&self, listener: Listener) -> bool {
        self.enabled() && self.listeners.contains(&listener)
    }

    /// The client-certificate policy in force.
    pub fn client_auth(&self) -> ClientAuth {
        match (self.client_auth, &self.client_ca) {
            (Some(auth), _) => auth,
            (None, Some(_)) => ClientAuth::Requested,
            (None, None) => ClientAuth::None,
        }
    }

    /// Applies the `[tls]` table of the config file.
    pub fn apply_file(&mut self, file: Option<&TlsFileConfig>) -> Result<(), ConfigError> {
        let Some(file) = file else {
            return Ok(());
        };
        replace(&mut self.cert, &file.cert);
        replace(&mut self.key, &file.key);
        replace(&mut self.client_ca, &file.client_ca);
        if file.client_auth.is_some() {
            self.client_auth = file.client_auth;
        }
        if let Some(s) = &file.handshake_timeout {
            self.handshake_timeout =
                parse_duration(s).map_err(|e| invalid("tls.handshake_timeout", s, e))?;
        }
        if let Some(listeners) = &file.listeners {
            self.listeners.clone_from(listeners);
        }
        Ok(())
    }

    /// Applies flags and `RILL_TLS_*` variables (they win over the file).
    pub fn apply_args(&mut self, args: &TlsArgs) {
        replace(&mut self.cert, &args.tls_cert);
        replace(&mut self.key, &args.tls_key);
        replace(&mut self.client_ca, &args.tls_client_ca);
        if args.tls_client_auth.is_some() {
            self.client_auth = args.tls_client_auth;
        }
        if let Some(timeout) = args.tls_handshake_timeout {
            self.handshake_timeout = timeout;
        }
        if let Some(listeners) = &args.tls_listeners {
            self.listeners.clone_from(listeners);
        }
    }

    /// Checks that the settings fit together (the files themselves are read when the
    /// broker starts, and again on SIGHUP).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        match (&self.cert, &self.key) {
            (Some(_), None) => {
                return Err(invalid(
                    "tls_cert",
                    &path(&self.cert).unwrap_or_default(),
                    "a certificate needs its private key: give --tls-key too",
                ))
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "tls_key",
                    &path(&self.key).unwrap_or_default(),
                    "a key needs its certificate: give --tls-cert too",
                ))
            }
            _ => {}
        }
        if !self.enabled() && (self.client_ca.is_some() || self.client_auth.is_some()) {
            return Err(invalid(
                "tls_client_auth",
                &format!("{:?}", self.client_auth()),
                "client certificates need TLS: give --tls-cert and --tls-key",
            ));
        }
        if self.client_auth() != ClientAuth::None && self.client_ca.is_none() {
            return Err(invalid(
                "tls_client_auth",
                &format!("{:?}", self.client_auth()).to_lowercase(),
                "verifying client certificates needs --tls-client-ca (the CA that signs them)",
            ));
        }
        if self.handshake_timeout.is_zero() {
            return Err(invalid(
                "tls_handshake_timeout",
                "0s",
                "must be longer than zero, e.g. 10s",
            ));
        }
        Ok(())
    }
}

fn replace<T: Clone>(slot: &mut Option<T>, value: &Option<T>) {
    if value.is_some() {
        slot.clone_from(value);
    }
}

fn invalid(key: &str, value: &str, reason: impl ToString) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enabled() -> TlsSettings {
        TlsSettings {
            cert: Some("cert.pem".into()),
            key: Some("key.pem".into()),
            ..TlsSettings::default()
        }
    }

    #[test]
    fn off_by_default_and_on_every_listener_once_a_cert_is_given() {
        let off = TlsSettings::default();
        assert!(!off.enabled() && !off.applies_to(Listener::Native));
        assert!(off.validate().is_ok());
        let on = enabled();
        assert!(Listener::ALL.iter().all(|&l| on.applies_to(l)));
        let plain_http = TlsSettings {
            listeners: vec![Listener::Native, Listener::Kafka],
            ..enabled()
        };
        assert!(!plain_http.applies_to(Listener::Http));
    }

    #[test]
    fn half_configured_or_inconsistent_settings_are_refused() {
        let no_key = TlsSettings {
            key: None,
            ..enabled()
        };
        assert!(no_key
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--tls-key"));
        let required_without_ca = TlsSettings {
            client_auth: Some(ClientAuth::Required),
            ..enabled()
        };
        let err = required_without_ca.validate().unwrap_err().to_string();
        assert!(err.contains("--tls-client-ca"), "{err}");
        let ca_without_tls = TlsSettings {
            client_ca: Some("ca.pem".into()),
            ..TlsSettings::default()
        };
        assert!(ca_without_tls.validate().is_err());
        let with_ca = TlsSettings {
            client_ca: Some("ca.pem".into()),
            ..enabled()
        };
        assert_eq!(with_ca.client_auth(), ClientAuth::Requested);
        assert!(with_ca.validate().is_ok());
    }

    #[test]
    fn flags_win_over_the_file() {
        let file: TlsFileConfig = toml::from_str(
            "cert = \"f.pem\"\nkey = \"k.pem\"\nhandshake_timeout = \"3s\"\nlisteners = [\"native\"]\nclient_auth = \"none\"",
        )
        .unwrap();
        let mut settings = TlsSettings::default();
        settings.apply_file(Some(&file)).unwrap();
        assert_eq!(settings.handshake_timeout, Duration::from_secs(3));
        assert_eq!(settings.listeners, vec![Listener::Native]);
        let args = TlsArgs {
            tls_cert: Some("flag.pem".into()),
            tls_listeners: Some(vec![Listener::Http]),
            ..TlsArgs::default()
        };
        settings.apply_args(&args);
        assert_eq!(settings.cert, Some(PathBuf::from("flag.pem")));
        assert_eq!(settings.key, Some(PathBuf::from("k.pem")));
        assert_eq!(settings.listeners, vec![Listener::Http]);
    }
}
