//! SaslHandshake v1 and SaslAuthenticate v0-2 for Kafka clients: the same exchange as
//! the native listener's ([`crate::security::sasl::exchange`]), in Kafka's types.

use kafka_protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use rill_protocol::error_code::ErrorCode;

use super::kstr;
use crate::kafka::KafkaCtx;
use crate::security::sasl::exchange;
use crate::security::Session;

/// Answers SaslHandshake; the bool says whether to close the connection after it.
pub fn handshake(
    ctx: &KafkaCtx,
    session: &mut Session,
    req: SaslHandshakeRequest,
) -> (SaslHandshakeResponse, bool) {
    let answer = exchange::handshake(&ctx.broker.config.sasl, session, req.mechanism.as_str());
    let mut response = SaslHandshakeResponse::default();
    response.error_code = answer.error_code.code();
    response.mechanisms = answer.mechanisms.into_iter().map(kstr).collect();
    (response, answer.error_code == ErrorCode::IllegalSaslState)
}

/// Runs one SaslAuthenticate round; the bool says whether to close the connection
/// after the answer.
pub async fn authenticate(
    ctx: &KafkaCtx,
    session: &mut Session,
    req: SaslAuthenticateRequest,
) -> (SaslAuthenticateResponse, bool) {
    let step = exchange::authenticate(&ctx.broker, session, &req.auth_bytes).await;
    let mut response = SaslAuthenticateResponse::default();
    response.error_code = step.error_code.code();
    response.error_message = step.error_message.map(kstr);
    response.auth_bytes = bytes::Bytes::from(step.auth_bytes);
    response.session_lifetime_ms = 0;
    (response, step.close)
}
