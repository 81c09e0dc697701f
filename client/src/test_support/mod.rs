//! A tiny in-memory broker for unit tests: speaks the frame protocol on 127.0.0.1:0 and
//! implements just enough of ApiVersions, Metadata (auto-create), Produce, Fetch and
//! ListOffsets to exercise the producer and consumer. Not a model of the real broker's
//! storage: a partition is a `Vec` of stamped batches.
//!
//! [`cluster::FakeCluster`] runs the same state behind several listeners, each a node
//! of a cluster with a partition → leader map the test changes while clients run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use rill_protocol::api::api_versions::ApiVersionsResponse;
use rill_protocol::api::common::TopicPartitions;
use rill_protocol::api::fetch::{
    FetchPartitionResponse, FetchRecords, FetchRequest, FetchResponse,
};
use rill_protocol::api::list_offsets::{
    ListOffsetsPartitionResponse, ListOffsetsRequest, ListOffsetsResponse,
};
use rill_protocol::api::metadata::{
    MetadataRequest, MetadataResponse, PartitionMetadata, TopicMetadata,
};
use rill_protocol::api::produce::{ProducePartitionResponse, ProduceRequest, ProduceResponse};
use rill_protocol::api::{encode_response, Request, RequestHeader, Response};
use rill_protocol::batch::{set_base_offset, BatchHeader, BatchIter, MAX_BATCH_BYTES_DEFAULT};
use rill_protocol::error_code::ErrorCode;
use rill_protocol::frame::{FrameBuf, FrameCodec};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::FramedRead;

pub(crate) mod cluster;

/// One stored batch: its header (offsets stamped) and bytes.
type Stored = (BatchHeader, Bytes);

/// What the fake broker holds and how it should misbehave.
#[derive(Debug, Default)]
pub(crate) struct BrokerState {
    /// Partitions of every topic created by Metadata auto-create.
    pub(crate) partitions_per_topic: i32,
    /// Topics and their partition logs.
    pub(crate) logs: HashMap<String, Vec<Vec<Stored>>>,
    /// Answer this many produce partitions with a retriable error first.
    pub(crate) fail_produce_partitions: u32,
    /// Produce requests received.
    pub(crate) produce_requests: u32,
    /// Cluster nodes `(node id, host:port)`; empty for a single broker (node 0, which
    /// lists no brokers, as older brokers did).
    pub(crate) nodes: Vec<(i32, String)>,
    /// Leader of a partition when not the first node.
    pub(crate) leaders: HashMap<(String, i32), i32>,
    /// Leader epoch of a partition: how often its leader moved.
    pub(crate) epochs: HashMap<(String, i32), i32>,
    /// Every batch appended: who appended it and its producer sequence.
    pub(crate) appended: Vec<cluster::Appended>,
    /// After the leader appends the next batch of this partition, leadership moves to
    /// this node and the old leader answers `NOT_LEADER_OR_FOLLOWER` (its answer lost,
    /// as when a leader is deposed right after writing).
    pub(crate) move_after_append: Option<((String, i32), i32)>,
    /// Requests by (node, api key).
    pub(crate) requests: HashMap<(i32, u16), u32>,
    /// The group coordinator's node.
    pub(crate) coordinator: i32,
    /// Committed offsets by (group, topic, partition): (offset, node that took it).
    pub(crate) committed: HashMap<(String, String, i32), (i64, i32)>,
    /// Leave DescribeCluster out of ApiVersions (an older broker).
    pub(crate) without_describe_cluster: bool,
    /// Producer ids handed out so far.
    pub(crate) producer_ids: i64,
    /// Connections accepted, by node.
    pub(crate) connections: HashMap<i32, u32>,
    /// Nodes cut off from the controller: their Metadata names no leader.
    pub(crate) stale_nodes: Vec<i32>,
    /// Nodes that are down: they close every connection at once.
    pub(crate) down_nodes: Vec<i32>,
    /// Answer this many CreateTopics/DeleteTopics requests NOT_CONTROLLER first (an
    /// election under way).
    pub(crate) no_controller_answers: u32,
}

impl BrokerState {
    /// A producer id never handed out before.
    pub(crate) fn new_producer_id(&mut self) -> i64 {
        self.producer_ids += 1;
        self.producer_ids
    }

    /// The values stored in `topic`/`partition`, in offset order.
    pub(crate) fn record_count(&self, topic: &str, partition: usize) -> i64 {
        self.logs
            .get(topic)
            .and_then(|t| t.get(partition))
            .map_or(0, |log| {
                log.iter().map(|(h, _)| i64::from(h.record_count)).sum()
            })
    }
}

