//! rilld end to end over raw frames: produce, fetch, long poll, pipelining, errors,
//! hostile input, restart.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rill_protocol::api::alter_topic_configs::AlterTopicConfigsRequest;
use rill_protocol::api::common::{ConfigEntry, TopicPartitions};
use rill_protocol::api::create_topics::{CreatableTopic, CreateTopicsRequest};
use rill_protocol::api::delete_topics::DeleteTopicsRequest;
use rill_protocol::api::describe_topic_configs::DescribeTopicConfigsRequest;
use rill_protocol::api::list_offsets::{
    ListOffsetsPartition, ListOffsetsRequest, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP,
};
use rill_protocol::api::metadata::MetadataRequest;
use rill_protocol::api::produce::{ACKS_ALL, ACKS_LEADER, ACKS_NONE};
use rill_protocol::api::{ApiKey, Request, Response};
use rill_protocol::error_code::ErrorCode;

fn create(name: &str, partitions: i32, configs: Vec<ConfigEntry>) -> Request {
    Request::CreateTopics(CreateTopicsRequest {
        topics: vec![CreatableTopic {
            replication_factor: -1,
            name: name.into(),
            num_partitions: partitions,
            configs,
        }],
        timeout_ms: 5000,
        validate_only: false,
    })
}

fn list_offsets(topic: &str, partition: i32, timestamp: i64) -> Request {
    Request::ListOffsets(ListOffsetsRequest {
        isolation_level: 0,
        topics: vec![TopicPartitions {
            name: topic.into(),
            partitions: vec![ListOffsetsPartition {
                partition,
                timestamp,
            }],
        }],
    })
}

async fn offset_of(
    c: &mut RawClient,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> (ErrorCode, i64) {
    match c.call(list_offsets(topic, partition, timestamp)).await {
        Response::ListOffsets(r) => {
            let p = &r.topics[0].partitions[0];
            (p.error_code, p.offset)
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn produce_then_fetch_round_trips_with_offsets() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(broker.addr).await;
    let r = produce_response(
        c.call(produce("t", 0, batch("a", 3, 1000), ACKS_LEADER))
            .await,
    );
    let p = &r.topics[0].partitions[0];
    assert_eq!((p.error_code, p.base_offset), (ErrorCode::None, 0));
    let r = produce_response(c.call(produce("t", 0, batch("b", 2, 2000), ACKS_ALL)).await);
    assert_eq!(r.topics[0].partitions[0].base_offset, 3);

    let f = fetch_response(c.call(fetch("t", 0, 0, 0, 0)).await);
    let part = &f.topics[0].partitions[0];
    assert_eq!((part.error_code, part.high_watermark), (ErrorCode::None, 5));
    assert_eq!(fetched_values(&f), ["a-0", "a-1", "a-2", "b-0", "b-1"]);

    // A fetch from the middle of a batch returns that whole batch (the client skips).
    let f = fetch_response(c.call(fetch("t", 0, 4, 0, 0)).await);
    assert_eq!(fetched_values(&f), ["b-0", "b-1"]);
    // At the end: empty, no error.
    let f = fetch_response(c.call(fetch("t", 0, 5, 0, 0)).await);
    assert!(fetched_values(&f).is_empty());
    assert_eq!(f.topics[0].partitions[0].error_code, ErrorCode::None);
    broker.stop().await;
}

#[tokio::test]
async fn errors_are_typed_per_partition() {
    let broker = TestBroker::start_with(|c| c.auto_create_topics = false).await;
    let mut c = RawClient::connect(broker.addr).await;
    // Unknown topic (auto-create off).
    let r = produce_response(
        c.call(produce("nope", 0, batch("x", 1, 0), ACKS_LEADER))
            .await,
    );
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ErrorCode::UnknownTopicOrPartition
    );
    let f = fetch_response(c.call(fetch("nope", 0, 0, 0, 0)).await);
    assert_eq!(
        f.topics[0].partitions[0].error_code,
        ErrorCode::UnknownTopicOrPartition
    );

    c.call(create("t", 2, vec![])).await;
    // Unknown partition.
    let r = produce_response(c.call(produce("t", 7, batch("x", 1, 0), ACKS_LEADER)).await);
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ErrorCode::UnknownTopicOrPartition
    );
    // Offset out of range.
    c.call(produce("t", 0, batch("x", 2, 0), ACKS_LEADER)).await;
    let f = fetch_response(c.call(fetch("t", 0, 3, 0, 0)).await);
    assert_eq!(
        f.topics[0].partitions[0].error_code,
        ErrorCode::OffsetOutOfRange
    );
    let f = fetch_response(c.call(fetch("t", 0, -5, 0, 0)).await);
    assert_eq!(
        f.topics[0].partitions[0].error_code,
        ErrorCode::OffsetOutOfRange
    );
    // Invalid acks.
    let r = produce_response(c.call(produce("t", 0, batch("x", 1, 0), 5)).await);
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ErrorCode::InvalidRequiredAcks
    );
    broker.stop().await;
}

