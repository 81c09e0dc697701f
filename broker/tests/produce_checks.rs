//! What the broker checks in a produced batch before it trusts the header, and the
//! per-topic timestamp settings: a lying `last_offset_delta` or `max_timestamp` (plain or
//! compressed) is refused and takes no offsets; a record from more than an hour in the
//! future is refused; a log-append-time topic stamps the broker's clock into the batch
//! and answers with it; the settings change live and show in describe.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use common::*;
use rill_protocol::api::alter_topic_configs::AlterTopicConfigsRequest;
use rill_protocol::api::common::ConfigEntry;
use rill_protocol::api::create_topics::{CreatableTopic, CreateTopicsRequest};
use rill_protocol::api::describe_topic_configs::DescribeTopicConfigsRequest;
use rill_protocol::api::produce::{ProducePartitionResponse, ACKS_ALL};
use rill_protocol::api::{Request, Response};
use rill_protocol::batch::header::{CRC_POS, LAST_OFFSET_DELTA_POS, MAX_TIMESTAMP_POS};
use rill_protocol::batch::{
    compute_crc, BatchBuilder, BatchIter, Compression, RecordBatch, RecordInput,
};
use rill_protocol::error_code::ErrorCode;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `n` records with timestamps `ts, ts + 1, ...`, compressed with `codec`.
fn honest(codec: Compression, n: usize, ts: i64) -> Bytes {
    let mut builder = BatchBuilder::new(codec);
    for i in 0..n {
        builder
            .append(&RecordInput::new(ts + i as i64, format!("v{i}")))
            .unwrap();
    }
    builder.build().unwrap()
}

/// `batch` with `value` written at `pos` and the CRC fixed: a lie the CRC does not catch.
fn lying(batch: &Bytes, pos: usize, value: &[u8]) -> Bytes {
    let mut bytes = batch.to_vec();
    bytes[pos..pos + value.len()].copy_from_slice(value);
    let crc = compute_crc(&bytes);
    bytes[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(bytes)
}

async fn send(c: &mut RawClient, topic: &str, records: Bytes) -> ProducePartitionResponse {
    let r = produce_response(c.call(produce(topic, 0, records, ACKS_ALL)).await);
    r.topics[0].partitions[0].clone()
}

async fn create(c: &mut RawClient, name: &str, configs: Vec<ConfigEntry>) {
    let Response::CreateTopics(r) = c
        .call(Request::CreateTopics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                replication_factor: -1,
                name: name.into(),
                num_partitions: 1,
                configs,
            }],
            timeout_ms: 5000,
            validate_only: false,
        }))
        .await
    else {
        panic!("expected a CreateTopics response")
    };
    assert_eq!(r.topics[0].error_code, ErrorCode::None, "{r:?}");
}

async fn alter(c: &mut RawClient, topic: &str, key: &str, value: &str) -> ErrorCode {
    let Response::AlterTopicConfigs(r) = c
        .call(Request::AlterTopicConfigs(AlterTopicConfigsRequest {
            topic: topic.into(),
            configs: vec![ConfigEntry::new(key, value)],
        }))
        .await
    else {
        panic!("expected an AlterTopicConfigs response")
    };
    r.error_code
}

async fn described(c: &mut RawClient, topic: &str, key: &str) -> Option<String> {
    let Response::DescribeTopicConfigs(d) = c
        .call(Request::DescribeTopicConfigs(DescribeTopicConfigsRequest {
            topics: vec![topic.into()],
        }))
        .await
    else {
        panic!("expected a DescribeTopicConfigs response")
    };
    d.topics[0]
        .configs
        .iter()
        .find(|e| e.key == key)
        .and_then(|e| e.value.clone())
}

