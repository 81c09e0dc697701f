//! A clustered broker over an in-memory quorum (`InstantQuorum`): Metadata from the
//! image, NOT_LEADER_OR_FOLLOWER / LEADER_NOT_AVAILABLE on partitions it does not lead,
//! FindCoordinator and NOT_COORDINATOR, CreateTopics through the controller, the local
//! topics following the image, DescribeCluster. Node 1 is the broker under test; nodes 2
//! and 3 exist only in the image; node 3 is the controller.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use rill_broker::cluster::handle::testing::InstantQuorum;
use rill_broker::cluster::handle::BoxFuture;
use rill_broker::cluster::routing::coordinator_partition;
use rill_broker::cluster::{
    BrokerRegistration, Cluster, ClusterError, MetadataCommand, MetadataImage, NodeId, Quorum,
    QuorumStatus,
};
use rill_broker::config::BrokerConfig;
use rill_broker::server::{self, Started};
use rill_protocol::api::common::{ConfigEntry, TopicAssignment, TopicPartitions};
use rill_protocol::api::create_topics::{CreatableTopic, CreateTopicsRequest};
use rill_protocol::api::delete_topics::DeleteTopicsRequest;
use rill_protocol::api::describe_cluster::DescribeClusterRequest;
use rill_protocol::api::describe_groups::DescribeGroupsRequest;
use rill_protocol::api::find_coordinator::{FindCoordinatorRequest, KEY_TYPE_GROUP};
use rill_protocol::api::heartbeat::HeartbeatRequest;
use rill_protocol::api::join_group::JoinGroupRequest;
use rill_protocol::api::leave_group::LeaveGroupRequest;
use rill_protocol::api::list_offsets::{
    ListOffsetsPartition, ListOffsetsRequest, LATEST_TIMESTAMP,
};
use rill_protocol::api::metadata::{MetadataRequest, MetadataResponse};
use rill_protocol::api::offset_commit::{OffsetCommitPartition, OffsetCommitRequest};
use rill_protocol::api::offset_fetch::OffsetFetchRequest;
use rill_protocol::api::produce::ACKS_LEADER;
use rill_protocol::api::{Request, Response};
use rill_protocol::error_code::ErrorCode;

const WAIT: Duration = Duration::from_secs(10);

/// A quorum whose staleness a test switches, over an [`InstantQuorum`].
struct SwitchableQuorum {
    inner: Arc<InstantQuorum>,
    stale: AtomicBool,
}

impl Quorum for SwitchableQuorum {
    fn propose(&self, command: MetadataCommand) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.inner.propose(command)
    }

    fn status(&self) -> QuorumStatus {
        QuorumStatus {
            stale: self.stale.load(Ordering::SeqCst),
            voters: vec![1, 2, 3],
            ..self.inner.status()
        }
    }
}

struct Node {
    started: Started,
    quorum: Arc<SwitchableQuorum>,
    client: RawClient,
    _dir: tempfile::TempDir,
}

impl Node {
    fn apply(&self, command: MetadataCommand) {
        self.quorum.inner.apply(&command).expect("command applies");
    }

