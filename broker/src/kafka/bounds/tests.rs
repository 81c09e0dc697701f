//! The layouts checked against the codec crate's own encoder for every served API and
//! version, and every array count, length and tag section made to lie.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{self as m, ApiKey, RequestKind};
use kafka_protocol::protocol::{Message, StrBytes, VersionRange};

use super::{check_body, schema, walked_bytes, BoundsError, CountAt, Scan, TAGGED_FIELDS_MAX};
use crate::kafka::apis;
use crate::kafka::request::{decode_request, RequestError};

/// An unknown tag the crate writes and the pre-scan must skip.
const UNKNOWN_TAG: i32 = 42;

fn s(text: &'static str) -> StrBytes {
    StrBytes::from_static_str(text)
}

fn topic(name: &'static str) -> m::TopicName {
    m::TopicName(s(name))
}

fn group(name: &'static str) -> m::GroupId {
    m::GroupId(s(name))
}

/// Tagged fields the crate writes unread: one unknown tag with three bytes.
fn unknown_tags() -> BTreeMap<i32, Bytes> {
    BTreeMap::from([(UNKNOWN_TAG, Bytes::from_static(b"xyz"))])
}

/// Every served `(api, version)`.
fn served() -> Vec<(ApiKey, i16)> {
    ApiKey::iter()
        .filter_map(|api| apis::served(api).map(|(min, max)| (api, min, max)))
        .flat_map(|(api, min, max)| (min..=max).map(move |v| (api, v)))
        .collect()
}

fn flexible(api: ApiKey, version: i16) -> bool {
    schema(api).is_some_and(|s| version >= s.flexible_min)
}

fn produce(version: i16) -> RequestKind {
    let partition = |index, records: Option<&'static [u8]>| {
        let mut p = m::produce_request::PartitionProduceData::default();
        p.index = index;
        p.records = records.map(Bytes::from_static);
        p
    };
    let topic_data = |name| {
        let mut t = m::produce_request::TopicProduceData::default();
        if version <= 12 {
            t.name = topic(name);
        } else {
            t.topic_id = uuid::Uuid::from_u128(11);
        }
        t.partition_data = vec![partition(0, Some(b"batch-bytes")), partition(1, None)];
        t
    };
    let mut r = m::ProduceRequest::default();
    if version >= 3 {
        r.transactional_id = Some(m::TransactionalId(s("tx")));
    }
    r.acks = -1;
    r.timeout_ms = 1000;
    r.topic_data = vec![topic_data("a"), topic_data("bb")];
    RequestKind::Produce(r)
}

fn fetch(version: i16) -> RequestKind {
    let partition = |index| {
        let mut p = m::fetch_request::FetchPartition::default();
        p.partition = index;
        p.fetch_offset = 5;
        p.partition_max_bytes = 1 << 20;
        if version >= 17 {
            p.replica_directory_id = uuid::Uuid::from_u128(5);
        }
        if version >= 18 {
            p.high_watermark = 100;
        }
        p
    };
    let fetch_topic = |name| {
        let mut t = m::fetch_request::FetchTopic::default();
        if version <= 12 {
            t.topic = topic(name);
        } else {
            t.topic_id = uuid::Uuid::from_u128(12);
        }
        t.partitions = vec![partition(0), partition(3)];
        t
    };
    let mut r = m::FetchRequest::default();
    r.max_wait_ms = 500;
    r.max_bytes = 1 << 20;
    r.topics = vec![fetch_topic("a"), fetch_topic("bb")];
    if version >= 7 {
        let mut forgotten = m::fetch_request::ForgottenTopic::default();
        if version <= 12 {
            forgotten.topic = topic("old");
        } else {
            forgotten.topic_id = uuid::Uuid::from_u128(13);
        }
        forgotten.partitions = vec![1, 2, 3];
        r.forgotten_topics_data = vec![forgotten];
    }
    if version >= 11 {
        r.rack_id = s("rack-1");
    }
    if version >= 12 {
        r.cluster_id = Some(s("cluster"));
        if version >= 15 {
            r.replica_state.replica_id = m::BrokerId(3);
            r.replica_state.replica_epoch = 7;
        }
        r.unknown_tagged_fields = unknown_tags();
    }
    RequestKind::Fetch(r)
}

fn list_offsets(_version: i16) -> RequestKind {
    let partition = |index| {
        let mut p = m::list_offsets_request::ListOffsetsPartition::default();
        p.partition_index = index;
        p.timestamp = -1;
        p
    };
    let lo_topic = |name| {
        let mut t = m::list_offsets_request::ListOffsetsTopic::default();
        t.name = topic(name);
        t.partitions = vec![partition(0), partition(1)];
        t
    };
    let mut r = m::ListOffsetsRequest::default();
    r.replica_id = m::BrokerId(-1);
    r.topics = vec![lo_topic("a"), lo_topic("bb")];
    RequestKind::ListOffsets(r)
}