#[tokio::test]
async fn lying_batch_headers_are_refused_and_take_no_offsets() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(broker.addr).await;
    assert_eq!(
        send(&mut c, "t", honest(Compression::None, 3, 1_000))
            .await
            .error_code,
        ErrorCode::None
    );
    for codec in Compression::ALL {
        let batch = honest(codec, 3, 1_000);
        let lies = [
            // One request claiming 2^31 offsets for three records.
            lying(&batch, LAST_OFFSET_DELTA_POS, &i32::MAX.to_be_bytes()),
            lying(&batch, MAX_TIMESTAMP_POS, &i64::MAX.to_be_bytes()),
            lying(&batch, MAX_TIMESTAMP_POS, &1_000i64.to_be_bytes()),
        ];
        for lie in lies {
            let p = send(&mut c, "t", lie).await;
            assert_eq!(p.error_code, ErrorCode::CorruptMessage, "{codec}: {p:?}");
            assert!(
                p.error_message
                    .as_deref()
                    .unwrap_or("")
                    .contains("header says"),
                "{p:?}"
            );
        }
    }
    // Nothing was written and the offsets did not jump.
    let p = send(&mut c, "t", honest(Compression::Lz4, 2, 2_000)).await;
    assert_eq!((p.error_code, p.base_offset), (ErrorCode::None, 3));
    let f = fetch_response(c.call(fetch("t", 0, 0, 0, 0)).await);
    assert_eq!(f.topics[0].partitions[0].high_watermark, 5);
    assert_eq!(fetched_values(&f), ["v0", "v1", "v2", "v0", "v1"]);
    broker.stop().await;
}

#[tokio::test]
async fn a_record_from_more_than_an_hour_ahead_is_refused_and_the_bounds_change_live() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(broker.addr).await;
    create(&mut c, "clock", Vec::new()).await;
    assert_eq!(
        described(&mut c, "clock", "message.timestamp.after.max.ms")
            .await
            .as_deref(),
        Some("3600000")
    );
    assert_eq!(
        described(&mut c, "clock", "message.timestamp.type")
            .await
            .as_deref(),
        Some("CreateTime")
    );
    let future = now_ms() + 2 * 60 * 60 * 1000;
    let p = send(&mut c, "clock", honest(Compression::Zstd, 2, future)).await;
    assert_eq!(p.error_code, ErrorCode::InvalidTimestamp, "{p:?}");
    // Old records are fine by default (before.max.ms is unbounded)...
    let p = send(&mut c, "clock", honest(Compression::None, 1, 0)).await;
    assert_eq!((p.error_code, p.base_offset), (ErrorCode::None, 0));
    // ...until the topic bounds them.
    let key = "message.timestamp.before.max.ms";
    assert_eq!(alter(&mut c, "clock", key, "60000").await, ErrorCode::None);
    assert_eq!(
        described(&mut c, "clock", key).await.as_deref(),
        Some("60000")
    );
    let p = send(&mut c, "clock", honest(Compression::None, 1, 0)).await;
    assert_eq!(p.error_code, ErrorCode::InvalidTimestamp, "{p:?}");
    let p = send(&mut c, "clock", honest(Compression::None, 1, now_ms())).await;
    assert_eq!((p.error_code, p.base_offset), (ErrorCode::None, 1));
    assert_eq!(
        alter(&mut c, "clock", key, "-1").await,
        ErrorCode::InvalidConfig
    );
    broker.stop().await;
}

#[tokio::test]
async fn log_append_time_stamps_the_broker_clock_into_the_batch() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(broker.addr).await;
    create(
        &mut c,
        "stamped",
        vec![ConfigEntry::new("message.timestamp.type", "LogAppendTime")],
    )
    .await;
    let before = now_ms();
    // Client timestamps from far in the future do not matter: the broker's clock wins.
    let p = send(
        &mut c,
        "stamped",
        honest(Compression::Gzip, 3, before + (1 << 40)),
    )
    .await;
    let after = now_ms();
    assert_eq!(p.error_code, ErrorCode::None, "{p:?}");
    let appended = p.log_append_time_ms;
    assert!((before..=after).contains(&appended), "{appended}");
    let f = fetch_response(c.call(fetch("stamped", 0, 0, 0, 0)).await);
    let bytes = f.topics[0].partitions[0].records.clone().into_bytes();
    let batches: Vec<RecordBatch> = BatchIter::new(bytes, 1 << 20)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(batches.len(), 1);
    let header = batches[0].header();
    assert!(header.is_log_append_time());
    assert_eq!(header.max_timestamp, appended);
    for record in batches[0].records().unwrap() {
        assert_eq!(record.unwrap().timestamp, appended);
    }
    // And back to create time, live.
    assert_eq!(
        alter(&mut c, "stamped", "message.timestamp.type", "CreateTime").await,
        ErrorCode::None
    );
    let p = send(&mut c, "stamped", honest(Compression::None, 1, 7)).await;
    assert_eq!((p.error_code, p.log_append_time_ms), (ErrorCode::None, -1));
    broker.stop().await;
}
