//! [`ClientError`]: everything that can go wrong in the client, with context.
//!
//! Errors are `Clone` because one failure often answers many waiters: a lost connection
//! fails every request in flight on it, a failed batch fails every record in it. Sources
//! that are not `Clone` (I/O, frame errors) are shared behind an `Arc`.
//! [`ClientError::is_retriable`] says whether trying again may succeed; the producer's
//! retry loop and the connection slot's reconnect logic both go by it.
//!
//! Each message is complete on its own: an underlying cause (a socket error, a decode
//! error) is printed in the `Display` text and not returned again by
//! [`std::error::Error::source`], so a report that walks the chain prints it once.

use std::sync::Arc;
use std::time::Duration;

use rill_protocol::api::ApiKey;
use rill_protocol::batch::BatchError;
use rill_protocol::error_code::ErrorCode;
use rill_protocol::frame::FrameError;
use rill_protocol::wire::{DecodeError, EncodeError};
use thiserror::Error;

/// Why a connection stopped working.
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum Disconnect {
    /// The broker closed the connection.
    #[error("closed by the broker")]
    Eof,
    /// Reading or writing the socket failed.
    #[error("I/O error: {0}")]
    Io(Arc<std::io::Error>),
    /// A frame could not be read or written (too large, truncated).
    #[error("frame error: {0}")]
    Frame(Arc<FrameError>),
    /// A response did not match the oldest request in flight.
    #[error("response correlation id {got} does not match the request in flight ({expected:?})")]
    CorrelationMismatch {
        /// The correlation id of the oldest request in flight, if any.
        expected: Option<u32>,
        /// The correlation id the response carried.
        got: u32,
    },
    /// A response frame too short to hold a correlation id.
    #[error("response of {len} bytes has no correlation id")]
    ShortResponse {
        /// The frame's length.
        len: usize,
    },
    /// A request timed out, so the connection was closed (responses are ordered, so a
    /// stuck request blocks every later one).
    #[error("a request timed out")]
    RequestTimedOut,
    /// The client closed the connection.
    #[error("closed by the client")]
    Closed,
}