fn metadata(version: i16) -> RequestKind {
    let md_topic = |name| {
        let mut t = m::metadata_request::MetadataRequestTopic::default();
        t.name = Some(topic(name));
        t
    };
    let mut r = m::MetadataRequest::default();
    r.topics = Some(vec![md_topic("a"), md_topic("bb")]);
    if version >= 9 {
        r.unknown_tagged_fields = unknown_tags();
    }
    RequestKind::Metadata(r)
}

fn offset_commit(version: i16) -> RequestKind {
    let partition = |index| {
        let mut p = m::offset_commit_request::OffsetCommitRequestPartition::default();
        p.partition_index = index;
        p.committed_offset = 10;
        p.committed_metadata = Some(s("meta"));
        p
    };
    let oc_topic = |name| {
        let mut t = m::offset_commit_request::OffsetCommitRequestTopic::default();
        t.name = topic(name);
        t.partitions = vec![partition(0), partition(1)];
        t
    };
    let mut r = m::OffsetCommitRequest::default();
    r.group_id = group("g");
    r.member_id = s("member");
    if version >= 7 {
        r.group_instance_id = Some(s("instance"));
    }
    r.topics = vec![oc_topic("a"), oc_topic("bb")];
    RequestKind::OffsetCommit(r)
}

fn offset_fetch(version: i16) -> RequestKind {
    let mut r = m::OffsetFetchRequest::default();
    if version <= 7 {
        let of_topic = |name| {
            let mut t = m::offset_fetch_request::OffsetFetchRequestTopic::default();
            t.name = topic(name);
            t.partition_indexes = vec![0, 1, 2];
            t
        };
        r.group_id = group("g");
        r.topics = Some(vec![of_topic("a"), of_topic("bb")]);
    } else {
        let of_topics = |name| {
            let mut t = m::offset_fetch_request::OffsetFetchRequestTopics::default();
            t.name = topic(name);
            t.partition_indexes = vec![0, 1];
            t
        };
        let of_group = |id| {
            let mut g = m::offset_fetch_request::OffsetFetchRequestGroup::default();
            g.group_id = group(id);
            g.topics = Some(vec![of_topics("a"), of_topics("bb")]);
            g
        };
        r.groups = vec![of_group("g1"), of_group("g2")];
    }
    RequestKind::OffsetFetch(r)
}

fn find_coordinator(version: i16) -> RequestKind {
    let mut r = m::FindCoordinatorRequest::default();
    if version <= 3 {
        r.key = s("g");
    } else {
        r.coordinator_keys = vec![s("g1"), s("g2")];
    }
    RequestKind::FindCoordinator(r)
}

fn join_group(version: i16) -> RequestKind {
    let protocol = |name, metadata: &'static [u8]| {
        let mut p = m::join_group_request::JoinGroupRequestProtocol::default();
        p.name = s(name);
        p.metadata = Bytes::from_static(metadata);
        p
    };
    let mut r = m::JoinGroupRequest::default();
    r.group_id = group("g");
    r.session_timeout_ms = 10_000;
    r.member_id = s("member");
    if version >= 5 {
        r.group_instance_id = Some(s("instance"));
    }
    r.protocol_type = s("consumer");
    r.protocols = vec![protocol("range", b"\0\x01"), protocol("roundrobin", b"")];
    RequestKind::JoinGroup(r)
}

fn heartbeat(version: i16) -> RequestKind {
    let mut r = m::HeartbeatRequest::default();
    r.group_id = group("g");
    r.generation_id = 3;
    r.member_id = s("member");
    if version >= 3 {
        r.group_instance_id = Some(s("instance"));
    }
    RequestKind::Heartbeat(r)
}

fn leave_group(version: i16) -> RequestKind {
    let member = |id| {
        let mut who = m::leave_group_request::MemberIdentity::default();
        who.member_id = s(id);
        who.group_instance_id = Some(s("instance"));
        who
    };
    let mut r = m::LeaveGroupRequest::default();
    r.group_id = group("g");
    if version <= 2 {
        r.member_id = s("member");
    } else {
        r.members = vec![member("m1"), member("m2")];
    }
    RequestKind::LeaveGroup(r)
}

fn sync_group(version: i16) -> RequestKind {
    let assignment = |id, bytes: &'static [u8]| {
        let mut a = m::sync_group_request::SyncGroupRequestAssignment::default();
        a.member_id = s(id);
        a.assignment = Bytes::from_static(bytes);
        a
    };
    let mut r = m::SyncGroupRequest::default();
    r.group_id = group("g");
    r.generation_id = 1;
    r.member_id = s("m1");
    if version >= 3 {
        r.group_instance_id = Some(s("instance"));
    }
    if version >= 5 {
        r.protocol_type = Some(s("consumer"));
        r.protocol_name = Some(s("range"));
    }
    r.assignments = vec![assignment("m1", b"\0\x01\0"), assignment("m2", b"")];
    RequestKind::SyncGroup(r)
}

