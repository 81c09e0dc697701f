//! Proptest strategies for the cluster, topic and data APIs.

use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;

use super::alter_topic_configs::*;
use super::api_versions::*;
use super::create_topics::*;
use super::delete_topics::*;
use super::describe_topic_configs::*;
use super::fetch::*;
use super::init_producer_id::*;
use super::list_offsets::*;
use super::metadata::*;
use super::produce::*;
use super::testing::{
    config, error_code, list, name, opt_name, records, req, resp, topic_result, topics,
};
use super::{Request, Response};

/// One strategy per request type of these APIs.
pub(crate) fn requests() -> Vec<BoxedStrategy<Request>> {
    vec![
        req(Just(ApiVersionsRequest)),
        req(
            (proptest::option::of(list(name())), any::<bool>()).prop_map(|(topics, auto)| {
                MetadataRequest {
                    topics,
                    allow_auto_topic_creation: auto,
                }
            }),
        ),
        req((
            list(
                (name(), any::<i32>(), list(config()), any::<i16>()).prop_map(
                    |(name, num_partitions, configs, replication_factor)| CreatableTopic {
                        name,
                        num_partitions,
                        configs,
                        replication_factor,
                    },
                ),
            ),
            any::<i32>(),
            any::<bool>(),
        )
            .prop_map(|(topics, timeout_ms, validate_only)| CreateTopicsRequest {
                topics,
                timeout_ms,
                validate_only,
            })),
        req(
            (list(name()), any::<i32>()).prop_map(|(topic_names, timeout_ms)| {
                DeleteTopicsRequest {
                    topic_names,
                    timeout_ms,
                }
            }),
        ),
        req((name(), list(config()))
            .prop_map(|(topic, configs)| AlterTopicConfigsRequest { topic, configs })),
        req(list(name()).prop_map(|topics| DescribeTopicConfigsRequest { topics })),
        req((
            opt_name(),
            any::<i16>(),
            any::<i32>(),
            topics(
                (any::<i32>(), records())
                    .prop_map(|(partition, records)| ProducePartition { partition, records }),
            ),
        )
            .prop_map(
                |(transactional_id, acks, timeout_ms, topics)| ProduceRequest {
                    transactional_id,
                    acks,
                    timeout_ms,
                    topics,
                },
            )),
        req((
            any::<[i32; 3]>(),
            any::<i8>(),
            topics(any::<(i32, i64, i32)>().prop_map(
                |(partition, fetch_offset, partition_max_bytes)| FetchPartition {
                    partition,
                    fetch_offset,
                    partition_max_bytes,
                },
            )),
        )
            .prop_map(
                |([max_wait_ms, min_bytes, max_bytes], isolation_level, topics)| FetchRequest {
                    max_wait_ms,
                    min_bytes,
                    max_bytes,
                    isolation_level,
                    topics,
                },
            )),
        req((
            any::<i8>(),
            topics(
                any::<(i32, i64)>().prop_map(|(partition, timestamp)| ListOffsetsPartition {
                    partition,
                    timestamp,
                }),
            ),
        )
            .prop_map(|(isolation_level, topics)| ListOffsetsRequest {
                isolation_level,
                topics,
            })),
        req((opt_name(), any::<(i32, i64, i16)>()).prop_map(
            |(transactional_id, (t, id, epoch))| InitProducerIdRequest {
                transactional_id,
                transaction_timeout_ms: t,
                producer_id: id,
                producer_epoch: epoch,
            },
        )),
    ]
}

