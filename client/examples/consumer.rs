//! Read one partition from the beginning and print every record, as a stream.
//!
//! `cargo run -p rill-client --example consumer -- 127.0.0.1:9420 events 0`

use futures::StreamExt;
use rill_client::{Consumer, ConsumerConfig, SeekTo, TopicPartition};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().unwrap_or_else(|| "127.0.0.1:9420".to_owned());
    let topic = args.next().unwrap_or_else(|| "events".to_owned());
    let partition: i32 = args.next().map_or(Ok(0), |p| p.parse())?;

    let config = ConsumerConfig::builder(bootstrap).build()?;
    let mut consumer = Consumer::connect(config).await?;

    // Manual assignment: you choose the partitions and where to start.
    let tp = TopicPartition::new(topic, partition);
    consumer.assign([tp.clone()]);
    consumer.seek(&tp, SeekTo::Beginning).await?;

    // `poll(timeout)` returns batches of records; the stream hands them out one by one.
    // Either way the next fetch is already on its way while you process these.
    let mut records = consumer.into_stream();
    while let Some(record) = records.next().await {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                // Ends cleanly: with a group, commits what was handed out and leaves.
                records.close().await?;
                return Err(error.into());
            }
        };
        let value = record.value.as_deref().map(String::from_utf8_lossy);
        println!(
            "{}-{} @ {} [{}] {:?}",
            record.topic, record.partition, record.offset, record.timestamp, value
        );
    }
    Ok(())
}
