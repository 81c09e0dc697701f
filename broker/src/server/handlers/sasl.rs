//! SaslHandshake and SaslAuthenticate on the native listener: the exchange itself is
//! [`crate::security::sasl::exchange`], shared with the Kafka listener.

use std::sync::Arc;

use bytes::Bytes;
use rill_protocol::api::sasl_authenticate::{SaslAuthenticateRequest, SaslAuthenticateResponse};
use rill_protocol::api::sasl_handshake::{SaslHandshakeRequest, SaslHandshakeResponse};

use crate::security::sasl::exchange;
use crate::security::Session;
use crate::server::BrokerCtx;

/// Answers SaslHandshake; the bool says whether to close the connection after it.
pub fn handshake(
    ctx: &BrokerCtx,
    session: &mut Session,
    req: SaslHandshakeRequest,
) -> (SaslHandshakeResponse, bool) {
    let answer = exchange::handshake(&ctx.config.sasl, session, &req.mechanism);
    let close = answer.error_code == rill_protocol::error_code::ErrorCode::IllegalSaslState;
    let response = SaslHandshakeResponse {
        error_code: answer.error_code,
        mechanisms: answer.mechanisms,
    };
    (response, close)
}

/// Runs one SaslAuthenticate round; the bool says whether to close the connection
/// after the answer (every failure does).
pub async fn authenticate(
    ctx: &Arc<BrokerCtx>,
    session: &mut Session,
    req: SaslAuthenticateRequest,
) -> (SaslAuthenticateResponse, bool) {
    let step = exchange::authenticate(ctx, session, &req.auth_bytes).await;
    let response = SaslAuthenticateResponse {
        error_code: step.error_code,
        error_message: step.error_message,
        auth_bytes: Bytes::from(step.auth_bytes),
        session_lifetime_ms: 0,
    };
    (response, step.close)
}
