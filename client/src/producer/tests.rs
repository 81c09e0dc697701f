//! Producer tests against the in-memory fake broker.

use std::time::Duration;

use super::*;
use crate::config::{Acks, Compression};
use crate::test_support::FakeBroker;

fn config(broker: &FakeBroker) -> crate::config::ProducerConfigBuilder {
    ProducerConfig::builder(broker.addr.clone()).retry_backoff(Duration::from_millis(10))
}

#[tokio::test]
async fn keyed_records_get_consecutive_offsets_on_their_partition() {
    let broker = FakeBroker::start(3).await;
    let producer = Producer::connect(config(&broker).build().unwrap())
        .await
        .unwrap();
    let mut deliveries = Vec::new();
    for i in 0..10 {
        let record = ProducerRecord::new("t", format!("v{i}")).with_key("user-1");
        deliveries.push(producer.send(record).await.unwrap());
    }
    let expected_partition = partition_for_key(b"user-1", 3);
    for (i, delivery) in deliveries.into_iter().enumerate() {
        let metadata = delivery.await.unwrap();
        assert_eq!(metadata.partition, expected_partition);
        assert_eq!(metadata.offset, i64::try_from(i).unwrap());
        assert_eq!(&*metadata.topic, "t");
    }
    producer.close().await.unwrap();
    let expected = usize::try_from(expected_partition).unwrap();
    assert_eq!(broker.state().record_count("t", expected), 10);
}

#[tokio::test]
async fn completed_batch_buffers_are_reused() {
    let broker = FakeBroker::start(1).await;
    let producer = Producer::connect(config(&broker).build().unwrap())
        .await
        .unwrap();
    let accumulator = &producer.shared.accumulator;
    assert_eq!(accumulator.spare_buffer_count(), 0);
    for round in 0..3i64 {
        let delivery = producer.send(ProducerRecord::new("t", "x")).await.unwrap();
        producer.flush().await.unwrap();
        assert_eq!(delivery.await.unwrap().offset, round);
        // The batch's buffer came back, and the next batch took it again.
        assert_eq!(accumulator.spare_buffer_count(), 1, "round {round}");
    }
    producer.close().await.unwrap();
    assert_eq!(broker.state().record_count("t", 0), 3);
}

#[tokio::test]
async fn keyless_records_stick_to_one_partition_per_batch() {
    let broker = FakeBroker::start(4).await;
    let config = config(&broker)
        .linger(Duration::from_millis(200))
        .build()
        .unwrap();
    let producer = Producer::connect(config).await.unwrap();
    let mut deliveries = Vec::new();
    for _ in 0..20 {
        deliveries.push(producer.send(ProducerRecord::new("t", "x")).await.unwrap());
    }
    producer.flush().await.unwrap();
    let mut partitions = Vec::new();
    for delivery in deliveries {
        partitions.push(delivery.await.unwrap().partition);
    }
    assert!(
        partitions.iter().all(|&p| p == partitions[0]),
        "{partitions:?}"
    );
    assert_eq!(broker.state().produce_requests, 1, "one batch, one request");
}

#[tokio::test]
async fn retriable_errors_are_retried_in_order() {
    let broker = FakeBroker::start(1).await;
    broker.state().fail_produce_partitions = 2;
    let producer = Producer::connect(config(&broker).build().unwrap())
        .await
        .unwrap();
    let mut deliveries = Vec::new();
    for i in 0..5 {
        let record = ProducerRecord::new("t", format!("{i}"));
        deliveries.push(producer.send(record).await.unwrap());
    }
    for (i, delivery) in deliveries.into_iter().enumerate() {
        assert_eq!(delivery.await.unwrap().offset, i64::try_from(i).unwrap());
    }
    assert!(broker.state().produce_requests >= 3);
    producer.close().await.unwrap();
}