/// One strategy per response type of these APIs.
pub(crate) fn responses() -> Vec<BoxedStrategy<Response>> {
    vec![
        resp(
            (error_code(), list(any::<(u16, u16, u16)>())).prop_map(|(error_code, keys)| {
                ApiVersionsResponse {
                    error_code,
                    api_keys: keys
                        .into_iter()
                        .map(|(api_key, min_version, max_version)| ApiVersionRange {
                            api_key,
                            min_version,
                            max_version,
                        })
                        .collect(),
                }
            }),
        ),
        resp(
            (
                list((any::<i32>(), name(), any::<i32>(), opt_name()).prop_map(
                    |(node_id, host, port, rack)| BrokerInfo {
                        node_id,
                        host,
                        port,
                        rack,
                    },
                )),
                any::<i32>(),
                list(
                    (
                        error_code(),
                        name(),
                        any::<bool>(),
                        list(partition_metadata()),
                    )
                        .prop_map(
                            |(error_code, name, is_internal, partitions)| TopicMetadata {
                                error_code,
                                name,
                                is_internal,
                                partitions,
                            },
                        ),
                ),
            )
                .prop_map(|(brokers, controller_id, topics)| MetadataResponse {
                    brokers,
                    controller_id,
                    topics,
                }),
        ),
        resp(list(topic_result()).prop_map(|topics| CreateTopicsResponse { topics })),
        resp(list(topic_result()).prop_map(|topics| DeleteTopicsResponse { topics })),
        resp(
            (error_code(), opt_name()).prop_map(|(error_code, error_message)| {
                AlterTopicConfigsResponse {
                    error_code,
                    error_message,
                }
            }),
        ),
        resp(
            list(
                (name(), error_code(), list(config())).prop_map(|(name, error_code, configs)| {
                    TopicConfigs {
                        name,
                        error_code,
                        configs,
                    }
                }),
            )
            .prop_map(|topics| DescribeTopicConfigsResponse { topics }),
        ),
        resp(
            (
                topics(
                    (any::<i32>(), error_code(), any::<[i64; 3]>(), opt_name()).prop_map(
                        |(
                            partition,
                            error_code,
                            [base_offset, log_append_time_ms, log_start_offset],
                            error_message,
                        )| {
                            ProducePartitionResponse {
                                partition,
                                error_code,
                                base_offset,
                                log_append_time_ms,
                                log_start_offset,
                                error_message,
                            }
                        },
                    ),
                ),
                any::<i32>(),
            )
                .prop_map(|(topics, throttle_time_ms)| ProduceResponse {
                    topics,
                    throttle_time_ms,
                }),
        ),
        resp(
            (any::<i32>(), error_code(), topics(fetch_partition())).prop_map(
                |(throttle_time_ms, error_code, topics)| FetchResponse {
                    throttle_time_ms,
                    error_code,
                    topics,
                },
            ),
        ),
        resp(
            topics((any::<i32>(), error_code(), any::<(i64, i64)>()).prop_map(
                |(partition, error_code, (timestamp, offset))| ListOffsetsPartitionResponse {
                    partition,
                    error_code,
                    timestamp,
                    offset,
                },
            ))
            .prop_map(|topics| ListOffsetsResponse { topics }),
        ),
        resp((error_code(), any::<(i64, i16)>()).prop_map(
            |(error_code, (producer_id, producer_epoch))| InitProducerIdResponse {
                error_code,
                producer_id,
                producer_epoch,
            },
        )),
    ]
}

fn partition_metadata() -> impl Strategy<Value = PartitionMetadata> + Clone {
    (
        error_code(),
        any::<(i32, i32, i64, i64, i32)>(),
        list(any::<i32>()),
        list(any::<i32>()),
    )
        .prop_map(
            |(
                error_code,
                (partition, leader, high_watermark, log_start_offset, leader_epoch),
                replicas,
                isr,
            )| PartitionMetadata {
                error_code,
                partition,
                leader,
                high_watermark,
                log_start_offset,
                leader_epoch,
                replicas,
                isr,
            },
        )
}

fn fetch_partition() -> impl Strategy<Value = FetchPartitionResponse> + Clone {
    (
        any::<i32>(),
        error_code(),
        any::<[i64; 3]>(),
        proptest::collection::vec(records(), 0..3),
    )
        .prop_map(
            |(
                partition,
                error_code,
                [high_watermark, last_stable_offset, log_start_offset],
                chunks,
            )| {
                FetchPartitionResponse {
                    partition,
                    error_code,
                    high_watermark,
                    last_stable_offset,
                    log_start_offset,
                    records: FetchRecords::from_chunks(chunks),
                }
            },
        )
}
