//! The Rust client against a cluster: numbered records produced through the bootstrap
//! list (each value unique, so the checker can follow it) and read back from the
//! beginning of every partition.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rill::client::{
    Acks, ClientError, Consumer, ConsumerConfig, Producer, ProducerConfig, ProducerRecord, SeekTo,
    TopicPartition,
};

use super::checker::Seen;
use super::DEADLINE;

/// What one round of producing gave: the acknowledged records and the failed ones.
#[derive(Debug, Default)]
pub struct Produced {
    /// Acknowledged, with where they landed.
    pub acknowledged: Vec<Seen>,
    /// Failed: (partition, value, error).
    pub failed: Vec<(i32, String, ClientError)>,
}

/// An idempotent producer with `acks=all` bootstrapping from `bootstrap`, giving up on
/// a record after `delivery_timeout`.
pub async fn producer(bootstrap: &str, delivery_timeout: Duration) -> Producer {
    let mut builder = ProducerConfig::builder(bootstrap)
        .acks(Acks::All)
        .enable_idempotence(true)
        .linger(Duration::from_millis(2))
        .delivery_timeout(delivery_timeout)
        .retry_backoff(Duration::from_millis(50));
    builder = builder.request_timeout(delivery_timeout.min(Duration::from_secs(5)) / 2);
    Producer::connect(builder.build().expect("valid producer config"))
        .await
        .expect("producer connects")
}

/// Sends `count` records to each partition in `partitions`, values
/// `{tag}-p{partition}-{n}`, and waits for every outcome.
pub async fn produce(
    producer: &Producer,
    topic: &str,
    partitions: &[i32],
    count: usize,
    tag: &str,
) -> Produced {
    let mut pending = Vec::new();
    for n in 0..count {
        for p in partitions {
            let value = format!("{tag}-p{p}-{n:06}");
            let record = ProducerRecord::new(topic, value.clone()).with_partition(*p);
            let delivery = producer.send(record).await.expect("record queued");
            pending.push((*p, value, delivery));
        }
    }
    let mut out = Produced::default();
    for (partition, value, delivery) in pending {
        let outcome = tokio::time::timeout(DEADLINE, delivery)
            .await
            .unwrap_or_else(|_| panic!("no outcome for {value} within {DEADLINE:?}"));
        match outcome {
            Ok(meta) => {
                assert_eq!(meta.partition, partition, "{value}");
                out.acknowledged.push(Seen {
                    partition,
                    offset: meta.offset,
                    value,
                });
            }
            Err(e) => out.failed.push((partition, value, e)),
        }
    }
    out
}

/// Reads every record of `topic` from the start of each partition up to the offsets
/// in `ends` (exclusive), bootstrapping from `bootstrap`.
pub async fn read_back(bootstrap: &str, topic: &str, ends: &BTreeMap<i32, i64>) -> Vec<Seen> {
    let config = ConsumerConfig::builder(bootstrap)
        .fetch_max_wait(Duration::from_millis(100))
        .build()
        .expect("valid consumer config");
    let mut consumer = Consumer::connect(config).await.expect("consumer connects");
    let tps: Vec<TopicPartition> = ends
        .keys()
        .map(|p| TopicPartition::new(topic, *p))
        .collect();
    consumer.assign(tps.clone());
    let started = Instant::now();
    for tp in &tps {
        // A partition whose leader just came back may answer LEADER_NOT_AVAILABLE for
        // a moment (retriable): try again, as an application would.
        while let Err(e) = consumer.seek(tp, SeekTo::Beginning).await {
            assert!(e.is_retriable(), "seek {tp:?}: {e}");
            assert!(
                started.elapsed() < DEADLINE,
                "seek {tp:?} still failing: {e}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut read = Vec::new();
    let mut next: BTreeMap<i32, i64> = ends.keys().map(|p| (*p, 0)).collect();
    while next.iter().any(|(p, at)| *at < ends[p]) {
        assert!(
            started.elapsed() < DEADLINE,
            "read back stalled at {next:?}, ends {ends:?}"
        );
        let records = match consumer.poll(Duration::from_millis(200)).await {
            Ok(records) => records,
            Err(e) if e.is_retriable() => continue,
            Err(e) => panic!("poll: {e}"),
        };
        for r in records {
            next.insert(r.partition, r.offset + 1);
            let value = String::from_utf8_lossy(r.value.as_deref().unwrap_or_default());
            read.push(Seen {
                partition: r.partition,
                offset: r.offset,
                value: value.into_owned(),
            });
        }
    }
    let _ = consumer.close().await;
    read
}

/// The end offset (one past the last acknowledged record) of each partition in
/// `acknowledged`, with 0 for `partitions` that got none.
pub fn ends(acknowledged: &[Seen], partitions: &[i32]) -> BTreeMap<i32, i64> {
    let mut ends: BTreeMap<i32, i64> = partitions.iter().map(|p| (*p, 0)).collect();
    for s in acknowledged {
        let end = ends.entry(s.partition).or_default();
        *end = (*end).max(s.offset + 1);
    }
    ends
}