#[tokio::test]
async fn corrupt_batch_is_rejected_and_nothing_is_written() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(broker.addr).await;
    c.call(produce("t", 0, batch("good", 2, 0), ACKS_LEADER))
        .await;
    let good = batch("more", 1, 0);
    let mut bad = mutable(&batch("bad", 3, 0));
    let mid = bad.len() / 2;
    bad[mid] ^= 0x55;
    // Two batches in one partition's records: one good, one corrupt => none written.
    let mut both = mutable(&good);
    both.extend_from_slice(&bad);
    let r = produce_response(c.call(produce("t", 0, both.freeze(), ACKS_LEADER)).await);
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, ErrorCode::CorruptMessage);
    assert!(
        p.error_message.as_deref().unwrap_or("").contains("CRC"),
        "{p:?}"
    );
    assert_eq!(
        offset_of(&mut c, "t", 0, LATEST_TIMESTAMP).await,
        (ErrorCode::None, 2)
    );
    // Truncated batch, and garbage.
    let short = batch("s", 2, 0).slice(..40);
    let r = produce_response(c.call(produce("t", 0, short, ACKS_LEADER)).await);
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ErrorCode::CorruptMessage
    );
    let r = produce_response(
        c.call(produce(
            "t",
            0,
            bytes::Bytes::from_static(&[7; 100]),
            ACKS_LEADER,
        ))
        .await,
    );
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ErrorCode::CorruptMessage
    );
    // The partition is unchanged and still serves.
    let f = fetch_response(c.call(fetch("t", 0, 0, 0, 0)).await);
    assert_eq!(fetched_values(&f), ["good-0", "good-1"]);
    broker.stop().await;
}

#[tokio::test]
async fn pipelined_requests_answer_in_order() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(broker.addr).await;
    let mut sent = Vec::new();
    for i in 0..60 {
        let request = match i % 3 {
            0 => produce("p", 0, batch(&format!("r{i}"), 1, i), ACKS_LEADER),
            1 => Request::Metadata(MetadataRequest {
                topics: None,
                allow_auto_topic_creation: false,
            }),
            _ => fetch("p", 0, 0, 0, 0),
        };
        let id = c.send(request.clone()).await;
        sent.push((id, request));
    }
    // acks=0 produces no response, and the next response still comes in order.
    c.send(produce("p", 0, batch("silent", 1, 0), ACKS_NONE))
        .await;
    let after = Request::Metadata(MetadataRequest {
        topics: None,
        allow_auto_topic_creation: false,
    });
    let after_id = c.send(after.clone()).await;
    let mut produced = 0;
    for (id, request) in &sent {
        let (got, response) = c.recv(request).await;
        assert_eq!(got, *id);
        assert_eq!(response.api_key(), request.api_key());
        if let Response::Produce(p) = response {
            assert_eq!(p.topics[0].partitions[0].base_offset, produced);
            produced += 1;
        }
    }
    let (got, _) = c.recv(&after).await;
    assert_eq!(got, after_id);
    assert_eq!(offset_of(&mut c, "p", 0, LATEST_TIMESTAMP).await.1, 21);
    broker.stop().await;
}

