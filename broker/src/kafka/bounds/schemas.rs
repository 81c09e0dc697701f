//! Request layouts for every API the Kafka listener serves, in the small field DSL of
//! [`super`]: each field's name and wire type, and the versions it exists in, as given
//! by Kafka's message specs (`clients/src/main/resources/common/message/*Request.json`:
//! `versions`, `flexibleVersions`, `nullableVersions`, `taggedVersions`). A string,
//! bytes or array field is nullable here when the codec crate decodes it into an
//! `Option` (the spec's nullable versions, or every version where the crate widens it).
//!
//! Every version the crate implements is described, not only those served, so a version
//! bump in `apis::SERVED` finds its layout here already; the tests check each of them
//! against the crate's encoder and decoder.

use kafka_protocol::messages::ApiKey;

use super::Kind::{
    Array, Bool, Bytes, Int16, Int32, Int64, Int8, NullableArray, NullableString, Records, String,
    Struct, Uuid,
};
use super::{Field, Kind, Schema, LATEST};

/// A field present in versions `min..=max`.
const fn f(name: &'static str, kind: Kind, min: i16, max: i16) -> Field {
    Field::new(name, kind, min, max)
}

/// A field present from version `min` on.
const fn since(name: &'static str, kind: Kind, min: i16) -> Field {
    Field::new(name, kind, min, LATEST)
}

/// A field present in every version.
const fn all(name: &'static str, kind: Kind) -> Field {
    Field::new(name, kind, 0, LATEST)
}

/// Every served API's layout.
static SCHEMAS: &[Schema] = &[
    Schema {
        api: ApiKey::Produce,
        flexible_min: 9,
        fields: PRODUCE,
    },
    Schema {
        api: ApiKey::Fetch,
        flexible_min: 12,
        fields: FETCH,
    },
    Schema {
        api: ApiKey::ListOffsets,
        flexible_min: 6,
        fields: LIST_OFFSETS,
    },
    Schema {
        api: ApiKey::Metadata,
        flexible_min: 9,
        fields: METADATA,
    },
    Schema {
        api: ApiKey::OffsetCommit,
        flexible_min: 8,
        fields: OFFSET_COMMIT,
    },
    Schema {
        api: ApiKey::OffsetFetch,
        flexible_min: 6,
        fields: OFFSET_FETCH,
    },
    Schema {
        api: ApiKey::FindCoordinator,
        flexible_min: 3,
        fields: FIND_COORDINATOR,
    },
    Schema {
        api: ApiKey::JoinGroup,
        flexible_min: 6,
        fields: JOIN_GROUP,
    },
    Schema {
        api: ApiKey::Heartbeat,
        flexible_min: 4,
        fields: HEARTBEAT,
    },
    Schema {
        api: ApiKey::LeaveGroup,
        flexible_min: 4,
        fields: LEAVE_GROUP,
    },
    Schema {
        api: ApiKey::SyncGroup,
        flexible_min: 4,
        fields: SYNC_GROUP,
    },
    Schema {
        api: ApiKey::DescribeGroups,
        flexible_min: 5,
        fields: DESCRIBE_GROUPS,
    },
    Schema {
        api: ApiKey::ListGroups,
        flexible_min: 3,
        fields: LIST_GROUPS,
    },
    Schema {
        api: ApiKey::ApiVersions,
        flexible_min: 3,
        fields: API_VERSIONS,
    },
    Schema {
        api: ApiKey::CreateTopics,
        flexible_min: 5,
        fields: CREATE_TOPICS,
    },
    Schema {
        api: ApiKey::DeleteTopics,
        flexible_min: 4,
        fields: DELETE_TOPICS,
    },
    Schema {
        api: ApiKey::InitProducerId,
        flexible_min: 2,
        fields: INIT_PRODUCER_ID,
    },
    Schema {
        api: ApiKey::CreatePartitions,
        flexible_min: 2,
        fields: CREATE_PARTITIONS,
    },
    Schema {
        api: ApiKey::DescribeConfigs,
        flexible_min: 4,
        fields: DESCRIBE_CONFIGS,
    },
    Schema {
        api: ApiKey::IncrementalAlterConfigs,
        flexible_min: 1,
        fields: INCREMENTAL_ALTER_CONFIGS,
    },
    Schema {
        api: ApiKey::DescribeCluster,
        flexible_min: 0,
        fields: DESCRIBE_CLUSTER,
    },
    Schema {
        api: ApiKey::ConsumerGroupHeartbeat,
        flexible_min: 0,
        fields: CONSUMER_GROUP_HEARTBEAT,
    },
    Schema {
        api: ApiKey::SaslHandshake,
        flexible_min: LATEST,
        fields: SASL_HANDSHAKE,
    },
    Schema {
        api: ApiKey::SaslAuthenticate,
        flexible_min: 2,
        fields: SASL_AUTHENTICATE,
    },
    Schema {
        api: ApiKey::DescribeUserScramCredentials,
        flexible_min: 0,
        fields: DESCRIBE_USER_SCRAM_CREDENTIALS,
    },
    Schema {
        api: ApiKey::AlterUserScramCredentials,
        flexible_min: 0,
        fields: ALTER_USER_SCRAM_CREDENTIALS,
    },
    Schema {
        api: ApiKey::DescribeAcls,
        flexible_min: 2,
        fields: ACL_FILTER,
    },
    Schema {
        api: ApiKey::CreateAcls,
        flexible_min: 2,
        fields: CREATE_ACLS,
    },
    Schema {
        api: ApiKey::DeleteAcls,
        flexible_min: 2,
        fields: DELETE_ACLS,
    },
];

