//! Error codes carried per topic, partition or group in responses.
//!
//! Numbers and names follow Apache Kafka's where Kafka has the same error, so operators and
//! tools read them the same way. On the wire a code is an `i16`; a code this build does not
//! know decodes to [`ErrorCode::Unknown`] instead of failing the whole response.

use std::fmt;

/// Declares the error codes from one table: variant, number, Kafka name, retriable, text.
macro_rules! error_codes {
    ($($variant:ident = $code:literal, $name:literal, $retriable:literal, $text:literal;)*) => {
        /// A response error code (Kafka-compatible numbering).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(
                #[doc = $text]
                $variant,
            )*
            /// A code this build does not know (from a newer peer).
            Unknown(i16),
        }

        impl ErrorCode {
            /// Every known code, for tests and tables.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The wire number.
            pub fn code(self) -> i16 {
                match self {
                    $(ErrorCode::$variant => $code,)*
                    ErrorCode::Unknown(code) => code,
                }
            }

            /// The code for a wire number; unknown numbers are kept in [`ErrorCode::Unknown`].
            pub fn from_code(code: i16) -> Self {
                match code {
                    $($code => ErrorCode::$variant,)*
                    other => ErrorCode::Unknown(other),
                }
            }

            /// Kafka's SCREAMING_SNAKE name (`"UNKNOWN"` for unknown codes).
            pub fn name(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                    ErrorCode::Unknown(_) => "UNKNOWN",
                }
            }

            /// Whether the same request may succeed if retried after a backoff.
            pub fn is_retriable(self) -> bool {
                match self {
                    $(ErrorCode::$variant => $retriable,)*
                    ErrorCode::Unknown(_) => false,
                }
            }

            /// A one-line human explanation.
            pub fn description(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $text,)*
                    ErrorCode::Unknown(_) => "An error code this client does not know.",
                }
            }
        }
    };
}

error_codes! {
    None = 0, "NONE", false, "No error.";
    UnknownServerError = -1, "UNKNOWN_SERVER_ERROR", false,
        "The server experienced an unexpected error when processing the request.";
    OffsetOutOfRange = 1, "OFFSET_OUT_OF_RANGE", false,
        "The requested offset is not within the range of offsets kept by the partition.";
    CorruptMessage = 2, "CORRUPT_MESSAGE", true,
        "A record batch failed its CRC check, exceeds a size limit, or is otherwise corrupt.";
    UnknownTopicOrPartition = 3, "UNKNOWN_TOPIC_OR_PARTITION", true,
        "This server does not host this topic or partition.";
    InvalidFetchSize = 4, "INVALID_FETCH_SIZE", false, "The requested fetch size is invalid.";
    LeaderNotAvailable = 5, "LEADER_NOT_AVAILABLE", true,
        "No broker leads this partition now (its leader is down, fenced or cut off, or its storage is offline).";
    NotLeaderOrFollower = 6, "NOT_LEADER_OR_FOLLOWER", true,
        "This broker does not lead this partition: refresh the metadata and send to its leader.";
    RequestTimedOut = 7, "REQUEST_TIMED_OUT", true, "The request timed out.";
    BrokerNotAvailable = 8, "BROKER_NOT_AVAILABLE", true,
        "The broker is not available (not registered, fenced, or unreachable).";
    MessageTooLarge = 10, "MESSAGE_TOO_LARGE", false,
        "The record batch is larger than the maximum the server accepts.";
    CoordinatorNotAvailable = 15, "COORDINATOR_NOT_AVAILABLE", true,
        "The group coordinator is not available.";
    NotCoordinator = 16, "NOT_COORDINATOR", true, "This is not the correct coordinator.";
    InvalidTopic = 17, "INVALID_TOPIC_EXCEPTION", false,
        "The topic name is invalid or the operation is not allowed on an internal topic.";
    RecordListTooLarge = 18, "RECORD_LIST_TOO_LARGE", false,
        "The records of one partition in a produce request exceed the maximum size.";
    InvalidRequiredAcks = 21, "INVALID_REQUIRED_ACKS", false,
        "The requested acks is invalid (must be -1, 0 or 1).";
    IllegalGeneration = 22, "ILLEGAL_GENERATION", false,
        "The member's generation (epoch) is not the group's current one.";
    InvalidGroupId = 24, "INVALID_GROUP_ID", false, "The group id is invalid.";
    UnknownMemberId = 25, "UNKNOWN_MEMBER_ID", false,
        "The coordinator is not aware of this member.";
    InvalidSessionTimeout = 26, "INVALID_SESSION_TIMEOUT", false,
        "The session timeout is not within the range the broker allows.";
    RebalanceInProgress = 27, "REBALANCE_IN_PROGRESS", false,
        "The group is rebalancing; the member must rejoin or wait for its new assignment.";
    TopicAuthorizationFailed = 29, "TOPIC_AUTHORIZATION_FAILED", false,
        "Topic authorization failed: no ACL allows this principal the operation on the topic.";
    GroupAuthorizationFailed = 30, "GROUP_AUTHORIZATION_FAILED", false,
        "Group authorization failed: no ACL allows this principal the operation on the group.";
    ClusterAuthorizationFailed = 31, "CLUSTER_AUTHORIZATION_FAILED", false,
        "Cluster authorization failed: no ACL allows this principal the operation on the cluster.";
    InvalidTimestamp = 32, "INVALID_TIMESTAMP", false,
        "A record's timestamp is further from the broker's clock than the topic allows \
         (message.timestamp.before.max.ms / message.timestamp.after.max.ms).";
    UnsupportedSaslMechanism = 33, "UNSUPPORTED_SASL_MECHANISM", false,
        "The broker does not enable the requested SASL mechanism.";
    IllegalSaslState = 34, "ILLEGAL_SASL_STATE", false,
        "The request is not valid in the connection's SASL state (authenticate first).";
    UnsupportedVersion = 35, "UNSUPPORTED_VERSION", false,
        "The version of the API is not supported.";
    TopicAlreadyExists = 36, "TOPIC_ALREADY_EXISTS", false, "The topic already exists.";
    InvalidPartitions = 37, "INVALID_PARTITIONS", false, "The number of partitions is invalid.";
    InvalidReplicationFactor = 38, "INVALID_REPLICATION_FACTOR", false,
        "The replication factor is invalid.";
    InvalidReplicaAssignment = 39, "INVALID_REPLICA_ASSIGNMENT", false,
        "The replica assignment is invalid.";
    InvalidConfig = 40, "INVALID_CONFIG", false, "A configuration key or value is invalid.";
    NotController = 41, "NOT_CONTROLLER", true,
        "This broker is not the cluster's controller, or the cluster has no controller now.";
    InvalidRequest = 42, "INVALID_REQUEST", false,
        "The request is malformed or violates the protocol (see the server log).";
    OutOfOrderSequence = 45, "OUT_OF_ORDER_SEQUENCE_NUMBER", false,
        "The broker received an out of order sequence number from the idempotent producer.";
    DuplicateSequence = 46, "DUPLICATE_SEQUENCE_NUMBER", false,
        "The broker already has this batch from the idempotent producer.";
    InvalidProducerEpoch = 47, "INVALID_PRODUCER_EPOCH", false,
        "The producer's epoch is older than the one the broker knows (fenced).";
    KafkaStorageError = 56, "KAFKA_STORAGE_ERROR", true,
        "The broker could not read or write the partition's storage.";
    SaslAuthenticationFailed = 58, "SASL_AUTHENTICATION_FAILED", false,
        "SASL authentication failed: wrong user name or password, or a malformed exchange.";
    UnknownProducerId = 59, "UNKNOWN_PRODUCER_ID", false,
        "The broker holds no state for this producer id.";
    NonEmptyGroup = 68, "NON_EMPTY_GROUP", false, "The group still has members.";
    GroupIdNotFound = 69, "GROUP_ID_NOT_FOUND", false, "The group does not exist.";
    InvalidRecord = 87, "INVALID_RECORD", false,
        "A record is invalid for this topic (a compacted topic needs a key on every record).";
    ResourceNotFound = 91, "RESOURCE_NOT_FOUND", false,
        "The named resource (e.g. a user) does not exist.";
    UnacceptableCredential = 93, "UNACCEPTABLE_CREDENTIAL", false,
        "The credential is not acceptable (iterations, salt or key length out of range).";
    FencedMemberEpoch = 110, "FENCED_MEMBER_EPOCH", false,
        "The member epoch is fenced by the coordinator; the member must rejoin with epoch 0.";
}

