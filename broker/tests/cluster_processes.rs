//! Three `rilld` processes forming a cluster on loopback (the heavy multi-process tests
//! live in the workspace's `tests/`): a topic created at broker 1 shows up at broker 3
//! with the same id, its partitions spread over the three, and produce/fetch work at
//! each partition's leader while the others answer NOT_LEADER_OR_FOLLOWER.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::child::start_rilld_with;
use common::kafka::{kafka_call, KafkaApi};
use common::*;
use rill_protocol::api::create_topics::{CreatableTopic, CreateTopicsRequest};
use rill_protocol::api::describe_cluster::{DescribeClusterRequest, DescribeClusterResponse};
use rill_protocol::api::metadata::{MetadataRequest, MetadataResponse};
use rill_protocol::api::produce::ACKS_LEADER;
use rill_protocol::api::{Request, Response};
use rill_protocol::error_code::ErrorCode;

const FORM_TIMEOUT: Duration = Duration::from_secs(60);

/// `n` distinct loopback ports nothing listens on now (held together while chosen, so
/// none is handed out twice).
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

struct Broker {
    _child: tokio::process::Child,
    addr: SocketAddr,
    kafka: SocketAddr,
    _dir: tempfile::TempDir,
}

async fn start_three() -> Vec<Broker> {
    let ports = free_ports(6);
    let members: Vec<String> = (1..=3)
        .map(|id| format!("{id}@127.0.0.1:{}", ports[id - 1]))
        .collect();
    let members = members.join(",");
    let mut brokers = Vec::new();
    for id in 1..=3 {
        let dir = tempfile::tempdir().unwrap();
        let kafka_port = ports[2 + id];
        let kafka = format!("127.0.0.1:{kafka_port}");
        let node_id = id.to_string();
        let (child, addr) = start_rilld_with(
            dir.path(),
            &[
                "--node-id",
                &node_id,
                "--cluster",
                &members,
                "--kafka-listen",
                &kafka,
                "--raft-heartbeat",
                "100ms",
                "--raft-election-timeout",
                "500ms",
                "--broker-heartbeat-interval",
                "200ms",
                "--broker-session-timeout",
                "2s",
            ],
        )
        .await;
        brokers.push(Broker {
            _child: child,
            addr,
            kafka: kafka.parse().unwrap(),
            _dir: dir,
        });
    }
    brokers
}

async fn describe(addr: SocketAddr) -> DescribeClusterResponse {
    let mut c = RawClient::connect(addr).await;
    match c
        .call_at(Request::DescribeCluster(DescribeClusterRequest), 0)
        .await
    {
        Response::DescribeCluster(d) => d,
        other => panic!("{other:?}"),
    }
}

async fn metadata(addr: SocketAddr, topic: &str) -> MetadataResponse {
    let mut c = RawClient::connect(addr).await;
    let request = Request::Metadata(MetadataRequest {
        topics: Some(vec![topic.into()]),
        allow_auto_topic_creation: false,
    });
    match c.call_at(request, 1).await {
        Response::Metadata(m) => m,
        other => panic!("{other:?}"),
    }
}

/// Waits until `check` holds, polling every 100 ms, or panics with `what`.
async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + FORM_TIMEOUT;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn kafka_topic_id(kafka: SocketAddr, topic: &str) -> Option<uuid::Uuid> {
    use kafka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
    use kafka_protocol::protocol::StrBytes;
    let mut t = kafka_protocol::messages::metadata_request::MetadataRequestTopic::default();
    t.name = Some(TopicName(StrBytes::from_string(topic.to_string())));
    let mut request = MetadataRequest::default();
    request.topics = Some(vec![t]);
    let m: MetadataResponse = kafka_call(kafka, KafkaApi::Metadata, 12, request).await;
    m.topics
        .first()
        .filter(|t| t.error_code == 0)
        .map(|t| t.topic_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_brokers_share_topics_and_serve_each_partition_at_its_leader() {
    let brokers = start_three().await;
    for b in &brokers {
        wait_until(
            "every broker to see three live brokers and a controller",
            || async {
                let d = describe(b.addr).await;
                d.controller_id > 0 && d.brokers.iter().filter(|x| x.alive).count() == 3
            },
        )
        .await;
    }
    let create = Request::CreateTopics(CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: "spread".into(),
            num_partitions: 6,
            configs: Vec::new(),
            replication_factor: 1,
        }],
        timeout_ms: 20_000,
        validate_only: false,
    });
    let mut c1 = RawClient::connect(brokers[0].addr).await;
    match c1.call_at(create, 1).await {
        Response::CreateTopics(r) => assert_eq!(
            r.topics[0].error_code,
            ErrorCode::None,
            "{:?}",
            r.topics[0].error_message
        ),
        other => panic!("{other:?}"),
    }
    // Broker 3 learns it with the same id.
    let id1 = kafka_topic_id(brokers[0].kafka, "spread")
        .await
        .expect("id at 1");
    wait_until("broker 3 to know the topic", || async {
        kafka_topic_id(brokers[2].kafka, "spread").await.is_some()
    })
    .await;
    assert_eq!(kafka_topic_id(brokers[2].kafka, "spread").await, Some(id1));
    let m = metadata(brokers[2].addr, "spread").await;
    let addresses: BTreeMap<i32, SocketAddr> = m
        .brokers
        .iter()
        .map(|b| (b.node_id, format!("{}:{}", b.host, b.port).parse().unwrap()))
        .collect();
    assert_eq!(addresses.len(), 3);
    let partitions = &m.topics[0].partitions;
    assert_eq!(partitions.len(), 6);
    let mut led = BTreeMap::new();
    for p in partitions {
        *led.entry(p.leader).or_insert(0) += 1;
    }
    assert_eq!(
        led.values().copied().collect::<Vec<_>>(),
        vec![2, 2, 2],
        "{led:?}"
    );
    for p in partitions {
        let leader = addresses[&p.leader];
        let mut at_leader = RawClient::connect(leader).await;
        let prefix = format!("p{}", p.partition);
        // The leader may still be creating its local copy: LEADER_NOT_AVAILABLE is
        // retriable, as clients treat it.
        let deadline = Instant::now() + FORM_TIMEOUT;
        loop {
            let request = produce("spread", p.partition, batch(&prefix, 2, 1_000), ACKS_LEADER);
            let r = produce_response(at_leader.call(request).await);
            let code = r.topics[0].partitions[0].error_code;
            if code == ErrorCode::None {
                break;
            }
            assert_eq!(code, ErrorCode::LeaderNotAvailable);
            assert!(Instant::now() < deadline, "the leader never took a write");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let r = fetch_response(at_leader.call(fetch("spread", p.partition, 0, 0, 0)).await);
        assert_eq!(
            fetched_values(&r),
            vec![format!("{prefix}-0"), format!("{prefix}-1")]
        );
        let other = addresses
            .iter()
            .find(|(id, _)| **id != p.leader)
            .map(|(_, a)| *a)
            .unwrap();
        let mut elsewhere = RawClient::connect(other).await;
        let r = produce_response(
            elsewhere
                .call(produce(
                    "spread",
                    p.partition,
                    batch("x", 1, 1_000),
                    ACKS_LEADER,
                ))
                .await,
        );
        assert_eq!(
            r.topics[0].partitions[0].error_code,
            ErrorCode::NotLeaderOrFollower
        );
    }
}
