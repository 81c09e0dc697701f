//! Building the rustls server configuration from PEM files: the certificate chain, its
//! key and, for mTLS, the CA that client certificates must chain to.
//!
//! Only TLS 1.3 and 1.2 are offered (rustls implements nothing older), with the `ring`
//! provider's cipher suites. Blocking: reads files (call it off the async workers).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use thiserror::Error;

use super::config::{ClientAuth, TlsSettings};

/// Why the TLS configuration could not be built.
#[derive(Debug, Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("cannot read the TLS {what} from {path}: {reason}")]
    File {
        /// Which file (`certificate`, `private key`, `client CA`).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The files were read but rustls refused them (e.g. the key does not match).
    #[error("the TLS {what} is not usable: {source}")]
    Rustls {
        /// What was being set up.
        what: &'static str,
        /// rustls' reason.
        source: rustls::Error,
    },
    /// The client CA file holds no usable CA certificate.
    #[error("cannot verify client certificates with {path}: {reason}")]
    ClientCa {
        /// The client CA file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// TLS is configured without a certificate or key (validation lets none through).
    #[error("TLS needs --tls-cert and --tls-key")]
    Incomplete,
}

/// The crypto provider every TLS configuration of the broker uses: *ring* (light to
/// build, no C toolchain beyond cc). rustls 0.23.48 marks it deprecated because *ring*
/// has no post-quantum key exchange; its X25519/P-256/P-384 exchanges and the TLS 1.3
/// and 1.2 AEAD suites are what is offered.
#[allow(deprecated)]
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads the files `settings` names and builds the server configuration.
pub fn server_config(settings: &TlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
    let (Some(cert), Some(key)) = (&settings.cert, &settings.key) else {
        return Err(TlsError::Incomplete);
    };
    let chain = read_certificates(cert, "certificate")?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::File {
        what: "private key",
        path: key.clone(),
        reason: e.to_string(),
    })?;
    let provider = provider();
    let versions = [&rustls::version::TLS13, &rustls::version::TLS12];
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|source| TlsError::Rustls {
            what: "protocol versions",
            source,
        })?;
    let builder = match (settings.client_auth(), &settings.client_ca) {
        (ClientAuth::None, _) | (_, None) => builder.with_no_client_auth(),
        (auth, Some(ca)) => builder.with_client_cert_verifier(client_verifier(auth, ca, provider)?),
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|source| TlsError::Rustls {
            what: "certificate and key pair",
            source,
        })?;
    Ok(Arc::new(config))
}

/// Every certificate in a PEM file, in order; an error if there are none.
fn read_certificates(
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let error = |reason: String| TlsError::File {
        what,
        path: path.to_path_buf(),
        reason,
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(e.to_string()))?;
    if certificates.is_empty() {
        return Err(error(
            "no CERTIFICATE block found (expected PEM, `-----BEGIN CERTIFICATE-----`)".into(),
        ));
    }
    Ok(certificates)
}

/// Verifies client certificates against the CAs in `ca`; `requested` also lets clients
/// without a certificate in.
fn client_verifier(
    auth: ClientAuth,
    ca: &Path,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let mut roots = RootCertStore::empty();
    for certificate in read_certificates(ca, "client CA")? {
        roots.add(certificate).map_err(|e| TlsError::ClientCa {
            path: ca.to_path_buf(),
            reason: e.to_string(),
        })?;
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    let builder = match auth {
        ClientAuth::Requested => builder.allow_unauthenticated(),
        ClientAuth::Required | ClientAuth::None => builder,
    };
    builder.build().map_err(|e| TlsError::ClientCa {
        path: ca.to_path_buf(),
        reason: e.to_string(),
    })
}
