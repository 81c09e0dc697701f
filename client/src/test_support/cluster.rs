//! A fake cluster for unit tests: one [`BrokerState`] behind several listeners, each
//! answering as its own node. Produce, Fetch and ListOffsets for a partition answer
//! `NOT_LEADER_OR_FOLLOWER` on every node but its leader; group requests answer
//! `NOT_COORDINATOR` on every node but the coordinator. The test moves leaders and the
//! coordinator while clients run ([`FakeCluster::move_leader`]). Batches carrying a
//! producer sequence already stored are answered with the stored offset and not
//! appended again, as an idempotent broker does.

use std::sync::{Arc, Mutex};

use rill_protocol::api::api_versions::ApiVersionsResponse;
use rill_protocol::api::common::{PartitionResult, TopicPartitions};
use rill_protocol::api::describe_cluster::{ClusterBroker, DescribeClusterResponse};
use rill_protocol::api::describe_topic_configs::{
    DescribeTopicConfigsRequest, DescribeTopicConfigsResponse, TopicConfigs,
};
use rill_protocol::api::find_coordinator::FindCoordinatorResponse;
use rill_protocol::api::heartbeat::{HeartbeatRequest, HeartbeatResponse};
use rill_protocol::api::join_group::{JoinGroupRequest, JoinGroupResponse};
use rill_protocol::api::leave_group::{LeaveGroupRequest, LeaveGroupResponse};
use rill_protocol::api::metadata::BrokerInfo;
use rill_protocol::api::offset_commit::{OffsetCommitRequest, OffsetCommitResponse};
use rill_protocol::api::offset_fetch::{
    OffsetFetchPartition, OffsetFetchRequest, OffsetFetchResponse, NO_COMMITTED_OFFSET,
};
use rill_protocol::api::{ApiKey, Response};
use rill_protocol::batch::{BatchHeader, BatchIter, MAX_BATCH_BYTES_DEFAULT};
use rill_protocol::error_code::ErrorCode;
use tokio::net::TcpListener;

use super::{accept, without_sasl, BrokerState};

/// One batch a node appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Appended {
    pub(crate) node: i32,
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) base_offset: i64,
    pub(crate) producer_id: i64,
    pub(crate) base_sequence: i32,
    pub(crate) record_count: i32,
}

impl Appended {
    pub(crate) fn new(node: i32, topic: &str, partition: i32, header: &BatchHeader) -> Self {
        Appended {
            node,
            topic: topic.to_owned(),
            partition,
            base_offset: header.base_offset,
            producer_id: header.producer_id,
            base_sequence: header.base_sequence,
            record_count: header.record_count,
        }
    }
}

impl BrokerState {
    /// The node leading `topic`/`partition` (node 0 on a single fake broker).
    pub(crate) fn leader(&self, topic: &str, partition: i32) -> i32 {
        let first = self.nodes.first().map_or(0, |n| n.0);
        self.leaders
            .get(&(topic.to_owned(), partition))
            .copied()
            .unwrap_or(first)
    }

    pub(crate) fn leader_epoch(&self, topic: &str, partition: i32) -> i32 {
        self.epochs
            .get(&(topic.to_owned(), partition))
            .copied()
            .unwrap_or(0)
    }

    /// Every node holds a copy, the leader first.
    pub(crate) fn replicas(&self, leader: i32) -> Vec<i32> {
        let mut replicas: Vec<i32> = (leader >= 0).then_some(leader).into_iter().collect();
        replicas.extend(self.nodes.iter().map(|n| n.0).filter(|&n| n != leader));
        replicas
    }

    /// Moves the leadership of `topic`/`partition` to `node`, bumping its epoch.
    pub(crate) fn set_leader(&mut self, topic: &str, partition: i32, node: i32) {
        self.leaders.insert((topic.to_owned(), partition), node);
        *self
            .epochs
            .entry((topic.to_owned(), partition))
            .or_default() += 1;
    }

    pub(crate) fn broker_infos(&self) -> Vec<BrokerInfo> {
        self.nodes
            .iter()
            .map(|(node_id, addr)| {
                let (host, port) = addr.rsplit_once(':').unwrap();
                BrokerInfo {
                    node_id: *node_id,
                    host: host.to_owned(),
                    port: port.parse().unwrap(),
                    rack: Some(format!("rack-{node_id}")),
                }
            })
            .collect()
    }

