//! InitProducerId: a producer id and epoch for an idempotent producer. Re-initialising a
//! known id bumps its epoch, which fences batches from the older incarnation.

use std::sync::Arc;

use rill_protocol::api::init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
use rill_protocol::error_code::ErrorCode;
use tracing::warn;

use crate::server::BrokerCtx;

/// Answers an InitProducerId request.
pub async fn handle(ctx: &Arc<BrokerCtx>, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let answer = |error_code, producer_id, producer_epoch| InitProducerIdResponse {
        error_code,
        producer_id,
        producer_epoch,
    };
    if req.transactional_id.is_some() {
        // Transactions are not supported yet; idempotence is.
        return answer(ErrorCode::InvalidRequest, -1, -1);
    }
    if req.producer_id >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX {
        return answer(ErrorCode::None, req.producer_id, req.producer_epoch + 1);
    }
    let allocator = ctx.clone();
    match tokio::task::spawn_blocking(move || allocator.producer_ids.next_id()).await {
        Ok(Ok(id)) => answer(ErrorCode::None, id, 0),
        Ok(Err(e)) => {
            warn!(error = %e, "cannot issue a producer id");
            answer(ErrorCode::KafkaStorageError, -1, -1)
        }
        Err(_) => answer(ErrorCode::UnknownServerError, -1, -1),
    }
}
