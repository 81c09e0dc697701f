//! The metadata quorum end to end, in process: three `RaftNode`s on loopback ports with
//! their own data directories. Stopping a node is `shutdown`, restarting it is `start`
//! again from the same directory.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::raft::InstallSnapshotRequest;
use rill_broker::cluster::raft::rpc::{self, Request, Response};
use rill_broker::cluster::raft::RaftNode;
use rill_broker::cluster::{
    ApplyError, BrokerRegistration, ClusterConfig, ClusterError, ClusterMember, MetadataCommand,
    MetadataImage, NodeId,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const DEADLINE: Duration = Duration::from_secs(20);

struct TestCluster {
    _dir: tempfile::TempDir,
    root: PathBuf,
    members: Vec<ClusterMember>,
    snapshot_every: u64,
    /// Raft heartbeat and election timeout (short by default, to keep tests fast).
    raft_timing: (Duration, Duration),
    nodes: BTreeMap<NodeId, RaftNode>,
}

impl TestCluster {
    /// Three members on free loopback ports; none started.
    fn new(snapshot_every: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listeners: Vec<std::net::TcpListener> = (0..3)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let members = listeners
            .iter()
            .enumerate()
            .map(|(i, l)| ClusterMember {
                node_id: i as NodeId + 1,
                addr: l.local_addr().unwrap().to_string(),
            })
            .collect();
        TestCluster {
            root: dir.path().to_path_buf(),
            _dir: dir,
            members,
            snapshot_every,
            raft_timing: (Duration::from_millis(50), Duration::from_millis(300)),
            nodes: BTreeMap::new(),
        }
    }

    async fn started(snapshot_every: u64) -> Self {
        let mut cluster = Self::new(snapshot_every);
        for id in 1..=3 {
            cluster.start(id).await;
        }
        cluster
    }

    fn config(&self, node_id: NodeId) -> ClusterConfig {
        let mut config = ClusterConfig::new(node_id, self.members.clone());
        (config.raft_heartbeat, config.raft_election_timeout) = self.raft_timing;
        config.broker_heartbeat_interval = Duration::from_millis(100);
        config.broker_session_timeout = Duration::from_millis(1000);
        config.snapshot_every = self.snapshot_every;
        config
    }

    fn registration(&self, node_id: NodeId) -> BrokerRegistration {
        BrokerRegistration {
            node_id,
            host: "127.0.0.1".into(),
            port: 9420 + node_id as u16,
            kafka: Some(("127.0.0.1".into(), 9090 + node_id as u16)),
            inter_broker: self.addr(node_id),
            rack: Some(format!("rack-{node_id}")),
            incarnation: 0,
        }
    }

    fn addr(&self, node_id: NodeId) -> String {
        self.members[node_id as usize - 1].addr.clone()
    }

    async fn start(&mut self, node_id: NodeId) {
        let data_dir = self.root.join(format!("node{node_id}"));
        let node = RaftNode::start(self.config(node_id), &data_dir, self.registration(node_id))
            .await
            .unwrap();
        self.nodes.insert(node_id, node);
    }

    async fn stop(&mut self, node_id: NodeId) {
        let node = self.nodes.remove(&node_id).unwrap();
        node.shutdown().await;
    }

    fn node(&self, node_id: NodeId) -> &RaftNode {
        &self.nodes[&node_id]
    }

    fn image(&self, node_id: NodeId) -> Arc<MetadataImage> {
        self.node(node_id).cluster().image()
    }

    /// The controller every running node agrees on, once there is one.
    async fn controller(&self) -> NodeId {
        let mut agreed = None;
        wait_until("the running nodes agree on a controller", || {
            let seen: Vec<Option<NodeId>> = self
                .nodes
                .values()
                .map(|n| n.cluster().status().controller)
                .collect();
            agreed = seen[0].filter(|c| seen.iter().all(|s| *s == Some(*c)));
            agreed.is_some_and(|c| self.nodes.contains_key(&c))
        })
        .await;
        agreed.unwrap()
    }

    fn follower(&self, controller: NodeId) -> NodeId {
        *self.nodes.keys().find(|id| **id != controller).unwrap()
    }

    /// Waits until every running node's image satisfies `check`.
    async fn wait_images(&self, what: &str, check: impl Fn(&MetadataImage) -> bool) {
        wait_until(what, || {
            self.nodes.values().all(|n| check(&n.cluster().image()))
        })
        .await;
    }

    async fn shutdown(mut self) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            self.stop(id).await;
        }
    }
}

