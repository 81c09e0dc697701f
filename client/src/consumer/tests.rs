//! Consumer tests against the in-memory fake broker: seek, fetch ahead, decompression,
//! offset reset, partial batches, and the stream.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

use super::*;
use crate::config::{AutoOffsetReset, Compression};
use crate::producer::Producer;
use crate::record::ProducerRecord;
use crate::test_support::FakeBroker;
use crate::ProducerConfig;

/// Produces `count` records "v{i}" with timestamps 1000 + i to partition 0 of `t`,
/// in batches of `batch_records`.
async fn produce(
    broker: &FakeBroker,
    count: usize,
    batch_records: usize,
    compression: Compression,
) {
    let config = ProducerConfig::builder(broker.addr.clone())
        .compression(compression)
        .linger(Duration::from_secs(5))
        .build()
        .unwrap();
    let producer = Producer::connect(config).await.unwrap();
    for chunk in (0..count).collect::<Vec<_>>().chunks(batch_records) {
        for &i in chunk {
            let record = ProducerRecord::new("t", format!("v{i}"))
                .with_partition(0)
                .with_timestamp(1000 + i64::try_from(i).unwrap());
            drop(producer.send(record).await.unwrap());
        }
        producer.flush().await.unwrap();
    }
    producer.close().await.unwrap();
}

async fn consumer(broker: &FakeBroker, reset: AutoOffsetReset) -> Consumer {
    let config = ConsumerConfig::builder(broker.addr.clone())
        .auto_offset_reset(reset)
        .fetch_max_wait(Duration::from_millis(20))
        .partition_max_bytes(300)
        .build()
        .unwrap();
    let mut consumer = Consumer::connect(config).await.unwrap();
    consumer.assign([TopicPartition::new("t", 0)]);
    consumer
}

/// Polls until `count` records arrived (or a deadline passes).
async fn poll_n(consumer: &mut Consumer, count: usize) -> Vec<ConsumerRecord> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut records = Vec::new();
    while records.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} records",
            records.len()
        );
        records.extend(consumer.poll(Duration::from_millis(100)).await.unwrap());
    }
    records
}

fn values(records: &[ConsumerRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect()
}

#[tokio::test]
async fn reads_everything_from_the_beginning_across_small_fetches() {
    let broker = FakeBroker::start(1).await;
    produce(&broker, 50, 10, Compression::Zstd).await;
    let mut consumer = consumer(&broker, AutoOffsetReset::Error).await;
    consumer
        .seek(&TopicPartition::new("t", 0), SeekTo::Beginning)
        .await
        .unwrap();
    let records = poll_n(&mut consumer, 50).await;
    let expected: Vec<String> = (0..50).map(|i| format!("v{i}")).collect();
    assert_eq!(values(&records), expected);
    assert!(records
        .iter()
        .enumerate()
        .all(|(i, r)| r.offset == i64::try_from(i).unwrap()));
    assert_eq!(consumer.position(&TopicPartition::new("t", 0)), Some(50));
}

#[tokio::test]
async fn seek_to_offset_skips_earlier_records_of_the_batch() {
    let broker = FakeBroker::start(1).await;
    produce(&broker, 20, 10, Compression::None).await;
    let mut consumer = consumer(&broker, AutoOffsetReset::Error).await;
    consumer
        .seek(&TopicPartition::new("t", 0), SeekTo::Offset(13))
        .await
        .unwrap();
    let records = poll_n(&mut consumer, 7).await;
    assert_eq!(records[0].offset, 13);
    assert_eq!(records.len(), 7);
}

#[tokio::test]
async fn seek_by_timestamp_and_end() {
    let broker = FakeBroker::start(1).await;
    produce(&broker, 20, 10, Compression::None).await;
    let mut consumer = consumer(&broker, AutoOffsetReset::Error).await;
    // The fake resolves timestamps to the containing batch's base offset.
    consumer
        .seek(&TopicPartition::new("t", 0), SeekTo::Timestamp(1015))
        .await
        .unwrap();
    assert_eq!(consumer.position(&TopicPartition::new("t", 0)), Some(10));
    consumer
        .seek(&TopicPartition::new("t", 0), SeekTo::Timestamp(99_999))
        .await
        .unwrap();
    assert_eq!(consumer.position(&TopicPartition::new("t", 0)), Some(20));
    consumer
        .seek(&TopicPartition::new("t", 0), SeekTo::End)
        .await
        .unwrap();
    assert!(consumer
        .poll(Duration::from_millis(50))
        .await
        .unwrap()
        .is_empty());
    produce(&broker, 3, 3, Compression::None).await;
    let records = poll_n(&mut consumer, 3).await;
    assert_eq!(records[0].offset, 20);
}

#[tokio::test]
async fn unplaced_partition_follows_auto_offset_reset() {
    let broker = FakeBroker::start(1).await;
    produce(&broker, 5, 5, Compression::None).await;
    let mut strict = consumer(&broker, AutoOffsetReset::Error).await;
    let err = strict.poll(Duration::from_millis(50)).await.unwrap_err();
    assert!(
        matches!(err, ClientError::NoPosition { partition: 0, .. }),
        "{err:?}"
    );
    let mut earliest = consumer(&broker, AutoOffsetReset::Earliest).await;
    assert_eq!(poll_n(&mut earliest, 5).await.len(), 5);
    let err = strict
        .seek(&TopicPartition::new("other", 0), SeekTo::Beginning)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::NotAssigned { .. }), "{err:?}");
}

