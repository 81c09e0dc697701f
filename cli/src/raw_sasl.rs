//! SASL on a [`crate::raw_connection`] (the library's own handshake lives behind its
//! `Connection`): SaslHandshake, then SaslAuthenticate rounds for PLAIN or SCRAM.

use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use rill_client::SaslConfig;
use rill_protocol::api::sasl_authenticate::{SaslAuthenticateRequest, SaslAuthenticateResponse};
use rill_protocol::api::sasl_handshake::{SaslHandshakeRequest, SaslHandshakeResponse};
use rill_protocol::error_code::ErrorCode;
use rill_protocol::sasl::plain::PlainMessage;
use rill_protocol::sasl::scram_client::ScramClient;

use crate::raw_connection::{RawReceiver, RawSender};

/// Authenticates the connection as `sasl` says, each round within `timeout`.
pub async fn authenticate(
    sender: &mut RawSender,
    receiver: &mut RawReceiver,
    sasl: &SaslConfig,
    timeout: Duration,
) -> anyhow::Result<()> {
    let mechanism = sasl.mechanism.name().to_owned();
    let sent = sender
        .send(&SaslHandshakeRequest {
            mechanism: mechanism.clone(),
        })
        .await?;
    let handshake: SaslHandshakeResponse = receiver.receive(sent, timeout).await?;
    if handshake.error_code != ErrorCode::None {
        bail!(
            "the broker refuses SASL mechanism {mechanism} on this connection ({}); it offers: {}",
            handshake.error_code.name(),
            handshake.mechanisms.join(", ")
        );
    }
    let Some(hash) = sasl.mechanism.scram() else {
        let message = PlainMessage {
            username: sasl.username.clone(),
            password: sasl.password().as_bytes().to_vec(),
        };
        round(sender, receiver, sasl, message.to_bytes(), timeout).await?;
        return Ok(());
    };
    let client = ScramClient::new(hash, &sasl.username, sasl.password().as_bytes())
        .context("cannot start SCRAM")?;
    let server_first = round(sender, receiver, sasl, client.client_first(), timeout).await?;
    let (client_final, awaiting) = client.client_final(&server_first)?;
    let server_final = round(sender, receiver, sasl, client_final, timeout).await?;
    awaiting.verify(&server_final)?;
    Ok(())
}

async fn round(
    sender: &mut RawSender,
    receiver: &mut RawReceiver,
    sasl: &SaslConfig,
    token: Vec<u8>,
    timeout: Duration,
) -> anyhow::Result<Bytes> {
    let sent = sender
        .send(&SaslAuthenticateRequest {
            auth_bytes: Bytes::from(token),
        })
        .await?;
    let response: SaslAuthenticateResponse = receiver.receive(sent, timeout).await?;
    match response.error_code {
        ErrorCode::None => Ok(response.auth_bytes),
        ErrorCode::SaslAuthenticationFailed => bail!(
            "authentication failed for user {}: wrong password or unknown user",
            sasl.username
        ),
        other => bail!(
            "SASL authentication of user {} failed: {}",
            sasl.username,
            response.error_message.unwrap_or_else(|| other.to_string())
        ),
    }
}
