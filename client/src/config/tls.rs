//! [`TlsConfig`]: how a client speaks TLS to the brokers: which CAs it trusts (a PEM
//! file, or the system's roots), an optional client certificate for mTLS, and the
//! name the broker's certificate must hold (by default the host of the address dialled).
//!
//! The files are read once, by [`TlsConfigBuilder::build`]; every connection of a
//! producer, consumer or admin client shares the result.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use crate::error::{ClientError, Result};

/// TLS settings shared by every connection of a client. Cheap to clone.
#[derive(Clone)]
pub struct TlsConfig {
    rustls: Arc<ClientConfig>,
    server_name: Option<String>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("server_name", &self.server_name)
            .field(
                "client_certificate",
                &self.rustls.client_auth_cert_resolver.has_certs(),
            )
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// A builder: system roots, no client certificate, the dialled host as server name.
    pub fn builder() -> TlsConfigBuilder {
        TlsConfigBuilder::default()
    }

    /// The rustls configuration connections use.
    pub fn rustls(&self) -> Arc<ClientConfig> {
        Arc::clone(&self.rustls)
    }

    /// The name the broker's certificate must hold, if set instead of the dialled host.
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// Runs the client side of the TLS handshake over `tcp` to the broker at `addr`
    /// (`host:port`), for code that speaks the protocol without a [`crate::Admin`],
    /// producer or consumer; the error says what failed, as connections' errors do.
    pub async fn handshake(
        &self,
        tcp: tokio::net::TcpStream,
        addr: &str,
    ) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        crate::connection::tls_handshake(self, tcp, addr).await
    }
}

/// Builds a [`TlsConfig`]; [`TlsConfigBuilder::build`] reads the files.
#[derive(Debug, Clone, Default)]
pub struct TlsConfigBuilder {
    ca_file: Option<PathBuf>,
    client_cert: Option<(PathBuf, PathBuf)>,
    server_name: Option<String>,
}

impl TlsConfigBuilder {
    /// Trusts the CA certificates in this PEM file instead of the system's roots.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Presents this certificate chain (PEM, leaf first) and key (PEM) to brokers that
    /// ask for a client certificate (mTLS).
    pub fn client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_cert = Some((cert.into(), key.into()));
        self
    }

    /// Checks the broker's certificate against this name (a DNS name or an IP address)
    /// instead of the host of the address dialled.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Reads the files and builds the configuration; the error names the bad file.
    pub fn build(self) -> Result<TlsConfig> {
        if let Some(name) = &self.server_name {
            rustls::pki_types::ServerName::try_from(name.as_str()).map_err(|_| {
                ClientError::config(
                    "tls_server_name",
                    format!("`{name}` is neither a DNS name nor an IP address"),
                )
            })?;
        }
        let roots = match &self.ca_file {
            Some(path) => roots_from_file(path)?,
            None => system_roots()?,
        };
        let builder = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| ClientError::config("tls", e.to_string()))?
            .with_root_certificates(roots);
        let config = match &self.client_cert {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = read_certificates(cert, "tls_cert")?;
                let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                    ClientError::config("tls_key", format!("cannot read {}: {e}", key.display()))
                })?;
                builder.with_client_auth_cert(chain, key).map_err(|e| {
                    ClientError::config("tls_cert", format!("certificate and key do not fit: {e}"))
                })?
            }
        };
        Ok(TlsConfig {
            rustls: Arc::new(config),
            server_name: self.server_name,
        })
    }
}

/// The *ring* provider (see the broker's `tls::certs::provider` for why it is allowed
/// though rustls marks it deprecated: no post-quantum key exchange).
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certificates(path: &Path, field: &'static str) -> Result<Vec<CertificateDer<'static>>> {
    let bad = |reason: String| {
        ClientError::config(field, format!("cannot read {}: {reason}", path.display()))
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certificates.is_empty() {
        return Err(bad("no PEM CERTIFICATE block in it".into()));
    }
    Ok(certificates)
}

fn roots_from_file(path: &Path) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for certificate in read_certificates(path, "tls_ca")? {
        roots.add(certificate).map_err(|e| {
            ClientError::config(
                "tls_ca",
                format!("{} holds a bad CA certificate: {e}", path.display()),
            )
        })?;
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(ClientError::config(
            "tls_ca",
            "no CA certificates found in the system's store: give a CA file (--tls-ca)",
        ));
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_and_bad_names_are_named_in_the_error() {
        let err = TlsConfig::builder()
            .ca_file("/nonexistent/ca.pem")
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("tls_ca") && err.contains("/nonexistent/ca.pem"),
            "{err}"
        );
        let err = TlsConfig::builder()
            .server_name("not a name")
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains("tls_server_name"), "{err}");
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "hello\n").unwrap();
        let err = TlsConfig::builder().ca_file(&path).build().unwrap_err();
        assert!(err.to_string().contains("no PEM CERTIFICATE"), "{err}");
    }
}