/// The request layout of `api`, or `None` when none is written (such a request is
/// refused, never decoded unchecked).
pub fn schema(api: ApiKey) -> Option<&'static Schema> {
    SCHEMAS.iter().find(|s| s.api == api)
}

// Produce. v0-2 (message format v0/v1, decoded by hand) share v3's layout without the
// transactional id.
const PRODUCE: &[Field] = &[
    since("transactional_id", NullableString, 3),
    all("acks", Int16),
    all("timeout_ms", Int32),
    all("topic_data", Array(&Struct(PRODUCE_TOPIC))),
];
const PRODUCE_TOPIC: &[Field] = &[
    f("name", String, 0, 12),
    since("topic_id", Uuid, 13),
    all("partition_data", Array(&Struct(PRODUCE_PARTITION))),
];
const PRODUCE_PARTITION: &[Field] = &[all("index", Int32), all("records", Records)];

// Fetch.
const FETCH: &[Field] = &[
    Field::tagged("cluster_id", 0, NullableString, 12),
    f("replica_id", Int32, 0, 14),
    Field::tagged("replica_state", 1, Struct(FETCH_REPLICA_STATE), 15),
    all("max_wait_ms", Int32),
    all("min_bytes", Int32),
    since("max_bytes", Int32, 3),
    since("isolation_level", Int8, 4),
    since("session_id", Int32, 7),
    since("session_epoch", Int32, 7),
    all("topics", Array(&Struct(FETCH_TOPIC))),
    since("forgotten_topics_data", Array(&Struct(FETCH_FORGOTTEN)), 7),
    since("rack_id", String, 11),
];
const FETCH_REPLICA_STATE: &[Field] = &[
    since("replica_id", Int32, 15),
    since("replica_epoch", Int64, 15),
];
const FETCH_TOPIC: &[Field] = &[
    f("topic", String, 0, 12),
    since("topic_id", Uuid, 13),
    all("partitions", Array(&Struct(FETCH_PARTITION))),
];
const FETCH_PARTITION: &[Field] = &[
    all("partition", Int32),
    since("current_leader_epoch", Int32, 9),
    all("fetch_offset", Int64),
    since("last_fetched_epoch", Int32, 12),
    since("log_start_offset", Int64, 5),
    all("partition_max_bytes", Int32),
    Field::tagged("replica_directory_id", 0, Uuid, 17),
    Field::tagged("high_watermark", 1, Int64, 18),
];
const FETCH_FORGOTTEN: &[Field] = &[
    f("topic", String, 7, 12),
    since("topic_id", Uuid, 13),
    since("partitions", Array(&Int32), 7),
];

