//! Partition groups over the real replication network: three replica managers in one
//! process, each with its own data directory, local topic and inter-broker listener on
//! loopback (the metadata listener's own accept loop hands replication connections
//! over), real Raft log stores and state machines. The metadata image comes from an
//! in-memory quorum shared by the three.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rill_broker::cluster::handle::testing::InstantQuorum;
use rill_broker::cluster::handle::BoxFuture;
use rill_broker::cluster::raft::rpc::{Request, Response};
use rill_broker::cluster::raft::server::Dispatch;
use rill_broker::cluster::{
    BrokerRegistration, Cluster, ClusterConfig, ClusterMember, MetadataCommand, NodeId,
};
use rill_broker::config::TopicDefaults;
use rill_broker::replication::group::GroupSettings;
use rill_broker::replication::manager::{LocalPartitions, ReplicaManager};
use rill_broker::replication::network::CallError;
use rill_broker::replication::rpc::{self, RequestBody, SEGMENT_READ_BYTES_MAX};
use rill_broker::replication::server::Handoff;
use rill_broker::replication::{GroupId, ReplicaWrite, Replicator, SegmentSource};
use rill_broker::topics::TopicRegistry;
use rill_protocol::batch::{BatchBuilder, Compression, RecordInput};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const TOPIC: &str = "t";
const TOPIC_ID: u128 = 0x5eed;
const GROUP: GroupId = GroupId {
    topic_id: TOPIC_ID,
    partition: 0,
};
const DEADLINE: Duration = Duration::from_secs(30);

/// The metadata protocol is not under test: every request is refused.
struct NoMetadata;

impl Dispatch for NoMetadata {
    fn dispatch(&self, _request: Request) -> BoxFuture<'_, Response> {
        Box::pin(async { Response::Refused("not in this test".into()) })
    }
}

/// One broker of the test: its files, local topics, listener and replica manager.
struct Broker {
    node_id: NodeId,
    addr: String,
    cluster: Cluster,
    config: ClusterConfig,
    snapshot_every: Option<u64>,
    dir: Option<tempfile::TempDir>,
    topics: Arc<TopicRegistry>,
    manager: Arc<ReplicaManager>,
    stop: watch::Sender<bool>,
    run: Option<tokio::task::JoinHandle<()>>,
}

impl Broker {
    fn replicator(&self) -> &dyn Replicator {
        self.manager.as_ref()
    }

    /// The local partition's high watermark.
    fn high_watermark(&self) -> i64 {
        let partition = self.topics.partition(TOPIC, 0).unwrap();
        partition.log().unwrap().high_watermark()
    }

    /// Every committed batch of the local partition, as bytes.
    fn all_batches(&self) -> Vec<u8> {
        let partition = self.topics.partition(TOPIC, 0).unwrap();
        let log = partition.log().unwrap();
        let mut out = Vec::new();
        let mut offset = log.log_start_offset();
        while offset < log.high_watermark() {
            let read = log.read(offset, 1 << 20).unwrap();
            out.extend_from_slice(&read.records);
            offset = last_offset(&read.records) + 1;
        }
        out
    }

    /// Stops the manager (every group) and the listener.
    async fn stop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(run) = self.run.take() {
            run.await.unwrap();
        }
    }

    /// Stops it, closes its logs and starts it again over the same files and address.
    async fn restart(mut self) -> Broker {
        self.stop().await;
        self.topics.close().unwrap();
        let listener = TcpListener::bind(&self.addr).await.unwrap();
        let dir = self.dir.take();
        start_broker(
            self.cluster.clone(),
            &self.config,
            listener,
            self.addr.clone(),
            dir,
            self.snapshot_every,
        )
        .await
    }
}

