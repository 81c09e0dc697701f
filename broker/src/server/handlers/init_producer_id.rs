//! InitProducerId: a producer id and epoch for an idempotent producer.
//!
//! Every call gets a fresh id at epoch 0, also one that names an existing id and epoch:
//! the broker keeps no record of which ids it gave to whom, so bumping a client-named id
//! would let any client fence another producer (or, with matching sequences, have its
//! batches taken for that producer's duplicates). A producer that needs a clean slate
//! (the Rust client after a batch failed for good) gets one either way.

use std::sync::Arc;

use rill_protocol::api::init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
use rill_protocol::error_code::ErrorCode;
use tracing::warn;

use crate::security::acl::{AclOperation, ResourceType};
use crate::security::Access;
use crate::server::BrokerCtx;

/// Answers an InitProducerId request. Needs IdempotentWrite on the cluster or, as in
/// Kafka 2.8+, Write on some topic.
pub async fn handle(
    ctx: &Arc<BrokerCtx>,
    req: InitProducerIdRequest,
    access: &Access,
) -> InitProducerIdResponse {
    let answer = |error_code, producer_id, producer_epoch| InitProducerIdResponse {
        error_code,
        producer_id,
        producer_epoch,
    };
    if !(access.cluster_permits(AclOperation::IdempotentWrite)
        || access.allows_some(ResourceType::Topic, AclOperation::Write))
    {
        return answer(ErrorCode::ClusterAuthorizationFailed, -1, -1);
    }
    if req.transactional_id.is_some() {
        // Transactions are not supported yet; idempotence is.
        return answer(ErrorCode::InvalidRequest, -1, -1);
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
