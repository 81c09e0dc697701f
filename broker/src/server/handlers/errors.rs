//! The one place broker errors become wire error codes.

use rill_protocol::error_code::ErrorCode;

use crate::storage::producers::SequenceError;
use crate::storage::StorageError;
use crate::topics::TopicError;

/// The error code a client sees for a topic operation's failure.
pub fn topic_error_code(e: &TopicError) -> ErrorCode {
    match e {
        TopicError::UnknownTopic(_) | TopicError::UnknownPartition { .. } => {
            ErrorCode::UnknownTopicOrPartition
        }
        TopicError::AlreadyExists(_) => ErrorCode::TopicAlreadyExists,
        TopicError::InvalidName { .. } => ErrorCode::InvalidTopic,
        TopicError::InvalidPartitions(_) | TopicError::TooManyPartitions { .. } => {
            ErrorCode::InvalidPartitions
        }
        TopicError::InvalidConfig { .. } => ErrorCode::InvalidConfig,
        TopicError::Storage(e) => storage_error_code(e),
        TopicError::CorruptCatalogue { .. } | TopicError::Io { .. } => ErrorCode::KafkaStorageError,
    }
}

/// The error code a client sees for a storage failure.
pub fn storage_error_code(e: &StorageError) -> ErrorCode {
    match e {
        StorageError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
        StorageError::Sequence { source, .. } => match source {
            SequenceError::StaleEpoch { .. } => ErrorCode::InvalidProducerEpoch,
            SequenceError::OutOfOrder { .. } => ErrorCode::OutOfOrderSequence,
        },
        StorageError::IdempotentMultiBatch { .. } | StorageError::InvalidBatch { .. } => {
            ErrorCode::InvalidRequest
        }
        _ => ErrorCode::KafkaStorageError,
    }
}

/// The wire code for a partition this (clustered) broker does not serve.
pub fn not_served_code(reason: crate::cluster::routing::NotServed) -> ErrorCode {
    use crate::cluster::routing::NotServed;
    match reason {
        NotServed::Unknown => ErrorCode::UnknownTopicOrPartition,
        NotServed::OtherLeader(_) => ErrorCode::NotLeaderOrFollower,
        NotServed::NoLeader => ErrorCode::LeaderNotAvailable,
    }
}

/// Leadership of a clustered broker for one request, from its routing cache: `None` on a
/// single broker, which serves every partition it has.
pub fn leadership(
    ctx: &crate::server::BrokerCtx,
) -> Option<std::sync::Arc<crate::cluster::routing::Leadership>> {
    ctx.routing.as_ref().map(|r| r.current())
}

/// Leadership read from the cluster now (after a change this request made itself,
/// which the cache may not show yet).
pub fn fresh_leadership(
    ctx: &crate::server::BrokerCtx,
) -> Option<std::sync::Arc<crate::cluster::routing::Leadership>> {
    ctx.cluster
        .as_ref()
        .map(|c| std::sync::Arc::new(crate::cluster::routing::Leadership::of(c)))
}

/// `Err(code)` when `leadership` says another broker (or none) serves the partition. A
/// partition the cached view does not know yet (a topic created a moment ago) is looked
/// up in the cluster's current image before it is called unknown.
pub fn route(
    ctx: &crate::server::BrokerCtx,
    leadership: Option<&crate::cluster::routing::Leadership>,
    topic: &str,
    partition: i32,
) -> Result<(), ErrorCode> {
    use crate::cluster::routing::{Leadership, NotServed};
    let Some(view) = leadership else {
        return Ok(());
    };
    match (view.check(topic, partition), &ctx.cluster) {
        (Err(NotServed::Unknown), Some(cluster)) => Leadership::of(cluster)
            .check(topic, partition)
            .map_err(not_served_code)?,
        (outcome, _) => outcome.map_err(not_served_code)?,
    }
    // A replicated partition is served only by its group's leader once it has applied
    // every record committed before its term: the image may still name a deposed leader,
    // or a new one whose segments lag what consumers already read.
    match ctx.replicated(topic, partition) {
        Some(replicator) if !replicator.is_serving_leader(topic, partition) => {
            Err(ErrorCode::NotLeaderOrFollower)
        }
        _ => Ok(()),
    }
}