/// The offset after the last batch of `batches`.
fn last_offset(batches: &[u8]) -> i64 {
    let mut at = 0;
    let mut last = -1;
    while at + 61 <= batches.len() {
        let base = i64::from_be_bytes(batches[at..at + 8].try_into().unwrap());
        let len = i32::from_be_bytes(batches[at + 8..at + 12].try_into().unwrap()) as usize;
        let delta = i32::from_be_bytes(batches[at + 23..at + 27].try_into().unwrap());
        last = base + i64::from(delta);
        at += 12 + len;
    }
    last
}

/// A batch of `records` records of `value_bytes` each.
fn batch(records: usize, value_bytes: usize, fill: u8) -> Bytes {
    let mut builder = BatchBuilder::new(Compression::None);
    for _ in 0..records {
        let record = RecordInput::new(1_700_000_000_000, vec![fill; value_bytes]);
        builder.append(&record).unwrap();
    }
    builder.build().unwrap()
}

fn write(batches: Bytes) -> ReplicaWrite {
    ReplicaWrite {
        batches,
        timestamp_ms: 1_700_000_000_000,
    }
}

/// Three brokers whose replica managers run partition 0 of `t` (replicas 1, 2, 3).
async fn three_brokers() -> (Vec<Broker>, Cluster) {
    brokers_snapshotting(None).await
}

/// [`three_brokers`] whose groups snapshot every `snapshot_every` entries and keep no
/// log below a snapshot, when given.
async fn brokers_snapshotting(snapshot_every: Option<u64>) -> (Vec<Broker>, Cluster) {
    let listeners = [
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
    ];
    let addrs: Vec<String> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().to_string())
        .collect();
    let (first, quorum) = InstantQuorum::cluster(1, 1);
    for (i, addr) in addrs.iter().enumerate() {
        quorum
            .apply(&MetadataCommand::RegisterBroker(BrokerRegistration {
                node_id: i as u64 + 1,
                host: "127.0.0.1".into(),
                port: 1,
                kafka: None,
                inter_broker: addr.clone(),
                rack: None,
                incarnation: 1,
            }))
            .unwrap();
    }
    quorum
        .apply(&MetadataCommand::CreateTopic {
            name: TOPIC.into(),
            id: TOPIC_ID,
            internal: false,
            configs: BTreeMap::new(),
            assignments: vec![vec![1, 2, 3]],
        })
        .unwrap();
    let members: Vec<ClusterMember> = addrs
        .iter()
        .enumerate()
        .map(|(i, addr)| ClusterMember {
            node_id: i as u64 + 1,
            addr: addr.clone(),
        })
        .collect();
    let mut brokers = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let node_id = i as u64 + 1;
        let cluster = Cluster::new(node_id, first.subscribe(), quorum.clone());
        let mut config = ClusterConfig::new(node_id, members.clone());
        config.raft_heartbeat = Duration::from_millis(100);
        config.raft_election_timeout = Duration::from_millis(1000);
        let addr = addrs[i].clone();
        brokers.push(start_broker(cluster, &config, listener, addr, None, snapshot_every).await);
    }
    (brokers, first)
}

async fn start_broker(
    cluster: Cluster,
    config: &ClusterConfig,
    listener: TcpListener,
    addr: String,
    dir: Option<tempfile::TempDir>,
    snapshot_every: Option<u64>,
) -> Broker {
    let dir = dir.unwrap_or_else(|| tempfile::tempdir().unwrap());
    let topics =
        Arc::new(TopicRegistry::open(dir.path(), TopicDefaults::default(), 4 << 20).unwrap());
    if topics.get(TOPIC).is_none() {
        topics.create(TOPIC, Some(1), BTreeMap::new()).unwrap();
    }
    let mut settings =
        GroupSettings::new(config, Duration::from_secs(10), Duration::from_secs(10)).unwrap();
    if let Some(every) = snapshot_every {
        let mut raft = (*settings.raft).clone();
        raft.snapshot_policy = openraft::SnapshotPolicy::LogsSinceLast(every);
        raft.max_in_snapshot_log_to_keep = 0;
        raft.purge_batch_size = 1;
        settings.raft = Arc::new(raft.validate().unwrap());
    }
    let manager = ReplicaManager::new(cluster.clone(), settings, dir.path());
    let handoff = Handoff::new();
    assert!(handoff.attach(manager.clone()));
    let (stop, stopped) = watch::channel(false);
    let server = rill_broker::cluster::raft::server::spawn(
        listener,
        Arc::new(NoMetadata),
        handoff,
        stopped.clone(),
    );
    let local_topics = topics.clone();
    let local: LocalPartitions =
        Arc::new(move |topic, partition| local_topics.partition(topic, partition).ok());
    let mut until = stopped;
    let images = cluster.subscribe();
    let run = tokio::spawn(manager.clone().run(local, images, async move {
        let _ = until.wait_for(|stop| *stop).await;
    }));
    let run = tokio::spawn(async move {
        run.await.unwrap();
        server.await.unwrap();
    });
    Broker {
        node_id: config.node_id,
        addr,
        cluster,
        config: config.clone(),
        snapshot_every,
        dir: Some(dir),
        topics,
        manager,
        stop,
        run: Some(run),
    }
}