/// A running fake broker.
pub(crate) struct FakeBroker {
    /// `127.0.0.1:port`.
    pub(crate) addr: String,
    /// Shared state, for assertions and fault injection.
    pub(crate) state: Arc<Mutex<BrokerState>>,
}

impl FakeBroker {
    /// Starts a broker whose auto-created topics have `partitions` partitions.
    pub(crate) async fn start(partitions: i32) -> FakeBroker {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let state = Arc::new(Mutex::new(BrokerState {
            partitions_per_topic: partitions,
            ..BrokerState::default()
        }));
        accept(listener, Arc::clone(&state), 0);
        FakeBroker { addr, state }
    }

    /// Locks the state.
    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, BrokerState> {
        self.state.lock().unwrap()
    }
}

/// Serves every connection `listener` accepts as node `node`.
pub(crate) fn accept(listener: TcpListener, state: Arc<Mutex<BrokerState>>, node: i32) {
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let mut locked = state.lock().unwrap();
            if locked.down_nodes.contains(&node) {
                continue; // dropped: the connection closes at once
            }
            *locked.connections.entry(node).or_default() += 1;
            drop(locked);
            tokio::spawn(serve(stream, Arc::clone(&state), node));
        }
    });
}

async fn serve(stream: TcpStream, state: Arc<Mutex<BrokerState>>, node: i32) {
    let (read, mut write) = stream.into_split();
    let mut frames = FramedRead::new(read, FrameCodec::default());
    while let Some(Ok(frame)) = frames.next().await {
        if state.lock().unwrap().down_nodes.contains(&node) {
            return; // a node that went down drops its connections
        }
        let (header, request) = Request::decode(frame).unwrap();
        *state
            .lock()
            .unwrap()
            .requests
            .entry((node, header.api_key.as_u16()))
            .or_default() += 1;
        let response = match request {
            Request::ApiVersions(_) => Some(cluster::api_versions(&state)),
            Request::Metadata(r) => Some(metadata(&state, r, node)),
            Request::Produce(r) => produce(&state, r, node),
            Request::Fetch(r) => Some(fetch(&state, r, node).await),
            Request::ListOffsets(r) => Some(list_offsets(&state, r, node)),
            Request::FindCoordinator(_) => Some(cluster::find_coordinator(&state)),
            Request::JoinGroup(r) => Some(cluster::join_group(&state, r, node)),
            Request::Heartbeat(r) => Some(cluster::heartbeat(&state, r, node)),
            Request::OffsetCommit(r) => Some(cluster::offset_commit(&state, r, node)),
            Request::OffsetFetch(r) => Some(cluster::offset_fetch(&state, r, node)),
            Request::LeaveGroup(r) => Some(cluster::leave_group(&state, r, node)),
            Request::DescribeCluster(_) => Some(cluster::describe_cluster(&state, node)),
            Request::DescribeTopicConfigs(r) => Some(cluster::describe_configs(r)),
            Request::CreateTopics(r) => Some(create_topics(&state, r)),
            Request::InitProducerId(_) => Some(
                rill_protocol::api::init_producer_id::InitProducerIdResponse {
                    error_code: rill_protocol::error_code::ErrorCode::None,
                    producer_id: state.lock().unwrap().new_producer_id(),
                    producer_epoch: 0,
                }
                .into(),
            ),
            other => panic!("fake broker does not handle {:?}", other.api_key()),
        };
        if let Some(response) = response {
            respond(&mut write, &header, &response).await;
        }
    }
}

fn create_topics(
    state: &Mutex<BrokerState>,
    request: rill_protocol::api::create_topics::CreateTopicsRequest,
) -> Response {
    let mut state = state.lock().unwrap();
    let no_controller = state.no_controller_answers > 0;
    state.no_controller_answers = state.no_controller_answers.saturating_sub(1);
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let error_code = if no_controller {
                ErrorCode::NotController
            } else if state.logs.contains_key(&t.name) {
                ErrorCode::TopicAlreadyExists
            } else {
                let partitions = usize::try_from(t.num_partitions.max(1)).unwrap();
                state
                    .logs
                    .insert(t.name.clone(), vec![Vec::new(); partitions]);
                ErrorCode::None
            };
            rill_protocol::api::common::TopicResult {
                name: t.name,
                error_code,
                error_message: None,
            }
        })
        .collect();
    rill_protocol::api::create_topics::CreateTopicsResponse { topics }.into()
}