#[tokio::test]
async fn long_poll_answers_when_data_arrives_and_at_the_deadline() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(broker.addr).await;
    c.call(produce("lp", 0, batch("first", 1, 0), ACKS_LEADER))
        .await;

    // No data: waits out max_wait_ms, then answers empty.
    let started = Instant::now();
    let f = fetch_response(c.call(fetch("lp", 0, 1, 300, 1)).await);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(fetched_values(&f).is_empty());

    // Data arrives while the fetch waits (30 s budget): it answers with that data.
    let request = fetch("lp", 0, 1, 30_000, 1);
    let id = c.send(request.clone()).await;
    let mut producer = RawClient::connect(broker.addr).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    producer
        .call(produce("lp", 0, batch("late", 1, 0), ACKS_LEADER))
        .await;
    let (got, response) = c.recv(&request).await;
    assert_eq!(got, id);
    assert_eq!(fetched_values(&fetch_response(response)), ["late-0"]);
    broker.stop().await;
}

#[tokio::test]
async fn hostile_frames_close_only_their_connection() {
    let broker = TestBroker::start_with(|c| c.max_frame_bytes = 1 << 20).await;
    let mut good = RawClient::connect(broker.addr).await;
    good.call(produce("h", 0, batch("x", 1, 0), ACKS_LEADER))
        .await;

    // A length prefix far above max_frame_bytes.
    let mut huge = RawClient::connect(broker.addr).await;
    huge.send_raw(&u32::MAX.to_be_bytes()).await;
    assert!(huge.is_closed().await);
    // A well-framed body that is not a request.
    let mut garbage = RawClient::connect(broker.addr).await;
    garbage
        .send_raw(&[0, 0, 0, 6, 0xff, 0xff, 1, 2, 3, 4])
        .await;
    assert!(garbage.is_closed().await);
    // A zero-length frame.
    let mut zero = RawClient::connect(broker.addr).await;
    zero.send_raw(&[0, 0, 0, 0]).await;
    assert!(zero.is_closed().await);

    // Everyone else is still served.
    let f = fetch_response(good.call(fetch("h", 0, 0, 0, 0)).await);
    assert_eq!(fetched_values(&f), ["x-0"]);
    broker.stop().await;
}

#[tokio::test]
async fn idle_and_half_sent_frames_time_out_and_connections_are_bounded() {
    let broker = TestBroker::start_with(|c| {
        c.idle_timeout = Duration::from_millis(300);
        c.max_connections = 2;
    })
    .await;
    let mut half = RawClient::connect(broker.addr).await;
    half.send_raw(&[0, 0, 0, 50, 1, 2, 3]).await;
    assert!(
        half.is_closed().await,
        "a half-sent frame must not hold the connection"
    );
    drop(half);

    let mut a = RawClient::connect(broker.addr).await;
    a.call(Request::Metadata(MetadataRequest {
        topics: None,
        allow_auto_topic_creation: false,
    }))
    .await;
    let mut b = RawClient::connect(broker.addr).await;
    b.call(Request::Metadata(MetadataRequest {
        topics: None,
        allow_auto_topic_creation: false,
    }))
    .await;
    let mut c = RawClient::connect(broker.addr).await;
    assert!(
        c.is_closed().await,
        "a third connection is refused at max_connections = 2"
    );
    broker.stop().await;
}

