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
