//! Produce a few keyed records and print where each one landed.
//!
//! Run a broker first (`rilld`), then:
//! `cargo run -p rill-client --example producer -- 127.0.0.1:9420 events`

use std::sync::Arc;
use std::time::Duration;

use rill_client::{Acks, Compression, Producer, ProducerConfig, ProducerRecord};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    // One address, or several comma-separated: the client moves on when one is down.
    let bootstrap = args.next().unwrap_or_else(|| "127.0.0.1:9420".to_owned());
    // One shared topic name: each record clones the `Arc`, not the string.
    let topic: Arc<str> = args.next().as_deref().unwrap_or("events").into();

    // Every setting has a Kafka-like default; these are the ones people tune first.
    let config = ProducerConfig::builder(bootstrap)
        .linger(Duration::from_millis(5)) // wait up to 5 ms to fill a batch
        .batch_bytes(1024 * 1024) // send a batch once it holds 1 MiB
        .compression(Compression::Lz4)
        .acks(Acks::All) // wait until the broker has the batch durably
        .build()?;
    let producer = Producer::connect(config).await?;

    // `send` only queues the record (waiting, at most `max_block`, if the producer's
    // buffer is full) and returns a future for the broker's answer. Queue everything
    // first, then await the answers, so the records share batches and requests.
    let mut deliveries = Vec::new();
    for i in 0..10 {
        let record = ProducerRecord::new(Arc::clone(&topic), format!("hello #{i}"))
            .with_key(format!("user-{}", i % 3)) // same key, same partition, in order
            .with_header("source", "example");
        match producer.send(record).await {
            Ok(delivery) => deliveries.push(delivery),
            // A record that could not be queued comes back with the reason.
            Err(refused) => {
                eprintln!("{refused}; the record: {:?}", refused.record());
                return Err(refused.into());
            }
        }
    }
    for delivery in deliveries {
        let written = delivery.await?;
        println!(
            "{}-{} @ offset {}",
            written.topic, written.partition, written.offset
        );
    }

    // `close` sends whatever is still queued and stops the background sender; it fails
    // if records failed since the last `flush`/`close` (each future above says why).
    producer.close().await?;
    Ok(())
}