fn describe_groups(version: i16) -> RequestKind {
    let mut r = m::DescribeGroupsRequest::default();
    r.groups = vec![group("g1"), group("g2")];
    r.include_authorized_operations = version >= 3;
    RequestKind::DescribeGroups(r)
}

fn list_groups(version: i16) -> RequestKind {
    let mut r = m::ListGroupsRequest::default();
    if version >= 4 {
        r.states_filter = vec![s("Stable"), s("Empty")];
    }
    RequestKind::ListGroups(r)
}

fn api_versions(version: i16) -> RequestKind {
    let mut r = m::ApiVersionsRequest::default();
    if version >= 3 {
        r.client_software_name = s("librdkafka");
        r.client_software_version = s("2.16.2");
        r.unknown_tagged_fields = unknown_tags();
    }
    RequestKind::ApiVersions(r)
}

fn create_topics(_version: i16) -> RequestKind {
    let assignment = |index| {
        let mut a = m::create_topics_request::CreatableReplicaAssignment::default();
        a.partition_index = index;
        a.broker_ids = vec![m::BrokerId(1), m::BrokerId(2)];
        a
    };
    let config = |name, value: Option<&'static str>| {
        let mut c = m::create_topics_request::CreatableTopicConfig::default();
        c.name = s(name);
        c.value = value.map(s);
        c
    };
    let creatable = |name| {
        let mut t = m::create_topics_request::CreatableTopic::default();
        t.name = topic(name);
        t.num_partitions = -1;
        t.replication_factor = -1;
        t.assignments = vec![assignment(0), assignment(1)];
        t.configs = vec![
            config("retention.ms", Some("1000")),
            config("cleanup.policy", None),
        ];
        t
    };
    let mut r = m::CreateTopicsRequest::default();
    r.topics = vec![creatable("a"), creatable("bb")];
    r.timeout_ms = 5000;
    RequestKind::CreateTopics(r)
}

fn delete_topics(version: i16) -> RequestKind {
    let mut r = m::DeleteTopicsRequest::default();
    if version <= 5 {
        r.topic_names = vec![topic("a"), topic("bb")];
    } else {
        let state = |name| {
            let mut st = m::delete_topics_request::DeleteTopicState::default();
            st.name = Some(topic(name));
            st
        };
        r.topics = vec![state("a"), state("bb")];
    }
    r.timeout_ms = 5000;
    RequestKind::DeleteTopics(r)
}

fn init_producer_id(_version: i16) -> RequestKind {
    let mut r = m::InitProducerIdRequest::default();
    r.transactional_id = Some(m::TransactionalId(s("tx")));
    r.transaction_timeout_ms = 60_000;
    RequestKind::InitProducerId(r)
}

fn create_partitions(_version: i16) -> RequestKind {
    let assignment = |ids: [i32; 2]| {
        let mut a = m::create_partitions_request::CreatePartitionsAssignment::default();
        a.broker_ids = ids.map(m::BrokerId).to_vec();
        a
    };
    let grow = |name, assignments| {
        let mut t = m::create_partitions_request::CreatePartitionsTopic::default();
        t.name = topic(name);
        t.count = 4;
        t.assignments = assignments;
        t
    };
    let mut r = m::CreatePartitionsRequest::default();
    r.topics = vec![
        grow("a", Some(vec![assignment([1, 2]), assignment([2, 3])])),
        grow("bb", None),
    ];
    r.timeout_ms = 5000;
    RequestKind::CreatePartitions(r)
}

fn describe_configs(version: i16) -> RequestKind {
    let resource = |name, keys: Option<Vec<StrBytes>>| {
        let mut res = m::describe_configs_request::DescribeConfigsResource::default();
        res.resource_type = 2;
        res.resource_name = s(name);
        res.configuration_keys = keys;
        res
    };
    let mut r = m::DescribeConfigsRequest::default();
    r.resources = vec![
        resource("a", Some(vec![s("retention.ms"), s("segment.bytes")])),
        resource("bb", None),
    ];
    r.include_synonyms = true;
    r.include_documentation = version >= 3;
    RequestKind::DescribeConfigs(r)
}