#[tokio::test]
async fn topics_admin_and_list_offsets() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(broker.addr).await;
    let created = c
        .call(create(
            "admin",
            3,
            vec![ConfigEntry::new("retention.ms", "60000")],
        ))
        .await;
    let Response::CreateTopics(created) = created else {
        panic!()
    };
    assert_eq!(created.topics[0].error_code, ErrorCode::None);
    let again = c.call(create("admin", 3, vec![])).await;
    let Response::CreateTopics(again) = again else {
        panic!()
    };
    assert_eq!(again.topics[0].error_code, ErrorCode::TopicAlreadyExists);
    for (name, parts, cfg, code) in [
        ("bad/name", 1, vec![], ErrorCode::InvalidTopic),
        ("zero", 0, vec![], ErrorCode::InvalidPartitions),
        (
            "cfg",
            1,
            vec![ConfigEntry::new("colour", "red")],
            ErrorCode::InvalidConfig,
        ),
    ] {
        let Response::CreateTopics(r) = c.call(create(name, parts, cfg)).await else {
            panic!()
        };
        assert_eq!(r.topics[0].error_code, code, "{name}");
    }

    let Response::Metadata(m) = c
        .call(Request::Metadata(MetadataRequest {
            topics: Some(vec!["admin".into()]),
            allow_auto_topic_creation: false,
        }))
        .await
    else {
        panic!()
    };
    assert_eq!(m.topics[0].partitions.len(), 3);
    assert_eq!(m.brokers[0].port, i32::from(broker.addr.port()));

    let Response::DescribeTopicConfigs(d) = c
        .call(Request::DescribeTopicConfigs(DescribeTopicConfigsRequest {
            topics: vec!["admin".into()],
        }))
        .await
    else {
        panic!()
    };
    let cfg = &d.topics[0].configs;
    assert!(cfg
        .iter()
        .any(|e| e.key == "retention.ms" && e.value.as_deref() == Some("60000")));
    let Response::AlterTopicConfigs(a) = c
        .call(Request::AlterTopicConfigs(AlterTopicConfigsRequest {
            topic: "admin".into(),
            configs: vec![ConfigEntry::new("flush", "always")],
        }))
        .await
    else {
        panic!()
    };
    assert_eq!(a.error_code, ErrorCode::None);
    // The broker's own offsets topic cannot be altered (a short retention there would
    // delete every group's committed offsets).
    let Response::AlterTopicConfigs(internal) = c
        .call(Request::AlterTopicConfigs(AlterTopicConfigsRequest {
            topic: "__consumer_offsets".into(),
            configs: vec![ConfigEntry::new("retention.ms", "1")],
        }))
        .await
    else {
        panic!()
    };
    assert_eq!(internal.error_code, ErrorCode::InvalidTopic);

    c.call(produce("admin", 1, batch("ts", 4, 10_000), ACKS_LEADER))
        .await;
    c.call(produce("admin", 1, batch("ts2", 4, 20_000), ACKS_LEADER))
        .await;
    assert_eq!(
        offset_of(&mut c, "admin", 1, EARLIEST_TIMESTAMP).await,
        (ErrorCode::None, 0)
    );
    assert_eq!(
        offset_of(&mut c, "admin", 1, LATEST_TIMESTAMP).await,
        (ErrorCode::None, 8)
    );
    assert_eq!(
        offset_of(&mut c, "admin", 1, 20_000).await,
        (ErrorCode::None, 4)
    );
    assert_eq!(
        offset_of(&mut c, "admin", 1, 99_999).await,
        (ErrorCode::None, -1)
    );
    assert_eq!(
        offset_of(&mut c, "admin", 9, EARLIEST_TIMESTAMP).await.0,
        ErrorCode::UnknownTopicOrPartition
    );

    let Response::DeleteTopics(del) = c
        .call(Request::DeleteTopics(DeleteTopicsRequest {
            topic_names: vec!["admin".into(), "ghost".into()],
            timeout_ms: 1000,
        }))
        .await
    else {
        panic!()
    };
    assert_eq!(del.topics[0].error_code, ErrorCode::None);
    assert_eq!(del.topics[1].error_code, ErrorCode::UnknownTopicOrPartition);
    assert!(
        !broker.dir.path().join("admin-0").exists(),
        "deleting a topic removes its data"
    );
    let _ = ApiKey::Metadata;
    broker.stop().await;
}