    /// Applies `command`, then waits until the routing cache the hot paths read shows
    /// the resulting image.
    async fn apply_routed(&self, command: MetadataCommand) {
        self.apply(command);
        let cluster = self.started.ctx.cluster.as_ref().expect("clustered");
        let routing = self.started.ctx.routing.as_ref().expect("clustered");
        let deadline = tokio::time::Instant::now() + WAIT;
        while *routing.current().image() != *cluster.image() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "routing cache never caught up"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until the local topics followed an image for which `done` holds.
    async fn reconciled(&self, done: impl FnMut(&MetadataImage) -> bool) {
        assert!(
            self.started.ctx.reconciled.wait_for(WAIT, done).await,
            "the local topics did not follow the image in time"
        );
    }

    /// Waits until the routing cache the hot paths read says `stale`.
    async fn routing_stale(&self, stale: bool) {
        let routing = self.started.ctx.routing.as_ref().expect("clustered");
        let deadline = tokio::time::Instant::now() + WAIT;
        while routing.current().is_stale() != stale {
            assert!(
                tokio::time::Instant::now() < deadline,
                "routing cache never turned stale={stale}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn call(&mut self, request: Request, version: u16) -> Response {
        self.client.call_at(request, version).await
    }

    async fn metadata(&mut self, topics: Option<Vec<String>>) -> MetadataResponse {
        let request = Request::Metadata(MetadataRequest {
            topics,
            allow_auto_topic_creation: false,
        });
        match self.call(request, 1).await {
            Response::Metadata(m) => m,
            other => panic!("not a metadata response: {other:?}"),
        }
    }
}

fn registration(node_id: NodeId, addr: SocketAddr, rack: &str) -> MetadataCommand {
    MetadataCommand::RegisterBroker(BrokerRegistration {
        node_id,
        host: addr.ip().to_string(),
        port: addr.port(),
        kafka: None,
        inter_broker: format!("127.0.0.1:{}", 9430 + node_id),
        rack: Some(rack.into()),
        incarnation: 0,
    })
}

/// Node 1 running for real, nodes 2 and 3 registered in the image (at made-up ports).
async fn start_node() -> Node {
    start_node_in(tempfile::tempdir().unwrap()).await
}

/// [`start_node`] on an existing data directory, over a fresh image.
async fn start_node_in(dir: tempfile::TempDir) -> Node {
    start_node_with(dir, false).await
}

/// [`start_node_in`], with a Kafka listener when `kafka` (node 2 then serves Kafka
/// clients at 127.0.0.1:19092, node 3 does not).
async fn start_node_with(dir: tempfile::TempDir, kafka: bool) -> Node {
    start_node_tweaked(dir, kafka, |_| {}).await
}

/// [`start_node_with`] after `tweak` adjusts the broker's configuration.
async fn start_node_tweaked(
    dir: tempfile::TempDir,
    kafka: bool,
    tweak: impl FnOnce(&mut BrokerConfig),
) -> Node {
    let (inner_cluster, inner) = InstantQuorum::cluster(1, 3);
    let quorum = Arc::new(SwitchableQuorum {
        inner,
        stale: AtomicBool::new(false),
    });
    let cluster = Cluster::new(1, inner_cluster.subscribe(), quorum.clone());
    let config = BrokerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: dir.path().to_path_buf(),
        http_listen: None,
        kafka_listen: kafka.then(|| SocketAddr::from(([127, 0, 0, 1], 0))),
        ..BrokerConfig::default()
    };
    let mut config = config;
    tweak(&mut config);
    let started = server::start_in_cluster(config, cluster).await.unwrap();
    let client = RawClient::connect(started.addr).await;
    let node = Node {
        started,
        quorum,
        client,
        _dir: dir,
    };
    node.apply(MetadataCommand::InitCluster {
        cluster_id: "test-cluster".into(),
    });
    let mut me = registration(1, node.started.addr, "a");
    let mut second = registration(2, "127.0.0.1:19422".parse().unwrap(), "b");
    if let (
        Some(addr),
        MetadataCommand::RegisterBroker(me),
        MetadataCommand::RegisterBroker(second),
    ) = (node.started.kafka_addr, &mut me, &mut second)
    {
        me.kafka = Some((addr.ip().to_string(), addr.port()));
        second.kafka = Some(("127.0.0.1".into(), 19092));
    }
    node.apply(me);
    node.apply(second);
    node.apply(registration(3, "127.0.0.1:19423".parse().unwrap(), "c"));
    node
}

fn create_topic(name: &str, id: u128, assignments: Vec<Vec<NodeId>>) -> MetadataCommand {
    MetadataCommand::CreateTopic {
        name: name.into(),
        id,
        internal: false,
        configs: BTreeMap::new(),
        assignments,
    }
}

/// Topic `t`: partition p led by node p+1, one replica each (a partition with several
/// replicas is led by its Raft group, which the in-memory quorum here does not run).
async fn with_topic_t(node: &Node) {
    node.apply(create_topic("t", 7, vec![vec![1], vec![2], vec![3]]));
    node.reconciled(|i| i.topics.contains_key("t")).await;
}

fn produce_code(r: Response) -> ErrorCode {
    produce_response(r).topics[0].partitions[0].error_code
}

fn fetch_code(r: Response) -> ErrorCode {
    fetch_response(r).topics[0].partitions[0].error_code
}

#[tokio::test]
async fn metadata_lists_brokers_leaders_replicas_and_isr_from_the_image() {
    let mut node = start_node().await;
    with_topic_t(&node).await;
    let m = node.metadata(None).await;
    assert_eq!(m.controller_id, 3);
    let brokers: Vec<_> = m
        .brokers
        .iter()
        .map(|b| (b.node_id, b.port, b.rack.clone()))
        .collect();
    assert_eq!(
        brokers,
        vec![
            (
                1,
                i32::from(node.started.addr.port()),
                Some("a".to_string())
            ),
            (2, 19422, Some("b".to_string())),
            (3, 19423, Some("c".to_string())),
        ]
    );
    let t = m.topics.iter().find(|t| t.name == "t").expect("topic t");
    let parts: Vec<_> = t
        .partitions
        .iter()
        .map(|p| {
            (
                p.partition,
                p.error_code,
                p.leader,
                p.replicas.clone(),
                p.isr.clone(),
            )
        })
        .collect();
    assert_eq!(
        parts,
        vec![
            (0, ErrorCode::None, 1, vec![1], vec![1]),
            (1, ErrorCode::None, 2, vec![2], vec![2]),
            (2, ErrorCode::None, 3, vec![3], vec![3]),
        ]
    );
    // Offsets only where this broker leads.
    assert_eq!(t.partitions[0].high_watermark, 0);
    assert_eq!(t.partitions[1].high_watermark, -1);
    // A fenced broker leaves the broker list.
    node.apply(MetadataCommand::FenceBroker { node_id: 2 });
    let m = node.metadata(Some(vec!["t".into()])).await;
    assert_eq!(
        m.brokers.iter().map(|b| b.node_id).collect::<Vec<_>>(),
        vec![1, 3]
    );
}

#[tokio::test]
async fn produce_fetch_and_list_offsets_elsewhere_answer_not_leader_and_write_nothing() {
    let mut node = start_node().await;
    with_topic_t(&node).await;
    let r = node
        .call(produce("t", 1, batch("x", 3, 1_000), ACKS_LEADER), 0)
        .await;
    assert_eq!(produce_code(r), ErrorCode::NotLeaderOrFollower);
    let r = node.call(fetch("t", 1, 0, 0, 0), 0).await;
    assert_eq!(fetch_code(r), ErrorCode::NotLeaderOrFollower);
    let list = Request::ListOffsets(ListOffsetsRequest {
        isolation_level: 0,
        topics: vec![TopicPartitions {
            name: "t".into(),
            partitions: vec![ListOffsetsPartition {
                partition: 2,
                timestamp: LATEST_TIMESTAMP,
            }],
        }],
    });
    match node.call(list, 0).await {
        Response::ListOffsets(l) => assert_eq!(
            l.topics[0].partitions[0].error_code,
            ErrorCode::NotLeaderOrFollower
        ),
        other => panic!("{other:?}"),
    }
    // Nothing reached the local copies of partitions 1 and 2.
    let local = node.started.ctx.topics.get("t").expect("local copy");
    for p in [1, 2] {
        let log = local.partition(p).unwrap().log().unwrap();
        assert_eq!(log.high_watermark(), 0, "partition {p}");
    }
    // The partition it leads takes writes and serves them back.
    let r = node
        .call(produce("t", 0, batch("y", 2, 1_000), ACKS_LEADER), 0)
        .await;
    assert_eq!(produce_code(r), ErrorCode::None);
    let r = node.call(fetch("t", 0, 0, 0, 0), 0).await;
    assert_eq!(fetched_values(&fetch_response(r)), vec!["y-0", "y-1"]);
}

#[tokio::test]
async fn a_partition_whose_only_in_sync_replica_is_fenced_answers_leader_not_available() {
    let mut node = start_node().await;
    with_topic_t(&node).await;
    node.apply_routed(MetadataCommand::FenceBroker { node_id: 3 })
        .await;
    let r = node
        .call(produce("t", 2, batch("x", 1, 1_000), ACKS_LEADER), 0)
        .await;
    assert_eq!(produce_code(r), ErrorCode::LeaderNotAvailable);
    let m = node.metadata(Some(vec!["t".into()])).await;
    let p = &m.topics[0].partitions[2];
    assert_eq!(
        (p.error_code, p.leader),
        (ErrorCode::LeaderNotAvailable, -1)
    );
    assert_eq!(p.leader_epoch, 1);
}

#[tokio::test]
async fn a_stale_broker_answers_leader_not_available_instead_of_old_leadership() {
    let mut node = start_node().await;
    with_topic_t(&node).await;
    node.quorum.stale.store(true, Ordering::SeqCst);
    node.routing_stale(true).await;
    let m = node.metadata(Some(vec!["t".into()])).await;
    assert!(m.topics[0]
        .partitions
        .iter()
        .all(|p| p.error_code == ErrorCode::LeaderNotAvailable && p.leader == -1));
    let r = node
        .call(produce("t", 0, batch("x", 1, 1_000), ACKS_LEADER), 0)
        .await;
    assert_eq!(produce_code(r), ErrorCode::LeaderNotAvailable);
    node.quorum.stale.store(false, Ordering::SeqCst);
    node.routing_stale(false).await;
    let r = node
        .call(produce("t", 0, batch("x", 1, 1_000), ACKS_LEADER), 0)
        .await;
    assert_eq!(produce_code(r), ErrorCode::None);
}

/// A group id whose offsets partition (of 3) is `partition`.
fn group_on(partition: i32) -> String {
    (0..)
        .map(|i| format!("group-{i}"))
        .find(|g| coordinator_partition(g, 3) == Some(partition))
        .unwrap()
}

async fn with_offsets_topic(node: &Node) {
    node.apply(MetadataCommand::CreateTopic {
        name: "__consumer_offsets".into(),
        id: 99,
        internal: true,
        configs: rill_broker::group::offsets::offsets_topic_configs(),
        assignments: vec![vec![1], vec![2], vec![3]],
    });
    node.reconciled(|i| i.topics.contains_key("__consumer_offsets"))
        .await;
}

fn find_coordinator(key: &str) -> Request {
    Request::FindCoordinator(FindCoordinatorRequest {
        key: key.into(),
        key_type: KEY_TYPE_GROUP,
    })
}

#[tokio::test]
async fn find_coordinator_answers_the_leader_of_the_hashed_offsets_partition() {
    let mut node = start_node().await;
    match node.call(find_coordinator("hello"), 0).await {
        Response::FindCoordinator(f) => {
            assert_eq!(f.error_code, ErrorCode::CoordinatorNotAvailable)
        }
        other => panic!("{other:?}"),
    }
    with_offsets_topic(&node).await;
    // Java's "hello".hashCode() is 99162322; 99162322 % 3 = 1, led by node 2.
    match node.call(find_coordinator("hello"), 0).await {
        Response::FindCoordinator(f) => {
            assert_eq!(
                (f.error_code, f.node_id, f.port),
                (ErrorCode::None, 2, 19422)
            )
        }
        other => panic!("{other:?}"),
    }
    match node.call(find_coordinator(&group_on(0)), 0).await {
        Response::FindCoordinator(f) => assert_eq!(
            (f.node_id, f.port),
            (1, i32::from(node.started.addr.port()))
        ),
        other => panic!("{other:?}"),
    }
    node.apply(MetadataCommand::FenceBroker { node_id: 3 });
    match node.call(find_coordinator(&group_on(2)), 0).await {
        Response::FindCoordinator(f) => {
            assert_eq!(f.error_code, ErrorCode::CoordinatorNotAvailable)
        }
        other => panic!("{other:?}"),
    }
}

fn join(group: &str) -> Request {
    Request::JoinGroup(JoinGroupRequest {
        group_id: group.into(),
        member_id: String::new(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        topics: vec!["t".into()],
        assignor: None,
    })
}

fn commit(group: &str) -> Request {
    Request::OffsetCommit(OffsetCommitRequest {
        group_id: group.into(),
        member_id: String::new(),
        member_epoch: -1,
        topics: vec![TopicPartitions {
            name: "t".into(),
            partitions: vec![OffsetCommitPartition {
                partition: 1,
                offset: 5,
                metadata: None,
            }],
        }],
    })
}

fn offset_fetch(group: &str) -> Request {
    Request::OffsetFetch(OffsetFetchRequest {
        group_id: group.into(),
        topics: Some(vec![TopicAssignment {
            name: "t".into(),
            partitions: vec![1],
        }]),
    })
}

#[tokio::test]
async fn group_requests_to_a_broker_that_does_not_coordinate_answer_not_coordinator() {
    let mut node = start_node().await;
    with_topic_t(&node).await;
    with_offsets_topic(&node).await;
    let elsewhere = group_on(1);
    let not_coordinator = |code| assert_eq!(code, ErrorCode::NotCoordinator);
    match node.call(join(&elsewhere), 0).await {
        Response::JoinGroup(r) => not_coordinator(r.error_code),
        other => panic!("{other:?}"),
    }
    let heartbeat = Request::Heartbeat(HeartbeatRequest {
        group_id: elsewhere.clone(),
        member_id: "m".into(),
        member_epoch: 1,
        topics: None,
        owned: Vec::new(),
    });
    match node.call(heartbeat, 0).await {
        Response::Heartbeat(r) => not_coordinator(r.error_code),
        other => panic!("{other:?}"),
    }
    let leave = Request::LeaveGroup(LeaveGroupRequest {
        group_id: elsewhere.clone(),
        member_id: "m".into(),
    });
    match node.call(leave, 0).await {
        Response::LeaveGroup(r) => not_coordinator(r.error_code),
        other => panic!("{other:?}"),
    }
    match node.call(commit(&elsewhere), 0).await {
        Response::OffsetCommit(r) => not_coordinator(r.topics[0].partitions[0].error_code),
        other => panic!("{other:?}"),
    }
    match node.call(offset_fetch(&elsewhere), 0).await {
        Response::OffsetFetch(r) => not_coordinator(r.error_code),
        other => panic!("{other:?}"),
    }
    let describe = Request::DescribeGroups(DescribeGroupsRequest {
        group_ids: vec![elsewhere.clone()],
    });
    match node.call(describe, 0).await {
        Response::DescribeGroups(r) => not_coordinator(r.groups[0].error_code),
        other => panic!("{other:?}"),
    }
    // Nothing was written for it here.
    assert!(node
        .started
        .ctx
        .groups
        .fetch_offsets(&elsewhere, None)
        .is_empty());
    // A group this broker coordinates commits, even for a partition led elsewhere.
    let here = group_on(0);
    match node.call(commit(&here), 0).await {
        Response::OffsetCommit(r) => {
            assert_eq!(r.topics[0].partitions[0].error_code, ErrorCode::None)
        }
        other => panic!("{other:?}"),
    }
    match node.call(offset_fetch(&here), 0).await {
        Response::OffsetFetch(r) => {
            assert_eq!(r.error_code, ErrorCode::None);
            assert_eq!(r.topics[0].partitions[0].offset, 5);
        }
        other => panic!("{other:?}"),
    }
    match node.call(join(&here), 0).await {
        Response::JoinGroup(r) => assert_eq!(r.error_code, ErrorCode::None),
        other => panic!("{other:?}"),
    }
}

fn create_request(name: &str, partitions: i32, replication_factor: i16) -> Request {
    Request::CreateTopics(CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: name.into(),
            num_partitions: partitions,
            configs: vec![ConfigEntry {
                key: "retention.ms".into(),
                value: Some("3600000".into()),
            }],
            replication_factor,
        }],
        timeout_ms: 5000,
        validate_only: false,
    })
}

