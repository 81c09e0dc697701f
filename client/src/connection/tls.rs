//! TLS for a [`super::Connection`]: the client side of the handshake, and errors that
//! say what went wrong in the words of the fix (expired certificate, unknown issuer,
//! name mismatch, a client certificate required) instead of a socket error, including
//! the two mix-ups: a plaintext client on a TLS port and a TLS client on a plaintext one.

use std::io;

use rustls::pki_types::ServerName;
use rustls::{AlertDescription, CertificateError};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::config::TlsConfig;
use crate::error::{ClientError, Disconnect};

/// Runs the TLS handshake over `tcp`, checking the broker's certificate against the
/// configured server name or else the host of `addr`.
pub(crate) async fn handshake(
    tls: &TlsConfig,
    tcp: TcpStream,
    addr: &str,
) -> Result<TlsStream<TcpStream>, ClientError> {
    let name = server_name(tls, addr)?;
    tokio_rustls::TlsConnector::from(tls.rustls())
        .connect(name, tcp)
        .await
        .map_err(|e| ClientError::Tls {
            addr: addr.to_owned(),
            reason: explain_io(&e),
        })
}

/// The name the broker's certificate must hold.
fn server_name(tls: &TlsConfig, addr: &str) -> Result<ServerName<'static>, ClientError> {
    let host = tls.server_name().unwrap_or_else(|| host_of(addr));
    ServerName::try_from(host.to_owned()).map_err(|_| ClientError::Tls {
        addr: addr.to_owned(),
        reason: format!("`{host}` is not a DNS name or IP address to verify the certificate against; set the server name (--tls-server-name)"),
    })
}

/// The host of `host:port` or `[v6]:port`.
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// An error of the first exchange after a TLS handshake, told as a TLS failure when it
/// is one: with TLS 1.3 the broker refuses a client certificate (or its absence) after
/// the client has finished its side, so the refusal arrives on the first read.
pub(super) fn explain_after_handshake(error: ClientError) -> ClientError {
    let ClientError::ConnectionLost { addr, cause } = &error else {
        return error;
    };
    let io = match cause {
        Disconnect::Io(io) => io.as_ref(),
        Disconnect::Frame(frame) => match frame.as_ref() {
            rill_protocol::frame::FrameError::Io(io) => io,
            _ => return error,
        },
        _ => return error,
    };
    match rustls_error(io) {
        Some(_) => ClientError::Tls {
            addr: addr.clone(),
            reason: explain_io(io),
        },
        None => error,
    }
}

/// An error of a plaintext client's first exchange, told as a TLS port when the broker
/// answered with a TLS record (its alert's first bytes read as a huge frame length) or
/// hung up on the request.
pub(super) fn explain_plaintext(error: ClientError) -> ClientError {
    let ClientError::ConnectionLost { addr, cause } = &error else {
        return error;
    };
    let tls_record = match cause {
        Disconnect::Frame(frame) => match frame.as_ref() {
            rill_protocol::frame::FrameError::TooLarge { len, .. } => {
                rill_protocol::tls_sniff::looks_like_tls_record(*len)
            }
            _ => false,
        },
        _ => false,
    };
    if tls_record {
        return ClientError::TlsRequired { addr: addr.clone() };
    }
    error
}

fn rustls_error(error: &io::Error) -> Option<&rustls::Error> {
    error.get_ref()?.downcast_ref::<rustls::Error>()
}

/// What a failed handshake means, and what to do about it.
fn explain_io(error: &io::Error) -> String {
    if let Some(tls) = rustls_error(error) {
        return explain_rustls(tls);
    }
    match error.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe => "the broker closed the connection during the handshake: this port may serve plaintext (connect without TLS), or the broker refused the handshake (see its log)".to_owned(),
        _ => error.to_string(),
    }
}

fn explain_rustls(error: &rustls::Error) -> String {
    match error {
        rustls::Error::InvalidCertificate(certificate) => explain_certificate(certificate),
        rustls::Error::AlertReceived(AlertDescription::CertificateRequired) => {
            "the broker requires a client certificate: give one with --tls-cert and --tls-key".to_owned()
        }
        rustls::Error::AlertReceived(
            alert @ (AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::AccessDenied),
        ) => format!("the broker refused the client certificate ({alert:?}): it must be valid and signed by the broker's --tls-client-ca"),
        rustls::Error::AlertReceived(AlertDescription::ProtocolVersion) => {
            "no TLS version in common (Rill speaks TLS 1.2 and 1.3)".to_owned()
        }
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateHandshakeMessage { .. } => {
            "the broker did not answer in TLS: this port may serve plaintext (connect without TLS)".to_owned()
        }
        other => other.to_string(),
    }
}

fn explain_certificate(error: &CertificateError) -> String {
    match error {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "certificate expired: the broker's certificate is past its validity (renew it; rilld reloads it on SIGHUP)".to_owned()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "certificate not valid yet (check the clocks)".to_owned()
        }
        CertificateError::UnknownIssuer => {
            "unknown issuer: the broker's certificate is not signed by a CA this client trusts (give the broker's CA with --tls-ca)".to_owned()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("name mismatch: the broker's certificate is not valid for the name dialled ({error}); connect by a name the certificate holds, or set --tls-server-name")
        }
        other => format!("invalid certificate: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_addresses() {
        assert_eq!(host_of("127.0.0.1:9420"), "127.0.0.1");
        assert_eq!(host_of("broker.example:9420"), "broker.example");
        assert_eq!(host_of("[::1]:9420"), "::1");
    }

    #[test]
    fn certificate_errors_say_what_to_do() {
        let expired = explain_rustls(&rustls::Error::InvalidCertificate(
            CertificateError::Expired,
        ));
        assert!(expired.starts_with("certificate expired"), "{expired}");
        let issuer = explain_rustls(&rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
        assert!(issuer.contains("unknown issuer") && issuer.contains("--tls-ca"));
        let required = explain_rustls(&rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired,
        ));
        assert!(required.contains("--tls-cert"), "{required}");
    }
}
