//! A partition whose storage is offline on the broker (its directory could not be opened
//! at startup): keyless records from the producer avoid it, like Kafka's partitioner
//! avoids partitions without a leader; a record keyed to it fails with a storage error
//! after its retries instead of hanging; the other partition serves everything.

use std::time::Duration;

use rill::broker::testing::TestBroker;
use rill::client::partitioner::partition_for_key;
use rill::client::{
    Admin, ClientError, ConnectionConfig, Producer, ProducerConfig, ProducerRecord,
};
use rill_protocol::error_code::ErrorCode;

#[tokio::test]
async fn keyless_records_avoid_an_offline_partition() {
    let broker = TestBroker::start().await;
    let admin = Admin::connect(ConnectionConfig::new(broker.addr.to_string()))
        .await
        .unwrap();
    admin.create_topic("o", 2, &[]).await.unwrap();
    admin.close().await.unwrap();
    let dir = broker.stop().await;
    let p0 = dir.path().join("o-0");
    std::fs::remove_dir_all(&p0).unwrap();
    std::fs::write(&p0, "not a directory").unwrap();
    let broker = TestBroker::start_in(dir, |_| {}).await;

    let config = ProducerConfig::builder(broker.addr.to_string())
        .linger(Duration::from_millis(1))
        .batch_bytes(1024)
        .request_timeout(Duration::from_millis(500))
        .delivery_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let producer = Producer::connect(config).await.unwrap();
    let mut deliveries = Vec::new();
    for i in 0..300 {
        let record = ProducerRecord::new("o", format!("keyless {i} {}", "x".repeat(40)));
        deliveries.push(producer.send(record).await.unwrap());
    }
    for delivery in deliveries {
        let meta = delivery.await.expect("keyless records are delivered");
        assert_eq!(meta.partition, 1, "only the available partition");
    }

    let key = (0..)
        .map(|i| format!("key-{i}"))
        .find(|k| partition_for_key(k.as_bytes(), 2) == 0)
        .unwrap();
    let keyed = ProducerRecord::new("o", "to the offline partition").with_key(key);
    let err = producer
        .send(keyed)
        .await
        .unwrap()
        .await
        .expect_err("a record for the offline partition fails");
    // Retried until the delivery timeout (the storage error is retriable, as in Kafka),
    // then reported with the broker's reason.
    match &err {
        ClientError::DeliveryTimeout {
            partition: 0,
            last_error: Some(last),
            ..
        } => assert_eq!(
            last.error_code(),
            Some(ErrorCode::KafkaStorageError),
            "{err}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("KAFKA_STORAGE_ERROR"), "{err}");
    let closed = producer.close().await;
    assert!(
        matches!(
            closed,
            Err(ClientError::DeliveryFailed {
                failed_records: 1,
                ..
            })
        ),
        "close reports the record that failed: {closed:?}"
    );
    broker.stop().await;
}