    /// The offset a batch was stored at, if a batch with its producer id and sequence
    /// is stored already (a retry of a batch whose answer was lost).
    pub(crate) fn duplicate_of(
        &self,
        topic: &str,
        partition: i32,
        records: &bytes::Bytes,
    ) -> Option<i64> {
        let batch = BatchIter::new(records.clone(), MAX_BATCH_BYTES_DEFAULT).next()?;
        let header = *batch.ok()?.header();
        if header.producer_id < 0 {
            return None;
        }
        self.appended
            .iter()
            .find(|a| {
                a.topic == topic
                    && a.partition == partition
                    && a.producer_id == header.producer_id
                    && a.base_sequence == header.base_sequence
            })
            .map(|a| a.base_offset)
    }

    /// Applies [`BrokerState::move_after_append`] to a batch just appended: true if the
    /// leader moved (the appending node then answers `NOT_LEADER_OR_FOLLOWER`).
    pub(crate) fn move_leader_after_append(&mut self, topic: &str, partition: i32) -> bool {
        let key = (topic.to_owned(), partition);
        match self.move_after_append.take() {
            Some((tp, node)) if tp == key => {
                self.set_leader(topic, partition, node);
                true
            }
            other => {
                self.move_after_append = other;
                false
            }
        }
    }

    /// Requests node `node` received of `api`.
    pub(crate) fn requests(&self, node: i32, api: ApiKey) -> u32 {
        self.requests
            .get(&(node, api.as_u16()))
            .copied()
            .unwrap_or(0)
    }

    /// The node's address.
    fn addr_of(&self, node: i32) -> (String, i32) {
        let (_, addr) = self.nodes.iter().find(|n| n.0 == node).unwrap();
        let (host, port) = addr.rsplit_once(':').unwrap();
        (host.to_owned(), port.parse().unwrap())
    }
}

/// Several fake brokers sharing one state.
pub(crate) struct FakeCluster {
    /// Addresses by node, node ids 1..=n.
    pub(crate) addrs: Vec<String>,
    pub(crate) state: Arc<Mutex<BrokerState>>,
}

impl FakeCluster {
    /// `nodes` brokers (ids 1..=nodes) whose auto-created topics have `partitions`
    /// partitions, all led by node 1 until moved; node 1 coordinates groups.
    pub(crate) async fn start(nodes: i32, partitions: i32) -> FakeCluster {
        let mut listeners = Vec::new();
        let mut addrs = Vec::new();
        for _ in 0..nodes {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            addrs.push(listener.local_addr().unwrap().to_string());
            listeners.push(listener);
        }
        let state = Arc::new(Mutex::new(BrokerState {
            partitions_per_topic: partitions,
            nodes: (1..=nodes).zip(addrs.iter().cloned()).collect(),
            coordinator: 1,
            ..BrokerState::default()
        }));
        for (node, listener) in (1..=nodes).zip(listeners) {
            accept(listener, Arc::clone(&state), node);
        }
        FakeCluster { addrs, state }
    }

    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, BrokerState> {
        self.state.lock().unwrap()
    }

    /// Every address, comma-separated (a bootstrap list).
    pub(crate) fn bootstrap(&self) -> String {
        self.addrs.join(",")
    }

    pub(crate) fn move_leader(&self, topic: &str, partition: i32, node: i32) {
        self.state().set_leader(topic, partition, node);
    }
}

pub(crate) fn api_versions(state: &Mutex<BrokerState>) -> Response {
    let mut response: ApiVersionsResponse = without_sasl();
    if state.lock().unwrap().without_describe_cluster {
        let key = ApiKey::DescribeCluster.as_u16();
        response.api_keys.retain(|range| range.api_key != key);
    }
    response.into()
}

pub(crate) fn find_coordinator(state: &Mutex<BrokerState>) -> Response {
    let state = state.lock().unwrap();
    let (host, port) = match state.nodes.is_empty() {
        true => ("127.0.0.1".to_owned(), 1),
        false => state.addr_of(state.coordinator),
    };
    FindCoordinatorResponse {
        error_code: ErrorCode::None,
        node_id: state.coordinator,
        host,
        port,
    }
    .into()
}

fn not_coordinator(state: &Mutex<BrokerState>, node: i32) -> bool {
    let state = state.lock().unwrap();
    !state.nodes.is_empty() && state.coordinator != node
}

