//! The clients against a fake cluster ([`FakeCluster`]): batches and fetches go to each
//! partition's leader and follow it when it moves, retried batches keep their producer
//! sequence, groups find (and find again) their coordinator, bootstrap skips dead
//! addresses, and the cluster's admin views decode.

use std::collections::BTreeSet;
use std::time::Duration;

use rill_protocol::api::ApiKey;
use rill_protocol::error_code::ErrorCode;
use tokio::time::Instant;

use crate::test_support::cluster::FakeCluster;
use crate::test_support::FakeBroker;
use crate::{
    Admin, AutoOffsetReset, ClientError, ConnectionConfig, Consumer, ConsumerConfig,
    ConsumerRecord, Producer, ProducerConfig, ProducerRecord, SeekTo, TopicPartition,
};

const DEADLINE: Duration = Duration::from_secs(10);

fn producer_config(bootstrap: String) -> ProducerConfig {
    ProducerConfig::builder(bootstrap)
        .retry_backoff(Duration::from_millis(10))
        .linger(Duration::from_millis(1))
        .request_timeout(Duration::from_secs(2))
        .delivery_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn consumer_config(bootstrap: String) -> ConsumerConfig {
    let mut config = ConsumerConfig::builder(bootstrap)
        .fetch_max_wait(Duration::from_millis(20))
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .enable_auto_commit(false)
        .build()
        .unwrap();
    config.connection.reconnect_backoff = Duration::from_millis(10);
    config
}

/// Sends `values` to `topic`/`partition` one by one, waiting for each acknowledgement;
/// returns their offsets.
async fn produce(producer: &Producer, topic: &str, partition: i32, values: &[String]) -> Vec<i64> {
    let mut offsets = Vec::new();
    for value in values {
        let record = ProducerRecord::new(topic, value.clone()).with_partition(partition);
        let delivery = producer.send(record).await.unwrap();
        offsets.push(delivery.await.unwrap().offset);
    }
    offsets
}

fn values(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("v{i}")).collect()
}

/// Polls until `count` records arrived (or the deadline passes: a failure).
async fn poll_until(consumer: &mut Consumer, count: usize) -> Vec<ConsumerRecord> {
    let deadline = Instant::now() + DEADLINE;
    let mut records = Vec::new();
    while records.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} records arrived",
            records.len()
        );
        records.extend(consumer.poll(Duration::from_millis(100)).await.unwrap());
    }
    records
}

#[tokio::test]
async fn producer_sends_each_batch_to_its_partitions_leader() {
    let cluster = FakeCluster::start(2, 2).await;
    cluster.move_leader("t", 1, 2);
    let producer = Producer::connect(producer_config(cluster.addrs[0].clone()))
        .await
        .unwrap();
    assert_eq!(
        produce(&producer, "t", 0, &values(0..5)).await,
        [0, 1, 2, 3, 4]
    );
    assert_eq!(
        produce(&producer, "t", 1, &values(0..5)).await,
        [0, 1, 2, 3, 4]
    );
    producer.close().await.unwrap();
    let state = cluster.state();
    let nodes = |p: i32| -> BTreeSet<i32> {
        state
            .appended
            .iter()
            .filter(|a| a.partition == p)
            .map(|a| a.node)
            .collect()
    };
    assert_eq!(
        nodes(0),
        BTreeSet::from([1]),
        "partition 0 is led by node 1"
    );
    assert_eq!(
        nodes(1),
        BTreeSet::from([2]),
        "partition 1 is led by node 2"
    );
    assert_eq!(state.record_count("t", 0), 5);
    assert_eq!(state.record_count("t", 1), 5);
}