fn incremental_alter_configs(version: i16) -> RequestKind {
    let config = |name, value: Option<&'static str>| {
        let mut c = m::incremental_alter_configs_request::AlterableConfig::default();
        c.name = s(name);
        c.value = value.map(s);
        c
    };
    let resource = |name| {
        let mut res = m::incremental_alter_configs_request::AlterConfigsResource::default();
        res.resource_type = 2;
        res.resource_name = s(name);
        res.configs = vec![config("retention.ms", Some("1000")), config("flush", None)];
        res
    };
    let mut r = m::IncrementalAlterConfigsRequest::default();
    r.resources = vec![resource("a"), resource("bb")];
    if version >= 1 {
        r.unknown_tagged_fields = unknown_tags();
    }
    RequestKind::IncrementalAlterConfigs(r)
}

fn describe_cluster(version: i16) -> RequestKind {
    let mut r = m::DescribeClusterRequest::default();
    r.include_cluster_authorized_operations = true;
    if version >= 1 {
        r.endpoint_type = 1;
    }
    r.unknown_tagged_fields = unknown_tags();
    RequestKind::DescribeCluster(r)
}

fn consumer_group_heartbeat(version: i16) -> RequestKind {
    let owned = |partitions: Vec<i32>| {
        let mut t = m::consumer_group_heartbeat_request::TopicPartitions::default();
        t.topic_id = uuid::Uuid::from_u128(7);
        t.partitions = partitions;
        t
    };
    let mut r = m::ConsumerGroupHeartbeatRequest::default();
    r.group_id = group("g");
    r.member_id = s("member");
    r.instance_id = Some(s("instance"));
    r.rack_id = Some(s("rack"));
    r.rebalance_timeout_ms = 30_000;
    r.subscribed_topic_names = Some(vec![topic("a"), topic("bb")]);
    if version >= 1 {
        r.subscribed_topic_regex = Some(s("ev.*"));
    }
    r.server_assignor = Some(s("uniform"));
    r.topic_partitions = Some(vec![owned(vec![0, 1]), owned(vec![])]);
    RequestKind::ConsumerGroupHeartbeat(r)
}

fn sasl_handshake(_version: i16) -> RequestKind {
    let mut r = m::SaslHandshakeRequest::default();
    r.mechanism = s("SCRAM-SHA-256");
    RequestKind::SaslHandshake(r)
}

fn sasl_authenticate(version: i16) -> RequestKind {
    let mut r = m::SaslAuthenticateRequest::default();
    r.auth_bytes = Bytes::from_static(b"n,,n=alice,r=abc");
    if version >= 2 {
        r.unknown_tagged_fields = unknown_tags();
    }
    RequestKind::SaslAuthenticate(r)
}

fn describe_user_scram_credentials(_version: i16) -> RequestKind {
    let mut user = m::describe_user_scram_credentials_request::UserName::default();
    user.name = s("alice");
    let mut r = m::DescribeUserScramCredentialsRequest::default();
    r.users = Some(vec![user.clone(), user]);
    r.unknown_tagged_fields = unknown_tags();
    RequestKind::DescribeUserScramCredentials(r)
}

fn alter_user_scram_credentials(_version: i16) -> RequestKind {
    use m::alter_user_scram_credentials_request as a;
    let mut deletion = a::ScramCredentialDeletion::default();
    deletion.name = s("bob");
    deletion.mechanism = 2;
    let mut upsertion = a::ScramCredentialUpsertion::default();
    upsertion.name = s("alice");
    upsertion.mechanism = 1;
    upsertion.iterations = 4096;
    upsertion.salt = Bytes::from_static(b"0123456789abcdef");
    upsertion.salted_password = Bytes::from(vec![7u8; 32]);
    let mut r = m::AlterUserScramCredentialsRequest::default();
    r.deletions = vec![deletion];
    r.upsertions = vec![upsertion];
    r.unknown_tagged_fields = unknown_tags();
    RequestKind::AlterUserScramCredentials(r)
}

fn describe_acls(_version: i16) -> RequestKind {
    let mut r = m::DescribeAclsRequest::default();
    r.resource_type_filter = 2;
    r.resource_name_filter = Some(s("orders"));
    r.pattern_type_filter = 3;
    r.principal_filter = None;
    r.host_filter = Some(s("*"));
    r.operation = 3;
    r.permission_type = 3;
    RequestKind::DescribeAcls(r)
}

fn create_acls(_version: i16) -> RequestKind {
    let creation = |name: &'static str| {
        let mut c = m::create_acls_request::AclCreation::default();
        c.resource_type = 2;
        c.resource_name = s(name);
        c.resource_pattern_type = 4;
        c.principal = s("User:alice");
        c.host = s("*");
        c.operation = 4;
        c.permission_type = 3;
        c
    };
    let mut r = m::CreateAclsRequest::default();
    r.creations = vec![creation("a"), creation("logs-")];
    RequestKind::CreateAcls(r)
}