/// Waits until `check` holds, failing the test after [`DEADLINE`].
async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The broker serving as the group's leader, once one does.
async fn serving_leader(brokers: &[Broker]) -> usize {
    let mut found = None;
    wait_until("a serving leader", || {
        found = brokers
            .iter()
            .position(|b| b.replicator().is_serving_leader(TOPIC, 0));
        found.is_some()
    })
    .await;
    found.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_write_is_applied_on_every_replica_and_survives_the_leader() {
    let (mut brokers, metadata) = three_brokers().await;
    let leader = serving_leader(&brokers).await;
    let leader_id = brokers[leader].node_id;
    let first = batch(10, 100, 1);
    let appended = brokers[leader]
        .replicator()
        .append(TOPIC, 0, write(first.clone()))
        .await
        .unwrap();
    assert_eq!((appended.base_offset, appended.last_offset), (0, 9));
    assert!(!appended.duplicate);
    for b in &brokers {
        wait_until("the write applied on every replica", || {
            b.high_watermark() == 10
        })
        .await;
        assert_eq!(last_offset(&b.all_batches()), 9);
    }
    let reference = brokers[leader].all_batches();
    for b in &brokers {
        assert_eq!(b.all_batches(), reference, "broker {} diverged", b.node_id);
    }
    // A follower refuses the write and names the leader.
    let follower = (leader + 1) % 3;
    let refused = brokers[follower]
        .replicator()
        .append(TOPIC, 0, write(batch(1, 10, 9)))
        .await;
    assert!(
        matches!(refused, Err(rill_broker::replication::ReplicationError::NotLeader { leader: Some(l) }) if l == leader_id),
        "{refused:?}"
    );
    // The leader reported itself and its in-sync replicas to the metadata image.
    wait_until("the leader report", || {
        let image = metadata.image();
        let p = image.partition(TOPIC, 0).unwrap();
        p.leader == Some(leader_id) && p.isr.len() == 3
    })
    .await;
    let status = brokers[leader]
        .replicator()
        .replica_status(TOPIC, 0)
        .unwrap();
    assert_eq!(status.leader, Some(leader_id));
    assert_eq!(status.in_sync, vec![1, 2, 3]);
    // Metrics: one group each; follower lag only where the group is led.
    let led = brokers[leader].manager.metrics();
    assert_eq!(led.groups, 1);
    let lagging: Vec<NodeId> = led.replica_lag.iter().map(|(_, _, r, _)| *r).collect();
    assert_eq!(lagging.len(), 2, "{led:?}");
    assert!(!lagging.contains(&leader_id));
    let followed = brokers[follower].manager.metrics();
    assert_eq!((followed.groups, followed.replica_lag.len()), (1, 0));

    // The leader stops; another is elected and serves every committed record.
    brokers[leader].stop().await;
    let survivors: Vec<Broker> = brokers
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != leader)
        .map(|(_, b)| b)
        .collect();
    let new_leader = serving_leader(&survivors).await;
    assert_ne!(survivors[new_leader].node_id, leader_id);
    assert_eq!(survivors[new_leader].all_batches(), reference);
    let second = brokers_append(&survivors, batch(5, 100, 2)).await;
    assert_eq!((second.base_offset, second.last_offset), (10, 14));
    for b in &survivors {
        wait_until("the second write on both survivors", || {
            b.high_watermark() == 15
        })
        .await;
    }
    assert_eq!(survivors[0].all_batches(), survivors[1].all_batches());
    let new_leader_id = survivors[new_leader].node_id;
    assert!(
        survivors[new_leader]
            .manager
            .metrics()
            .leader_elections_total
            >= 1
    );
    wait_until("the new leader's report", || {
        metadata.image().leader(TOPIC, 0) == Some(new_leader_id)
    })
    .await;
    for mut b in survivors {
        b.stop().await;
    }
}

