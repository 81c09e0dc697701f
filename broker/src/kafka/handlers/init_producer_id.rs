//! InitProducerId v0-4: a producer id for an idempotent producer, from the same
//! allocator the native protocol uses. A transactional id is refused (Rill has no
//! transactions yet).

use std::sync::Arc;

use kafka_protocol::messages::init_producer_id_request::InitProducerIdRequest;
use kafka_protocol::messages::init_producer_id_response::InitProducerIdResponse;
use kafka_protocol::messages::ProducerId;
use rill_protocol::api::init_producer_id as native;

use crate::kafka::KafkaCtx;
use crate::security::Access;
use crate::server::handlers::init_producer_id as native_handler;

/// Answers an InitProducerId request.
pub async fn handle(
    ctx: &Arc<KafkaCtx>,
    req: InitProducerIdRequest,
    access: &Access,
) -> InitProducerIdResponse {
    let native_req = native::InitProducerIdRequest {
        transactional_id: req.transactional_id.map(|id| id.0.to_string()),
        transaction_timeout_ms: req.transaction_timeout_ms,
        producer_id: req.producer_id.0,
        producer_epoch: req.producer_epoch,
    };
    let answer = native_handler::handle(&ctx.broker, native_req, access).await;
    let mut response = InitProducerIdResponse::default();
    response.error_code = answer.error_code.code();
    response.producer_id = ProducerId(answer.producer_id);
    response.producer_epoch = answer.producer_epoch;
    response
}