/// Everything the client can fail with. New variants may be added: match with a
/// wildcard arm.
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Connecting failed (refused, unreachable, DNS).
    #[error("cannot connect to {addr}: {cause}")]
    Connect {
        /// The address dialled.
        addr: String,
        /// The socket error.
        cause: Arc<std::io::Error>,
    },
    /// The TLS handshake failed: the reason says why in the words of the fix
    /// (certificate expired, unknown issuer, name mismatch, client certificate needed).
    #[error("TLS handshake with {addr} failed: {reason}")]
    Tls {
        /// The address dialled.
        addr: String,
        /// What went wrong and what to do.
        reason: String,
    },
    /// A plaintext client reached a broker port that serves TLS.
    #[error("the broker at {addr} answered with a TLS record: it serves TLS on this port; connect with TLS (rill --tls-ca FILE, or ConnectionConfig::tls)")]
    TlsRequired {
        /// The address dialled.
        addr: String,
    },
    /// Connecting took longer than `connect_timeout`.
    #[error("connecting to {addr} timed out after {timeout:?}")]
    ConnectTimeout {
        /// The address dialled.
        addr: String,
        /// The configured limit.
        timeout: Duration,
    },
    /// The connection broke while the request was queued or in flight.
    #[error("connection to {addr} lost: {cause}")]
    ConnectionLost {
        /// The broker's address.
        addr: String,
        /// What broke it.
        cause: Disconnect,
    },
    /// A request got no response within its timeout.
    #[error("{api:?} request {correlation_id} to {addr} timed out after {timeout:?}")]
    Timeout {
        /// The broker's address.
        addr: String,
        /// The API called.
        api: ApiKey,
        /// The request's correlation id.
        correlation_id: u32,
        /// The limit that passed.
        timeout: Duration,
    },
    /// The broker answered with an error code.
    #[error("broker error {} on {}: {}", code.name(), describe_target(topic, *partition), message.as_deref().unwrap_or(code.description()))]
    Broker {
        /// The code.
        code: ErrorCode,
        /// The topic concerned, if the error is per topic.
        topic: Option<String>,
        /// The partition concerned, if the error is per partition.
        partition: Option<i32>,
        /// The broker's message, if it sent one.
        message: Option<String>,
    },
    /// A response could not be decoded.
    #[error("cannot decode {api:?} response from {addr}: {cause}")]
    Decode {
        /// The broker's address.
        addr: String,
        /// The API whose response was malformed.
        api: ApiKey,
        /// What was wrong.
        cause: DecodeError,
    },
    /// A request could not be encoded (a field too long for its length prefix).
    #[error("cannot encode {api:?} request: {cause}")]
    Encode {
        /// The API.
        api: ApiKey,
        /// What was wrong.
        cause: EncodeError,
    },
    /// A request frame exceeded `max_frame_bytes`.
    #[error("{api:?} request too large: {cause}")]
    RequestTooLarge {
        /// The API.
        api: ApiKey,
        /// The size check that failed.
        cause: Arc<FrameError>,
    },
    /// The broker does not speak a version of `api` this client speaks.
    #[error("broker {addr} does not support {api:?} versions {client_min}..={client_max}")]
    UnsupportedVersion {
        /// The broker's address.
        addr: String,
        /// The API.
        api: ApiKey,
        /// Oldest version this client speaks.
        client_min: u16,
        /// Newest version this client speaks.
        client_max: u16,
    },
    /// The broker does not know `api` at all: it is older than this client.
    #[error("the broker at {addr} does not support {api:?}: it is older than this client; upgrade the broker to use this command")]
    BrokerTooOld {
        /// The broker's address.
        addr: String,
        /// The API it lacks.
        api: ApiKey,
    },
    /// A record batch could not be built or parsed.
    #[error("record batch for {topic}-{partition}: {cause}")]
    Batch {
        /// Topic of the batch.
        topic: String,
        /// Partition of the batch.
        partition: i32,
        /// What was wrong.
        cause: BatchError,
    },
    /// SASL authentication with a broker failed (wrong password, mechanism not enabled...).
    #[error("SASL with {addr}: {reason}")]
    Authentication {
        /// The broker.
        addr: String,
        /// What failed, e.g. "authentication failed for user alice: wrong password or unknown user".
        reason: String,
    },
    /// A configuration value is not acceptable.
    #[error("invalid config {field}: {reason}")]
    InvalidConfig {
        /// The setting.
        field: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// A record larger than the producer can ever buffer or send.
    #[error("record of {size_bytes} bytes exceeds the limit of {max_bytes} bytes")]
    RecordTooLarge {
        /// The record's estimated size.
        size_bytes: usize,
        /// The limit it exceeds.
        max_bytes: usize,
    },
    /// An explicit partition outside the topic's partitions.
    #[error("topic {topic} has no partition {partition} (its partitions are 0 to {})", num_partitions - 1)]
    InvalidPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: i32,
        /// How many the topic has.
        num_partitions: i32,
    },
    /// A batch was not acknowledged within `delivery_timeout`.
    #[error(
        "delivery to {topic}-{partition} timed out after {elapsed:?} ({attempts} attempts){}",
        last_error.as_ref().map(|e| format!("; last error: {e}")).unwrap_or_default()
    )]
    DeliveryTimeout {
        /// Topic of the batch.
        topic: String,
        /// Partition of the batch.
        partition: i32,
        /// Time since the batch's first record.
        elapsed: Duration,
        /// Send attempts made.
        attempts: u32,
        /// Why the last attempt failed, when it was answered with an error.
        last_error: Option<Box<ClientError>>,
    },
    /// An attempt of this batch may have been written (its answer was lost), and the
    /// producer had since to take a new producer id (another batch failed for good):
    /// sending it again under the new id could write it twice, so it is failed instead.
    /// Its records may or may not be in the log.
    #[error("delivery to {topic}-{partition} is uncertain: an attempt may have been written before the producer took a new producer id; the records may or may not be in the log")]
    DeliveryUncertain {
        /// Topic of the batch.
        topic: String,
        /// Partition of the batch.
        partition: i32,
    },
    /// The handle (`"producer"`, `"consumer"`, `"admin client"`) was closed, or, for a
    /// record's delivery, the producer was closed or dropped before the record was
    /// delivered.
    #[error("the {handle} is closed")]
    Closed {
        /// Which handle.
        handle: &'static str,
    },
    /// `send` waited `max_block` for buffer memory or the topic's metadata and gave up
    /// (Kafka's `max.block.ms`); the record was not queued.
    #[error("send waited {waited:?} (max_block) for {waiting_for} and gave up; the record was not queued")]
    MaxBlockExceeded {
        /// How long it waited.
        waited: Duration,
        /// What it waited for: `"buffer memory"` or `"metadata of topic ..."`.
        waiting_for: String,
    },
    /// `flush` or `close` found records that failed since the last report; each one's
    /// own [`crate::DeliveryFuture`] also says why.
    #[error("{failed_records} record(s) in {failed_batches} batch(es) failed; first failure: {first_error}")]
    DeliveryFailed {
        /// Records whose delivery failed.
        failed_records: u64,
        /// Batches those records were in.
        failed_batches: u64,
        /// The first failure's error.
        first_error: Box<ClientError>,
    },
    /// Internal: an append reached a batch already sealed for sending.
    #[error("internal: the batch is already sealed")]
    BatchSealed,
    /// The consumer has no assignment for this partition.
    #[error("{topic}-{partition} is not assigned to this consumer")]
    NotAssigned {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// An assigned partition has no position and `auto_offset_reset` is `Error`.
    #[error("{topic}-{partition} has no position: call seek first (auto_offset_reset is Error)")]
    NoPosition {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// The fetch offset is outside the log and `auto_offset_reset` is `Error`.
    #[error("offset {offset} is out of range for {topic}-{partition}")]
    OffsetOutOfRange {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The offset asked for.
        offset: i64,
    },
    /// A group call (commit) on a consumer that has not subscribed to a group.
    #[error("the consumer is not a group member: call subscribe first")]
    NotSubscribed,
    /// `subscribe` on a consumer that is already a group member.
    #[error("the consumer is already a member of group {group_id}")]
    AlreadySubscribed {
        /// The group it belongs to.
        group_id: String,
    },
    /// The broker no longer knows this member at this epoch (its session expired, it was
    /// fenced by a rebalance, or the broker restarted): its partitions were taken back
    /// without a commit and it rejoins. Records after the last commit will be consumed
    /// again (at least once).
    #[error("membership of group {group_id} was lost; rejoining")]
    GroupMembershipLost {
        /// The group.
        group_id: String,
    },
    /// The consumer's group membership ended (closed, or its background task stopped).
    #[error("the membership of group {group_id} is closed")]
    GroupClosed {
        /// The group.
        group_id: String,
    },
    /// The broker answered a request with a response that is missing something asked for.
    #[error("{api:?} response is missing {what}")]
    MissingInResponse {
        /// The API.
        api: ApiKey,
        /// What was expected (a topic, a partition).
        what: String,
    },
}

fn describe_target(topic: &Option<String>, partition: Option<i32>) -> String {
    match (topic, partition) {
        (Some(t), Some(p)) => format!("{t}-{p}"),
        (Some(t), None) => t.clone(),
        _ => "the request".to_owned(),
    }
}

impl ClientError {
    /// True if the same request may succeed when tried again (after a reconnect, a
    /// metadata refresh or a backoff).
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Connect { .. }
            | ClientError::ConnectTimeout { .. }
            | ClientError::ConnectionLost { .. }
            | ClientError::Timeout { .. } => true,
            ClientError::Broker { code, .. } => code.is_retriable(),
            _ => false,
        }
    }

    /// The broker error code, if this is a broker error.
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Broker { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// A broker error for `code` on a topic and optional partition.
    pub(crate) fn broker(
        code: ErrorCode,
        topic: impl Into<String>,
        partition: Option<i32>,
        message: Option<String>,
    ) -> Self {
        ClientError::Broker {
            code,
            topic: Some(topic.into()),
            partition,
            message,
        }
    }

    /// An invalid-config error.
    pub(crate) fn config(field: &'static str, reason: impl Into<String>) -> Self {
        ClientError::InvalidConfig {
            field,
            reason: reason.into(),
        }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retriable_classification() {
        let lost = ClientError::ConnectionLost {
            addr: "a:1".into(),
            cause: Disconnect::Eof,
        };
        assert!(lost.is_retriable());
        assert!(lost.to_string().contains("a:1"));
        let unknown = ClientError::broker(ErrorCode::UnknownTopicOrPartition, "t", Some(3), None);
        assert!(unknown.is_retriable());
        assert!(unknown.to_string().contains("t-3"), "{unknown}");
        let range = ClientError::broker(ErrorCode::OffsetOutOfRange, "t", Some(0), None);
        assert!(!range.is_retriable());
        assert!(!ClientError::Closed { handle: "producer" }.is_retriable());
        assert!(!ClientError::config("linger", "negative").is_retriable());
        assert_eq!(
            unknown.error_code(),
            Some(ErrorCode::UnknownTopicOrPartition)
        );
    }

    #[test]
    fn the_cause_is_printed_once_in_display_and_not_again_as_source() {
        use std::error::Error as _;
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused here");
        let err = ClientError::Connect {
            addr: "a:1".into(),
            cause: Arc::new(io),
        };
        assert_eq!(err.to_string(), "cannot connect to a:1: refused here");
        assert!(err.source().is_none(), "the cause would be printed twice");
        let mut chain = String::new();
        let mut next: Option<&dyn std::error::Error> = Some(&err);
        while let Some(e) = next {
            chain.push_str(&e.to_string());
            next = e.source();
        }
        assert_eq!(chain.matches("refused here").count(), 1, "{chain}");
    }

    #[test]
    fn protocol_types_in_the_api_are_reexported() {
        // Applications name them through rill_client alone.
        let code: crate::ErrorCode = crate::ErrorCode::UnknownTopicOrPartition;
        let err = ClientError::broker(code, "t", Some(0), None);
        assert_eq!(
            err.error_code(),
            Some(crate::ErrorCode::UnknownTopicOrPartition)
        );
        let _: Option<crate::ApiKey> = None;
        let _: Option<(crate::BatchError, crate::FrameError)> = None;
        let _: Option<(crate::DecodeError, crate::EncodeError)> = None;
    }
}