#[tokio::test]
async fn retried_batch_keeps_its_sequence_when_the_leader_moves() {
    let cluster = FakeCluster::start(2, 1).await;
    let producer = Producer::connect(producer_config(cluster.bootstrap()))
        .await
        .unwrap();
    assert!(producer.config().idempotent());
    assert_eq!(produce(&producer, "t", 0, &values(0..3)).await, [0, 1, 2]);
    // Node 1 writes the next batch, then loses leadership to node 2 and answers
    // NOT_LEADER_OR_FOLLOWER: the producer must send the same batch (same sequence) to
    // node 2, which recognises it, so it is stored once.
    cluster.state().move_after_append = Some((("t".into(), 0), 2));
    assert_eq!(produce(&producer, "t", 0, &values(3..6)).await, [3, 4, 5]);
    producer.close().await.unwrap();
    let state = cluster.state();
    assert!(state.move_after_append.is_none(), "the move happened");
    assert_eq!(state.record_count("t", 0), 6, "nothing duplicated or lost");
    let sequences: Vec<(i32, i32)> = state
        .appended
        .iter()
        .map(|a| (a.node, a.base_sequence))
        .collect();
    assert_eq!(
        sequences,
        [(1, 0), (1, 1), (1, 2), (1, 3), (2, 4), (2, 5)],
        "batch 3 was written by node 1 only; node 2 took the next ones"
    );
    assert!(
        state.requests(2, ApiKey::Produce) >= 3,
        "the retry went to node 2"
    );
}

#[tokio::test]
async fn consumer_follows_a_moved_partition_at_the_same_offset() {
    let cluster = FakeCluster::start(2, 1).await;
    let producer = Producer::connect(producer_config(cluster.bootstrap()))
        .await
        .unwrap();
    produce(&producer, "t", 0, &values(0..5)).await;
    let tp = TopicPartition::new("t", 0);
    let mut consumer = Consumer::connect(consumer_config(cluster.bootstrap()))
        .await
        .unwrap();
    consumer.assign([tp.clone()]);
    consumer.seek(&tp, SeekTo::Beginning).await.unwrap();
    let mut records = poll_until(&mut consumer, 5).await;
    assert_eq!(cluster.state().requests(2, ApiKey::Fetch), 0);
    cluster.move_leader("t", 0, 2);
    produce(&producer, "t", 0, &values(5..10)).await;
    records.extend(poll_until(&mut consumer, 5).await);
    let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (0..10).collect::<Vec<i64>>(), "no gap, no repeat");
    assert_eq!(records[7].value.as_deref(), Some(&b"v7"[..]));
    assert!(
        cluster.state().requests(2, ApiKey::Fetch) > 0,
        "fetched from node 2"
    );
    // ListOffsets goes to the new leader too (node 1 would refuse it).
    consumer.seek(&tp, SeekTo::End).await.unwrap();
    assert_eq!(consumer.position(&tp), Some(10));
    consumer.close().await.unwrap();
    producer.close().await.unwrap();
}

#[tokio::test]
async fn group_finds_its_coordinator_and_finds_it_again_after_not_coordinator() {
    let cluster = FakeCluster::start(2, 1).await;
    cluster.state().coordinator = 2;
    let producer = Producer::connect(producer_config(cluster.bootstrap()))
        .await
        .unwrap();
    produce(&producer, "t", 0, &values(0..3)).await;
    let mut consumer = Consumer::connect(consumer_config(cluster.bootstrap()))
        .await
        .unwrap();
    consumer.subscribe("g", &["t"]).await.unwrap();
    poll_until(&mut consumer, 3).await;
    consumer.commit().await.unwrap();
    let key = ("g".to_owned(), "t".to_owned(), 0);
    assert_eq!(cluster.state().committed.get(&key), Some(&(3, 2)));
    assert_eq!(cluster.state().requests(1, ApiKey::JoinGroup), 0);
    // The coordinator moves: node 2 now answers NOT_COORDINATOR.
    cluster.state().coordinator = 1;
    produce(&producer, "t", 0, &values(3..5)).await;
    poll_until(&mut consumer, 2).await;
    consumer.commit().await.unwrap();
    let (committed, finds) = {
        let state = cluster.state();
        let finds =
            state.requests(1, ApiKey::FindCoordinator) + state.requests(2, ApiKey::FindCoordinator);
        (state.committed.get(&key).copied(), finds)
    };
    assert_eq!(committed, Some((5, 1)), "committed on node 1");
    assert!(
        finds >= 2,
        "found again after NOT_COORDINATOR ({finds} lookups)"
    );
    consumer.close().await.unwrap();
    producer.close().await.unwrap();
}