// ListOffsets.
const LIST_OFFSETS: &[Field] = &[
    all("replica_id", Int32),
    since("isolation_level", Int8, 2),
    all("topics", Array(&Struct(LIST_OFFSETS_TOPIC))),
    since("timeout_ms", Int32, 10),
];
const LIST_OFFSETS_TOPIC: &[Field] = &[
    all("name", String),
    all("partitions", Array(&Struct(LIST_OFFSETS_PARTITION))),
];
const LIST_OFFSETS_PARTITION: &[Field] = &[
    all("partition_index", Int32),
    since("current_leader_epoch", Int32, 4),
    all("timestamp", Int64),
    f("max_num_offsets", Int32, 0, 0),
];

// Metadata.
const METADATA: &[Field] = &[
    all("topics", NullableArray(&Struct(METADATA_TOPIC))),
    since("allow_auto_topic_creation", Bool, 4),
    f("include_cluster_authorized_operations", Bool, 8, 10),
    since("include_topic_authorized_operations", Bool, 8),
];
const METADATA_TOPIC: &[Field] = &[since("topic_id", Uuid, 10), all("name", NullableString)];

// OffsetCommit.
const OFFSET_COMMIT: &[Field] = &[
    all("group_id", String),
    since("generation_id_or_member_epoch", Int32, 1),
    since("member_id", String, 1),
    since("group_instance_id", NullableString, 7),
    f("retention_time_ms", Int64, 2, 4),
    all("topics", Array(&Struct(OFFSET_COMMIT_TOPIC))),
];
const OFFSET_COMMIT_TOPIC: &[Field] = &[
    all("name", String),
    all("partitions", Array(&Struct(OFFSET_COMMIT_PARTITION))),
];
const OFFSET_COMMIT_PARTITION: &[Field] = &[
    all("partition_index", Int32),
    all("committed_offset", Int64),
    since("committed_leader_epoch", Int32, 6),
    f("commit_timestamp", Int64, 1, 1),
    all("committed_metadata", NullableString),
];

// OffsetFetch: one group (v0-7) or many (v8+).
const OFFSET_FETCH: &[Field] = &[
    f("group_id", String, 0, 7),
    f("topics", NullableArray(&Struct(OFFSET_FETCH_TOPIC)), 0, 7),
    since("groups", Array(&Struct(OFFSET_FETCH_GROUP)), 8),
    since("require_stable", Bool, 7),
];
const OFFSET_FETCH_TOPIC: &[Field] = &[
    f("name", String, 0, 7),
    f("partition_indexes", Array(&Int32), 0, 7),
];
const OFFSET_FETCH_GROUP: &[Field] = &[
    since("group_id", String, 8),
    since("member_id", NullableString, 9),
    since("member_epoch", Int32, 9),
    since(
        "topics",
        NullableArray(&Struct(OFFSET_FETCH_GROUP_TOPIC)),
        8,
    ),
];
const OFFSET_FETCH_GROUP_TOPIC: &[Field] = &[
    since("name", String, 8),
    since("partition_indexes", Array(&Int32), 8),
];

// FindCoordinator: one key (v0-3) or many (v4+).
const FIND_COORDINATOR: &[Field] = &[
    f("key", String, 0, 3),
    since("key_type", Int8, 1),
    since("coordinator_keys", Array(&String), 4),
];

// JoinGroup.
const JOIN_GROUP: &[Field] = &[
    all("group_id", String),
    all("session_timeout_ms", Int32),
    since("rebalance_timeout_ms", Int32, 1),
    all("member_id", String),
    since("group_instance_id", NullableString, 5),
    all("protocol_type", String),
    all("protocols", Array(&Struct(JOIN_GROUP_PROTOCOL))),
    since("reason", NullableString, 8),
];
const JOIN_GROUP_PROTOCOL: &[Field] = &[all("name", String), all("metadata", Bytes)];