#[tokio::test]
async fn topics_and_records_survive_a_restart() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(broker.addr).await;
    c.call(create(
        "keep",
        2,
        vec![ConfigEntry::new("segment.bytes", "4096")],
    ))
    .await;
    for i in 0..20 {
        c.call(produce(
            "keep",
            1,
            batch(&format!("r{i}"), 5, i),
            ACKS_LEADER,
        ))
        .await;
    }
    drop(c);
    let dir = broker.stop().await;

    let broker = TestBroker::start_in(dir, |_| {}).await;
    let mut c = RawClient::connect(broker.addr).await;
    let Response::Metadata(m) = c
        .call(Request::Metadata(MetadataRequest {
            topics: None,
            allow_auto_topic_creation: false,
        }))
        .await
    else {
        panic!()
    };
    assert_eq!(m.topics.len(), 1);
    assert_eq!(m.topics[0].partitions.len(), 2);
    assert_eq!(m.topics[0].partitions[1].high_watermark, 100);
    let f = fetch_response(c.call(fetch("keep", 1, 95, 0, 0)).await);
    assert_eq!(
        fetched_values(&f),
        ["r19-0", "r19-1", "r19-2", "r19-3", "r19-4"]
    );
    broker.stop().await;
}

fn idempotent_batch(producer_id: i64, epoch: i16, sequence: i32, n: usize) -> bytes::Bytes {
    let mut b = rill_protocol::batch::BatchBuilder::new(rill_protocol::batch::Compression::None)
        .with_producer(producer_id, epoch, sequence);
    for i in 0..n {
        b.append(&rill_protocol::batch::RecordInput::new(
            1_000,
            format!("s{sequence}-{i}"),
        ))
        .unwrap();
    }
    b.build().unwrap()
}

#[tokio::test]
async fn idempotent_batches_dedupe_across_restarts_and_refuse_gaps() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(broker.addr).await;
    let Response::InitProducerId(init) = c
        .call(Request::InitProducerId(
            rill_protocol::api::init_producer_id::InitProducerIdRequest {
                transactional_id: None,
                transaction_timeout_ms: -1,
                producer_id: -1,
                producer_epoch: -1,
            },
        ))
        .await
    else {
        panic!()
    };
    assert_eq!(init.error_code, ErrorCode::None);
    let pid = init.producer_id;
    let part = |r: Response| produce_response(r).topics[0].partitions[0].clone();
    let first = part(
        c.call(produce("idem", 0, idempotent_batch(pid, 0, 0, 3), ACKS_ALL))
            .await,
    );
    assert_eq!((first.error_code, first.base_offset), (ErrorCode::None, 0));
    let second = part(
        c.call(produce("idem", 0, idempotent_batch(pid, 0, 3, 2), ACKS_ALL))
            .await,
    );
    assert_eq!(second.base_offset, 3);
    // A retry of the first batch gets its original offset; nothing is appended.
    let retry = part(
        c.call(produce("idem", 0, idempotent_batch(pid, 0, 0, 3), ACKS_ALL))
            .await,
    );
    assert_eq!((retry.error_code, retry.base_offset), (ErrorCode::None, 0));
    assert_eq!(offset_of(&mut c, "idem", 0, LATEST_TIMESTAMP).await.1, 5);
    // A gap is refused.
    let gap = part(
        c.call(produce("idem", 0, idempotent_batch(pid, 0, 9, 1), ACKS_ALL))
            .await,
    );
    assert_eq!(gap.error_code, ErrorCode::OutOfOrderSequence);
    drop(c);

    // The state is rebuilt from the log after a restart.
    let dir = broker.stop().await;
    let broker = TestBroker::start_in(dir, |_| {}).await;
    let mut c = RawClient::connect(broker.addr).await;
    let retry = part(
        c.call(produce("idem", 0, idempotent_batch(pid, 0, 3, 2), ACKS_ALL))
            .await,
    );
    assert_eq!((retry.error_code, retry.base_offset), (ErrorCode::None, 3));
    let next = part(
        c.call(produce("idem", 0, idempotent_batch(pid, 0, 5, 1), ACKS_ALL))
            .await,
    );
    assert_eq!((next.error_code, next.base_offset), (ErrorCode::None, 5));
    // A newer epoch fences the old one.
    let bumped = part(
        c.call(produce("idem", 0, idempotent_batch(pid, 1, 0, 1), ACKS_ALL))
            .await,
    );
    assert_eq!(bumped.error_code, ErrorCode::None);
    let zombie = part(
        c.call(produce("idem", 0, idempotent_batch(pid, 0, 6, 1), ACKS_ALL))
            .await,
    );
    assert_eq!(zombie.error_code, ErrorCode::InvalidProducerEpoch);
    broker.stop().await;
}