/// An address nothing listens on.
async fn dead_addr() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    addr
}

#[tokio::test]
async fn bootstrap_skips_a_dead_first_address() {
    let cluster = FakeCluster::start(2, 1).await;
    let bootstrap = format!("{},{}", dead_addr().await, cluster.addrs[1]);
    let producer = Producer::connect(producer_config(bootstrap.clone()))
        .await
        .unwrap();
    // Partition 0 is led by node 1, which the bootstrap list does not name.
    assert_eq!(produce(&producer, "t", 0, &values(0..2)).await, [0, 1]);
    producer.close().await.unwrap();
    let admin = Admin::connect(ConnectionConfig::new(bootstrap))
        .await
        .unwrap();
    let topics = admin.list_topics().await.unwrap();
    assert_eq!(topics[0].name, "t");
    assert_eq!(
        cluster.state().requests(1, ApiKey::Metadata),
        0,
        "asked node 2"
    );
    admin.close().await.unwrap();
}

#[tokio::test]
async fn describe_cluster_and_the_topic_replica_fields_decode() {
    let cluster = FakeCluster::start(3, 2).await;
    {
        let mut state = cluster.state();
        state.logs.insert("t".into(), vec![Vec::new(), Vec::new()]);
        state.set_leader("t", 1, 3);
    }
    let producer = Producer::connect(producer_config(cluster.bootstrap()))
        .await
        .unwrap();
    produce(&producer, "t", 1, &values(0..4)).await;
    producer.close().await.unwrap();
    let admin = Admin::connect(ConnectionConfig::new(cluster.addrs[1].clone()))
        .await
        .unwrap();
    let described = admin.describe_cluster().await.unwrap();
    assert_eq!(described.cluster_id, "fake-cluster");
    assert_eq!(described.controller_id, Some(1));
    assert_eq!(described.node_id, 2, "the answering broker");
    assert!(described.metadata_stale);
    let ids: Vec<i32> = described.brokers.iter().map(|b| b.node_id).collect();
    assert_eq!(ids, [1, 2, 3]);
    let third = &described.brokers[2];
    assert_eq!(third.rack.as_deref(), Some("rack-3"));
    assert!(!third.alive && !third.voter);
    assert_eq!(third.inter_broker, "127.0.0.1:9433");
    assert_eq!(format!("{}:{}", third.host, third.port), cluster.addrs[2]);
    let topic = admin.describe_topic("t").await.unwrap();
    let p1 = &topic.partitions[1];
    assert_eq!((p1.leader, p1.leader_epoch), (3, 1));
    assert_eq!(p1.replicas, [3, 1, 2]);
    assert_eq!(p1.isr, [3]);
    // Offsets come from each leader (node 1 refuses partition 1's lookup).
    assert_eq!((p1.earliest_offset, p1.latest_offset), (0, 4));
    assert_eq!(topic.partitions[0].leader, 1);
    admin.close().await.unwrap();
}

