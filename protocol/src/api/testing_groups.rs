//! Proptest strategies for the consumer group APIs.

use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;

use super::common::{PartitionResult, TopicAssignment};
use super::delete_groups::*;
use super::describe_groups::*;
use super::find_coordinator::*;
use super::heartbeat::*;
use super::join_group::*;
use super::leave_group::*;
use super::list_groups::*;
use super::offset_commit::*;
use super::offset_fetch::*;
use super::reset_offsets::*;
use super::testing::{error_code, list, name, opt_name, req, resp, topics};
use super::{Request, Response};

/// Topics with partition lists (assignments, owned partitions, lookups).
fn assignment() -> impl Strategy<Value = Vec<TopicAssignment>> + Clone {
    topics(any::<i32>())
}

/// One strategy per request type of these APIs.
pub(crate) fn requests() -> Vec<BoxedStrategy<Request>> {
    vec![
        req((name(), any::<i8>())
            .prop_map(|(key, key_type)| FindCoordinatorRequest { key, key_type })),
        req((
            name(),
            name(),
            any::<(i32, i32)>(),
            list(name()),
            opt_name(),
        )
            .prop_map(
                |(
                    group_id,
                    member_id,
                    (session_timeout_ms, rebalance_timeout_ms),
                    topics,
                    assignor,
                )| {
                    JoinGroupRequest {
                        group_id,
                        member_id,
                        session_timeout_ms,
                        rebalance_timeout_ms,
                        topics,
                        assignor,
                    }
                },
            )),
        req((
            name(),
            name(),
            any::<i32>(),
            proptest::option::of(list(name())),
            assignment(),
        )
            .prop_map(|(group_id, member_id, member_epoch, topics, owned)| {
                HeartbeatRequest {
                    group_id,
                    member_id,
                    member_epoch,
                    topics,
                    owned,
                }
            })),
        req(
            (name(), name()).prop_map(|(group_id, member_id)| LeaveGroupRequest {
                group_id,
                member_id,
            }),
        ),
        req((
            name(),
            name(),
            any::<i32>(),
            topics((any::<(i32, i64)>(), opt_name()).prop_map(
                |((partition, offset), metadata)| OffsetCommitPartition {
                    partition,
                    offset,
                    metadata,
                },
            )),
        )
            .prop_map(
                |(group_id, member_id, member_epoch, topics)| OffsetCommitRequest {
                    group_id,
                    member_id,
                    member_epoch,
                    topics,
                },
            )),
        req((name(), proptest::option::of(assignment()))
            .prop_map(|(group_id, topics)| OffsetFetchRequest { group_id, topics })),
        req(Just(ListGroupsRequest)),
        req(Just(super::broker_status::BrokerStatusRequest)),
        req(Just(super::describe_cluster::DescribeClusterRequest)),
        req(list(name()).prop_map(|group_ids| DescribeGroupsRequest { group_ids })),
        req(list(name()).prop_map(|group_ids| DeleteGroupsRequest { group_ids })),
        req((
            name(),
            list(
                (name(), proptest::option::of(list(any::<i32>())))
                    .prop_map(|(name, partitions)| ResetTopic { name, partitions }),
            ),
            reset_spec(),
            any::<bool>(),
        )
            .prop_map(|(group_id, topics, spec, dry_run)| ResetOffsetsRequest {
                group_id,
                topics,
                spec,
                dry_run,
            })),
    ]
}