#[tokio::test]
async fn internal_topics_are_off_limits_to_clients() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(broker.addr).await;
    let Response::CreateTopics(r) = c.call(create("__consumer_offsets", 1, vec![])).await else {
        panic!()
    };
    assert_eq!(r.topics[0].error_code, ErrorCode::InvalidTopic);
    let r = produce_response(
        c.call(produce(
            "__consumer_offsets",
            0,
            batch("x", 1, 0),
            ACKS_LEADER,
        ))
        .await,
    );
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ErrorCode::InvalidTopic
    );
    let Response::DeleteTopics(d) = c
        .call(Request::DeleteTopics(DeleteTopicsRequest {
            topic_names: vec!["__consumer_offsets".into()],
            timeout_ms: 1000,
        }))
        .await
    else {
        panic!()
    };
    assert_eq!(d.topics[0].error_code, ErrorCode::InvalidTopic);
    broker.stop().await;
}

/// A batch of `records` values of `size` bytes each.
fn sized_batch(records: usize, size: usize) -> bytes::Bytes {
    let mut b = rill_protocol::batch::BatchBuilder::new(rill_protocol::batch::Compression::None);
    for i in 0..records {
        let value = format!("{i:08}{}", "v".repeat(size.saturating_sub(8)));
        b.append(&rill_protocol::batch::RecordInput::new(1_000, value))
            .unwrap();
    }
    b.build().unwrap()
}

/// Whatever the broker accepts fits a fetch response: a batch too large to be fetched
/// back is refused at produce time (it used to be stored, and every fetch of it went
/// unanswered), and a fetch asking for more than a frame gets what fits.
#[tokio::test]
async fn every_accepted_batch_can_be_fetched_back() {
    let broker = TestBroker::start_with(|c| c.max_frame_bytes = 64 * 1024).await;
    assert_eq!(broker.ctx.config.max_batch_bytes(), 48 * 1024);
    let mut c = RawClient::connect(broker.addr).await;
    let too_big = sized_batch(55, 1000);
    assert!(too_big.len() > 48 * 1024 && too_big.len() < 60 * 1024);
    let r = produce_response(c.call(produce("big", 0, too_big, ACKS_ALL)).await);
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ErrorCode::MessageTooLarge
    );
    for round in 0..3 {
        let fits = sized_batch(45, 1000);
        let r = produce_response(c.call(produce("big", 0, fits, ACKS_ALL)).await);
        assert_eq!(r.topics[0].partitions[0].error_code, ErrorCode::None);
        assert_eq!(r.topics[0].partitions[0].base_offset, round * 45);
    }
    let mut asked = fetch("big", 0, 0, 0, 1);
    if let Request::Fetch(f) = &mut asked {
        f.max_bytes = i32::MAX;
        f.topics[0].partitions[0].partition_max_bytes = i32::MAX;
    }
    let f = fetch_response(c.call(asked).await);
    let part = &f.topics[0].partitions[0];
    assert_eq!(part.error_code, ErrorCode::None);
    let values = fetched_values(&f);
    assert_eq!(values.len(), 45, "one whole batch: what fits one frame");
    assert!(values[0].starts_with("00000000"));
    broker.stop().await;
}

/// `min_bytes` 0 answers at once even with nothing to return (Kafka's meaning), instead
/// of waiting out `max_wait`.
#[tokio::test]
async fn fetch_with_min_bytes_zero_does_not_wait() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(broker.addr).await;
    c.call(produce("z", 0, batch("a", 1, 1), ACKS_ALL)).await;
    let asked = Instant::now();
    let f = fetch_response(c.call(fetch("z", 0, 1, 20_000, 0)).await);
    assert!(fetched_values(&f).is_empty());
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "answered long before max_wait (20 s)"
    );
    broker.stop().await;
}

