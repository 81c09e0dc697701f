//! Accumulator tests: batching by size and linger, bounded memory, flush, retry order.

use std::time::Duration;

use super::super::partition_key::BorrowedPartition;
use super::*;
use rill_protocol::batch::RecordInput;

const LINGER: Duration = Duration::from_millis(10);

fn accumulator(batch_bytes: usize, buffer_memory_bytes: usize) -> Accumulator {
    Accumulator::new(AccumulatorConfig {
        batch_bytes,
        linger: LINGER,
        compression: Compression::None,
        buffer_memory_bytes,
        max_in_flight_per_partition: 5,
        delivery_timeout: Duration::from_secs(60),
    })
}

fn tp(partition: i32) -> TopicPartition {
    TopicPartition::new("t", partition)
}

async fn append(acc: &Accumulator, tp: &TopicPartition, bytes: usize, now: Instant) -> Appended {
    let permit = acc.reserve(bytes).await.unwrap();
    let record = RecordInput::new(0, vec![7u8; 4]);
    acc.append(
        BorrowedPartition {
            topic: &tp.topic,
            partition: tp.partition,
        },
        record.timestamp,
        &record,
        bytes,
        permit,
        || now,
    )
    .unwrap()
}

#[tokio::test]
async fn full_batch_is_ready_before_linger() {
    let acc = accumulator(100, 1000);
    let now = Instant::now();
    let mut previous_full = Vec::new();
    for _ in 0..4 {
        previous_full.push(append(&acc, &tp(0), 30, now).await.previous_batch_full);
    }
    // Three records fill 90 of 100 bytes; the fourth starts a second batch.
    assert_eq!(previous_full, vec![false, false, false, true]);
    let drained = acc.drain(now, usize::MAX, false);
    assert_eq!(drained.ready.len(), 1);
    assert_eq!(drained.ready[0].record_count, 3);
    // The second batch is not full and waits for linger.
    let again = acc.drain(now, usize::MAX, false);
    assert!(again.ready.is_empty());
    assert_eq!(again.next_wake, Some(now + LINGER));
}

#[tokio::test]
async fn lingering_batch_is_ready_after_linger() {
    let acc = accumulator(1000, 10_000);
    let now = Instant::now();
    append(&acc, &tp(0), 10, now).await;
    append(&acc, &tp(1), 10, now).await;
    let early = acc.drain(now + LINGER / 2, usize::MAX, false);
    assert!(early.ready.is_empty());
    assert_eq!(early.next_wake, Some(now + LINGER));
    let later = acc.drain(now + LINGER, usize::MAX, false);
    assert_eq!(later.ready.len(), 2, "one batch per partition");
}

#[tokio::test]
async fn batch_reaching_batch_bytes_is_ready() {
    let acc = accumulator(100, 1000);
    let now = Instant::now();
    append(&acc, &tp(0), 100, now).await;
    assert_eq!(acc.drain(now, usize::MAX, false).ready.len(), 1);
    // A single record larger than batch_bytes still gets its own batch.
    append(&acc, &tp(0), 150, now).await;
    let drained = acc.drain(now, usize::MAX, false);
    assert_eq!(drained.ready.len(), 1);
    assert_eq!(drained.ready[0].size_bytes, 150);
}

#[tokio::test]
async fn drain_respects_request_size_cap() {
    let acc = accumulator(100, 10_000);
    let now = Instant::now();
    for p in 0..4 {
        append(&acc, &tp(p), 100, now).await;
    }
    let first = acc.drain(now, 250, false);
    assert_eq!(first.ready.len(), 2);
    let second = acc.drain(now, 250, false);
    assert_eq!(second.ready.len(), 2);
}

#[tokio::test]
async fn memory_is_bounded_until_batches_complete() {
    let acc = accumulator(100, 100);
    let now = Instant::now();
    append(&acc, &tp(0), 60, now).await;
    assert_eq!(acc.available_memory_bytes(), 40);
    // A second 60-byte record must wait for memory.
    let blocked = tokio::time::timeout(Duration::from_millis(20), acc.reserve(60)).await;
    assert!(
        blocked.is_err(),
        "reserve should wait while the buffer is full"
    );
    assert!(matches!(
        acc.reserve(101).await,
        Err(ClientError::RecordTooLarge {
            size_bytes: 101,
            ..
        })
    ));
    let mut drained = acc.drain(now + LINGER, usize::MAX, false);
    let batch = drained.ready.pop().unwrap();
    let (id, tp0) = (batch.id, batch.tp.clone());
    let _ = batch.complete(0, -1);
    acc.finish(id, &tp0, true, None);
    assert_eq!(acc.available_memory_bytes(), 100);
    let permit = tokio::time::timeout(Duration::from_millis(100), acc.reserve(60)).await;
    assert!(permit.is_ok(), "memory is free again");
}