// Heartbeat.
const HEARTBEAT: &[Field] = &[
    all("group_id", String),
    all("generation_id", Int32),
    all("member_id", String),
    since("group_instance_id", NullableString, 3),
];

// LeaveGroup: one member (v0-2) or many (v3+).
const LEAVE_GROUP: &[Field] = &[
    all("group_id", String),
    f("member_id", String, 0, 2),
    since("members", Array(&Struct(LEAVE_GROUP_MEMBER)), 3),
];
const LEAVE_GROUP_MEMBER: &[Field] = &[
    since("member_id", String, 3),
    since("group_instance_id", NullableString, 3),
    since("reason", NullableString, 5),
];

// SyncGroup.
const SYNC_GROUP: &[Field] = &[
    all("group_id", String),
    all("generation_id", Int32),
    all("member_id", String),
    since("group_instance_id", NullableString, 3),
    since("protocol_type", NullableString, 5),
    since("protocol_name", NullableString, 5),
    all("assignments", Array(&Struct(SYNC_GROUP_ASSIGNMENT))),
];
const SYNC_GROUP_ASSIGNMENT: &[Field] = &[all("member_id", String), all("assignment", Bytes)];

// DescribeGroups.
const DESCRIBE_GROUPS: &[Field] = &[
    all("groups", Array(&String)),
    since("include_authorized_operations", Bool, 3),
];

// ListGroups.
const LIST_GROUPS: &[Field] = &[
    since("states_filter", Array(&String), 4),
    since("types_filter", Array(&String), 5),
];

// ApiVersions.
const API_VERSIONS: &[Field] = &[
    since("client_software_name", String, 3),
    since("client_software_version", String, 3),
];

// CreateTopics.
const CREATE_TOPICS: &[Field] = &[
    all("topics", Array(&Struct(CREATE_TOPICS_TOPIC))),
    all("timeout_ms", Int32),
    since("validate_only", Bool, 1),
];
const CREATE_TOPICS_TOPIC: &[Field] = &[
    all("name", String),
    all("num_partitions", Int32),
    all("replication_factor", Int16),
    all("assignments", Array(&Struct(CREATE_TOPICS_ASSIGNMENT))),
    all("configs", Array(&Struct(CREATE_TOPICS_CONFIG))),
];
const CREATE_TOPICS_ASSIGNMENT: &[Field] = &[
    all("partition_index", Int32),
    all("broker_ids", Array(&Int32)),
];
const CREATE_TOPICS_CONFIG: &[Field] = &[all("name", String), all("value", NullableString)];

// DeleteTopics: names (v0-5) or name-or-id states (v6+).
const DELETE_TOPICS: &[Field] = &[
    since("topics", Array(&Struct(DELETE_TOPICS_STATE)), 6),
    f("topic_names", Array(&String), 0, 5),
    all("timeout_ms", Int32),
];
const DELETE_TOPICS_STATE: &[Field] =
    &[since("name", NullableString, 6), since("topic_id", Uuid, 6)];

// InitProducerId.
const INIT_PRODUCER_ID: &[Field] = &[
    all("transactional_id", NullableString),
    all("transaction_timeout_ms", Int32),
    since("producer_id", Int64, 3),
    since("producer_epoch", Int16, 3),
];

// CreatePartitions.
const CREATE_PARTITIONS: &[Field] = &[
    all("topics", Array(&Struct(CREATE_PARTITIONS_TOPIC))),
    all("timeout_ms", Int32),
    all("validate_only", Bool),
];
const CREATE_PARTITIONS_TOPIC: &[Field] = &[
    all("name", String),
    all("count", Int32),
    all(
        "assignments",
        NullableArray(&Struct(CREATE_PARTITIONS_ASSIGNMENT)),
    ),
];
const CREATE_PARTITIONS_ASSIGNMENT: &[Field] = &[all("broker_ids", Array(&Int32))];

