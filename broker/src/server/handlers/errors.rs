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

/// Leadership of a clustered broker for one request: `None` on a single broker, which
/// serves every partition it has.
pub fn leadership(ctx: &crate::server::BrokerCtx) -> Option<crate::cluster::routing::Leadership> {
    ctx.cluster
        .as_ref()
        .map(crate::cluster::routing::Leadership::of)
}

/// `Err(code)` when `leadership` says another broker (or none) serves the partition.
pub fn route(
    leadership: Option<&crate::cluster::routing::Leadership>,
    topic: &str,
    partition: i32,
) -> Result<(), ErrorCode> {
    match leadership {
        None => Ok(()),
        Some(view) => view.check(topic, partition).map_err(not_served_code),
    }
}
