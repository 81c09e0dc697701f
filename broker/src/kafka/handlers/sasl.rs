//! SaslHandshake v1 and SaslAuthenticate v0-2 for Kafka clients: the same exchange as
//! the native listener's ([`crate::security::sasl::exchange`]), in Kafka's types.

use kafka_protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use rill_protocol::error_code::ErrorCode;
use tracing::warn;

use super::kstr;
use crate::kafka::KafkaCtx;
use crate::security::sasl::exchange;
use crate::security::Session;

/// Answers SaslHandshake; the bool says whether to close the connection after it.
/// Version 0 (tokens as bare frames, before Kafka 1.0) is refused.
pub fn handshake(
    ctx: &KafkaCtx,
    session: &mut Session,
    req: SaslHandshakeRequest,
    version: i16,
) -> (SaslHandshakeResponse, bool) {
    if version == 0 {
        warn!(peer = %session.peer(), "SaslHandshake v0 (SASL tokens as bare frames) is not supported: the client must use SaslHandshake v1 and SaslAuthenticate (Kafka 1.0+ clients do); closing");
        let mut response = SaslHandshakeResponse::default();
        response.error_code = ErrorCode::UnsupportedVersion.code();
        response.mechanisms = ctx
            .broker
            .config
            .sasl
            .mechanism_names()
            .into_iter()
            .map(kstr)
            .collect();
        return (response, true);
    }
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

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::{ApiKey, ResponseKind};

    use super::*;
    use crate::kafka::request::RequestHeader;
    use crate::kafka::response;

    /// Every served version of both answers encodes, failures included.
    #[test]
    fn answers_encode_at_every_served_version() {
        let mut failed = SaslAuthenticateResponse::default();
        failed.error_code = ErrorCode::SaslAuthenticationFailed.code();
        failed.error_message = Some(kstr("Authentication failed"));
        let mut handshake = SaslHandshakeResponse::default();
        handshake.mechanisms = vec![kstr("PLAIN")];
        let cases: [(ApiKey, ResponseKind); 2] = [
            (ApiKey::SaslAuthenticate, failed.into()),
            (ApiKey::SaslHandshake, handshake.into()),
        ];
        for (api, body) in cases {
            let (min, max) = crate::kafka::apis::served(api).unwrap();
            for version in min..=max {
                let header = RequestHeader {
                    api_key: api,
                    api_version: version,
                    correlation_id: 1,
                    client_id: None,
                };
                response::encode(&header, version, &body, 1 << 20)
                    .unwrap_or_else(|e| panic!("{api:?} v{version}: {e}"));
            }
        }
    }
}
