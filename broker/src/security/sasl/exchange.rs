//! One connection's SASL exchange, shared by the native and Kafka handlers.
//!
//! ```text
//! Start --SaslHandshake(m)--> Handshaken(m) --SaslAuthenticate--> Done          (PLAIN)
//!                                           --SaslAuthenticate--> ScramFinal --SaslAuthenticate--> Done
//! ```
//!
//! Any step out of order, and any failure, ends the connection (the answer is sent
//! first). A failed login is answered only after a delay on this connection's own task
//! (other connections and the accept loop never wait), is logged with the user name,
//! mechanism and peer (never the password or proof), and is counted in the metrics.

use std::sync::Arc;
use std::time::Duration;

use rill_protocol::error_code::ErrorCode;
use rill_protocol::sasl::plain::PlainMessage;
use rill_protocol::sasl::{scram, SaslMechanism, TOKEN_BYTES_MAX};
use tracing::{info, warn};

use super::config::{FAILURE_DELAY_JITTER_MS_MAX, FAILURE_DELAY_MS_MIN};
use super::{gate, SaslConfig};
use crate::security::scram::{AwaitingFinal, ScramFailure, ScramServer};
use crate::security::{Principal, Session};
use crate::server::BrokerCtx;

/// Where a connection's exchange stands.
#[derive(Debug, Clone, Default)]
pub enum SaslState {
    /// Nothing yet.
    #[default]
    Start,
    /// The client chose a mechanism.
    Handshaken(SaslMechanism),
    /// SCRAM: server-first sent, waiting for client-final.
    ScramFinal(SaslMechanism, Box<AwaitingFinal>),
    /// Authenticated.
    Done,
}

/// The answer to a SaslHandshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// `None`, `UnsupportedSaslMechanism` or `IllegalSaslState`.
    pub error_code: ErrorCode,
    /// The mechanisms the broker enables.
    pub mechanisms: Vec<String>,
}

/// The answer to one SaslAuthenticate round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The outcome.
    pub error_code: ErrorCode,
    /// What failed (no secrets).
    pub error_message: Option<String>,
    /// The mechanism's message to the client.
    pub auth_bytes: Vec<u8>,
    /// Whether the connection closes after this answer.
    pub close: bool,
}

/// Handles SaslHandshake: picks the mechanism for this connection.
pub fn handshake(config: &SaslConfig, session: &mut Session, name: &str) -> Handshake {
    let mechanisms = config.mechanism_names();
    let peer = session.peer();
    let refuse = |error_code| Handshake {
        error_code,
        mechanisms: mechanisms.clone(),
    };
    if !matches!(session.sasl, SaslState::Start) {
        warn!(%peer, "SaslHandshake after the exchange started; closing");
        return refuse(ErrorCode::IllegalSaslState);
    }
    let mechanism = match name.parse::<SaslMechanism>() {
        Ok(m) if config.mechanisms.contains(&m) => m,
        _ => {
            info!(%peer, mechanism = %name.chars().take(64).collect::<String>(), "SASL mechanism not enabled");
            return refuse(ErrorCode::UnsupportedSaslMechanism);
        }
    };
    if mechanism == SaslMechanism::Plain && !gate::plain_allowed(config, session) {
        warn!(%peer, "PLAIN refused on a plaintext connection (use TLS, or set --sasl-allow-plain-without-tls)");
        return refuse(ErrorCode::UnsupportedSaslMechanism);
    }
    session.sasl = SaslState::Handshaken(mechanism);
    Handshake {
        error_code: ErrorCode::None,
        mechanisms,
    }
}

/// Handles one SaslAuthenticate round.
pub async fn authenticate(ctx: &Arc<BrokerCtx>, session: &mut Session, token: &[u8]) -> Step {
    let state = std::mem::take(&mut session.sasl);
    if token.len() > TOKEN_BYTES_MAX {
        return illegal(session, "SASL token longer than the limit");
    }
    match state {
        SaslState::Handshaken(SaslMechanism::Plain) => plain(ctx, session, token).await,
        SaslState::Handshaken(mechanism) => scram_first(ctx, session, mechanism, token).await,
        SaslState::ScramFinal(mechanism, awaiting) => {
            scram_final(ctx, session, mechanism, *awaiting, token).await
        }
        SaslState::Start | SaslState::Done => illegal(
            session,
            "SaslAuthenticate before SaslHandshake or after authenticating",
        ),
    }
}

