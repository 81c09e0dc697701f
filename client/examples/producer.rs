//! Produce a few keyed records and print where each one landed.
//!
//! Run a broker first (`rilld`), then:
//! `cargo run -p rill-client --example producer -- 127.0.0.1:9420 events`

use std::time::Duration;

use rill_client::{Acks, Compression, Producer, ProducerConfig, ProducerRecord};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().unwrap_or_else(|| "127.0.0.1:9420".to_owned());
    let topic = args.next().unwrap_or_else(|| "events".to_owned());

    // Every setting has a Kafka-like default; these are the ones people tune first.
    let config = ProducerConfig::builder(bootstrap)
        .linger(Duration::from_millis(5)) // wait up to 5 ms to fill a batch
        .batch_bytes(1024 * 1024) // send a batch once it holds 1 MiB
        .compression(Compression::Lz4)
        .acks(Acks::All) // wait until the broker has the batch durably
        .build()?;
    let producer = Producer::connect(config).await?;

    // `send` only queues the record (waiting if the producer's buffer is full) and
    // returns a future for the broker's answer. Queue everything first, then await
    // the answers, so the records share batches and requests.
    let mut deliveries = Vec::new();
    for i in 0..10 {
        let record = ProducerRecord::new(topic.clone(), format!("hello #{i}"))
            .with_key(format!("user-{}", i % 3)) // same key, same partition, in order
            .with_header("source", "example");
        deliveries.push(producer.send(record).await?);
    }
    for delivery in deliveries {
        let written = delivery.await?;
        println!(
            "{}-{} @ offset {}",
            written.topic, written.partition, written.offset
        );
    }

    // `close` sends whatever is still queued and stops the background sender.
    producer.close().await?;
    Ok(())
}