fn delete_acls(_version: i16) -> RequestKind {
    let filter = |name: Option<&'static str>| {
        let mut f = m::delete_acls_request::DeleteAclsFilter::default();
        f.resource_type_filter = 1;
        f.resource_name_filter = name.map(s);
        f.pattern_type_filter = 2;
        f.principal_filter = Some(s("User:bob"));
        f.operation = 1;
        f.permission_type = 1;
        f
    };
    let mut r = m::DeleteAclsRequest::default();
    r.filters = vec![filter(Some("t")), filter(None)];
    RequestKind::DeleteAcls(r)
}

/// A populated request of `api` at `version`, built with the crate's types.
fn build(api: ApiKey, version: i16) -> RequestKind {
    match api {
        ApiKey::Produce => produce(version),
        ApiKey::Fetch => fetch(version),
        ApiKey::ListOffsets => list_offsets(version),
        ApiKey::Metadata => metadata(version),
        ApiKey::OffsetCommit => offset_commit(version),
        ApiKey::OffsetFetch => offset_fetch(version),
        ApiKey::FindCoordinator => find_coordinator(version),
        ApiKey::JoinGroup => join_group(version),
        ApiKey::Heartbeat => heartbeat(version),
        ApiKey::LeaveGroup => leave_group(version),
        ApiKey::SyncGroup => sync_group(version),
        ApiKey::DescribeGroups => describe_groups(version),
        ApiKey::ListGroups => list_groups(version),
        ApiKey::ApiVersions => api_versions(version),
        ApiKey::CreateTopics => create_topics(version),
        ApiKey::DeleteTopics => delete_topics(version),
        ApiKey::InitProducerId => init_producer_id(version),
        ApiKey::CreatePartitions => create_partitions(version),
        ApiKey::DescribeConfigs => describe_configs(version),
        ApiKey::IncrementalAlterConfigs => incremental_alter_configs(version),
        ApiKey::DescribeCluster => describe_cluster(version),
        ApiKey::ConsumerGroupHeartbeat => consumer_group_heartbeat(version),
        ApiKey::SaslHandshake => sasl_handshake(version),
        ApiKey::SaslAuthenticate => sasl_authenticate(version),
        ApiKey::DescribeUserScramCredentials => describe_user_scram_credentials(version),
        ApiKey::AlterUserScramCredentials => alter_user_scram_credentials(version),
        ApiKey::DescribeAcls => describe_acls(version),
        ApiKey::CreateAcls => create_acls(version),
        ApiKey::DeleteAcls => delete_acls(version),
        other => panic!("no test request for served API {other:?}: add one with its layout"),
    }
}

/// The body of `api` at `version` as the crate encodes it. Produce v0-2 (which the
/// crate does not encode) is v3 without its leading null transactional id.
fn encoded(api: ApiKey, version: i16) -> Vec<u8> {
    let legacy = api == ApiKey::Produce && version < apis::PRODUCE_MODERN_VERSION_MIN;
    let encode_version = if legacy {
        apis::PRODUCE_MODERN_VERSION_MIN
    } else {
        version
    };
    let mut body = BytesMut::new();
    build(api, version)
        .encode(&mut body, encode_version)
        .unwrap_or_else(|e| panic!("{api:?} v{version} encodes: {e}"));
    if legacy {
        assert_eq!(&body[..2], &[0xff, 0xff], "null transactional id first");
        return body[2..].to_vec();
    }
    body.to_vec()
}

/// Walks `body` and returns where its array counts sit.
fn counts(api: ApiKey, version: i16, body: &[u8]) -> Vec<CountAt> {
    let schema = schema(api).expect("schema");
    let mut scan = Scan::new(body, version, flexible(api, version));
    scan.fields(schema.fields, "body").expect("walks");
    scan.finish("body").expect("whole body");
    scan.counts
}

/// A request frame payload (header v1, or v2 when flexible) around `body`.
fn frame(api: ApiKey, version: i16, body: &[u8]) -> Bytes {
    let mut f = BytesMut::new();
    f.put_i16(api as i16);
    f.put_i16(version);
    f.put_i32(9);
    f.put_i16(-1);
    if api.request_header_version(version) >= 2 {
        f.put_u8(0);
    }
    f.put_slice(body);
    f.freeze()
}

#[test]
fn every_served_api_has_a_layout() {
    for (api, version) in served() {
        assert!(schema(api).is_some(), "{api:?} v{version} has no layout");
    }
}

#[test]
fn crate_encoded_requests_are_accepted_and_consumed_exactly() {
    for (api, version) in served() {
        let body = encoded(api, version);
        check_body(api, version, &body)
            .unwrap_or_else(|e| panic!("{api:?} v{version} rejected: {e}"));
        let decoded = decode_request(frame(api, version, &body))
            .unwrap_or_else(|e| panic!("{api:?} v{version} decodes: {e}"));
        assert_eq!(decoded.header.api_version, version);
        if version >= 3 || api != ApiKey::Produce {
            // The crate reads exactly the bytes the pre-scan walked.
            let mut rest = Bytes::from(body.clone());
            RequestKind::decode(api, &mut rest, version).expect("crate decodes");
            assert!(rest.is_empty(), "{api:?} v{version}: crate left {rest:?}");
        }
    }
}