#[tokio::test]
async fn create_topics_goes_through_the_controller_and_checks_the_replication_factor() {
    let mut node = start_node().await;
    match node.call(create_request("big", 3, 4), 1).await {
        Response::CreateTopics(r) => {
            let t = &r.topics[0];
            assert_eq!(t.error_code, ErrorCode::InvalidReplicationFactor);
            let message = t.error_message.clone().unwrap_or_default();
            assert!(message.contains("3 live broker"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!node
        .started
        .ctx
        .cluster
        .as_ref()
        .unwrap()
        .image()
        .topics
        .contains_key("big"));
    match node.call(create_request("orders", 6, 2), 1).await {
        Response::CreateTopics(r) => assert_eq!(r.topics[0].error_code, ErrorCode::None),
        other => panic!("{other:?}"),
    }
    let image = node.started.ctx.cluster.as_ref().unwrap().image();
    let orders = &image.topics["orders"];
    assert_ne!(orders.id, 0);
    assert_eq!(orders.configs["retention.ms"], "3600000");
    assert_eq!(orders.partitions.len(), 6);
    // Two replicas each, preferred leaders spread evenly; each partition's Raft group
    // (not run by this in-memory quorum) elects and reports its leader.
    let mut preferred = BTreeMap::new();
    for p in &orders.partitions {
        assert_eq!((p.replicas.len(), p.leader), (2, None));
        *preferred.entry(p.replicas[0]).or_insert(0) += 1;
    }
    assert_eq!(
        preferred.values().copied().collect::<Vec<_>>(),
        vec![2, 2, 2]
    );
    // Answered only once the local copy exists (node 1 holds replicas of it).
    let local = node.started.ctx.topics.get("orders").expect("local copy");
    assert_eq!(local.partitions.len(), 6);
    match node.call(create_request("orders", 1, 1), 1).await {
        Response::CreateTopics(r) => {
            assert_eq!(r.topics[0].error_code, ErrorCode::TopicAlreadyExists)
        }
        other => panic!("{other:?}"),
    }
    let delete = Request::DeleteTopics(DeleteTopicsRequest {
        topic_names: vec!["orders".into()],
        timeout_ms: 5000,
    });
    match node.call(delete, 0).await {
        Response::DeleteTopics(r) => assert_eq!(r.topics[0].error_code, ErrorCode::None),
        other => panic!("{other:?}"),
    }
    assert!(node.started.ctx.topics.get("orders").is_none());
}

#[tokio::test]
async fn local_topics_follow_the_image() {
    let node = start_node().await;
    let ctx = node.started.ctx.clone();
    node.apply(create_topic("here", 1, vec![vec![2, 1], vec![3]]));
    node.apply(create_topic("elsewhere", 2, vec![vec![2], vec![3]]));
    node.reconciled(|i| i.topics.contains_key("elsewhere"))
        .await;
    let here = ctx.topics.get("here").expect("hosted topic created");
    assert_eq!(here.partitions.len(), 2);
    assert!(ctx.topics.get("elsewhere").is_none());
    let mut set = BTreeMap::new();
    set.insert("retention.ms".to_string(), "60000".to_string());
    node.apply(MetadataCommand::AlterTopicConfigs {
        name: "here".into(),
        set,
        remove: Vec::new(),
    });
    node.reconciled(|i| i.topics["here"].configs.contains_key("retention.ms"))
        .await;
    assert_eq!(
        ctx.topics.get("here").unwrap().overrides["retention.ms"],
        "60000"
    );
    node.apply(MetadataCommand::DeleteTopic {
        name: "here".into(),
    });
    node.reconciled(|i| !i.topics.contains_key("here")).await;
    assert!(ctx.topics.get("here").is_none());
    assert!(!ctx.config.data_dir.join("here-0").exists());
}

#[tokio::test]
async fn describe_cluster_lists_brokers_from_the_image() {
    let mut node = start_node().await;
    node.apply(MetadataCommand::FenceBroker { node_id: 2 });
    match node
        .call(Request::DescribeCluster(DescribeClusterRequest), 0)
        .await
    {
        Response::DescribeCluster(r) => {
            assert_eq!(r.error_code, ErrorCode::None);
            assert_eq!(r.cluster_id, "test-cluster");
            assert_eq!((r.controller_id, r.node_id), (3, 1));
            assert!(r.metadata_applied > 0);
            assert!(!r.metadata_stale);
            let brokers: Vec<_> = r
                .brokers
                .iter()
                .map(|b| (b.node_id, b.alive, b.voter, b.inter_broker.clone()))
                .collect();
            assert_eq!(
                brokers,
                vec![
                    (1, true, true, "127.0.0.1:9431".to_string()),
                    (2, false, true, "127.0.0.1:9432".to_string()),
                    (3, true, true, "127.0.0.1:9433".to_string()),
                ]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_single_broker_describes_itself_alone() {
    let broker = TestBroker::start().await;
    let mut client = RawClient::connect(broker.addr).await;
    match client
        .call_at(Request::DescribeCluster(DescribeClusterRequest), 0)
        .await
    {
        Response::DescribeCluster(r) => {
            assert_eq!((r.controller_id, r.node_id, r.metadata_applied), (0, 0, -1));
            assert_eq!(r.brokers.len(), 1);
            assert_eq!(r.brokers[0].port, i32::from(broker.addr.port()));
        }
        other => panic!("{other:?}"),
    }
    broker.stop().await;
}

#[tokio::test]
async fn produce_auto_creates_through_the_controller() {
    let mut node = start_node().await;
    let r = node
        .call(produce("fresh", 0, batch("a", 1, 1_000), ACKS_LEADER), 0)
        .await;
    // One partition by default, placed by rotation: it may land on any of the three.
    let image = node.started.ctx.cluster.as_ref().unwrap().image();
    let leader = image.topics["fresh"].partitions[0].leader;
    let code = produce_code(r);
    match leader {
        Some(1) => assert_eq!(code, ErrorCode::None),
        _ => assert_eq!(code, ErrorCode::NotLeaderOrFollower),
    }
}

#[tokio::test]
async fn a_local_copy_of_an_earlier_topic_of_the_same_name_is_replaced_after_a_restart() {
    let mut node = start_node().await;
    node.apply(create_topic("t", 7, vec![vec![1]]));
    node.reconciled(|i| i.topics.contains_key("t")).await;
    let r = node
        .call(produce("t", 0, batch("old", 3, 1_000), ACKS_LEADER), 0)
        .await;
    assert_eq!(produce_code(r), ErrorCode::None);
    let Node { started, _dir, .. } = node;
    started.signal.trigger();
    started.task.await.unwrap().unwrap();
    // While it was away, `t` was deleted and created again (id 8).
    let mut node = start_node_in(_dir).await;
    node.apply(create_topic("t", 8, vec![vec![1]]));
    let ctx = node.started.ctx.clone();
    node.reconciled(|i| i.topics.get("t").is_some_and(|t| t.id == 8))
        .await;
    let log_end = ctx
        .topics
        .get("t")
        .expect("local copy")
        .partition(0)
        .unwrap()
        .log()
        .unwrap()
        .high_watermark();
    assert_eq!(log_end, 0, "the old incarnation's records are gone");
    let r = node.call(fetch("t", 0, 0, 0, 0), 0).await;
    assert!(fetched_values(&fetch_response(r)).is_empty());
}

#[tokio::test]
async fn a_local_topic_the_image_does_not_name_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    {
        let broker = TestBroker::start_in(dir, |_| {}).await;
        let mut c = RawClient::connect(broker.addr).await;
        let r = c
            .call(produce("legacy", 0, batch("x", 2, 1_000), ACKS_LEADER))
            .await;
        assert_eq!(produce_code(r), ErrorCode::None);
        let dir = broker.stop().await;
        let node = start_node_in(dir).await;
        node.apply(create_topic("other", 1, vec![vec![1]]));
        node.reconciled(|i| i.topics.contains_key("other")).await;
        let legacy = node.started.ctx.topics.get("legacy").expect("kept");
        assert_eq!(
            legacy.partition(0).unwrap().log().unwrap().high_watermark(),
            2
        );
    }
}

use common::kafka::{kafka_call, KafkaApi};

#[tokio::test]
async fn kafka_metadata_and_coordinators_come_from_the_image() {
    use kafka_protocol::messages::{
        BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, GroupId, JoinGroupRequest,
        JoinGroupResponse, MetadataRequest, MetadataResponse,
    };
    use kafka_protocol::protocol::StrBytes;
    let node = start_node_with(tempfile::tempdir().unwrap(), true).await;
    let kafka = node.started.kafka_addr.expect("Kafka listener");
    with_topic_t(&node).await;
    with_offsets_topic(&node).await;
    let mut all_topics = MetadataRequest::default();
    all_topics.topics = None;
    let m: MetadataResponse = kafka_call(kafka, KafkaApi::Metadata, 12, all_topics).await;
    let brokers: Vec<_> = m
        .brokers
        .iter()
        .map(|b| (b.node_id.0, b.port, b.rack.as_ref().map(|r| r.to_string())))
        .collect();
    assert_eq!(
        brokers,
        vec![
            (1, i32::from(kafka.port()), Some("a".to_string())),
            (2, 19092, Some("b".to_string())),
        ],
        "node 3 serves no Kafka clients"
    );
    assert_eq!(m.controller_id, BrokerId(3));
    assert_eq!(
        m.cluster_id.as_ref().map(|c| c.to_string()).as_deref(),
        Some("test-cluster")
    );
    let t = m
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == "t"))
        .expect("topic t");
    assert_eq!(t.topic_id, uuid::Uuid::from_u128(7));
    let p1 = &t.partitions[1];
    assert_eq!(
        (
            p1.leader_id.0,
            p1.leader_epoch,
            p1.replica_nodes.clone(),
            p1.isr_nodes.clone()
        ),
        (2, 0, vec![BrokerId(2)], vec![BrokerId(2)])
    );
    let mut find = FindCoordinatorRequest::default();
    find.key = StrBytes::from_static_str("hello");
    let f: FindCoordinatorResponse = kafka_call(kafka, KafkaApi::FindCoordinator, 2, find).await;
    assert_eq!((f.error_code, f.node_id.0, f.port), (0, 2, 19092));
    let mut find = FindCoordinatorRequest::default();
    find.key = StrBytes::from_string(group_on(2));
    let f: FindCoordinatorResponse = kafka_call(kafka, KafkaApi::FindCoordinator, 2, find).await;
    assert_eq!(f.error_code, ErrorCode::CoordinatorNotAvailable.code());
    let mut join = JoinGroupRequest::default();
    join.group_id = GroupId(StrBytes::from_static_str("hello"));
    join.session_timeout_ms = 10_000;
    join.rebalance_timeout_ms = 10_000;
    join.protocol_type = StrBytes::from_static_str("consumer");
    let j: JoinGroupResponse = kafka_call(kafka, KafkaApi::JoinGroup, 5, join).await;
    assert_eq!(j.error_code, ErrorCode::NotCoordinator.code());
}

#[tokio::test]
async fn metrics_report_the_cluster() {
    use rill_broker::metrics::collector::{render, BrokerCollector};
    let node = start_node().await;
    with_topic_t(&node).await;
    node.apply(MetadataCommand::FenceBroker { node_id: 3 });
    let ctx = node.started.ctx.clone();
    let text = render(BrokerCollector {
        metrics: ctx.metrics.clone(),
        broker: Some(ctx.clone()),
        ready: true,
    })
    .unwrap();
    let value = |name: &str| -> i64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(value("rill_cluster_controller"), 0);
    assert_eq!(value("rill_cluster_brokers_alive"), 2);
    assert_eq!(value("rill_cluster_brokers_fenced"), 1);
    // Partition 2 was led by the fenced node 3 alone.
    assert_eq!(value("rill_cluster_partitions_offline"), 1);
    // Every partition has one replica: none is under-replicated.
    assert_eq!(value("rill_cluster_under_replicated_partitions"), 0);
    assert!(value("rill_cluster_metadata_applied_index") >= 6);
    assert_eq!(value("rill_cluster_metadata_stale"), 0);
}

fn topic_acl(name: &str, permission: AclPermission) -> AclBinding {
    AclBinding {
        resource_type: ResourceType::Topic,
        resource_name: name.into(),
        pattern_type: PatternType::Literal,
        principal: "User:alice".into(),
        host: "*".into(),
        operation: AclOperation::Read,
        permission,
    }
}

use rill_protocol::api::acls::{
    AclBinding, AclFilter, AclOperation, AclPermission, PatternType, ResourceType,
};
use rill_protocol::api::create_acls::CreateAclsRequest;
use rill_protocol::api::delete_acls::DeleteAclsRequest;

#[tokio::test]
async fn acl_changes_go_through_the_controller_and_every_broker_follows_the_image() {
    let mut node = start_node().await;
    let ctx = node.started.ctx.clone();
    let created = Request::CreateAcls(CreateAclsRequest {
        creations: vec![
            topic_acl("orders", AclPermission::Allow),
            topic_acl("payments", AclPermission::Deny),
        ],
    });
    match node.call(created, 0).await {
        Response::CreateAcls(r) => {
            assert!(r.results.iter().all(|a| a.error_code == ErrorCode::None))
        }
        other => panic!("{other:?}"),
    }
    let image = ctx.cluster.as_ref().unwrap().image();
    assert_eq!(image.acls.len(), 2);
    let local = ctx.authorizer.store().snapshot();
    assert!(local
        .bindings()
        .contains(&topic_acl("orders", AclPermission::Allow)));
    // An ACL another broker added reaches this one through the image.
    let third = topic_acl("audit", AclPermission::Allow);
    node.apply(MetadataCommand::CreateAcls {
        acls: vec![rill_broker::cluster::acls::to_record(&third)],
    });
    let store = ctx.clone();
    node.reconciled(move |_| {
        store
            .authorizer
            .store()
            .snapshot()
            .bindings()
            .contains(&third)
    })
    .await;
    let mut filter = AclFilter::any();
    filter.resource_name = Some("payments".into());
    let deleted = Request::DeleteAcls(DeleteAclsRequest {
        filters: vec![filter],
    });
    match node.call(deleted, 0).await {
        Response::DeleteAcls(r) => {
            assert_eq!(r.results[0].error_code, ErrorCode::None);
            assert_eq!(
                r.results[0].deleted,
                vec![topic_acl("payments", AclPermission::Deny)]
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(ctx.cluster.as_ref().unwrap().image().acls.len(), 2);
    assert!(!ctx
        .authorizer
        .store()
        .snapshot()
        .bindings()
        .contains(&topic_acl("payments", AclPermission::Deny)));
    // The ACLs followed survive a restart (the store is durable) and an older image
    // replayed at start does not undo them.
    let Node { started, _dir, .. } = node;
    started.signal.trigger();
    started.task.await.unwrap().unwrap();
    let node = start_node_in(_dir).await;
    let ctx = node.started.ctx.clone();
    // The fresh quorum's image (no ACLs, a lower index) has been through a pass...
    node.reconciled(|i| i.brokers.len() == 3).await;
    // ...and the followed ACLs are still in force.
    assert_eq!(ctx.authorizer.store().snapshot().len(), 2);
}

#[tokio::test]
async fn a_partition_led_here_without_a_local_copy_yet_answers_leader_not_available() {
    // One partition at most: the local copy of a three-partition topic cannot be made.
    let mut node = start_node_tweaked(tempfile::tempdir().unwrap(), false, |c| {
        c.max_partitions = 1
    })
    .await;
    node.apply_routed(create_topic("t", 7, vec![vec![1], vec![2], vec![3]]))
        .await;
    assert!(node.started.ctx.topics.get("t").is_none());
    let r = node
        .call(produce("t", 0, batch("x", 1, 1_000), ACKS_LEADER), 0)
        .await;
    assert_eq!(produce_code(r), ErrorCode::LeaderNotAvailable);
    let r = node.call(fetch("t", 0, 0, 0, 0), 0).await;
    assert_eq!(fetch_code(r), ErrorCode::LeaderNotAvailable);
    // Partitions led elsewhere are still told apart.
    let r = node.call(fetch("t", 1, 0, 0, 0), 0).await;
    assert_eq!(fetch_code(r), ErrorCode::NotLeaderOrFollower);
}

#[tokio::test]
async fn kafka_create_partitions_grows_the_topic_through_the_controller() {
    use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
    use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse, TopicName};
    use kafka_protocol::protocol::StrBytes;
    let node = start_node_with(tempfile::tempdir().unwrap(), true).await;
    let kafka = node.started.kafka_addr.expect("Kafka listener");
    node.apply(create_topic("grow", 3, vec![vec![1], vec![2]]));
    node.reconciled(|i| i.topics.contains_key("grow")).await;
    let mut topic = CreatePartitionsTopic::default();
    topic.name = TopicName(StrBytes::from_static_str("grow"));
    topic.count = 6;
    topic.assignments = None;
    let mut request = CreatePartitionsRequest::default();
    request.topics = vec![topic];
    request.timeout_ms = 5000;
    let r: CreatePartitionsResponse =
        kafka_call(kafka, KafkaApi::CreatePartitions, 2, request).await;
    assert_eq!(
        r.results[0].error_code, 0,
        "{:?}",
        r.results[0].error_message
    );
    let image = node.started.ctx.cluster.as_ref().unwrap().image();
    assert_eq!(image.topics["grow"].partitions.len(), 6);
    // This broker hosts partition 0, so its local copy grew before the answer.
    assert_eq!(
        node.started
            .ctx
            .topics
            .get("grow")
            .unwrap()
            .partitions
            .len(),
        6
    );
    let mut shrink = CreatePartitionsTopic::default();
    shrink.name = TopicName(StrBytes::from_static_str("grow"));
    shrink.count = 2;
    let mut request = CreatePartitionsRequest::default();
    request.topics = vec![shrink];
    let r: CreatePartitionsResponse =
        kafka_call(kafka, KafkaApi::CreatePartitions, 2, request).await;
    assert_eq!(r.results[0].error_code, ErrorCode::InvalidPartitions.code());
}

/// A reset of a partition led by another broker is refused (its offsets are not known
/// to the coordinator, whose local copy is empty) instead of committing a wrong offset.
#[tokio::test]
async fn reset_offsets_of_a_partition_led_elsewhere_is_refused() {
    use rill_protocol::api::reset_offsets::{ResetOffsetsRequest, ResetSpec, ResetTopic};
    let mut node = start_node().await;
    with_offsets_topic(&node).await;
    with_topic_t(&node).await;
    let request = Request::ResetOffsets(ResetOffsetsRequest {
        group_id: group_on(0),
        topics: vec![ResetTopic {
            name: "t".into(),
            partitions: Some(vec![0, 1]),
        }],
        spec: ResetSpec::Latest,
        dry_run: false,
    });
    match node.call(request, 0).await {
        Response::ResetOffsets(r) => {
            assert_eq!(r.error_code, ErrorCode::None);
            let codes: Vec<(i32, ErrorCode)> = r.topics[0]
                .partitions
                .iter()
                .map(|p| (p.partition, p.error_code))
                .collect();
            assert_eq!(
                codes,
                [(0, ErrorCode::None), (1, ErrorCode::NotLeaderOrFollower)]
            );
        }
        other => panic!("{other:?}"),
    }
}
