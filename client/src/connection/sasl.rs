//! SASL on a new connection, before any other request: SaslHandshake names the
//! mechanism, then SaslAuthenticate rounds carry PLAIN's single message or SCRAM's
//! client-first and client-final (checking the broker's signature at the end).

use std::time::Duration;

use bytes::Bytes;
use rill_protocol::api::sasl_authenticate::{SaslAuthenticateRequest, SaslAuthenticateResponse};
use rill_protocol::api::sasl_handshake::SaslHandshakeRequest;
use rill_protocol::error_code::ErrorCode;
use rill_protocol::sasl::plain::PlainMessage;
use rill_protocol::sasl::scram_client::ScramClient;
use rill_protocol::sasl::ScramMechanism;

use super::Connection;
use crate::config::SaslConfig;
use crate::error::{ClientError, Result};

/// Authenticates `connection` as `sasl` says, each round within `timeout`.
pub(super) async fn authenticate(
    connection: &Connection,
    sasl: &SaslConfig,
    timeout: Duration,
) -> Result<()> {
    handshake(connection, sasl, timeout).await?;
    match sasl.mechanism.scram() {
        None => plain(connection, sasl, timeout).await,
        Some(hash) => scram(connection, sasl, hash, timeout).await,
    }
}

fn failed(connection: &Connection, reason: String) -> ClientError {
    ClientError::Authentication {
        addr: connection.addr().to_owned(),
        reason,
    }
}

async fn handshake(connection: &Connection, sasl: &SaslConfig, timeout: Duration) -> Result<()> {
    let request = SaslHandshakeRequest {
        mechanism: sasl.mechanism.name().to_owned(),
    };
    let response = connection.call_with_timeout(&request, timeout).await?;
    let mechanism = sasl.mechanism.name();
    let offered = if response.mechanisms.is_empty() {
        "none (authentication is off on this broker: drop the SASL settings)".to_owned()
    } else {
        response.mechanisms.join(", ")
    };
    match response.error_code {
        ErrorCode::None => Ok(()),
        ErrorCode::UnsupportedSaslMechanism if response.mechanisms.iter().any(|m| m == mechanism) => {
            Err(failed(connection, format!(
                "broker refuses {mechanism} on this connection: PLAIN needs TLS unless the broker runs with --sasl-allow-plain-without-tls; it offers: {offered}"
            )))
        }
        ErrorCode::UnsupportedSaslMechanism => Err(failed(
            connection,
            format!("broker does not enable {mechanism}; it offers: {offered}"),
        )),
        other => Err(failed(connection, format!("SaslHandshake refused: {other}"))),
    }
}

async fn round(
    connection: &Connection,
    sasl: &SaslConfig,
    token: Vec<u8>,
    timeout: Duration,
) -> Result<Bytes> {
    let request = SaslAuthenticateRequest {
        auth_bytes: Bytes::from(token),
    };
    let response: SaslAuthenticateResponse =
        connection.call_with_timeout(&request, timeout).await?;
    match response.error_code {
        ErrorCode::None => Ok(response.auth_bytes),
        ErrorCode::SaslAuthenticationFailed => Err(failed(
            connection,
            format!(
                "authentication failed for user {}: wrong password or unknown user",
                sasl.username
            ),
        )),
        other => Err(failed(
            connection,
            format!(
                "{} authentication of user {} failed: {other}{}",
                sasl.mechanism,
                sasl.username,
                response
                    .error_message
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            ),
        )),
    }
}

async fn plain(connection: &Connection, sasl: &SaslConfig, timeout: Duration) -> Result<()> {
    let message = PlainMessage {
        username: sasl.username.clone(),
        password: sasl.password().as_bytes().to_vec(),
    };
    round(connection, sasl, message.to_bytes(), timeout).await?;
    Ok(())
}

async fn scram(
    connection: &Connection,
    sasl: &SaslConfig,
    hash: ScramMechanism,
    timeout: Duration,
) -> Result<()> {
    let client = ScramClient::new(hash, &sasl.username, sasl.password().as_bytes())
        .map_err(|e| failed(connection, e.to_string()))?;
    let server_first = round(connection, sasl, client.client_first(), timeout).await?;
    // PBKDF2 costs a few milliseconds: off the async workers.
    let finishing = tokio::task::spawn_blocking(move || client.client_final(&server_first));
    let (client_final, awaiting) = finishing
        .await
        .map_err(|e| failed(connection, e.to_string()))?
        .map_err(|e| failed(connection, e.to_string()))?;
    let server_final = round(connection, sasl, client_final, timeout).await?;
    awaiting
        .verify(&server_final)
        .map_err(|e| failed(connection, e.to_string()))
}