impl ErrorCode {
    /// Whether this is the success code.
    pub fn is_ok(self) -> bool {
        self == ErrorCode::None
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.name(),
            self.code(),
            self.description()
        )
    }
}

impl From<i16> for ErrorCode {
    fn from(code: i16) -> Self {
        Self::from_code(code)
    }
}

impl From<ErrorCode> for i16 {
    fn from(code: ErrorCode) -> Self {
        code.code()
    }
}

impl crate::wire::Wire for ErrorCode {
    const MIN_BYTES: usize = 2;

    fn encode(
        &self,
        _version: u16,
        out: &mut crate::frame::FrameBuf,
    ) -> Result<(), crate::wire::EncodeError> {
        out.put_i16(self.code());
        Ok(())
    }

    fn decode(
        r: &mut crate::wire::Reader,
        _version: u16,
    ) -> Result<Self, crate::wire::DecodeError> {
        Ok(Self::from_code(r.i16("error_code")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for &code in ErrorCode::ALL {
            assert!(seen.insert(code.code()), "duplicate {}", code.code());
            assert_eq!(ErrorCode::from_code(code.code()), code);
        }
        assert_eq!(ErrorCode::from_code(999), ErrorCode::Unknown(999));
        assert_eq!(ErrorCode::Unknown(999).code(), 999);
    }

    #[test]
    fn kafka_numbers_and_names() {
        assert_eq!(ErrorCode::NotCoordinator.code(), 16);
        assert_eq!(ErrorCode::UnknownServerError.code(), -1);
        assert_eq!(ErrorCode::FencedMemberEpoch.code(), 110);
        assert_eq!(ErrorCode::OffsetOutOfRange.name(), "OFFSET_OUT_OF_RANGE");
        assert!(ErrorCode::NotCoordinator.is_retriable());
        assert!(!ErrorCode::TopicAlreadyExists.is_retriable());
        assert!(ErrorCode::None.is_ok());
        let shown = ErrorCode::UnknownTopicOrPartition.to_string();
        assert!(
            shown.starts_with("UNKNOWN_TOPIC_OR_PARTITION (3): "),
            "{shown}"
        );
    }
}