#[tokio::test]
async fn delivery_futures_resolve_with_offsets() {
    let acc = accumulator(1000, 1000);
    let now = Instant::now();
    let a = append(&acc, &tp(0), 10, now).await.future;
    let b = append(&acc, &tp(0), 10, now).await.future;
    let mut drained = acc.drain(now + LINGER, usize::MAX, false);
    let mut batch = drained.ready.pop().unwrap();
    assert!(batch.seal(None).unwrap().len() > 61);
    let _ = batch.complete(40, -1);
    assert_eq!(a.await.unwrap().offset, 40);
    assert_eq!(b.await.unwrap().offset, 41);
}

#[tokio::test]
async fn flush_forces_ready_and_waits_for_completion() {
    let acc = std::sync::Arc::new(accumulator(1000, 1000));
    let now = Instant::now();
    append(&acc, &tp(0), 10, now).await;
    let flusher = {
        let acc = std::sync::Arc::clone(&acc);
        tokio::spawn(async move { acc.flush().await })
    };
    // The flush makes the lingering batch ready at once.
    let batch = loop {
        let mut drained = acc.drain(now, usize::MAX, false);
        if let Some(batch) = drained.ready.pop() {
            break batch;
        }
        tokio::task::yield_now().await;
    };
    assert!(!flusher.is_finished());
    let (id, tp0) = (batch.id, batch.tp.clone());
    let _ = batch.complete(0, -1);
    acc.finish(id, &tp0, true, None);
    tokio::time::timeout(Duration::from_secs(1), flusher)
        .await
        .expect("flush returns once the batch completed")
        .unwrap();
}

#[tokio::test]
async fn retried_batch_is_not_overtaken() {
    let acc = accumulator(10, 1000);
    let now = Instant::now();
    for _ in 0..3 {
        append(&acc, &tp(0), 10, now).await;
    }
    let first = acc.drain(now, usize::MAX, false).ready.pop().unwrap();
    let second = acc.drain(now, usize::MAX, false).ready.pop().unwrap();
    assert!(first.id < second.id);
    // The first fails; the second is still in flight.
    let backoff = Duration::from_millis(5);
    acc.reenqueue(first, backoff, now);
    // While retrying, only one batch of the partition may be in flight: nothing moves.
    assert!(acc.drain(now + backoff, usize::MAX, false).ready.is_empty());
    let (id, tp0) = (second.id, second.tp.clone());
    second.fail(ClientError::Closed { handle: "producer" });
    acc.finish(id, &tp0, false, None);
    // Not before the backoff...
    assert!(acc.drain(now, usize::MAX, false).ready.is_empty());
    // ...then the retried batch goes first, alone.
    let retried = acc.drain(now + backoff, usize::MAX, false).ready;
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].attempts, 1);
    assert!(acc.drain(now + backoff, usize::MAX, false).ready.is_empty());
    let (id, tp0) = (retried[0].id, retried[0].tp.clone());
    acc.finish(id, &tp0, true, None);
    // Success lifts the one-in-flight limit: the third batch goes.
    assert_eq!(acc.drain(now + backoff, usize::MAX, false).ready.len(), 1);
}

#[tokio::test]
async fn expired_batches_are_returned() {
    let acc = Accumulator::new(AccumulatorConfig {
        batch_bytes: 1000,
        linger: Duration::from_secs(10),
        compression: Compression::None,
        buffer_memory_bytes: 1000,
        max_in_flight_per_partition: 1,
        delivery_timeout: Duration::from_secs(1),
    });
    let now = Instant::now();
    let future = append(&acc, &tp(0), 10, now).await.future;
    let drained = acc.drain(now + Duration::from_secs(2), usize::MAX, false);
    assert_eq!(drained.expired.len(), 1);
    for batch in drained.expired {
        batch.fail(ClientError::Closed { handle: "producer" });
    }
    assert!(future.await.is_err());
    acc.flush().await;
}

#[tokio::test]
async fn close_refuses_appends_and_finishes_when_empty() {
    let acc = accumulator(1000, 1000);
    let now = Instant::now();
    append(&acc, &tp(0), 10, now).await;
    acc.close();
    assert!(!acc.is_finished());
    assert!(matches!(
        acc.reserve(10).await,
        Err(ClientError::Closed { handle: "producer" })
    ));
    // Closing makes the lingering batch ready at once.
    let batch = acc.drain(now, usize::MAX, false).ready.pop().unwrap();
    let (id, tp0) = (batch.id, batch.tp.clone());
    let _ = batch.complete(0, -1);
    acc.finish(id, &tp0, true, None);
    assert!(acc.is_finished());
}
