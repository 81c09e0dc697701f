//! The TLS flags every subcommand takes (`--tls`, `--tls-ca`, `--tls-cert`,
//! `--tls-key`, `--tls-server-name`) and the client TLS configuration built from them
//! once, before the subcommand runs, so a bad file is reported before any connection.
//!
//! The environment variables are `RILL_TLS`, `RILL_TLS_CA`, `RILL_TLS_CLIENT_CERT`,
//! `RILL_TLS_CLIENT_KEY` and `RILL_TLS_SERVER_NAME`: not `RILL_TLS_CERT`/`RILL_TLS_KEY`,
//! which name the broker's own certificate for `rilld`, so a shell set up for the broker
//! does not hand its key to the command line.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rill_client::TlsConfig;

/// TLS to the broker.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "TLS")]
pub struct TlsArgs {
    /// Connect with TLS, trusting the system's CA certificates (implied by --tls-ca).
    #[arg(long, global = true, env = "RILL_TLS")]
    pub tls: bool,
    /// Connect with TLS, trusting the CA certificates in this PEM file.
    #[arg(long, global = true, value_name = "FILE", env = "RILL_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for brokers that ask for one (mTLS); needs --tls-key.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "RILL_TLS_CLIENT_CERT",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "RILL_TLS_CLIENT_KEY",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Name the broker's certificate must hold, when it is not the host of --broker.
    #[arg(long, global = true, value_name = "NAME", env = "RILL_TLS_SERVER_NAME")]
    pub tls_server_name: Option<String>,
    /// The configuration built by [`TlsArgs::load`].
    #[arg(skip)]
    built: Option<TlsConfig>,
}

impl TlsArgs {
    /// True when any TLS flag asks for TLS.
    pub fn wanted(&self) -> bool {
        self.tls
            || self.tls_ca.is_some()
            || self.tls_cert.is_some()
            || self.tls_server_name.is_some()
    }

    /// Reads the files the flags name (once); a bad file is an error naming it.
    pub fn load(&mut self) -> anyhow::Result<()> {
        if !self.wanted() {
            return Ok(());
        }
        let mut builder = TlsConfig::builder();
        if let Some(ca) = &self.tls_ca {
            builder = builder.ca_file(ca);
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            builder = builder.client_cert(cert, key);
        }
        if let Some(name) = &self.tls_server_name {
            builder = builder.server_name(name);
        }
        self.built = Some(builder.build().context("cannot set up TLS")?);
        Ok(())
    }

    /// The client TLS configuration, when TLS is wanted and loaded.
    pub fn config(&self) -> Option<TlsConfig> {
        self.built.clone()
    }
}