/// A client that sends requests but never reads the answers is disconnected once a
/// response has waited `idle_timeout` to be written, freeing its slot and buffers: it
/// receives what the socket buffers held, then EOF, not all of its answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_disconnected_after_the_idle_timeout() {
    let broker = TestBroker::start_with(|c| {
        c.idle_timeout = Duration::from_millis(1500);
        c.frame_timeout = Duration::from_millis(500);
    })
    .await;
    let mut c = RawClient::connect(broker.addr).await;
    for _ in 0..8 {
        c.call(produce("n", 0, sized_batch(700, 1000), ACKS_ALL))
            .await;
    }
    let requests = 100; // ~70 MB of responses
    for _ in 0..requests {
        c.send(fetch("n", 0, 0, 0, 1)).await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        broker.ctx.metrics.snapshot().connections_open,
        0,
        "the broker closed the stuck connection"
    );
    let mut answered = 0;
    while !c.is_closed().await {
        answered += 1;
    }
    assert!(answered < requests, "{answered} answers, then EOF");
    // Others are served as usual.
    let mut other = RawClient::connect(broker.addr).await;
    let f = fetch_response(other.call(fetch("n", 0, 0, 0, 1)).await);
    assert!(!fetched_values(&f).is_empty());
    broker.stop().await;
}

/// A name repeated in a Metadata request is answered once (a few bytes each must not
/// buy a whole topic's description each), and a request with more array elements than
/// the cap closes its connection without disturbing others.
#[tokio::test]
async fn repeated_names_and_huge_element_counts_do_not_multiply_work() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(broker.addr).await;
    c.call(produce("m", 0, batch("a", 1, 1), ACKS_ALL)).await;
    let repeated = Request::Metadata(MetadataRequest {
        topics: Some(vec!["m".to_string(); 3000]),
        allow_auto_topic_creation: false,
    });
    match c.call(repeated).await {
        Response::Metadata(m) => assert_eq!(m.topics.len(), 1),
        other => panic!("{other:?}"),
    }
    let mut abuser = RawClient::connect(broker.addr).await;
    let huge = Request::Metadata(MetadataRequest {
        topics: Some(vec![
            String::new();
            rill_protocol::wire::REQUEST_ELEMENTS_MAX + 1
        ]),
        allow_auto_topic_creation: false,
    });
    assert!(abuser.try_call(huge).await.is_none(), "connection closed");
    let f = fetch_response(c.call(fetch("m", 0, 0, 0, 1)).await);
    assert_eq!(fetched_values(&f), ["a-0"]);
    broker.stop().await;
}

/// A partition named twice in one ListOffsets request is looked up once; the repeat is
/// answered INVALID_REQUEST (as Kafka does), so repeats cannot multiply batch reads.
#[tokio::test]
async fn list_offsets_answers_a_repeated_partition_once() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(broker.addr).await;
    c.call(produce("lo", 0, batch("a", 3, 5000), ACKS_ALL))
        .await;
    let entry = ListOffsetsPartition {
        partition: 0,
        timestamp: 5001,
    };
    let request = Request::ListOffsets(ListOffsetsRequest {
        isolation_level: 0,
        topics: vec![TopicPartitions {
            name: "lo".into(),
            partitions: vec![entry.clone(), entry.clone(), entry],
        }],
    });
    match c.call(request).await {
        Response::ListOffsets(r) => {
            let p = &r.topics[0].partitions;
            assert_eq!((p[0].error_code, p[0].offset), (ErrorCode::None, 1));
            assert_eq!(p[1].error_code, ErrorCode::InvalidRequest);
            assert_eq!(p[2].error_code, ErrorCode::InvalidRequest);
        }
        other => panic!("{other:?}"),
    }
    broker.stop().await;
}

