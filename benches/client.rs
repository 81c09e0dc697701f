//! The client library's two hot paths against a real broker in this process (issue #13):
//! `Producer::send` of 100-byte records (partition choice, buffer memory, encoding into
//! the open batch, one `DeliveryFuture` each, then the batches' CRC and the acks), and
//! `Consumer::poll` of 1 KiB records (the fetch, the CRC of every batch, the record
//! walk and one `ConsumerRecord` each).
//!
//! The broker shares the machine (and the runtime's two workers) with the client, so a
//! figure is the library plus a loopback broker, as `rill bench` measures it; the
//! instruction counts in `benches/RESULTS.md` separate the client's share.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rill::broker::testing::TestBroker;
use rill::client::{
    Consumer, ConsumerConfig, Producer, ProducerConfig, ProducerRecord, SeekTo, TopicPartition,
};
use tokio::runtime::Runtime;

/// Records per measured iteration.
const RECORDS: usize = 20_000;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Sends `RECORDS` records of `value` to partition 0 of `topic`, keeping every
/// delivery, then waits for them all (as `rill bench produce` does, without its
/// latency sampling).
async fn send_all(producer: &Producer, topic: &Arc<str>, value: &Bytes) {
    let mut deliveries = Vec::with_capacity(RECORDS);
    for _ in 0..RECORDS {
        let record = ProducerRecord::new(Arc::clone(topic), value.clone()).with_partition(0);
        deliveries.push(producer.send(record).await.expect("queued"));
    }
    for delivery in deliveries {
        delivery.await.expect("delivered");
    }
}

fn producer_send(c: &mut Criterion) {
    let rt = runtime();
    let broker = rt.block_on(TestBroker::start());
    let config = ProducerConfig::builder(broker.addr.to_string())
        .build()
        .expect("config");
    let producer = rt.block_on(Producer::connect(config)).expect("producer");
    let topic: Arc<str> = Arc::from("bench-produce");
    let value = Bytes::from(vec![b'x'; 100]);
    rt.block_on(send_all(&producer, &topic, &value));
    let mut group = c.benchmark_group("client_producer_send");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("100B", |b| {
        b.iter(|| rt.block_on(send_all(&producer, &topic, &value)))
    });
    group.finish();
    rt.block_on(producer.close()).expect("close");
    drop(broker);
}

/// Reads `RECORDS` records of `topic`'s partition 0 from the beginning.
async fn read_all(consumer: &mut Consumer, tp: &TopicPartition) -> usize {
    consumer
        .seek(tp, SeekTo::Beginning)
        .await
        .expect("seek to the beginning");
    let mut read = 0;
    while read < RECORDS {
        let records = consumer.poll(Duration::from_secs(5)).await.expect("poll");
        assert!(!records.is_empty(), "no records within 5 s");
        read += records.iter().filter(|r| r.value.is_some()).count();
    }
    read
}

fn consumer_poll(c: &mut Criterion) {
    let rt = runtime();
    let broker = rt.block_on(TestBroker::start());
    let addr = broker.addr.to_string();
    let producer_config = ProducerConfig::builder(addr.clone())
        .build()
        .expect("config");
    let topic: Arc<str> = Arc::from("bench-consume");
    rt.block_on(async {
        let producer = Producer::connect(producer_config).await.expect("producer");
        send_all(&producer, &topic, &Bytes::from(vec![b'y'; 1024])).await;
        producer.close().await.expect("close");
    });
    // A fetch left waiting at the end of the topic returns at once after the seek back
    // (the consumer drops it as stale), so iterations do not wait out a long poll.
    let config = ConsumerConfig::builder(addr)
        .fetch_max_wait(Duration::from_millis(1))
        .build()
        .expect("config");
    let mut consumer = rt.block_on(Consumer::connect(config)).expect("consumer");
    let tp = TopicPartition::new(Arc::clone(&topic), 0);
    consumer.assign([tp.clone()]);
    let mut group = c.benchmark_group("client_consumer_poll");
    group.throughput(Throughput::Bytes((RECORDS * 1024) as u64));
    group.bench_function("1KiB", |b| {
        b.iter(|| rt.block_on(read_all(&mut consumer, &tp)))
    });
    group.finish();
    rt.block_on(consumer.close()).expect("close");
    drop(broker);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = producer_send, consumer_poll
}
criterion_main!(benches);
