//! A compacted topic with the real client: an idempotent producer writes 100,000 updates
//! over 1,000 keys, the broker's cleaner shrinks the topic to one record per key, and a new
//! consumer reading from the beginning (across the gaps and emptied batches compaction
//! leaves) rebuilds the same map, before and after a broker restart.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rill::broker::testing::TestBroker;
use rill::client::partitioner::partition_for_key;
use rill::client::{Acks, Admin, ConnectionConfig, Producer, ProducerConfig, ProducerRecord};

const PARTITIONS: i32 = 2;
const KEYS: usize = 1_000;
const VERSIONS: usize = 100;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A key of each partition for the record that rolls its active segment.
fn marker_key(partition: i32) -> String {
    (0..)
        .map(|i| format!("marker-{i}"))
        .find(|k| partition_for_key(k.as_bytes(), PARTITIONS) == partition)
        .unwrap()
}

async fn produce(addr: std::net::SocketAddr) -> (BTreeMap<String, String>, BTreeMap<i32, i64>) {
    let config = ProducerConfig::builder(addr.to_string())
        .acks(Acks::All)
        .linger(Duration::from_millis(2))
        .build()
        .unwrap();
    let producer = Producer::connect(config).await.unwrap();
    let mut model = BTreeMap::new();
    let mut deliveries = Vec::new();
    let now = now_ms();
    let mut send = |key: String, value: String, timestamp: i64| {
        model.insert(key.clone(), value.clone());
        ProducerRecord::new("changelog", value)
            .with_key(key)
            .with_timestamp(timestamp)
    };
    let mut records = Vec::new();
    for version in 0..VERSIONS {
        for k in 0..KEYS {
            records.push(send(format!("key-{k:04}"), format!("{k}@{version}"), now));
        }
    }
    // Stamped past segment.ms (7 days) and sent once every update is acknowledged (so in
    // batches of their own): each partition's active segment rolls, and every update lies
    // in a closed, cleanable segment.
    let markers: Vec<_> = (0..PARTITIONS)
        .map(|p| send(marker_key(p), "roll".into(), now + 8 * 86_400_000))
        .collect();
    let mut ends: BTreeMap<i32, i64> = (0..PARTITIONS).map(|p| (p, 0)).collect();
    for wave in [records, markers] {
        for record in wave {
            deliveries.push(producer.send(record).await.unwrap());
        }
        for delivery in deliveries.drain(..) {
            let meta = delivery.await.unwrap();
            let end = ends.get_mut(&meta.partition).unwrap();
            *end = (*end).max(meta.offset + 1);
        }
    }
    producer.close().await.unwrap();
    (model, ends)
}

/// Waits until the cleaner has cleaned everything cleanable in every partition.
async fn wait_cleaned(broker: &TestBroker) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let dirty: u64 = (0..PARTITIONS)
            .map(|p| {
                let partition = broker.ctx.topics.partition("changelog", p).unwrap();
                partition.log().unwrap().cleaner_plan(now_ms()).dirty_bytes
            })
            .sum();
        if dirty == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{dirty} dirty bytes after 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A new consumer's view: the map folded from the beginning, and the record count.
async fn consume(
    addr: std::net::SocketAddr,
    ends: &BTreeMap<i32, i64>,
) -> (BTreeMap<String, String>, usize) {
    let all = common::read_all(addr, "changelog", ends, Duration::from_secs(60)).await;
    let mut map = BTreeMap::new();
    let mut count = 0;
    for records in all.values() {
        let mut last = -1;
        for r in records {
            assert!(r.offset > last, "offsets strictly increase");
            last = r.offset;
            let key = String::from_utf8(r.key.clone().unwrap().to_vec()).unwrap();
            let value = String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap();
            map.insert(key, value);
            count += 1;
        }
    }
    (map, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_consumer_rebuilds_the_latest_values_from_a_compacted_topic() {
    let fast = |c: &mut rill::broker::config::BrokerConfig| {
        c.housekeeping_interval = Duration::from_millis(50)
    };
    let broker = TestBroker::start_with(fast).await;
    let admin = Admin::connect(ConnectionConfig::new(broker.addr.to_string()))
        .await
        .unwrap();
    // The markers are stamped days ahead (standing in for time passing).
    let configs = [
        ("cleanup.policy", "compact"),
        ("segment.bytes", "131072"),
        ("message.timestamp.after.max.ms", "9223372036854775807"),
    ];
    admin
        .create_topic("changelog", PARTITIONS, &configs)
        .await
        .unwrap();
    let (model, ends) = produce(broker.addr).await;
    assert_eq!(ends.values().sum::<i64>(), (KEYS * VERSIONS) as i64 + 2);
    wait_cleaned(&broker).await;
    let (map, count) = consume(broker.addr, &ends).await;
    assert_eq!(map, model);
    assert_eq!(count, KEYS + 2, "one record per key and the two markers");

    let dir = broker.stop().await;
    let broker = TestBroker::start_in(dir, fast).await;
    let (map, count) = consume(broker.addr, &ends).await;
    assert_eq!(map, model, "after a restart");
    assert_eq!(count, KEYS + 2);
    broker.stop().await;
}
