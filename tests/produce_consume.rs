//! The client and broker together: keyed records with headers over every compression
//! codec come back exactly, in order, on their murmur2 partitions — before and after a
//! broker restart.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use rill::broker::testing::TestBroker;
use rill::client::partitioner::partition_for_key;
use rill::client::{
    Acks, Admin, Compression, ConnectionConfig, Producer, ProducerConfig, ProducerRecord,
};

const PARTITIONS: i32 = 8;
const RECORDS_PER_CODEC: usize = 20_000;
const BASE_TS: i64 = 1_700_000_000_000;

fn key(i: usize) -> String {
    format!("user-{}", i % 997)
}

fn value(codec: &str, i: usize) -> String {
    format!("{codec}:{i}:{}", "x".repeat(i % 50))
}

async fn produce_codec(addr: std::net::SocketAddr, codec: Compression) -> BTreeMap<i32, i64> {
    let topic = format!("e2e-{codec}");
    let config = ProducerConfig::builder(addr.to_string())
        .compression(codec)
        .acks(Acks::All)
        .linger(Duration::from_millis(2))
        .build()
        .unwrap();
    let producer = Producer::connect(config).await.unwrap();
    let mut deliveries = Vec::with_capacity(RECORDS_PER_CODEC);
    for i in 0..RECORDS_PER_CODEC {
        let record = ProducerRecord::new(topic.clone(), value(&codec.to_string(), i))
            .with_key(key(i))
            .with_header("seq", i.to_string())
            .with_header("codec", codec.to_string())
            .with_timestamp(BASE_TS + i as i64);
        deliveries.push(producer.send(record).await.unwrap());
    }
    let mut ends: BTreeMap<i32, i64> = (0..PARTITIONS).map(|p| (p, 0)).collect();
    for (i, delivery) in deliveries.into_iter().enumerate() {
        let meta = delivery.await.unwrap();
        assert_eq!(
            meta.partition,
            partition_for_key(key(i).as_bytes(), PARTITIONS),
            "record {i}"
        );
        let end = ends.get_mut(&meta.partition).unwrap();
        *end = (*end).max(meta.offset + 1);
    }
    producer.close().await.unwrap();
    ends
}

async fn check_codec(addr: std::net::SocketAddr, codec: Compression, ends: &BTreeMap<i32, i64>) {
    let topic = format!("e2e-{codec}");
    let all = common::read_all(addr, &topic, ends, Duration::from_secs(120)).await;
    let mut seen = vec![false; RECORDS_PER_CODEC];
    for (partition, records) in &all {
        let mut last_seq = None;
        for (n, r) in records.iter().enumerate() {
            assert_eq!(r.offset, n as i64, "offsets are contiguous from 0");
            let seq: usize = std::str::from_utf8(r.headers[0].1.as_ref().unwrap())
                .unwrap()
                .parse()
                .unwrap();
            assert!(last_seq < Some(seq), "partition {partition}: in send order");
            last_seq = Some(seq);
            assert!(!seen[seq], "record {seq} delivered twice");
            seen[seq] = true;
            assert_eq!(r.key.as_deref(), Some(key(seq).as_bytes()));
            assert_eq!(
                r.value.as_deref(),
                Some(value(&codec.to_string(), seq).as_bytes())
            );
            assert_eq!(r.timestamp, BASE_TS + seq as i64);
            assert_eq!(r.headers[0].0, "seq");
            assert_eq!(
                r.headers[1],
                ("codec".to_string(), Some(Bytes::from(codec.to_string())))
            );
            assert_eq!(
                *partition,
                partition_for_key(key(seq).as_bytes(), PARTITIONS)
            );
        }
    }
    assert!(seen.iter().all(|s| *s), "every record came back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_keyed_records_every_codec_survive_restart() {
    let broker = TestBroker::start().await;
    let admin = Admin::connect(ConnectionConfig::new(broker.addr.to_string()))
        .await
        .unwrap();
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    for codec in codecs {
        admin
            .create_topic(&format!("e2e-{codec}"), PARTITIONS, &[])
            .await
            .unwrap();
    }
    admin.close().await.unwrap();
    let mut ends = Vec::new();
    for codec in codecs {
        ends.push(produce_codec(broker.addr, codec).await);
    }
    for (codec, ends) in codecs.iter().zip(&ends) {
        check_codec(broker.addr, *codec, ends).await;
    }

    let dir = broker.stop().await;
    let broker = TestBroker::start_in(dir, |_| {}).await;
    for (codec, ends) in codecs.iter().zip(&ends) {
        check_codec(broker.addr, *codec, ends).await;
    }
    broker.stop().await;
}