fn illegal(session: &Session, what: &'static str) -> Step {
    warn!(peer = %session.peer(), what, "SASL exchange out of order; closing");
    Step {
        error_code: ErrorCode::IllegalSaslState,
        error_message: Some(what.to_string()),
        auth_bytes: Vec::new(),
        close: true,
    }
}

async fn plain(ctx: &Arc<BrokerCtx>, session: &mut Session, token: &[u8]) -> Step {
    let message = match PlainMessage::parse(token) {
        Ok(message) => message,
        Err(e) => return failed(ctx, session, SaslMechanism::Plain, "?", &e.to_string()).await,
    };
    let credential = ctx.credentials.any(&message.username);
    let password = message.password.clone();
    let verified = tokio::task::spawn_blocking(move || {
        credential.is_some_and(|c| c.matches_password(&password))
    })
    .await
    .unwrap_or(false);
    if !verified {
        let user = message.username;
        return failed(
            ctx,
            session,
            SaslMechanism::Plain,
            &user,
            "wrong password or unknown user",
        )
        .await;
    }
    succeeded(
        ctx,
        session,
        SaslMechanism::Plain,
        message.username,
        Vec::new(),
    )
}

async fn scram_first(
    ctx: &Arc<BrokerCtx>,
    session: &mut Session,
    mechanism: SaslMechanism,
    token: &[u8],
) -> Step {
    let Some(hash) = mechanism.scram() else {
        return illegal(session, "not a SCRAM mechanism");
    };
    match ScramServer::new(hash).first(&ctx.credentials, token) {
        Ok((server_first, awaiting)) => {
            session.sasl = SaslState::ScramFinal(mechanism, Box::new(awaiting));
            Step {
                error_code: ErrorCode::None,
                error_message: None,
                auth_bytes: server_first,
                close: false,
            }
        }
        Err(e) => failed(ctx, session, mechanism, "?", &e.to_string()).await,
    }
}

async fn scram_final(
    ctx: &Arc<BrokerCtx>,
    session: &mut Session,
    mechanism: SaslMechanism,
    awaiting: AwaitingFinal,
    token: &[u8],
) -> Step {
    let user = awaiting.username.clone();
    match awaiting.finish(token) {
        Ok(server_final) => succeeded(ctx, session, mechanism, user, server_final),
        Err(ScramFailure::BadProof) => {
            failed(
                ctx,
                session,
                mechanism,
                &user,
                "wrong password or unknown user",
            )
            .await
        }
        Err(e) => failed(ctx, session, mechanism, &user, &e.to_string()).await,
    }
}

fn succeeded(
    ctx: &BrokerCtx,
    session: &mut Session,
    mechanism: SaslMechanism,
    user: String,
    auth_bytes: Vec<u8>,
) -> Step {
    info!(peer = %session.peer(), user = %user, %mechanism, "SASL authentication succeeded");
    ctx.metrics.sasl.record(mechanism, true);
    session.sasl = SaslState::Done;
    session.authenticated_as(Principal::user(user));
    Step {
        error_code: ErrorCode::None,
        error_message: None,
        auth_bytes,
        close: false,
    }
}

async fn failed(
    ctx: &BrokerCtx,
    session: &Session,
    mechanism: SaslMechanism,
    user: &str,
    reason: &str,
) -> Step {
    warn!(peer = %session.peer(), user = %user, %mechanism, reason, "SASL authentication failed; closing the connection");
    ctx.metrics.sasl.record(mechanism, false);
    tokio::time::sleep(failure_delay()).await;
    Step {
        error_code: ErrorCode::SaslAuthenticationFailed,
        error_message: Some(format!(
            "Authentication failed: invalid credentials with SASL mechanism {mechanism}"
        )),
        auth_bytes: Vec::new(),
        close: true,
    }
}

/// How long to hold a failed login's answer: 500 ms plus up to 500 ms at random, so
/// guessing is slow and the time says nothing about why it failed.
fn failure_delay() -> Duration {
    let jitter = scram::random_bytes(2)
        .map(|b| u64::from(u16::from_be_bytes([b[0], b[1]])) % (FAILURE_DELAY_JITTER_MS_MAX + 1))
        .unwrap_or(FAILURE_DELAY_JITTER_MS_MAX);
    Duration::from_millis(FAILURE_DELAY_MS_MIN + jitter)
}