/// The request versions the crate encodes and decodes for `api`.
fn crate_range(api: ApiKey) -> VersionRange {
    match api {
        ApiKey::Produce => m::ProduceRequest::VERSIONS,
        ApiKey::Fetch => m::FetchRequest::VERSIONS,
        ApiKey::ListOffsets => m::ListOffsetsRequest::VERSIONS,
        ApiKey::Metadata => m::MetadataRequest::VERSIONS,
        ApiKey::OffsetCommit => m::OffsetCommitRequest::VERSIONS,
        ApiKey::OffsetFetch => m::OffsetFetchRequest::VERSIONS,
        ApiKey::FindCoordinator => m::FindCoordinatorRequest::VERSIONS,
        ApiKey::JoinGroup => m::JoinGroupRequest::VERSIONS,
        ApiKey::Heartbeat => m::HeartbeatRequest::VERSIONS,
        ApiKey::LeaveGroup => m::LeaveGroupRequest::VERSIONS,
        ApiKey::SyncGroup => m::SyncGroupRequest::VERSIONS,
        ApiKey::DescribeGroups => m::DescribeGroupsRequest::VERSIONS,
        ApiKey::ListGroups => m::ListGroupsRequest::VERSIONS,
        ApiKey::ApiVersions => m::ApiVersionsRequest::VERSIONS,
        ApiKey::CreateTopics => m::CreateTopicsRequest::VERSIONS,
        ApiKey::DeleteTopics => m::DeleteTopicsRequest::VERSIONS,
        ApiKey::InitProducerId => m::InitProducerIdRequest::VERSIONS,
        ApiKey::CreatePartitions => m::CreatePartitionsRequest::VERSIONS,
        ApiKey::DescribeConfigs => m::DescribeConfigsRequest::VERSIONS,
        ApiKey::IncrementalAlterConfigs => m::IncrementalAlterConfigsRequest::VERSIONS,
        ApiKey::DescribeCluster => m::DescribeClusterRequest::VERSIONS,
        ApiKey::ConsumerGroupHeartbeat => m::ConsumerGroupHeartbeatRequest::VERSIONS,
        ApiKey::SaslHandshake => m::SaslHandshakeRequest::VERSIONS,
        ApiKey::SaslAuthenticate => m::SaslAuthenticateRequest::VERSIONS,
        ApiKey::DescribeUserScramCredentials => m::DescribeUserScramCredentialsRequest::VERSIONS,
        ApiKey::AlterUserScramCredentials => m::AlterUserScramCredentialsRequest::VERSIONS,
        ApiKey::DescribeAcls => m::DescribeAclsRequest::VERSIONS,
        ApiKey::CreateAcls => m::CreateAclsRequest::VERSIONS,
        ApiKey::DeleteAcls => m::DeleteAclsRequest::VERSIONS,
        other => panic!("no crate range for served API {other:?}: add it"),
    }
}

/// Every version the crate knows of every served API, served or not yet.
fn crate_versions() -> Vec<(ApiKey, i16)> {
    let mut versions = served();
    for api in ApiKey::iter().filter(|api| apis::served(*api).is_some()) {
        let range = crate_range(api);
        versions.extend((range.min..=range.max).map(|v| (api, v)));
    }
    versions.sort_by_key(|&(api, v)| (api as i16, v));
    versions.dedup();
    versions
}

#[test]
fn layouts_hold_for_every_version_the_crate_knows() {
    // Versions beyond those served: a version bump in `apis::SERVED` finds its layout
    // already checked (Fetch v13-18 with topic ids and tagged partition fields, ...).
    for (api, version) in crate_versions() {
        let body = encoded(api, version);
        check_body(api, version, &body)
            .unwrap_or_else(|e| panic!("{api:?} v{version} rejected: {e}"));
        if api != ApiKey::Produce || version >= apis::PRODUCE_MODERN_VERSION_MIN {
            let mut rest = Bytes::from(body);
            RequestKind::decode(api, &mut rest, version).expect("crate decodes");
            assert!(rest.is_empty(), "{api:?} v{version}: crate left {rest:?}");
        }
    }
}

