//! The client library's promises, end to end against a real broker: a stream commits
//! only what it handed out (dropped or closed), `into_stream` can close cleanly, every
//! handle closes alike, several bootstrap addresses keep a client working when the
//! first is down, and `send` hands a record back with the reason it was not queued.

mod group_harness;

use std::time::Duration;

use futures::StreamExt;
use group_harness::*;
use rill::client::{
    Admin, ClientError, ConnectionConfig, Consumer, ConsumerConfig, ConsumerRecord, Producer,
    ProducerConfig, ProducerRecord, SeekTo, TopicPartition,
};

const TOPIC: &str = "promises";

fn values(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("record-{i}")).collect()
}

/// The group's committed offset of partition 0 (None if nothing was committed).
async fn committed(admin: &Admin, group: &str) -> Option<i64> {
    let description = admin.describe_group(group).await.unwrap();
    description
        .offsets
        .iter()
        .find(|o| o.partition == 0)
        .and_then(|o| o.committed_offset)
}

/// The next item of `stream`, failing the test after the deadline.
async fn next_record<S>(stream: &mut S) -> ConsumerRecord
where
    S: futures::Stream<Item = rill::client::Result<ConsumerRecord>> + Unpin,
{
    tokio::time::timeout(DEADLINE, stream.next())
        .await
        .expect("a record within the deadline")
        .expect("the stream never ends")
        .expect("no error")
}

/// Polls until a non-empty batch arrives.
async fn poll_some(consumer: &mut Consumer) -> Vec<ConsumerRecord> {
    let started = std::time::Instant::now();
    loop {
        assert!(started.elapsed() < DEADLINE, "no records in time");
        let records = consumer.poll(Duration::from_millis(200)).await.unwrap();
        if !records.is_empty() {
            return records;
        }
    }
}