#[tokio::test]
async fn out_of_range_is_an_error_or_a_reset() {
    let broker = FakeBroker::start(1).await;
    produce(&broker, 5, 5, Compression::None).await;
    let mut strict = consumer(&broker, AutoOffsetReset::Error).await;
    strict
        .seek(&TopicPartition::new("t", 0), SeekTo::Offset(100))
        .await
        .unwrap();
    let err = strict.poll(Duration::from_millis(200)).await.unwrap_err();
    assert!(
        matches!(err, ClientError::OffsetOutOfRange { offset: 100, .. }),
        "{err:?}"
    );
    let mut latest = consumer(&broker, AutoOffsetReset::Latest).await;
    latest
        .seek(&TopicPartition::new("t", 0), SeekTo::Offset(100))
        .await
        .unwrap();
    assert!(latest
        .poll(Duration::from_millis(100))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(latest.position(&TopicPartition::new("t", 0)), Some(5));
}

#[tokio::test]
async fn fetch_ahead_keeps_one_fetch_in_flight() {
    let broker = FakeBroker::start(1).await;
    produce(&broker, 10, 10, Compression::None).await;
    let mut consumer = consumer(&broker, AutoOffsetReset::Earliest).await;
    poll_n(&mut consumer, 10).await;
    assert!(
        !consumer.in_flight.is_empty(),
        "the next fetch is already in flight"
    );
    // A seek while it is in flight makes its data stale: nothing is repeated.
    consumer
        .seek(&TopicPartition::new("t", 0), SeekTo::Offset(8))
        .await
        .unwrap();
    let records = poll_n(&mut consumer, 2).await;
    assert_eq!(
        records.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![8, 9]
    );
}

#[tokio::test]
async fn stream_yields_records_in_order() {
    let broker = FakeBroker::start(1).await;
    produce(&broker, 12, 4, Compression::Lz4).await;
    let consumer = consumer(&broker, AutoOffsetReset::Earliest).await;
    let stream = consumer.into_stream();
    let records: Vec<ConsumerRecord> = tokio::time::timeout(
        Duration::from_secs(5),
        stream.take(12).map(|r| r.unwrap()).collect(),
    )
    .await
    .unwrap();
    assert_eq!(records.last().map(|r| r.offset), Some(11));
}

#[tokio::test]
async fn corrupt_batch_is_reported_every_poll_and_never_skipped() {
    let broker = FakeBroker::start(1).await;
    produce(&broker, 9, 3, Compression::None).await;
    {
        // Flip the last byte of the second batch (offsets 3..=5): its CRC fails.
        let mut state = broker.state();
        let (_, bytes) = &mut state.logs.get_mut("t").unwrap()[0][1];
        let mut damaged = bytes.to_vec();
        *damaged.last_mut().unwrap() ^= 0xff;
        *bytes = Bytes::from(damaged);
    }
    let config = ConsumerConfig::builder(broker.addr.clone())
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .fetch_max_wait(Duration::from_millis(20))
        .partition_max_bytes(1)
        .build()
        .unwrap();
    let mut consumer = Consumer::connect(config).await.unwrap();
    consumer.assign([TopicPartition::new("t", 0)]);
    // One batch per fetch: the first decodes; by then the fetch of the corrupt one was
    // sent ahead (the position had moved past the first batch's header).
    let first = poll_n(&mut consumer, 3).await;
    assert_eq!(values(&first), ["v0", "v1", "v2"]);
    for _ in 0..3 {
        let err = consumer.poll(Duration::from_secs(2)).await.unwrap_err();
        assert!(
            matches!(err, ClientError::Batch { partition: 0, .. }),
            "{err:?}"
        );
        assert_eq!(
            consumer.position(&TopicPartition::new("t", 0)),
            Some(3),
            "the position stays at the corrupt batch, whose fetch-ahead data is dropped"
        );
    }
}

/// `poll` is cancel-safe: polls dropped at arbitrary await points (here after one to
/// four polls of the future, with other tasks run in between) lose no record and repeat
/// none.
#[tokio::test]
async fn cancelled_polls_lose_and_repeat_nothing() {
    let broker = FakeBroker::start(1).await;
    produce(&broker, 200, 5, Compression::None).await;
    let mut consumer = consumer(&broker, AutoOffsetReset::Earliest).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut offsets, mut cancelled) = (Vec::new(), 0);
    let mut step = 0usize;
    while offsets.len() < 200 {
        assert!(Instant::now() < deadline, "only {} records", offsets.len());
        step += 1;
        let mut poll = Box::pin(consumer.poll(Duration::from_millis(100)));
        let mut done = None;
        for _ in 0..=(step % 4) {
            if let Some(result) = futures::future::poll_immediate(&mut poll).await {
                done = Some(result);
                break;
            }
            tokio::task::yield_now().await;
        }
        drop(poll);
        match done {
            Some(records) => offsets.extend(records.unwrap().iter().map(|r| r.offset)),
            None => cancelled += 1,
        }
    }
    assert_eq!(offsets, (0..200).collect::<Vec<i64>>());
    assert!(cancelled > 0, "some polls were cut short");
}