#[test]
fn nested_arrays_are_walked() {
    // (api, version, array counts in the built request): nested arrays each count.
    let cases = [
        (ApiKey::Produce, 0, 3),
        (ApiKey::Produce, 9, 3),
        (ApiKey::Fetch, 4, 3),
        (ApiKey::Fetch, 12, 5),
        (ApiKey::OffsetCommit, 8, 3),
        (ApiKey::OffsetFetch, 1, 3),
        (ApiKey::OffsetFetch, 8, 7),
        (ApiKey::JoinGroup, 7, 1),
        (ApiKey::SyncGroup, 5, 1),
        (ApiKey::CreateTopics, 7, 9),
        (ApiKey::LeaveGroup, 4, 1),
        (ApiKey::DeleteTopics, 6, 1),
        (ApiKey::ListGroups, 4, 1),
        (ApiKey::FindCoordinator, 4, 1),
        (ApiKey::CreatePartitions, 3, 4),
        (ApiKey::DescribeConfigs, 4, 2),
        (ApiKey::IncrementalAlterConfigs, 1, 3),
        (ApiKey::ConsumerGroupHeartbeat, 1, 4),
    ];
    for (api, version, expected) in cases {
        let body = encoded(api, version);
        assert_eq!(
            counts(api, version, &body).len(),
            expected,
            "{api:?} v{version}"
        );
    }
}

/// `body` with the count at `at` replaced by a huge one of the same encoding.
fn with_huge_count(body: &[u8], at: CountAt, flexible: bool) -> Vec<u8> {
    let huge: &[u8] = if flexible {
        &[0xff, 0xff, 0xff, 0xff, 0x0f] // u32::MAX: 4 294 967 294 elements
    } else {
        &[0x7f, 0xff, 0xff, 0xff] // i32::MAX
    };
    let mut poisoned = body[..at.offset].to_vec();
    poisoned.extend_from_slice(huge);
    poisoned.extend_from_slice(&body[at.offset + at.width..]);
    poisoned
}

#[test]
fn every_array_count_made_huge_is_rejected_before_decoding() {
    let mut poisoned_total = 0;
    for (api, version) in crate_versions() {
        let is_served = apis::served(api).is_some_and(|(min, max)| (min..=max).contains(&version));
        let body = encoded(api, version);
        for at in counts(api, version, &body) {
            let poisoned = with_huge_count(&body, at, flexible(api, version));
            match check_body(api, version, &poisoned) {
                Err(BoundsError::Short { field, need, have }) => {
                    assert_eq!(field, at.field, "{api:?} v{version}");
                    assert!(need > have as u64);
                }
                other => panic!("{api:?} v{version} {}: {other:?}", at.field),
            }
            // Through the whole decoder: without the pre-scan the crate would reserve
            // billions of elements here and abort the test process.
            if is_served {
                assert!(matches!(
                    decode_request(frame(api, version, &poisoned)),
                    Err(RequestError::Bounds { .. })
                ));
            }
            poisoned_total += 1;
        }
    }
    assert!(
        poisoned_total > 100,
        "only {poisoned_total} counts poisoned"
    );
}

#[test]
fn every_truncation_is_rejected_and_trailing_bytes_are_tolerated() {
    for (api, version) in crate_versions() {
        let body = encoded(api, version);
        for len in 0..body.len() {
            assert!(
                check_body(api, version, &body[..len]).is_err(),
                "{api:?} v{version} prefix {len}/{}",
                body.len()
            );
        }
        // As in Kafka's parser: what follows the last field is not read.
        let mut longer = body.clone();
        longer.extend_from_slice(&[1, 0, 0]);
        assert_eq!(
            check_body(api, version, &longer),
            Ok(()),
            "{api:?} v{version}"
        );
    }
}

#[test]
fn huge_string_and_bytes_lengths_are_rejected() {
    // Metadata v1: one topic whose name claims 30000 bytes.
    let body = [0, 0, 0, 1, 0x75, 0x30, b'a'];
    assert_eq!(
        check_body(ApiKey::Metadata, 1, &body),
        Err(BoundsError::Short {
            field: "name",
            need: 30000,
            have: 1
        })
    );
    // JoinGroup v0: protocol metadata claims i32::MAX bytes.
    let mut b = BytesMut::new();
    b.put_i16(1);
    b.put_slice(b"g");
    b.put_i32(10_000);
    b.put_i16(0);
    b.put_i16(0);
    b.put_i32(1);
    b.put_i16(1);
    b.put_slice(b"r");
    b.put_i32(i32::MAX);
    assert!(matches!(
        check_body(ApiKey::JoinGroup, 0, &b),
        Err(BoundsError::Short {
            field: "metadata",
            ..
        })
    ));
    // A negative length other than null, and null where not nullable.
    assert_eq!(
        check_body(ApiKey::FindCoordinator, 0, &[0xff, 0xfe]),
        Err(BoundsError::NegativeLength {
            field: "key",
            length: -2
        })
    );
    let body = [0xff, 0xff];
    assert_eq!(
        check_body(ApiKey::FindCoordinator, 0, &body),
        Err(BoundsError::Null { field: "key" })
    );
}

