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
        Ok(Ok(id)) => match &ctx.cluster {
            Some(cluster) => answer(ErrorCode::None, cluster_wide(cluster.node_id(), id), 0),
            None => answer(ErrorCode::None, id, 0),
        },
        Ok(Err(e)) => {
            warn!(error = %e, "cannot issue a producer id");
            answer(ErrorCode::KafkaStorageError, -1, -1)
        }
        Err(_) => answer(ErrorCode::UnknownServerError, -1, -1),
    }
}

/// Bits of a clustered producer id that hold the broker's own counter; the node id sits
/// above them, so brokers of one cluster never hand out the same id (a producer's
/// partitions may live on any broker).
const LOCAL_ID_BITS: u32 = 44;

/// A producer id unique across the cluster: `node_id` in the top bits (19 of them, below
/// the sign bit), the broker's own id below.
pub fn cluster_wide(node_id: u64, local_id: i64) -> i64 {
    let node = (node_id & ((1 << (63 - LOCAL_ID_BITS)) - 1)) as i64;
    (node << LOCAL_ID_BITS) | (local_id & ((1 << LOCAL_ID_BITS) - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_wide_ids_differ_by_broker_and_stay_positive() {
        assert_ne!(cluster_wide(1, 1000), cluster_wide(2, 1000));
        assert_eq!(cluster_wide(1, 5), (1 << 44) | 5);
        assert!(cluster_wide(524_287, (1 << 44) - 1) > 0);
        assert!(cluster_wide(u64::MAX, i64::MAX) >= 0);
    }
}
