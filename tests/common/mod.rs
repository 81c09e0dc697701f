//! Shared helpers for the end-to-end tests: produce and read back with the real client
//! against a real broker (see `rill_broker::testing::TestBroker`).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rill::client::{Consumer, ConsumerConfig, ConsumerRecord, SeekTo, TopicPartition};

/// Reads every record of `topic`'s partitions from the beginning up to the offsets in
/// `ends`, failing after `deadline`.
pub async fn read_all(
    addr: SocketAddr,
    topic: &str,
    ends: &BTreeMap<i32, i64>,
    deadline: Duration,
) -> BTreeMap<i32, Vec<ConsumerRecord>> {
    let config = ConsumerConfig::builder(addr.to_string()).build().unwrap();
    let mut consumer = Consumer::connect(config).await.unwrap();
    let partitions = ends.keys().map(|p| TopicPartition::new(topic, *p));
    consumer.assign(partitions);
    for p in ends.keys() {
        consumer
            .seek(&TopicPartition::new(topic, *p), SeekTo::Beginning)
            .await
            .unwrap();
    }
    let mut out: BTreeMap<i32, Vec<ConsumerRecord>> =
        ends.keys().map(|p| (*p, Vec::new())).collect();
    let started = Instant::now();
    let done = |out: &BTreeMap<i32, Vec<ConsumerRecord>>| {
        ends.iter()
            .all(|(p, end)| out[p].last().map_or(*end == 0, |r| r.offset + 1 >= *end))
    };
    while !done(&out) {
        assert!(
            started.elapsed() < deadline,
            "consumer did not reach the end in time"
        );
        for record in consumer.poll(Duration::from_millis(500)).await.unwrap() {
            out.get_mut(&record.partition).unwrap().push(record);
        }
    }
    out
}