async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn within<T>(what: &str, limit: Duration, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, future)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {limit:?}"))
}

fn create(name: &str, assignments: Vec<Vec<NodeId>>) -> MetadataCommand {
    MetadataCommand::CreateTopic {
        name: name.into(),
        id: name.bytes().fold(7u128, |h, b| h * 31 + u128::from(b)),
        internal: false,
        configs: BTreeMap::new(),
        assignments,
    }
}

fn all_registered(image: &MetadataImage) -> bool {
    image.brokers.len() == 3 && image.brokers.values().all(|b| !b.fenced)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_elect_a_controller_and_apply_a_follower_s_proposal_everywhere() {
    let cluster = TestCluster::started(1000).await;
    let controller = cluster.controller().await;
    cluster
        .wait_images(
            "the cluster is named and every broker registered",
            |image| !image.cluster_id.is_empty() && all_registered(image),
        )
        .await;
    let ids: Vec<String> = (1..=3)
        .map(|id| cluster.image(id).cluster_id.clone())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert!(uuid::Uuid::parse_str(&ids[0]).is_ok(), "{}", ids[0]);
    for id in 1..=3 {
        let broker = &cluster.image(1).brokers[&id];
        assert_eq!(broker.registration, cluster.registration(id));
    }

    let follower = cluster.follower(controller);
    let proposer = cluster.node(follower).cluster();
    proposer
        .propose(create("orders", vec![vec![1], vec![2], vec![3]]))
        .await
        .unwrap();
    // Applied on the proposing follower before `propose` returned.
    let topic = proposer.image().topics["orders"].clone();
    assert_eq!(topic.partitions.len(), 3);
    assert_eq!(proposer.image().leader("orders", 1), Some(2));
    cluster
        .wait_images("every image has the topic", |image| {
            image.topics.get("orders") == Some(&topic)
        })
        .await;

    let again = proposer.propose(create("orders", vec![vec![1]])).await;
    assert!(
        matches!(again, Err(ClusterError::Rejected(ApplyError::TopicExists(ref t))) if t == "orders"),
        "{again:?}"
    );
    let status = proposer.status();
    assert_eq!(status.controller, Some(controller));
    assert_eq!(status.voters, vec![1, 2, 3]);
    assert!(!status.stale, "{status:?}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_controller_is_replaced_and_the_stopped_node_catches_up_by_snapshot() {
    let mut cluster = TestCluster::started(5).await;
    let first = cluster.controller().await;
    cluster
        .wait_images("every broker registered", all_registered)
        .await;
    let follower = cluster.follower(first);
    cluster
        .node(follower)
        .cluster()
        .propose(create("before", vec![vec![1, 2, 3]]))
        .await
        .unwrap();
    cluster
        .wait_images("every image has `before`", |i| {
            i.topics.contains_key("before")
        })
        .await;
    let stopped_at = cluster.node(first).raft_metrics().last_log_index.unwrap();

    cluster.stop(first).await;
    let second = within(
        "electing a new controller",
        Duration::from_secs(5),
        cluster.controller(),
    )
    .await;
    assert_ne!(second, first);
    let survivor = cluster.follower(second);
    // The new controller fences the stopped broker once its session runs out after
    // the election, and only it: the live brokers' clocks started at the election.
    cluster
        .wait_images("the stopped controller is fenced", |i| {
            i.brokers[&first].fenced
        })
        .await;
    for id in [second, survivor] {
        let image = cluster.image(id);
        assert!(!image.brokers[&second].fenced && !image.brokers[&survivor].fenced);
    }
    for i in 0..20 {
        // Through the survivor that is not the controller: forwarded.
        let proposer = cluster
            .node(if i % 2 == 0 { survivor } else { second })
            .cluster();
        proposer
            .propose(create(&format!("t{i}"), vec![vec![second]]))
            .await
            .unwrap();
    }
    cluster
        .wait_images("both survivors have every topic", |image| {
            image.topics.contains_key("before") && image.topics.len() == 21
        })
        .await;
    // The controller purged its log past where the stopped node left off: that node
    // can only catch up through a snapshot.
    let leader = cluster.node(second).raft_metrics();
    wait_until("the controller purges its log", || {
        cluster
            .node(second)
            .raft_metrics()
            .purged
            .is_some_and(|p| p.index > stopped_at)
    })
    .await;
    assert!(leader.snapshot.is_some(), "{leader:?}");

    cluster.start(first).await;
    cluster
        .wait_images("the restarted node has every topic", |image| {
            image.topics.len() == 21 && image.topics.contains_key("t19")
        })
        .await;
    let restarted = cluster.node(first).raft_metrics();
    assert!(restarted.snapshot.is_some(), "{restarted:?}");
    cluster
        .wait_images("the restarted broker is unfenced", all_registered)
        .await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_restart_keeps_the_metadata() {
    let mut cluster = TestCluster::started(4).await;
    let controller = cluster.controller().await;
    cluster
        .wait_images("every broker registered", all_registered)
        .await;
    for i in 0..7 {
        cluster
            .node(controller)
            .cluster()
            .propose(create(&format!("t{i}"), vec![vec![1], vec![2]]))
            .await
            .unwrap();
    }
    cluster
        .wait_images("every image has the topics", |i| i.topics.len() == 7)
        .await;
    let before = cluster.image(1).topics.clone();
    for id in 1..=3 {
        cluster.stop(id).await;
    }
    for id in 1..=3 {
        cluster.start(id).await;
    }
    cluster.controller().await;
    cluster
        .wait_images("every image has the topics again", |i| i.topics == before)
        .await;
    cluster
        .node(1)
        .cluster()
        .propose(create("after", vec![vec![3]]))
        .await
        .unwrap();
    cluster
        .wait_images("every image has `after`", |i| i.topics.len() == 8)
        .await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_broker_is_fenced_and_unfenced_when_it_returns() {
    let mut cluster = TestCluster::started(1000).await;
    let controller = cluster.controller().await;
    cluster
        .wait_images("every broker registered", all_registered)
        .await;
    let silent = cluster.follower(controller);
    cluster
        .node(controller)
        .cluster()
        .propose(create("led", vec![vec![silent]]))
        .await
        .unwrap();
    cluster.stop(silent).await;
    let stopped = Instant::now();
    cluster
        .wait_images("the silent broker is fenced", |i| i.brokers[&silent].fenced)
        .await;
    // Session 1 s; checks every 50 ms; slack for the commit.
    assert!(
        stopped.elapsed() < Duration::from_secs(4),
        "{:?}",
        stopped.elapsed()
    );
    assert_eq!(cluster.image(controller).leader("led", 0), None);

    cluster.start(silent).await;
    cluster
        .wait_images("the returning broker is unfenced and leads again", |i| {
            !i.brokers[&silent].fenced && i.leader("led", 0) == Some(silent)
        })
        .await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_without_a_majority_says_its_image_is_stale_and_proposals_fail() {
    let mut cluster = TestCluster::started(1000).await;
    let controller = cluster.controller().await;
    let alone = cluster.follower(controller);
    for id in [1, 2, 3] {
        if id != alone {
            cluster.stop(id).await;
        }
    }
    let node = cluster.node(alone).cluster();
    wait_until("the lone member reports a stale image", || {
        node.status().stale
    })
    .await;
    let result = within(
        "a proposal without a majority",
        Duration::from_secs(15),
        node.propose(create("t", vec![vec![alone]])),
    )
    .await;
    assert!(
        result.as_ref().is_err_and(|e| e.is_retriable()),
        "{result:?}"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_inter_broker_port_neither_panics_nor_stalls() {
    let cluster = TestCluster::started(1000).await;
    let controller = cluster.controller().await;
    cluster
        .wait_images("every broker registered", all_registered)
        .await;
    let addr = cluster.addr(controller);

    let mut idle = TcpStream::connect(&addr).await.unwrap();
    let mut junk = Vec::new();
    let mut x: u32 = 0x9e37_79b9;
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        junk.push(x as u8);
    }
    let mut bad_json = 12u32.to_be_bytes().to_vec();
    bad_json.extend_from_slice(b"{\"Vote\":[1,2");
    let mut unknown = 16u32.to_be_bytes().to_vec();
    unknown.extend_from_slice(b"{\"Nope\":17}\0\0\0\0\0");
    let huge = u32::MAX.to_be_bytes().to_vec();
    for payload in [junk, bad_json, unknown, huge] {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream.write_all(&payload).await.unwrap();
        let mut buf = [0u8; 64];
        // The listener closes the connection (never answers garbage).
        let read = within(
            "the listener closing a bad connection",
            Duration::from_secs(5),
            async { stream.read(&mut buf).await.unwrap_or(0) },
        )
        .await;
        assert_eq!(read, 0);
    }

    // A well-formed snapshot chunk far past any snapshot's size is refused, not
    // allocated.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let chunk = Request::InstallSnapshot(InstallSnapshotRequest {
        vote: openraft::Vote::new_committed(1_000_000, 2),
        meta: openraft::SnapshotMeta::default(),
        offset: u64::MAX - 4,
        data: vec![1, 2, 3],
        done: false,
    });
    rpc::write_frame(&mut stream, &chunk).await.unwrap();
    let answer: Response = rpc::read_frame(&mut stream).await.unwrap().unwrap();
    assert!(matches!(answer, Response::Refused(_)), "{answer:?}");

    // Entries no leader would send (a gap in the indexes) are refused too.
    let entry = |index| openraft::Entry {
        log_id: openraft::LogId::new(openraft::CommittedLeaderId::new(1, 1), index),
        payload: openraft::EntryPayload::Blank,
    };
    let append = Request::AppendEntries(openraft::raft::AppendEntriesRequest {
        vote: openraft::Vote::new_committed(1, 1),
        prev_log_id: None,
        entries: vec![entry(0), entry(5)],
        leader_commit: None,
    });
    rpc::write_frame(&mut stream, &append).await.unwrap();
    let answer: Response = rpc::read_frame(&mut stream).await.unwrap().unwrap();
    assert!(matches!(answer, Response::Refused(_)), "{answer:?}");

    // A connection that stays silent does not hold anything up either.
    let follower = cluster.follower(controller);
    within(
        "a proposal after the garbage",
        Duration::from_secs(10),
        cluster
            .node(follower)
            .cluster()
            .propose(create("still-works", vec![vec![controller]])),
    )
    .await
    .unwrap();
    assert_eq!(cluster.controller().await, controller);
    idle.write_all(&[0, 0]).await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_cut_off_from_its_followers_says_its_image_is_stale() {
    let mut cluster = TestCluster::started(1000).await;
    let controller = cluster.controller().await;
    let node = cluster.node(controller).cluster();
    wait_until("the controller hears its quorum", || !node.status().stale).await;
    for id in [1, 2, 3] {
        if id != controller {
            cluster.stop(id).await;
        }
    }
    wait_until("the cut-off controller reports a stale image", || {
        node.status().stale
    })
    .await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_too_large_for_one_call_reaches_a_lagging_follower_in_smaller_batches() {
    // openraft gives each AppendEntries one heartbeat interval: the default 250 ms.
    let mut cluster = TestCluster::new(1000);
    cluster.raft_timing = (Duration::from_millis(250), Duration::from_secs(1));
    for id in 1..=3 {
        cluster.start(id).await;
    }
    let controller = cluster.controller().await;
    cluster
        .wait_images("every broker registered", all_registered)
        .await;
    let proposer = cluster.node(controller).cluster();
    proposer
        .propose(create("big", vec![vec![controller]]))
        .await
        .unwrap();
    let lagging = cluster.follower(controller);
    cluster.stop(lagging).await;
    // Ten commands of 600 KiB: a 6 MiB backlog, sent one entry per call.
    for i in 0..10 {
        let value = "x".repeat(600 * 1024);
        let set = BTreeMap::from([(format!("key{i}"), value)]);
        proposer
            .propose(MetadataCommand::AlterTopicConfigs {
                name: "big".into(),
                set,
                remove: vec![],
            })
            .await
            .unwrap();
    }
    cluster.start(lagging).await;
    cluster
        .wait_images("the lagging follower has every config", |image| {
            image
                .topics
                .get("big")
                .is_some_and(|t| t.configs.len() == 10)
        })
        .await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_over_the_size_limit_is_refused_before_the_log() {
    let cluster = TestCluster::started(1000).await;
    let controller = cluster.controller().await;
    cluster
        .wait_images("every broker registered", all_registered)
        .await;
    let set = BTreeMap::from([("k".to_string(), "x".repeat(2 * 1024 * 1024))]);
    let result = cluster
        .node(cluster.follower(controller))
        .cluster()
        .propose(MetadataCommand::AlterTopicConfigs {
            name: "t".into(),
            set,
            remove: vec![],
        })
        .await;
    assert!(
        matches!(&result, Err(ClusterError::Rejected(ApplyError::Invalid(m))) if m.contains("byte limit")),
        "{result:?}"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_log_tail_was_torn_recovers_and_catches_up() {
    let mut cluster = TestCluster::started(1000).await;
    let controller = cluster.controller().await;
    cluster
        .wait_images("every broker registered", all_registered)
        .await;
    for i in 0..3 {
        cluster
            .node(controller)
            .cluster()
            .propose(create(&format!("t{i}"), vec![vec![controller]]))
            .await
            .unwrap();
    }
    cluster
        .wait_images("every image has the topics", |i| i.topics.len() == 3)
        .await;
    let torn = cluster.follower(controller);
    cluster.stop(torn).await;
    // A power cut mid-append: the last record loses its end, and junk follows.
    let log = cluster.root.join(format!("node{torn}/cluster/log"));
    let mut bytes = std::fs::read(&log).unwrap();
    let whole = bytes.len();
    bytes.truncate(whole - 3);
    bytes.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0x01]);
    std::fs::write(&log, &bytes).unwrap();

    cluster.start(torn).await;
    assert!(std::fs::metadata(&log).unwrap().len() < whole as u64);
    cluster
        .node(controller)
        .cluster()
        .propose(create("after", vec![vec![controller]]))
        .await
        .unwrap();
    cluster
        .wait_images("the torn member has every topic", |i| {
            i.topics.len() == 4 && i.topics.contains_key("t2")
        })
        .await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_vote_file_stops_the_start_with_a_message_naming_it() {
    let mut cluster = TestCluster::started(1000).await;
    cluster.controller().await;
    cluster.stop(2).await;
    let vote = cluster.root.join("node2/cluster/vote");
    let text = std::fs::read_to_string(&vote).unwrap();
    std::fs::write(&vote, text.replace("leader_id", "leader_ie")).unwrap();
    let data_dir = cluster.root.join("node2");
    let result = RaftNode::start(cluster.config(2), &data_dir, cluster.registration(2)).await;
    let Err(error) = result else {
        panic!("started over a damaged vote file");
    };
    let message = error.to_string();
    assert!(
        message.contains("vote") && message.contains("damaged"),
        "{message}"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_with_a_wiped_data_dir_is_rebuilt_by_the_controller() {
    let mut cluster = TestCluster::started(1000).await;
    let controller = cluster.controller().await;
    cluster
        .wait_images("every broker registered", all_registered)
        .await;
    for i in 0..3 {
        cluster
            .node(controller)
            .cluster()
            .propose(create(&format!("t{i}"), vec![vec![controller]]))
            .await
            .unwrap();
    }
    let wiped = cluster.follower(controller);
    cluster
        .wait_images("every image has the topics", |i| i.topics.len() == 3)
        .await;
    cluster.stop(wiped).await;
    std::fs::remove_dir_all(cluster.root.join(format!("node{wiped}"))).unwrap();
    cluster.start(wiped).await;
    cluster
        .wait_images("the rebuilt member has every topic and broker", |i| {
            i.topics.len() == 3 && all_registered(i)
        })
        .await;
    assert_eq!(cluster.controller().await, controller);
    cluster.shutdown().await;
}