#[tokio::test]
async fn describe_cluster_on_an_older_broker_says_so() {
    let broker = FakeBroker::start(1).await;
    broker.state().without_describe_cluster = true;
    let admin = Admin::connect(ConnectionConfig::new(broker.addr.clone()))
        .await
        .unwrap();
    let error = admin.describe_cluster().await.unwrap_err();
    assert!(
        matches!(error, ClientError::BrokerTooOld { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("older than this client"),
        "{error}"
    );
}

#[tokio::test]
async fn keyed_records_wait_for_a_leader_then_fail_with_the_reason_past_the_timeout() {
    let cluster = FakeCluster::start(2, 1).await;
    let producer = Producer::connect(producer_config(cluster.bootstrap()))
        .await
        .unwrap();
    assert_eq!(produce(&producer, "t", 0, &values(0..1)).await, [0]);
    // No leader now: the record waits (retried, metadata refreshed) until one appears.
    cluster.move_leader("t", 0, -1);
    let keyed = ProducerRecord::new("t", "waits").with_key("k");
    let delivery = producer.send(keyed).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(cluster.state().record_count("t", 0), 1, "nothing sent yet");
    cluster.move_leader("t", 0, 2);
    let written = tokio::time::timeout(DEADLINE, delivery)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(written.offset, 1);
    assert_eq!(cluster.state().appended.last().map(|a| a.node), Some(2));
    // Still no leader when the delivery timeout passes: the error says why.
    cluster.move_leader("t", 0, -1);
    let keyed = ProducerRecord::new("t", "gives up").with_key("k");
    let error = producer.send(keyed).await.unwrap().await.unwrap_err();
    let text = error.to_string();
    assert!(
        matches!(error, ClientError::DeliveryTimeout { partition: 0, .. }),
        "{text}"
    );
    assert!(text.contains("LEADER_NOT_AVAILABLE"), "{text}");
    assert!(text.contains("has no leader now"), "{text}");
    assert!(
        producer.close().await.is_err(),
        "close reports the failed record"
    );
}

#[tokio::test]
async fn a_single_broker_costs_one_connection_per_handle() {
    let broker = FakeBroker::start(3).await;
    let producer = Producer::connect(producer_config(broker.addr.clone()))
        .await
        .unwrap();
    for partition in 0..3 {
        produce(&producer, "t", partition, &values(0..2)).await;
    }
    producer.close().await.unwrap();
    assert_eq!(
        broker.state().connections.get(&0),
        Some(&1),
        "the producer's"
    );
    let mut consumer = Consumer::connect(consumer_config(broker.addr.clone()))
        .await
        .unwrap();
    let tps: Vec<TopicPartition> = (0..3).map(|p| TopicPartition::new("t", p)).collect();
    consumer.assign(tps.clone());
    for tp in &tps {
        consumer.seek(tp, SeekTo::Beginning).await.unwrap();
    }
    assert_eq!(poll_until(&mut consumer, 6).await.len(), 6);
    consumer.close().await.unwrap();
    assert_eq!(
        broker.state().connections.get(&0),
        Some(&2),
        "plus the consumer's"
    );
}

#[tokio::test]
async fn a_broker_cut_off_from_the_controller_is_not_the_only_one_asked() {
    let cluster = FakeCluster::start(2, 1).await;
    // Bootstrapped from node 1 alone; it leads partition 0 and names node 2 too.
    let producer = Producer::connect(producer_config(cluster.addrs[0].clone()))
        .await
        .unwrap();
    assert_eq!(produce(&producer, "t", 0, &values(0..1)).await, [0]);
    // Node 1 loses touch with the controller (its Metadata names no leader) while
    // leadership moves to node 2: only node 2 can say where partition 0 went.
    cluster.state().stale_nodes.push(1);
    cluster.move_leader("t", 0, 2);
    assert_eq!(produce(&producer, "t", 0, &values(1..2)).await, [1]);
    producer.close().await.unwrap();
    let state = cluster.state();
    assert_eq!(state.appended.last().map(|a| a.node), Some(2));
    assert!(state.requests(2, ApiKey::Metadata) > 0, "node 2 was asked");
}

#[tokio::test]
async fn clients_follow_a_partition_whose_leader_went_down() {
    let cluster = FakeCluster::start(2, 1).await;
    cluster.move_leader("t", 0, 2);
    let producer = Producer::connect(producer_config(cluster.bootstrap()))
        .await
        .unwrap();
    produce(&producer, "t", 0, &values(0..3)).await;
    let tp = TopicPartition::new("t", 0);
    let mut consumer = Consumer::connect(consumer_config(cluster.bootstrap()))
        .await
        .unwrap();
    consumer.assign([tp.clone()]);
    consumer.seek(&tp, SeekTo::Beginning).await.unwrap();
    let mut records = poll_until(&mut consumer, 3).await;
    // Node 2 dies (connections refused from now on); node 1 takes the partition over.
    cluster.state().down_nodes.push(2);
    cluster.move_leader("t", 0, 1);
    assert_eq!(produce(&producer, "t", 0, &values(3..6)).await, [3, 4, 5]);
    records.extend(poll_until(&mut consumer, 3).await);
    let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (0..6).collect::<Vec<i64>>(), "resumed at offset 3");
    let (last_writer, fetches_at_1) = {
        let state = cluster.state();
        let last = state.appended.last().map(|a| a.node);
        (last, state.requests(1, ApiKey::Fetch))
    };
    assert_eq!(last_writer, Some(1));
    assert!(fetches_at_1 > 0, "fetched from node 1");
    consumer.close().await.unwrap();
    producer.close().await.unwrap();
}

#[tokio::test]
async fn seeking_in_a_topic_that_does_not_exist_says_so() {
    let broker = FakeBroker::start(1).await;
    let mut consumer = Consumer::connect(consumer_config(broker.addr.clone()))
        .await
        .unwrap();
    let tp = TopicPartition::new("missing", 0);
    consumer.assign([tp.clone()]);
    let error = consumer.seek(&tp, SeekTo::End).await.unwrap_err();
    assert_eq!(
        error.error_code(),
        Some(rill_protocol::error_code::ErrorCode::UnknownTopicOrPartition),
        "{error}"
    );
}

#[tokio::test]
async fn describe_topic_reports_a_partition_whose_leader_is_unreachable() {
    let cluster = FakeCluster::start(2, 2).await;
    let producer = Producer::connect(producer_config(cluster.bootstrap()))
        .await
        .unwrap();
    produce(&producer, "t", 0, &values(0..2)).await;
    producer.close().await.unwrap();
    // Node 2 leads partition 1 and has just died: metadata still names it.
    cluster.move_leader("t", 1, 2);
    cluster.state().down_nodes.push(2);
    let admin = Admin::connect(ConnectionConfig::new(cluster.addrs[0].clone()))
        .await
        .unwrap();
    let topic = admin.describe_topic("t").await.unwrap();
    let (p0, p1) = (&topic.partitions[0], &topic.partitions[1]);
    assert_eq!((p0.error, p0.latest_offset), (None, 2));
    assert_eq!(p1.leader, 2);
    assert_eq!(p1.error, Some(ErrorCode::BrokerNotAvailable));
    assert_eq!((p1.earliest_offset, p1.latest_offset), (-1, -1));
    admin.close().await.unwrap();
}

#[tokio::test]
async fn describe_topic_asks_another_broker_when_the_first_is_cut_off() {
    let cluster = FakeCluster::start(2, 2).await;
    let producer = Producer::connect(producer_config(cluster.bootstrap()))
        .await
        .unwrap();
    produce(&producer, "t", 1, &values(0..3)).await;
    producer.close().await.unwrap();
    // Node 1, the one bootstrapped from, lost touch with the controller: its metadata
    // names no leaders; node 2 still knows them.
    cluster.state().stale_nodes.push(1);
    let admin = Admin::connect(ConnectionConfig::new(cluster.addrs[0].clone()))
        .await
        .unwrap();
    let topic = admin.describe_topic("t").await.unwrap();
    assert!(
        topic.partitions.iter().all(|p| p.error.is_none()),
        "{topic:?}"
    );
    assert_eq!(topic.partitions[1].latest_offset, 3);
    admin.close().await.unwrap();
}

#[tokio::test]
async fn create_topics_retries_while_no_controller_is_elected() {
    let broker = FakeBroker::start(1).await;
    broker.state().no_controller_answers = 3;
    let admin = Admin::connect(ConnectionConfig::new(broker.addr.clone()))
        .await
        .unwrap();
    admin.create_topic("elected", 2, &[]).await.unwrap();
    let (partitions, refusals_left) = {
        let state = broker.state();
        (state.logs["elected"].len(), state.no_controller_answers)
    };
    assert_eq!(
        (partitions, refusals_left),
        (2, 0),
        "three refusals, then created"
    );
    // A real refusal is not retried.
    let again = admin.create_topic("elected", 2, &[]).await.unwrap_err();
    assert_eq!(again.error_code(), Some(ErrorCode::TopicAlreadyExists));
}