async fn respond(
    write: &mut tokio::net::tcp::OwnedWriteHalf,
    header: &RequestHeader,
    response: &Response,
) {
    let mut buf = FrameBuf::new();
    encode_response(
        header.correlation_id,
        header.api_version,
        response,
        &mut buf,
    )
    .unwrap();
    let mut frame = buf.finish(64 << 20).unwrap();
    let _ = write.write_all_buf(&mut frame).await;
}

fn metadata(state: &Mutex<BrokerState>, request: MetadataRequest, node: i32) -> Response {
    let mut state = state.lock().unwrap();
    let count = state.partitions_per_topic;
    let names: Vec<String> = request
        .topics
        .unwrap_or_else(|| state.logs.keys().cloned().collect());
    let mut topics = Vec::new();
    for name in names {
        if request.allow_auto_topic_creation {
            state
                .logs
                .entry(name.clone())
                .or_insert_with(|| vec![Vec::new(); usize::try_from(count).unwrap()]);
        }
        let Some(log) = state.logs.get(&name) else {
            topics.push(topic_metadata(
                name,
                ErrorCode::UnknownTopicOrPartition,
                Vec::new(),
            ));
            continue;
        };
        let partitions = (0..log.len())
            .map(|p| {
                let partition = i32::try_from(p).unwrap();
                let leader = match state.stale_nodes.contains(&node) {
                    true => -1,
                    false => state.leader(&name, partition),
                };
                PartitionMetadata {
                    error_code: match leader {
                        -1 => ErrorCode::LeaderNotAvailable,
                        _ => ErrorCode::None,
                    },
                    partition,
                    leader,
                    high_watermark: state.record_count(&name, p),
                    log_start_offset: 0,
                    leader_epoch: state.leader_epoch(&name, partition),
                    replicas: state.replicas(leader),
                    isr: (leader >= 0).then_some(leader).into_iter().collect(),
                }
            })
            .collect();
        topics.push(topic_metadata(name, ErrorCode::None, partitions));
    }
    MetadataResponse {
        brokers: state.broker_infos(),
        controller_id: state.nodes.first().map_or(0, |n| n.0),
        topics,
    }
    .into()
}

fn topic_metadata(
    name: String,
    error_code: ErrorCode,
    partitions: Vec<PartitionMetadata>,
) -> TopicMetadata {
    TopicMetadata {
        error_code,
        name,
        is_internal: false,
        partitions,
    }
}

fn produce(state: &Mutex<BrokerState>, request: ProduceRequest, node: i32) -> Option<Response> {
    let mut state = state.lock().unwrap();
    state.produce_requests += 1;
    let mut topics = Vec::new();
    for topic in request.topics {
        let mut partitions = Vec::new();
        for p in topic.partitions {
            let answer = |error_code, base_offset| ProducePartitionResponse {
                partition: p.partition,
                error_code,
                base_offset,
                log_append_time_ms: -1,
                log_start_offset: 0,
                error_message: None,
            };
            if state.fail_produce_partitions > 0 {
                state.fail_produce_partitions -= 1;
                partitions.push(answer(ErrorCode::RequestTimedOut, -1));
                continue;
            }
            if state.leader(&topic.name, p.partition) != node {
                partitions.push(answer(ErrorCode::NotLeaderOrFollower, -1));
                continue;
            }
            if let Some(offset) = state.duplicate_of(&topic.name, p.partition, &p.records) {
                partitions.push(answer(ErrorCode::None, offset));
                continue;
            }
            let mut next = state.record_count(&topic.name, usize::try_from(p.partition).unwrap());
            let base = next;
            let log = &mut state.logs.get_mut(&topic.name).unwrap()
                [usize::try_from(p.partition).unwrap()];
            let mut appended = Vec::new();
            for batch in BatchIter::new(p.records.clone(), MAX_BATCH_BYTES_DEFAULT) {
                let batch = batch.unwrap();
                let mut bytes = batch.as_bytes().to_vec();
                set_base_offset(&mut bytes, next);
                let header = BatchHeader::parse(&bytes, MAX_BATCH_BYTES_DEFAULT).unwrap();
                next = header.next_offset();
                appended.push(cluster::Appended::new(
                    node,
                    &topic.name,
                    p.partition,
                    &header,
                ));
                log.push((header, Bytes::from(bytes)));
            }
            state.appended.extend(appended);
            if state.move_leader_after_append(&topic.name, p.partition) {
                partitions.push(answer(ErrorCode::NotLeaderOrFollower, -1));
                continue;
            }
            partitions.push(answer(ErrorCode::None, base));
        }
        topics.push(TopicPartitions {
            name: topic.name,
            partitions,
        });
    }
    (request.acks != 0).then(|| {
        ProduceResponse {
            topics,
            throttle_time_ms: 0,
        }
        .into()
    })
}