#[test]
fn tag_sections_are_bounded() {
    // Metadata v12: null topics, three booleans... then the top-level tag section.
    let head = [0u8, 1, 0];
    let mut too_many = head.to_vec();
    too_many.push(TAGGED_FIELDS_MAX as u8 + 1);
    too_many.extend(std::iter::repeat_n(0, 200));
    assert!(matches!(
        check_body(ApiKey::Metadata, 12, &too_many),
        Err(BoundsError::TooManyTaggedFields { count: 65, .. })
    ));
    let mut short = head.to_vec();
    short.extend_from_slice(&[10, 1, 0]);
    assert!(matches!(
        check_body(ApiKey::Metadata, 12, &short),
        Err(BoundsError::Short { need: 20, .. })
    ));
    // A tagged field whose size runs past the body.
    let mut long_tag = head.to_vec();
    long_tag.extend_from_slice(&[1, 7, 100, 0]);
    assert!(matches!(
        check_body(ApiKey::Metadata, 12, &long_tag),
        Err(BoundsError::Short { need: 100, .. })
    ));
    // A varint of six bytes.
    let mut varint = head.to_vec();
    varint.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
    assert!(matches!(
        check_body(ApiKey::Metadata, 12, &varint),
        Err(BoundsError::Varint { .. })
    ));
}

#[test]
fn a_known_tagged_field_must_fill_its_size_exactly() {
    let body = encoded(ApiKey::Fetch, 12);
    // The top-level tag section ends the body: count 2, then cluster_id (tag 0, size 8:
    // "cluster" as a compact string), then the unknown tag (tag, size, three bytes).
    let cluster_at = body.len() - (1 + 1 + 1 + 8 + 1 + 1 + 3);
    assert_eq!(&body[cluster_at..cluster_at + 4], &[2, 0, 8, 8]);
    let mut wider = body.clone();
    wider[cluster_at + 2] = 9; // declared size one more than the string
    wider.insert(cluster_at + 2 + 1 + 8, 0);
    assert_eq!(
        check_body(ApiKey::Fetch, 12, &wider),
        Err(BoundsError::Trailing {
            field: "cluster_id",
            extra: 1
        })
    );
    let mut narrower = body;
    narrower[cluster_at + 2] = 4; // the string claims more than its declared size
    assert!(matches!(
        check_body(ApiKey::Fetch, 12, &narrower),
        Err(BoundsError::Short {
            field: "cluster_id",
            ..
        })
    ));
}

#[test]
fn the_reported_metadata_v0_poison_is_rejected() {
    // Metadata v0 with topic count 0x033c0c00 in a few bytes.
    let body = [0x03, 0x3c, 0x0c, 0x00, 0x00, 0x01, b'a'];
    assert_eq!(
        check_body(ApiKey::Metadata, 0, &body),
        Err(BoundsError::Short {
            field: "topics",
            need: 0x033c_0c00 * 2,
            have: 3
        })
    );
}

mod mutated {
    use super::*;
    use proptest::prelude::*;

    /// One edit of a valid body: overwrite, insert or delete a byte.
    #[derive(Debug, Clone)]
    enum Edit {
        Set(prop::sample::Index, u8),
        Insert(prop::sample::Index, u8),
        Delete(prop::sample::Index),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
            (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
            any::<prop::sample::Index>().prop_map(Edit::Delete),
        ]
    }

    fn apply(body: &mut Vec<u8>, edit: &Edit) {
        if body.is_empty() {
            return;
        }
        match edit {
            Edit::Set(i, b) => {
                let at = i.index(body.len());
                body[at] = *b;
            }
            Edit::Insert(i, b) => body.insert(i.index(body.len() + 1), *b),
            Edit::Delete(i) => {
                body.remove(i.index(body.len()));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Valid bodies with a few bytes changed: the pre-scan never panics, and when
        /// it accepts a body the crate, if it decodes it at all, reads exactly the bytes the
        /// pre-scan walked (the layouts agree with the crate on what they walk).
        #[test]
        fn the_pre_scan_and_the_crate_agree_on_edited_bodies(
            pick in any::<prop::sample::Index>(),
            edits in proptest::collection::vec(edit(), 1..4),
        ) {
            let versions: Vec<_> = served()
                .into_iter()
                .filter(|&(api, v)| api != ApiKey::Produce || v >= apis::PRODUCE_MODERN_VERSION_MIN)
                .collect();
            let (api, version) = versions[pick.index(versions.len())];
            let mut body = encoded(api, version);
            for edit in &edits {
                apply(&mut body, edit);
            }
            if let Ok(walked) = walked_bytes(api, version, &body) {
                let total = body.len();
                let mut rest = Bytes::from(body);
                if RequestKind::decode(api, &mut rest, version).is_ok() {
                    let read = total - rest.len();
                    prop_assert_eq!(read, walked, "{:?} v{}", api, version);
                }
            }
        }
    }
}