/// InitProducerId never hands out an id the client names (it could be another
/// producer's): every call gets a fresh id at epoch 0.
#[tokio::test]
async fn init_producer_id_always_issues_a_fresh_id() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(broker.addr).await;
    let init = |producer_id, producer_epoch| {
        Request::InitProducerId(
            rill_protocol::api::init_producer_id::InitProducerIdRequest {
                transactional_id: None,
                transaction_timeout_ms: -1,
                producer_id,
                producer_epoch,
            },
        )
    };
    let Response::InitProducerId(first) = c.call(init(-1, -1)).await else {
        panic!()
    };
    let Response::InitProducerId(named) = c.call(init(first.producer_id, 0)).await else {
        panic!()
    };
    assert_eq!(named.error_code, ErrorCode::None);
    assert_ne!(named.producer_id, first.producer_id, "not the named id");
    assert_eq!(named.producer_epoch, 0);
    broker.stop().await;
}

/// A fetch naming one partition many times (in one topic entry or in repeated topic
/// entries) reads and answers it once: repeats cannot multiply reads or the response.
#[tokio::test]
async fn a_fetch_naming_one_partition_many_times_reads_it_once() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(broker.addr).await;
    for _ in 0..3 {
        c.call(produce("dup", 0, sized_batch(10, 1000), ACKS_ALL))
            .await;
    }
    let mut asked = fetch("dup", 0, 0, 0, 1);
    if let Request::Fetch(f) = &mut asked {
        let once = f.topics[0].clone();
        f.topics[0].partitions = vec![once.partitions[0].clone(); 1000];
        f.topics.extend(std::iter::repeat_n(once, 100));
    }
    let f = fetch_response(c.call(asked).await);
    assert_eq!(f.topics.len(), 1, "one answer per topic");
    assert_eq!(f.topics[0].partitions.len(), 1, "one answer per partition");
    assert_eq!(fetched_values(&f).len(), 30, "the log, once");
    // Nothing stays charged to the buffer budgets once the answer is written.
    let deadline = Instant::now() + Duration::from_secs(10);
    while broker.ctx.buffers.used_bytes() != 0 {
        assert!(
            Instant::now() < deadline,
            "budget released after the response"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    broker.stop().await;
}

/// `max_bytes` bounds the record bytes of the whole response, across partitions; only
/// the first batch may exceed it (so a consumer always progresses).
#[tokio::test]
async fn fetch_max_bytes_holds_across_partitions() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(broker.addr).await;
    c.call(create("wide", 3, Vec::new())).await;
    let batch_bytes = sized_batch(10, 1000).len();
    for partition in 0..3 {
        for _ in 0..3 {
            let r = produce_response(
                c.call(produce("wide", partition, sized_batch(10, 1000), ACKS_ALL))
                    .await,
            );
            assert_eq!(r.topics[0].partitions[0].error_code, ErrorCode::None);
        }
    }
    let max_bytes = 5 * batch_bytes / 2;
    let mut asked = fetch("wide", 0, 0, 0, 1);
    if let Request::Fetch(f) = &mut asked {
        f.max_bytes = max_bytes as i32;
        let one = f.topics[0].partitions[0].clone();
        f.topics[0].partitions = (0..3)
            .map(|partition| rill_protocol::api::fetch::FetchPartition {
                partition,
                ..one.clone()
            })
            .collect();
    }
    let f = fetch_response(c.call(asked).await);
    let sizes: Vec<usize> = f.topics[0]
        .partitions
        .iter()
        .map(|p| p.records.clone().into_bytes().len())
        .collect();
    assert_eq!(sizes.len(), 3);
    assert!(
        sizes.iter().sum::<usize>() <= max_bytes,
        "{sizes:?} exceeds max_bytes {max_bytes}"
    );
    assert_eq!(sizes[0], 2 * batch_bytes, "whole batches that fit");
    // A first batch larger than max_bytes still comes back whole.
    let mut tiny = fetch("wide", 1, 0, 0, 1);
    if let Request::Fetch(f) = &mut tiny {
        f.max_bytes = 1;
    }
    let f = fetch_response(c.call(tiny).await);
    assert_eq!(fetched_values(&f).len(), 10);
    broker.stop().await;
}
