//! [`ApiCall`]: pairs each request type with its response type, so
//! `Connection::call` returns the right response without matching an enum.

use rill_protocol::api::{
    alter_partition_reassignments, alter_topic_configs, alter_user_scram_credentials, api_versions,
    broker_status, create_acls, create_topics, delete_acls, delete_groups, delete_topics,
    describe_acls, describe_cluster, describe_groups, describe_topic_configs,
    describe_user_scram_credentials, fetch, find_coordinator, heartbeat, init_producer_id,
    join_group, leave_group, list_groups, list_offsets, metadata, offset_commit, offset_fetch,
    produce, reset_offsets, sasl_authenticate, sasl_handshake, Message,
};

/// A request body that [`super::Connection::call`] can send; `Response` is what the
/// broker answers with.
pub trait ApiCall: Message {
    /// The response body of this API.
    type Response: Message;
}

macro_rules! api_calls {
    ($($module:ident :: $req:ident => $resp:ident;)*) => {
        $(
            impl ApiCall for $module::$req {
                type Response = $module::$resp;
            }
        )*
    };
}

api_calls! {
    api_versions::ApiVersionsRequest => ApiVersionsResponse;
    metadata::MetadataRequest => MetadataResponse;
    create_topics::CreateTopicsRequest => CreateTopicsResponse;
    delete_topics::DeleteTopicsRequest => DeleteTopicsResponse;
    produce::ProduceRequest => ProduceResponse;
    fetch::FetchRequest => FetchResponse;
    list_offsets::ListOffsetsRequest => ListOffsetsResponse;
    describe_topic_configs::DescribeTopicConfigsRequest => DescribeTopicConfigsResponse;
    alter_topic_configs::AlterTopicConfigsRequest => AlterTopicConfigsResponse;
    init_producer_id::InitProducerIdRequest => InitProducerIdResponse;
    find_coordinator::FindCoordinatorRequest => FindCoordinatorResponse;
    join_group::JoinGroupRequest => JoinGroupResponse;
    heartbeat::HeartbeatRequest => HeartbeatResponse;
    leave_group::LeaveGroupRequest => LeaveGroupResponse;
    offset_commit::OffsetCommitRequest => OffsetCommitResponse;
    offset_fetch::OffsetFetchRequest => OffsetFetchResponse;
    list_groups::ListGroupsRequest => ListGroupsResponse;
    describe_groups::DescribeGroupsRequest => DescribeGroupsResponse;
    delete_groups::DeleteGroupsRequest => DeleteGroupsResponse;
    reset_offsets::ResetOffsetsRequest => ResetOffsetsResponse;
    broker_status::BrokerStatusRequest => BrokerStatusResponse;
    describe_cluster::DescribeClusterRequest => DescribeClusterResponse;
    alter_partition_reassignments::AlterPartitionReassignmentsRequest => AlterPartitionReassignmentsResponse;
    sasl_handshake::SaslHandshakeRequest => SaslHandshakeResponse;
    sasl_authenticate::SaslAuthenticateRequest => SaslAuthenticateResponse;
    describe_user_scram_credentials::DescribeUserScramCredentialsRequest => DescribeUserScramCredentialsResponse;
    alter_user_scram_credentials::AlterUserScramCredentialsRequest => AlterUserScramCredentialsResponse;
    describe_acls::DescribeAclsRequest => DescribeAclsResponse;
    create_acls::CreateAclsRequest => CreateAclsResponse;
    delete_acls::DeleteAclsRequest => DeleteAclsResponse;
}