async fn fetch(state: &Mutex<BrokerState>, request: FetchRequest, node: i32) -> Response {
    let response = fetch_now(state, &request, node);
    let empty = response
        .topics
        .iter()
        .all(|t| t.partitions.iter().all(|p| p.records.is_empty()));
    if empty {
        // A short long-poll, then look again.
        let wait_ms = u64::try_from(request.max_wait_ms.clamp(0, 50)).unwrap();
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        return fetch_now(state, &request, node).into();
    }
    response.into()
}

fn fetch_now(state: &Mutex<BrokerState>, request: &FetchRequest, node: i32) -> FetchResponse {
    let state = state.lock().unwrap();
    let topics = request
        .topics
        .iter()
        .map(|t| TopicPartitions {
            name: t.name.clone(),
            partitions: t
                .partitions
                .iter()
                .map(|p| {
                    let log = &state.logs[&t.name][usize::try_from(p.partition).unwrap()];
                    let hw = state.record_count(&t.name, usize::try_from(p.partition).unwrap());
                    let mut records = FetchRecords::new();
                    if state.leader(&t.name, p.partition) != node {
                        return FetchPartitionResponse {
                            partition: p.partition,
                            error_code: ErrorCode::NotLeaderOrFollower,
                            high_watermark: -1,
                            last_stable_offset: -1,
                            log_start_offset: -1,
                            records,
                        };
                    }
                    let error_code = if p.fetch_offset > hw {
                        ErrorCode::OffsetOutOfRange
                    } else {
                        ErrorCode::None
                    };
                    let limit = usize::try_from(p.partition_max_bytes).unwrap();
                    for (header, bytes) in
                        log.iter().filter(|(h, _)| h.next_offset() > p.fetch_offset)
                    {
                        if !records.is_empty() && records.len() + bytes.len() > limit {
                            break;
                        }
                        let _ = header;
                        records.push(bytes.clone());
                    }
                    FetchPartitionResponse {
                        partition: p.partition,
                        error_code,
                        high_watermark: hw,
                        last_stable_offset: hw,
                        log_start_offset: 0,
                        records,
                    }
                })
                .collect(),
        })
        .collect();
    FetchResponse {
        throttle_time_ms: 0,
        error_code: ErrorCode::None,
        topics,
    }
}

fn list_offsets(state: &Mutex<BrokerState>, request: ListOffsetsRequest, node: i32) -> Response {
    let state = state.lock().unwrap();
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let index = usize::try_from(p.partition).unwrap();
                    if state.leader(&t.name, p.partition) != node {
                        return ListOffsetsPartitionResponse {
                            partition: p.partition,
                            error_code: ErrorCode::NotLeaderOrFollower,
                            timestamp: -1,
                            offset: -1,
                        };
                    }
                    let hw = state.record_count(&t.name, index);
                    let offset = match p.timestamp {
                        -2 => 0,
                        -1 => hw,
                        ts => state.logs[&t.name][index]
                            .iter()
                            .find(|(h, _)| h.max_timestamp >= ts)
                            .map_or(-1, |(h, _)| h.base_offset),
                    };
                    ListOffsetsPartitionResponse {
                        partition: p.partition,
                        error_code: ErrorCode::None,
                        timestamp: -1,
                        offset,
                    }
                })
                .collect();
            TopicPartitions {
                name: t.name,
                partitions,
            }
        })
        .collect();
    ListOffsetsResponse { topics }.into()
}

/// Every API this build speaks but SASL's: what a broker without authentication lists.
pub(crate) fn without_sasl() -> ApiVersionsResponse {
    let mut response = ApiVersionsResponse::supported();
    let sasl = [
        rill_protocol::api::ApiKey::SaslHandshake.as_u16(),
        rill_protocol::api::ApiKey::SaslAuthenticate.as_u16(),
    ];
    response
        .api_keys
        .retain(|range| !sasl.contains(&range.api_key));
    response
}