// DescribeConfigs.
const DESCRIBE_CONFIGS: &[Field] = &[
    all("resources", Array(&Struct(DESCRIBE_CONFIGS_RESOURCE))),
    since("include_synonyms", Bool, 1),
    since("include_documentation", Bool, 3),
];
const DESCRIBE_CONFIGS_RESOURCE: &[Field] = &[
    all("resource_type", Int8),
    all("resource_name", String),
    all("configuration_keys", NullableArray(&String)),
];

// IncrementalAlterConfigs.
const INCREMENTAL_ALTER_CONFIGS: &[Field] = &[
    all("resources", Array(&Struct(ALTER_CONFIGS_RESOURCE))),
    all("validate_only", Bool),
];
const ALTER_CONFIGS_RESOURCE: &[Field] = &[
    all("resource_type", Int8),
    all("resource_name", String),
    all("configs", Array(&Struct(ALTERABLE_CONFIG))),
];
const ALTERABLE_CONFIG: &[Field] = &[
    all("name", String),
    all("config_operation", Int8),
    all("value", NullableString),
];

// DescribeCluster (flexible in every version).
const DESCRIBE_CLUSTER: &[Field] = &[
    all("include_cluster_authorized_operations", Bool),
    since("endpoint_type", Int8, 1),
    since("include_fenced_brokers", Bool, 2),
];

// DescribeAcls (the whole request is one filter; v0 had no pattern type).
const ACL_FILTER: &[Field] = &[
    all("resource_type_filter", Int8),
    all("resource_name_filter", NullableString),
    since("pattern_type_filter", Int8, 1),
    all("principal_filter", NullableString),
    all("host_filter", NullableString),
    all("operation", Int8),
    all("permission_type", Int8),
];

// CreateAcls.
const CREATE_ACLS: &[Field] = &[all("creations", Array(&Struct(ACL_CREATION)))];
const ACL_CREATION: &[Field] = &[
    all("resource_type", Int8),
    all("resource_name", String),
    since("resource_pattern_type", Int8, 1),
    all("principal", String),
    all("host", String),
    all("operation", Int8),
    all("permission_type", Int8),
];

// DeleteAcls.
const DELETE_ACLS: &[Field] = &[all("filters", Array(&Struct(ACL_FILTER)))];

// ConsumerGroupHeartbeat (KIP-848; flexible in every version).
const CONSUMER_GROUP_HEARTBEAT: &[Field] = &[
    all("group_id", String),
    all("member_id", String),
    all("member_epoch", Int32),
    all("instance_id", NullableString),
    all("rack_id", NullableString),
    all("rebalance_timeout_ms", Int32),
    all("subscribed_topic_names", NullableArray(&String)),
    since("subscribed_topic_regex", NullableString, 1),
    all("server_assignor", NullableString),
    all(
        "topic_partitions",
        NullableArray(&Struct(CONSUMER_GROUP_HEARTBEAT_TOPIC)),
    ),
];
const CONSUMER_GROUP_HEARTBEAT_TOPIC: &[Field] =
    &[all("topic_id", Uuid), all("partitions", Array(&Int32))];

// SaslHandshake (never flexible).
const SASL_HANDSHAKE: &[Field] = &[all("mechanism", String)];

// SaslAuthenticate.
const SASL_AUTHENTICATE: &[Field] = &[all("auth_bytes", Bytes)];

// DescribeUserScramCredentials: null users means every user.
const DESCRIBE_USER_SCRAM_CREDENTIALS: &[Field] =
    &[all("users", NullableArray(&Struct(USER_NAME)))];
const USER_NAME: &[Field] = &[all("name", String)];

// AlterUserScramCredentials.
const ALTER_USER_SCRAM_CREDENTIALS: &[Field] = &[
    all("deletions", Array(&Struct(SCRAM_CREDENTIAL_DELETION))),
    all("upsertions", Array(&Struct(SCRAM_CREDENTIAL_UPSERTION))),
];
const SCRAM_CREDENTIAL_DELETION: &[Field] = &[all("name", String), all("mechanism", Int8)];
const SCRAM_CREDENTIAL_UPSERTION: &[Field] = &[
    all("name", String),
    all("mechanism", Int8),
    all("iterations", Int32),
    all("salt", Bytes),
    all("salted_password", Bytes),
];