async fn setup(records: usize) -> (rill::broker::testing::TestBroker, Admin) {
    let broker = broker().await;
    create_topic(broker.addr, TOPIC, 1).await;
    produce(broker.addr, TOPIC, 1, values(records)).await;
    let admin = Admin::connect(ConnectionConfig::new(broker.addr.to_string()))
        .await
        .unwrap();
    (broker, admin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_stream_lets_close_commit_only_what_it_handed_out() {
    let (broker, admin) = setup(10).await;
    let mut consumer = Consumer::connect(member_config(broker.addr, true))
        .await
        .unwrap();
    consumer.subscribe("dropped", &[TOPIC]).await.unwrap();
    {
        let mut stream = Box::pin(consumer.stream());
        assert_eq!(next_record(&mut stream).await.offset, 0);
        assert_eq!(next_record(&mut stream).await.offset, 1);
        // Dropped with the rest of the fetch still buffered, never handed out.
    }
    consumer.close().await.unwrap();
    assert_eq!(
        committed(&admin, "dropped").await,
        Some(2),
        "close commits after the last record the application received"
    );

    // The next member starts exactly at the first record nobody received.
    let mut next = Consumer::connect(member_config(broker.addr, false))
        .await
        .unwrap();
    next.subscribe("dropped", &[TOPIC]).await.unwrap();
    assert_eq!(poll_some(&mut next).await[0].offset, 2);
    next.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_dropped_stream_auto_commit_and_poll_resume_at_the_first_undelivered_record() {
    let (broker, admin) = setup(10).await;
    let mut consumer = Consumer::connect(member_config(broker.addr, true))
        .await
        .unwrap();
    consumer.subscribe("auto", &[TOPIC]).await.unwrap();
    {
        let mut stream = Box::pin(consumer.stream());
        for expected in 0..3 {
            assert_eq!(next_record(&mut stream).await.offset, expected);
        }
    }
    // Past the auto-commit interval, the next poll commits the consumed position first.
    tokio::time::sleep(Duration::from_millis(250)).await;
    let records = poll_some(&mut consumer).await;
    assert_eq!(records[0].offset, 3, "undelivered records are read again");
    let started = std::time::Instant::now();
    while committed(&admin, "auto").await != Some(3) {
        assert!(
            started.elapsed() < DEADLINE,
            "auto-commit covered records never handed out: {:?}",
            committed(&admin, "auto").await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    consumer.close().await.unwrap();
    assert_eq!(committed(&admin, "auto").await, Some(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owned_stream_closes_cleanly_committing_what_it_delivered_and_leaving() {
    let (broker, admin) = setup(10).await;
    let mut consumer = Consumer::connect(member_config(broker.addr, true))
        .await
        .unwrap();
    consumer.subscribe("owned", &[TOPIC]).await.unwrap();
    let mut stream = consumer.into_stream();
    for expected in 0..4 {
        assert_eq!(next_record(&mut stream).await.offset, expected);
    }
    stream.close().await.unwrap();
    assert_eq!(committed(&admin, "owned").await, Some(4));
    let group = admin.describe_group("owned").await.unwrap();
    assert!(group.members.is_empty(), "closing left the group at once");
    assert_eq!(group.state, "Empty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owned_stream_gives_its_consumer_back_at_the_first_undelivered_record() {
    let (broker, _admin) = setup(10).await;
    let mut consumer = Consumer::connect(member_config(broker.addr, false))
        .await
        .unwrap();
    consumer.subscribe("back", &[TOPIC]).await.unwrap();
    let mut stream = consumer.into_stream();
    assert_eq!(next_record(&mut stream).await.offset, 0);
    let mut consumer = stream.into_consumer().await;
    assert_eq!(poll_some(&mut consumer).await[0].offset, 1);
    consumer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_handle_closes_alike_twice_and_refuses_work_afterwards() {
    let (broker, admin) = setup(1).await;
    let addr = broker.addr.to_string();
    let producer = Producer::connect(ProducerConfig::builder(addr.as_str()).build().unwrap())
        .await
        .unwrap();
    let mut consumer = Consumer::connect(member_config(broker.addr, true))
        .await
        .unwrap();
    for _ in 0..2 {
        producer.close().await.unwrap();
        consumer.close().await.unwrap();
        admin.close().await.unwrap();
    }
    let refused = producer
        .send(ProducerRecord::new(TOPIC, "late"))
        .await
        .unwrap_err();
    assert!(matches!(
        refused.error(),
        ClientError::Closed { handle: "producer" }
    ));
    let polled = consumer.poll(Duration::from_millis(10)).await.unwrap_err();
    assert!(matches!(polled, ClientError::Closed { handle: "consumer" }));
    let listed = admin.list_topics().await.unwrap_err();
    assert!(matches!(
        listed,
        ClientError::Closed {
            handle: "admin client"
        }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_bootstrap_addresses_keep_clients_working_when_the_first_is_down() {
    let (broker, _admin) = setup(0).await;
    // A port nobody listens on: bound, then released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = closed.local_addr().unwrap().to_string();
    drop(closed);
    let up = broker.addr.to_string();

    let config = ProducerConfig::builder(format!("{down},{up}"))
        .build()
        .unwrap();
    let producer = Producer::connect(config).await.unwrap();
    let delivery = producer
        .send(ProducerRecord::new(TOPIC, "through the second address"))
        .await
        .unwrap();
    assert_eq!(delivery.await.unwrap().offset, 0);
    producer.close().await.unwrap();

    let config = ConsumerConfig::builder(vec![down.clone(), up.clone()])
        .build()
        .unwrap();
    let mut consumer = Consumer::connect(config).await.unwrap();
    let tp = TopicPartition::new(TOPIC, 0);
    consumer.assign([tp.clone()]);
    consumer.seek(&tp, SeekTo::Beginning).await.unwrap();
    assert_eq!(poll_some(&mut consumer).await[0].offset, 0);
    consumer.close().await.unwrap();

    let admin = Admin::connect(ConnectionConfig::new([down.as_str(), up.as_str()]))
        .await
        .unwrap();
    let topics = admin.list_topics().await.unwrap();
    assert!(topics.iter().any(|t| t.name == TOPIC), "{topics:?}");
    admin.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_gives_the_record_back_when_buffer_memory_stays_full_past_max_block() {
    let (broker, _admin) = setup(0).await;
    // Room for one record; the broker never gets to answer the first, because the
    // batch waits out a long linger, so the second send finds no memory.
    let config = ProducerConfig::builder(broker.addr.to_string())
        .batch_bytes(1024)
        .buffer_memory_bytes(1024)
        .linger(Duration::from_secs(30))
        .delivery_timeout(Duration::from_secs(120))
        .max_block(Duration::from_millis(200))
        .build()
        .unwrap();
    let producer = Producer::connect(config).await.unwrap();
    let big = vec![b'x'; 900];
    let first = producer
        .send(ProducerRecord::new(TOPIC, big.clone()))
        .await
        .unwrap();
    let record = ProducerRecord::new(TOPIC, big).with_key("second");
    let started = std::time::Instant::now();
    let refused = producer.send(record.clone()).await.unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(refused.error(), ClientError::MaxBlockExceeded { .. }),
        "{refused}"
    );
    assert!(
        waited < Duration::from_secs(10),
        "bounded wait, took {waited:?}"
    );
    assert_eq!(refused.into_record(), record, "the record comes back");
    producer.close().await.unwrap();
    assert_eq!(
        first.await.unwrap().offset,
        0,
        "close delivers what was queued"
    );
}