/// One strategy per response type of these APIs.
pub(crate) fn responses() -> Vec<BoxedStrategy<Response>> {
    vec![
        resp((error_code(), any::<i32>(), name(), any::<i32>()).prop_map(
            |(error_code, node_id, host, port)| FindCoordinatorResponse {
                error_code,
                node_id,
                host,
                port,
            },
        )),
        resp(
            (error_code(), name(), any::<(i32, i32)>(), assignment()).prop_map(
                |(error_code, member_id, (member_epoch, heartbeat_interval_ms), assignment)| {
                    JoinGroupResponse {
                        error_code,
                        member_id,
                        member_epoch,
                        heartbeat_interval_ms,
                        assignment,
                    }
                },
            ),
        ),
        resp(
            (
                error_code(),
                any::<(i32, i32)>(),
                proptest::option::of(assignment()),
            )
                .prop_map(
                    |(error_code, (member_epoch, heartbeat_interval_ms), assignment)| {
                        HeartbeatResponse {
                            error_code,
                            member_epoch,
                            heartbeat_interval_ms,
                            assignment,
                        }
                    },
                ),
        ),
        resp(error_code().prop_map(|error_code| LeaveGroupResponse { error_code })),
        resp(
            topics(
                (any::<i32>(), error_code()).prop_map(|(partition, error_code)| PartitionResult {
                    partition,
                    error_code,
                }),
            )
            .prop_map(|topics| OffsetCommitResponse { topics }),
        ),
        resp(
            (
                error_code(),
                topics((any::<(i32, i64)>(), opt_name(), error_code()).prop_map(
                    |((partition, offset), metadata, error_code)| OffsetFetchPartition {
                        partition,
                        offset,
                        metadata,
                        error_code,
                    },
                )),
            )
                .prop_map(|(error_code, topics)| OffsetFetchResponse { error_code, topics }),
        ),
        resp(
            (
                error_code(),
                list(
                    (name(), name()).prop_map(|(group_id, state)| ListedGroup { group_id, state }),
                ),
            )
                .prop_map(|(error_code, groups)| ListGroupsResponse { error_code, groups }),
        ),
        resp(list(described_group()).prop_map(|groups| DescribeGroupsResponse { groups })),
        resp(
            (
                error_code(),
                name(),
                any::<(i32, i32, i64, bool)>(),
                list(cluster_broker()),
            )
                .prop_map(|(error_code, cluster_id, ids, brokers)| {
                    super::describe_cluster::DescribeClusterResponse {
                        error_code,
                        cluster_id,
                        controller_id: ids.0,
                        node_id: ids.1,
                        metadata_applied: ids.2,
                        metadata_stale: ids.3,
                        brokers,
                    }
                }),
        ),
        resp(
            (
                error_code(),
                any::<i32>(),
                name(),
                any::<i64>(),
                (any::<i32>(), any::<i32>(), any::<i32>()),
                name(),
            )
                .prop_map(
                    |(error_code, node_id, version, uptime_ms, counts, data_dir)| {
                        super::broker_status::BrokerStatusResponse {
                            error_code,
                            node_id,
                            version,
                            uptime_ms,
                            topics: counts.0,
                            partitions: counts.1,
                            connections_open: counts.2,
                            data_dir,
                        }
                    },
                ),
        ),
        resp(
            list(
                (name(), error_code()).prop_map(|(group_id, error_code)| DeleteGroupResult {
                    group_id,
                    error_code,
                }),
            )
            .prop_map(|results| DeleteGroupsResponse { results }),
        ),
        resp(
            (
                error_code(),
                topics((any::<i32>(), error_code(), any::<i64>()).prop_map(
                    |(partition, error_code, offset)| ResetPartition {
                        partition,
                        error_code,
                        offset,
                    },
                )),
            )
                .prop_map(|(error_code, topics)| ResetOffsetsResponse { error_code, topics }),
        ),
    ]
}

fn reset_spec() -> impl Strategy<Value = ResetSpec> {
    prop_oneof![
        Just(ResetSpec::Earliest),
        Just(ResetSpec::Latest),
        any::<i64>().prop_map(ResetSpec::Offset),
        any::<i64>().prop_map(ResetSpec::Timestamp),
    ]
}

fn described_group() -> impl Strategy<Value = DescribedGroup> + Clone {
    let member = (name(), opt_name(), name(), assignment()).prop_map(
        |(member_id, client_id, client_host, assignment)| GroupMember {
            member_id,
            client_id,
            client_host,
            assignment,
        },
    );
    let offset = (name(), any::<i32>(), any::<[i64; 3]>()).prop_map(
        |(topic, partition, [committed_offset, high_watermark, lag])| GroupOffset {
            topic,
            partition,
            committed_offset,
            high_watermark,
            lag,
        },
    );
    (
        error_code(),
        name(),
        name(),
        name(),
        any::<i32>(),
        list(member),
        list(offset),
    )
        .prop_map(
            |(error_code, group_id, state, assignor, epoch, members, offsets)| DescribedGroup {
                error_code,
                group_id,
                state,
                assignor,
                epoch,
                members,
                offsets,
            },
        )
}

fn cluster_broker() -> impl Strategy<Value = super::describe_cluster::ClusterBroker> + Clone {
    (
        any::<i32>(),
        name(),
        any::<i32>(),
        opt_name(),
        any::<(bool, bool)>(),
        name(),
    )
        .prop_map(|(node_id, host, port, rack, flags, inter_broker)| {
            super::describe_cluster::ClusterBroker {
                node_id,
                host,
                port,
                rack,
                alive: flags.0,
                voter: flags.1,
                inter_broker,
            }
        })
}