/// Appends through whichever broker serves as leader, again through the next one when
/// leadership moved first (a busy test machine may delay heartbeats past the election
/// timeout; `NotLeader` means nothing was proposed, so the retry cannot duplicate).
async fn brokers_append(brokers: &[Broker], batches: Bytes) -> rill_broker::replication::Appended {
    let start = Instant::now();
    loop {
        let leader = serving_leader(brokers).await;
        let appended = brokers[leader]
            .replicator()
            .append(TOPIC, 0, write(batches.clone()))
            .await;
        match appended {
            Err(rill_broker::replication::ReplicationError::NotLeader { .. })
                if start.elapsed() < DEADLINE => {}
            other => return other.unwrap(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_a_replication_connection_closes_it_and_nothing_else() {
    let (mut brokers, _quorum) = three_brokers().await;
    let leader = serving_leader(&brokers).await;
    brokers_append(&brokers, batch(3, 10, 1)).await;
    let target = &brokers[(leader + 1) % 3];
    wait_until("the follower applied the write", || {
        target.high_watermark() == 3
    })
    .await;
    for garbage in [
        // A frame whose body is not a request.
        [
            &rpc::MAGIC[..],
            &5u32.to_be_bytes(),
            b"\xc1\xc1\xc1\xc1\xc1",
        ]
        .concat(),
        // A frame over the limit.
        [&rpc::MAGIC[..], &u32::MAX.to_be_bytes()].concat(),
        // Half a preamble, then silence is cut by the peer's own close below.
        b"\xff\xff".to_vec(),
    ] {
        let mut stream = TcpStream::connect(&target.addr).await.unwrap();
        stream.write_all(&garbage).await.unwrap();
        if garbage.len() == 2 {
            stream.shutdown().await.unwrap();
        }
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(DEADLINE, stream.read_to_end(&mut rest)).await;
        assert!(
            matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
            "{closed:?} {rest:?}"
        );
    }
    // The broker still serves its peers: a read over a fresh connection works.
    let chunk = brokers[leader]
        .manager
        .peers()
        .read(target.node_id, GROUP, 0, 1 << 20)
        .await
        .unwrap();
    assert_eq!(last_offset(&chunk.batches), 2);
    // A request addressed to another broker, or to a group not run there, is refused.
    let peers = brokers[leader].manager.peers();
    let other = GroupId {
        topic_id: 1,
        partition: 0,
    };
    let body = RequestBody::ReadSegments {
        offset: 0,
        max_bytes: 10,
    };
    let refused = peers
        .call(target.node_id, other, body, None, DEADLINE)
        .await;
    assert!(
        matches!(refused, Err(CallError::Refused { .. })),
        "{refused:?}"
    );
    for b in &mut brokers {
        b.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_segments_is_bounded_by_the_asked_bytes_and_the_server_cap() {
    let (mut brokers, _quorum) = three_brokers().await;
    // 12 writes of ~800 KiB: more than the server's cap in all.
    for i in 0..12u8 {
        brokers_append(&brokers, batch(8, 100 * 1024, i)).await;
    }
    let end = 96;
    wait_until("every replica applied every write", || {
        brokers.iter().all(|b| b.high_watermark() == end)
    })
    .await;
    // Broker 1 reads broker 2's segments.
    let follower = brokers[1].node_id;
    let peers = brokers[0].manager.peers();
    // Asked for 1 byte: one whole batch.
    let one = peers.read(follower, GROUP, 0, 1).await.unwrap();
    assert_eq!((one.log_start_offset, one.log_end_offset), (0, end));
    assert_eq!(last_offset(&one.batches), 7);
    // Asked for 2 MiB: whole batches within it.
    let some = peers.read(follower, GROUP, 8, 2 << 20).await.unwrap();
    assert!(some.batches.len() <= 2 << 20, "{}", some.batches.len());
    assert_eq!(i64::from_be_bytes(some.batches[..8].try_into().unwrap()), 8);
    assert_eq!((last_offset(&some.batches) + 1) % 8, 0, "whole batches");
    // Asked for everything: the server's cap.
    let capped = peers.read(follower, GROUP, 0, u32::MAX).await.unwrap();
    assert!(capped.batches.len() <= SEGMENT_READ_BYTES_MAX as usize);
    assert!(last_offset(&capped.batches) < end - 1);
    // From the end: nothing, and the source's offsets.
    let none = peers.read(follower, GROUP, end, 1 << 20).await.unwrap();
    assert!(none.batches.is_empty());
    assert_eq!(none.log_end_offset, end);
    for b in &mut brokers {
        b.stop().await;
    }
}

#[tokio::test]
async fn a_replication_connection_before_the_manager_attaches_is_closed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_stop, stopped) = watch::channel(false);
    let _server = rill_broker::cluster::raft::server::spawn(
        listener,
        Arc::new(NoMetadata),
        Handoff::new(),
        stopped,
    );
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&rpc::MAGIC).await.unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(DEADLINE, stream.read_to_end(&mut rest)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    // The metadata protocol on the same listener still answers.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = Request::Vote(openraft::raft::VoteRequest::new(
        openraft::Vote::new(1, 1),
        None,
    ));
    rill_broker::cluster::raft::rpc::write_frame(&mut stream, &request)
        .await
        .unwrap();
    let answer: Option<Response> = rill_broker::cluster::raft::rpc::read_frame(&mut stream)
        .await
        .unwrap();
    assert!(matches!(answer, Some(Response::Refused(_))), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_back_after_the_log_was_purged_catches_up_from_a_snapshot_and_segments() {
    let (mut brokers, _metadata) = brokers_snapshotting(Some(10)).await;
    let leader_id = brokers[serving_leader(&brokers).await].node_id;
    let away_at = brokers.iter().position(|b| b.node_id != leader_id).unwrap();
    let mut away = brokers.remove(away_at);
    let away_log_end = {
        let group = away.manager.group_by_id(GROUP).unwrap();
        let end = group.raft.metrics().borrow().last_log_index;
        end
    };
    away.stop().await;
    // Enough writes for snapshots and purges while it is away.
    for i in 0..40u8 {
        brokers_append(&brokers, batch(3, 200, i)).await;
    }
    let end = 120;
    wait_until(
        "both others purged their log past the returning one's end",
        || {
            brokers.iter().all(|b| {
                let group = b.manager.group_by_id(GROUP).unwrap();
                let purged = group.raft.metrics().borrow().purged.map(|l| l.index);
                purged.is_some_and(|p| Some(p) > away_log_end) && b.high_watermark() == end
            })
        },
    )
    .await;
    let back = away.restart().await;
    wait_until("the returning follower caught up", || {
        back.high_watermark() == end
    })
    .await;
    assert_eq!(back.all_batches(), brokers[0].all_batches());
    brokers.push(back);
    for b in &mut brokers {
        b.stop().await;
    }
}