#[tokio::test]
async fn delivery_times_out_when_retries_keep_failing() {
    let broker = FakeBroker::start(1).await;
    broker.state().fail_produce_partitions = u32::MAX;
    let config = config(&broker)
        .request_timeout(Duration::from_millis(100))
        .delivery_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let producer = Producer::connect(config).await.unwrap();
    let delivery = producer.send(ProducerRecord::new("t", "x")).await.unwrap();
    let err = delivery.await.unwrap_err();
    assert!(
        matches!(err, ClientError::DeliveryTimeout { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn flush_and_close_report_the_records_that_failed_once() {
    let broker = FakeBroker::start(1).await;
    broker.state().fail_produce_partitions = u32::MAX;
    let config = config(&broker)
        .request_timeout(Duration::from_millis(100))
        .delivery_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let producer = Producer::connect(config).await.unwrap();
    let mut deliveries = Vec::new();
    for i in 0..3 {
        let record = ProducerRecord::new("t", format!("{i}"));
        deliveries.push(producer.send(record).await.unwrap());
    }
    let err = producer.flush().await.unwrap_err();
    match &err {
        ClientError::DeliveryFailed {
            failed_records,
            first_error,
            ..
        } => {
            assert_eq!(*failed_records, 3, "{err}");
            assert!(
                matches!(**first_error, ClientError::DeliveryTimeout { .. }),
                "{err}"
            );
        }
        other => panic!("expected DeliveryFailed, got {other:?}"),
    }
    for delivery in deliveries {
        assert!(delivery.await.is_err());
    }
    assert!(
        producer.flush().await.is_ok(),
        "each failure is reported once"
    );

    let late = producer
        .send(ProducerRecord::new("t", "late"))
        .await
        .unwrap();
    let err = producer.close().await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::DeliveryFailed {
                failed_records: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(late.await.is_err());
}

#[tokio::test]
async fn acks_zero_resolves_without_offsets() {
    let broker = FakeBroker::start(1).await;
    let config = config(&broker)
        .acks(Acks::None)
        .compression(Compression::Gzip)
        .build()
        .unwrap();
    let producer = Producer::connect(config).await.unwrap();
    let delivery = producer.send(ProducerRecord::new("t", "x")).await.unwrap();
    assert_eq!(delivery.await.unwrap().offset, -1);
    producer.close().await.unwrap();
    // The broker got it even though it never answered.
    let deadline = Instant::now() + Duration::from_secs(5);
    while broker.state().record_count("t", 0) == 0 {
        assert!(Instant::now() < deadline, "record never arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn close_flushes_and_refuses_more() {
    let broker = FakeBroker::start(2).await;
    let config = config(&broker)
        .linger(Duration::from_secs(10))
        .build()
        .unwrap();
    let producer = Producer::connect(config).await.unwrap();
    let delivery = producer
        .send(ProducerRecord::new("t", "x").with_partition(1))
        .await
        .unwrap();
    producer.close().await.unwrap();
    assert_eq!(delivery.await.unwrap().partition, 1);
    let record = ProducerRecord::new("t", "y")
        .with_key("k")
        .with_header("h", "v")
        .with_partition(0);
    let err = producer.send(record.clone()).await.unwrap_err();
    assert!(
        matches!(err.error(), ClientError::Closed { handle: "producer" }),
        "{err:?}"
    );
    assert_eq!(err.into_record(), record, "the record comes back unchanged");
    assert!(producer.close().await.is_ok(), "close again is a no-op");
}

#[tokio::test]
async fn explicit_partition_out_of_range_is_rejected() {
    let broker = FakeBroker::start(2).await;
    let producer = Producer::connect(config(&broker).build().unwrap())
        .await
        .unwrap();
    let err = producer
        .send(ProducerRecord::new("t", "x").with_partition(5))
        .await
        .unwrap_err();
    assert_eq!(err.record().partition, Some(5));
    let err = ClientError::from(err);
    assert!(
        matches!(
            err,
            ClientError::InvalidPartition {
                partition: 5,
                num_partitions: 2,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn connect_to_nothing_fails_fast() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let err = Producer::connect(ProducerConfig::builder(addr).build().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Connect { .. }), "{err:?}");
}