/// Every partition of the subscribed topics goes to the one member.
pub(crate) fn join_group(state: &Mutex<BrokerState>, r: JoinGroupRequest, node: i32) -> Response {
    if not_coordinator(state, node) {
        return JoinGroupResponse {
            error_code: ErrorCode::NotCoordinator,
            member_id: r.member_id,
            member_epoch: -1,
            heartbeat_interval_ms: 100,
            assignment: Vec::new(),
        }
        .into();
    }
    let state = state.lock().unwrap();
    let assignment = r
        .topics
        .iter()
        .filter_map(|t| {
            let log = state.logs.get(t)?;
            Some(TopicPartitions {
                name: t.clone(),
                partitions: (0..i32::try_from(log.len()).unwrap()).collect(),
            })
        })
        .collect();
    JoinGroupResponse {
        error_code: ErrorCode::None,
        member_id: r.member_id,
        member_epoch: 1,
        heartbeat_interval_ms: 100,
        assignment,
    }
    .into()
}

pub(crate) fn heartbeat(state: &Mutex<BrokerState>, r: HeartbeatRequest, node: i32) -> Response {
    let error_code = match not_coordinator(state, node) {
        true => ErrorCode::NotCoordinator,
        false => ErrorCode::None,
    };
    HeartbeatResponse {
        error_code,
        member_epoch: r.member_epoch,
        heartbeat_interval_ms: 100,
        assignment: None,
    }
    .into()
}

pub(crate) fn offset_commit(
    state: &Mutex<BrokerState>,
    r: OffsetCommitRequest,
    node: i32,
) -> Response {
    let wrong = not_coordinator(state, node);
    let mut state = state.lock().unwrap();
    let topics = r
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    if !wrong {
                        let key = (r.group_id.clone(), t.name.clone(), p.partition);
                        state.committed.insert(key, (p.offset, node));
                    }
                    PartitionResult {
                        partition: p.partition,
                        error_code: match wrong {
                            true => ErrorCode::NotCoordinator,
                            false => ErrorCode::None,
                        },
                    }
                })
                .collect();
            TopicPartitions {
                name: t.name,
                partitions,
            }
        })
        .collect();
    OffsetCommitResponse { topics }.into()
}

pub(crate) fn offset_fetch(
    state: &Mutex<BrokerState>,
    r: OffsetFetchRequest,
    node: i32,
) -> Response {
    if not_coordinator(state, node) {
        return OffsetFetchResponse {
            error_code: ErrorCode::NotCoordinator,
            topics: Vec::new(),
        }
        .into();
    }
    let state = state.lock().unwrap();
    let topics = r
        .topics
        .unwrap_or_default()
        .into_iter()
        .map(|t| TopicPartitions {
            partitions: t
                .partitions
                .iter()
                .map(|&partition| OffsetFetchPartition {
                    partition,
                    offset: state
                        .committed
                        .get(&(r.group_id.clone(), t.name.clone(), partition))
                        .map_or(NO_COMMITTED_OFFSET, |c| c.0),
                    metadata: None,
                    error_code: ErrorCode::None,
                })
                .collect(),
            name: t.name,
        })
        .collect();
    OffsetFetchResponse {
        error_code: ErrorCode::None,
        topics,
    }
    .into()
}

pub(crate) fn leave_group(
    state: &Mutex<BrokerState>,
    _r: LeaveGroupRequest,
    node: i32,
) -> Response {
    let error_code = match not_coordinator(state, node) {
        true => ErrorCode::NotCoordinator,
        false => ErrorCode::None,
    };
    LeaveGroupResponse { error_code }.into()
}

pub(crate) fn describe_cluster(state: &Mutex<BrokerState>, node: i32) -> Response {
    let state = state.lock().unwrap();
    let brokers = state
        .broker_infos()
        .into_iter()
        .map(|b| ClusterBroker {
            node_id: b.node_id,
            host: b.host,
            port: b.port,
            rack: b.rack,
            alive: b.node_id != 3,
            voter: b.node_id <= 2,
            inter_broker: format!("127.0.0.1:{}", 9430 + b.node_id),
        })
        .collect();
    DescribeClusterResponse {
        error_code: ErrorCode::None,
        cluster_id: "fake-cluster".into(),
        controller_id: state.nodes.first().map_or(-1, |n| n.0),
        node_id: node,
        metadata_applied: 42,
        metadata_stale: node == 2,
        brokers,
    }
    .into()
}

pub(crate) fn describe_configs(r: DescribeTopicConfigsRequest) -> Response {
    DescribeTopicConfigsResponse {
        topics: r
            .topics
            .into_iter()
            .map(|name| TopicConfigs {
                name,
                error_code: ErrorCode::None,
                configs: Vec::new(),
            })
            .collect(),
    }
    .into()
}
