//! Exactly-once appends from retries: a fault-injecting proxy between the producer and
//! the broker drops the connection right after the broker answered a Produce request,
//! before the producer reads the answer. The producer retries; the idempotent broker
//! recognises the retried batch, so every record is in the log exactly once. Without
//! idempotence the same faults duplicate records (checked too, so the test can fail).

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use rill::broker::testing::TestBroker;
use rill::client::{Admin, ConnectionConfig, Producer, ProducerConfig, ProducerRecord};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const PRODUCE_API_KEY: u16 = 0;

/// Forwards connections to `broker`; the first `drops` Produce responses are swallowed
/// and their connection closed instead.
async fn start_proxy(broker: SocketAddr, drops: usize) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let remaining = Arc::new(AtomicUsize::new(drops));
    let budget = remaining.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = TcpStream::connect(broker).await.unwrap();
            tokio::spawn(proxy_connection(client, upstream, budget.clone()));
        }
    });
    (addr, remaining)
}

/// Splits whole frames off `buf`.
fn frames(buf: &mut BytesMut) -> Vec<BytesMut> {
    let mut out = Vec::new();
    while buf.len() >= 4 {
        let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if buf.len() < 4 + len {
            break;
        }
        out.push(buf.split_to(4 + len));
    }
    out
}

async fn proxy_connection(client: TcpStream, upstream: TcpStream, drops: Arc<AtomicUsize>) {
    let (mut client_rd, mut client_wr) = client.into_split();
    let (mut up_rd, mut up_wr) = upstream.into_split();
    // API keys of forwarded requests, in order; responses come back in the same order.
    let (keys_tx, mut keys_rx) = mpsc::unbounded_channel::<u16>();
    let requests = tokio::spawn(async move {
        let mut buf = BytesMut::new();
        loop {
            if client_rd.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                return;
            }
            for frame in frames(&mut buf) {
                let api_key = (&frame[4..6]).get_u16();
                let _ = keys_tx.send(api_key);
                if up_wr.write_all(&frame).await.is_err() {
                    return;
                }
            }
        }
    });
    let mut buf = BytesMut::new();
    'outer: loop {
        if up_rd.read_buf(&mut buf).await.unwrap_or(0) == 0 {
            break;
        }
        for frame in frames(&mut buf) {
            let api_key = keys_rx.recv().await.unwrap_or(u16::MAX);
            let dropping = api_key == PRODUCE_API_KEY
                && drops
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
            if dropping {
                break 'outer; // the broker appended; the producer never hears of it
            }
            if client_wr.write_all(&frame).await.is_err() {
                break 'outer;
            }
        }
    }
    requests.abort();
    let _ = client_wr.shutdown().await;
}

async fn produce_through_proxy(
    broker: &TestBroker,
    topic: &str,
    idempotent: bool,
    drops: usize,
) -> usize {
    let admin = Admin::connect(ConnectionConfig::new(broker.addr.to_string()))
        .await
        .unwrap();
    admin.create_topic(topic, 2, &[]).await.unwrap();
    let (proxy, remaining) = start_proxy(broker.addr, drops).await;
    let config = ProducerConfig::builder(proxy.to_string())
        .enable_idempotence(idempotent)
        .linger(Duration::from_millis(1))
        .retry_backoff(Duration::from_millis(20))
        .build()
        .unwrap();
    let producer = Producer::connect(config).await.unwrap();
    let mut deliveries = Vec::new();
    for i in 0..2_000 {
        let record = ProducerRecord::new(topic, format!("v{i}")).with_partition(i % 2);
        deliveries.push(producer.send(record).await.unwrap());
        if i % 100 == 99 {
            producer.flush().await.unwrap();
        }
    }
    for d in deliveries {
        d.await.unwrap();
    }
    producer.close().await.unwrap();
    assert_eq!(
        remaining.load(Ordering::SeqCst),
        0,
        "every planned fault happened"
    );
    let mut ends = BTreeMap::new();
    for p in admin.describe_topic(topic).await.unwrap().partitions {
        ends.insert(p.partition, p.latest_offset);
    }
    let all = common::read_all(broker.addr, topic, &ends, Duration::from_secs(60)).await;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for records in all.values() {
        for r in records {
            *counts
                .entry(String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
                .or_default() += 1;
        }
    }
    assert_eq!(counts.len(), 2_000, "every record is in the log");
    counts.values().filter(|n| **n > 1).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_after_lost_acknowledgements_write_each_record_once() {
    let broker = TestBroker::start().await;
    let duplicated = produce_through_proxy(&broker, "exactly-once", true, 5).await;
    assert_eq!(duplicated, 0, "idempotent retries must not duplicate");
    let duplicated = produce_through_proxy(&broker, "at-least-once", false, 5).await;
    assert!(
        duplicated > 0,
        "without idempotence the same faults duplicate records"
    );
    broker.stop().await;
}

/// A batch the broker refuses for good (here too large) leaves a gap in its partition's
/// sequence numbers. The producer takes a new producer id once the batches in flight
/// are answered, stamps the waiting batches again, and goes on: the partition is not
/// blocked until a restart, and the records after the refused one land once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_refused_for_good_does_not_block_its_partition() {
    let broker = TestBroker::start_with(|c| c.max_frame_bytes = 1 << 20).await; // batches up to 768 KiB
    let config = ProducerConfig::builder(broker.addr.to_string())
        .batch_bytes(64 * 1024)
        .linger(Duration::from_millis(1))
        .request_timeout(Duration::from_secs(2))
        .delivery_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let producer = Producer::connect(config).await.unwrap();
    let record = |value: String| ProducerRecord::new("gap", value).with_partition(0);
    producer
        .send(record("first".into()))
        .await
        .unwrap()
        .await
        .unwrap();
    // The refused batch, and batches behind it that were sealed (and sent) after it.
    let refused = producer.send(record("x".repeat(900_000))).await.unwrap();
    let mut behind = Vec::new();
    for round in 0..4 {
        for i in 0..3 {
            let value = format!("behind-{round}-{i}-{}", "y".repeat(30_000));
            behind.push(producer.send(record(value)).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let err = refused.await.unwrap_err();
    assert_eq!(
        err.error_code(),
        Some(rill_protocol::error_code::ErrorCode::MessageTooLarge),
        "{err}"
    );
    let mut offsets = Vec::new();
    for delivery in behind {
        offsets.push(
            delivery
                .await
                .expect("records behind the refused batch land")
                .offset,
        );
    }
    let after = producer
        .send(record("after".into()))
        .await
        .unwrap()
        .await
        .expect("and so do later ones");
    offsets.push(after.offset);
    assert_eq!(
        offsets,
        (1..=13).collect::<Vec<i64>>(),
        "once each, in order"
    );
    let closed = producer.close().await;
    assert!(
        matches!(
            closed,
            Err(rill::client::ClientError::DeliveryFailed {
                failed_records: 1,
                ..
            })
        ),
        "close reports the one refused record: {closed:?}"
    );
    let ends = BTreeMap::from([(0, 14)]);
    let read = common::read_all(broker.addr, "gap", &ends, Duration::from_secs(10)).await;
    let values: Vec<String> = read[&0]
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect();
    assert_eq!(values.len(), 14);
    assert_eq!(values[0], "first");
    assert!(values[1].starts_with("behind-0-0-"));
    assert!(values[12].starts_with("behind-3-2-"));
    assert_eq!(values[13], "after");
    broker.stop().await;
}
