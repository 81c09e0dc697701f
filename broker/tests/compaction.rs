//! Compacted topics end to end: a real broker whose housekeeping runs the log cleaner.
//!
//! - 100,000 updates over 1,000 keys shrink to about 1,000 records, the same map is read
//!   back before and after a restart, and offsets never change;
//! - keyless records are refused on compacted topics (INVALID_RECORD) only;
//! - `cleanup.policy` set live turns compaction on;
//! - `rilld` aborted (as by `kill -9`) at every step of a pass loses no latest value, and
//!   the restarted broker finishes the job.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use common::child::start_rilld_env;
use common::*;
use rill_protocol::api::alter_topic_configs::AlterTopicConfigsRequest;
use rill_protocol::api::common::ConfigEntry;
use rill_protocol::api::create_topics::{CreatableTopic, CreateTopicsRequest};
use rill_protocol::api::describe_topic_configs::DescribeTopicConfigsRequest;
use rill_protocol::api::produce::ACKS_ALL;
use rill_protocol::api::{Request, Response};
use rill_protocol::batch::{BatchBuilder, BatchIter, Compression, RecordInput};
use rill_protocol::error_code::ErrorCode;

/// Latest value per key, as a consumer folding the topic from the start sees it.
type Model = BTreeMap<String, String>;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Lets records carry timestamps any distance ahead of the broker's clock.
const FUTURE_TIMESTAMPS_ALLOWED: (&str, &str) =
    ("message.timestamp.after.max.ms", "9223372036854775807");

async fn create(client: &mut RawClient, topic: &str, configs: &[(&str, &str)]) {
    let request = Request::CreateTopics(CreateTopicsRequest {
        topics: vec![CreatableTopic {
            replication_factor: -1,
            name: topic.into(),
            num_partitions: 1,
            // Records stamped days ahead stand in for days passing (segment.ms, lags), so
            // the topic accepts future timestamps.
            configs: configs
                .iter()
                .chain(&[FUTURE_TIMESTAMPS_ALLOWED])
                .map(|(k, v)| ConfigEntry::new(*k, *v))
                .collect(),
        }],
        timeout_ms: 5000,
        validate_only: false,
    });
    match client.call(request).await {
        Response::CreateTopics(r) => assert_eq!(r.topics[0].error_code, ErrorCode::None, "{r:?}"),
        other => panic!("{other:?}"),
    }
}

/// One batch of keyed records stamped `timestamp_ms`.
fn keyed_batch(records: &[(String, String)], timestamp_ms: i64) -> Bytes {
    let mut builder = BatchBuilder::new(Compression::None);
    for (key, value) in records {
        let record = RecordInput::new(timestamp_ms, value.clone()).with_key(key.clone());
        builder.append(&record).unwrap();
    }
    builder.build().unwrap()
}

async fn produce_ok(client: &mut RawClient, topic: &str, records: Bytes) -> i64 {
    let r = produce_response(client.call(produce(topic, 0, records, ACKS_ALL)).await);
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, ErrorCode::None, "{p:?}");
    p.base_offset
}

/// Writes `versions` rounds of updates to `keys` keys, then one record stamped past
/// `segment.ms` so that the active segment rolls and every update becomes cleanable.
async fn write_updates(client: &mut RawClient, topic: &str, keys: usize, versions: usize) -> Model {
    let mut model = Model::new();
    let now = now_ms();
    for version in 0..versions {
        let records: Vec<_> = (0..keys)
            .map(|k| (format!("key-{k:04}"), format!("value-{k:04}-{version}")))
            .collect();
        model.extend(records.iter().cloned());
        produce_ok(client, topic, keyed_batch(&records, now)).await;
    }
    let eight_days_ms = 8 * 24 * 3600 * 1000;
    let marker = [("marker".to_string(), "roll".to_string())];
    produce_ok(client, topic, keyed_batch(&marker, now + eight_days_ms)).await;
    model.insert("marker".into(), "roll".into());
    model
}

/// Every record from offset 0 as (offset, key, value), checking that batches are
/// contiguous and offsets strictly increase; and the high watermark.
async fn read_all(addr: SocketAddr, topic: &str) -> (Vec<(i64, String, Option<String>)>, i64) {
    let mut client = RawClient::connect(addr).await;
    let (mut out, mut offset, mut last) = (Vec::new(), 0i64, -1i64);
    loop {
        let f = fetch_response(client.call(fetch(topic, 0, offset, 0, 0)).await);
        let p = &f.topics[0].partitions[0];
        assert_eq!(p.error_code, ErrorCode::None, "{p:?}");
        if offset >= p.high_watermark {
            return (out, p.high_watermark);
        }
        for batch in BatchIter::new(p.records.clone().into_bytes(), 64 << 20) {
            let batch = batch.unwrap();
            assert_eq!(batch.header().base_offset, offset, "contiguous batches");
            for r in batch.records().unwrap() {
                let r = r.unwrap();
                assert!(r.offset > last, "offsets strictly increase");
                last = r.offset;
                let text = |b: Option<Bytes>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
                out.push((r.offset, text(r.key).unwrap(), text(r.value)));
            }
            offset = batch.header().next_offset();
        }
    }
}

fn fold(records: &[(i64, String, Option<String>)]) -> Model {
    let mut map = Model::new();
    for (_, key, value) in records {
        match value {
            Some(v) => map.insert(key.clone(), v.clone()),
            None => map.remove(key),
        };
    }
    map
}

/// Waits (deadline) until the topic holds at most `records` records; returns them.
async fn wait_compacted(
    addr: SocketAddr,
    topic: &str,
    records: usize,
) -> Vec<(i64, String, Option<String>)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (all, _) = read_all(addr, topic).await;
        if all.len() <= records {
            return all;
        }
        assert!(
            Instant::now() < deadline,
            "still {} records after 60 s",
            all.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn describe(client: &mut RawClient, topic: &str) -> BTreeMap<String, String> {
    let request = Request::DescribeTopicConfigs(DescribeTopicConfigsRequest {
        topics: vec![topic.into()],
    });
    match client.call(request).await {
        Response::DescribeTopicConfigs(r) => r.topics[0]
            .configs
            .iter()
            .map(|c| (c.key.clone(), c.value.clone().unwrap_or_default()))
            .collect(),
        other => panic!("{other:?}"),
    }
}

/// The body of `GET /metrics`.
async fn scrape(addr: SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = "GET /metrics HTTP/1.1\r\nHost: rill\r\nConnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("metrics in time")
        .unwrap();
    String::from_utf8(raw).unwrap()
}

/// The value of the first sample whose line starts with `name`.
fn metric(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("{name} missing:\n{metrics}"))
}

fn fast_housekeeping(c: &mut rill_broker::config::BrokerConfig) {
    c.housekeeping_interval = Duration::from_millis(50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_shrink_to_one_record_per_key_and_survive_a_restart() {
    let broker = TestBroker::start_with(fast_housekeeping).await;
    let mut client = RawClient::connect(broker.addr).await;
    let compacted = [("cleanup.policy", "compact"), ("segment.bytes", "262144")];
    create(&mut client, "prices", &compacted).await;
    let model = write_updates(&mut client, "prices", 1_000, 100).await;
    let records = wait_compacted(broker.addr, "prices", 1_001).await;
    assert_eq!(fold(&records), model);
    assert_eq!(records.len(), 1_001, "one record per key, and the marker");
    let (_, hw) = read_all(broker.addr, "prices").await;
    assert_eq!(hw, 100_001, "offsets never change");
    let configs = describe(&mut client, "prices").await;
    assert_eq!(configs["cleanup.policy"], "compact");
    assert!(configs.contains_key("dirty.ratio"), "{configs:?}");
    // The pass's counters are added once it ends, just after its last swap.
    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let metrics = scrape(broker.http_addr.expect("http endpoint")).await;
        if metric(&metrics, "rill_cleaner_records_removed_total") >= 99_000.0 {
            break metrics;
        }
        assert!(Instant::now() < deadline, "cleaner counters:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(metric(&metrics, "rill_cleaner_passes_total") >= 1.0);
    assert!(metric(&metrics, "rill_cleaner_bytes_removed_total") > 0.0);
    let ratio = metric(
        &metrics,
        "rill_partition_dirty_ratio{topic=\"prices\",partition=\"0\"}",
    );
    assert!((0.0..=1.0).contains(&ratio));

    let dir = broker.stop().await;
    let broker = TestBroker::start_in(dir, fast_housekeeping).await;
    let (after, hw) = read_all(broker.addr, "prices").await;
    assert_eq!(hw, 100_001);
    assert_eq!(after, records, "a new consumer reads the same records back");
    assert_eq!(fold(&after), model);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_records_are_refused_only_on_compacted_topics() {
    let broker = TestBroker::start().await;
    let mut client = RawClient::connect(broker.addr).await;
    create(
        &mut client,
        "state",
        &[("cleanup.policy", "compact,delete")],
    )
    .await;
    create(&mut client, "events", &[]).await;
    let keyless = {
        let mut b = BatchBuilder::new(Compression::Lz4);
        b.append(&RecordInput::new(1, "with").with_key("k"))
            .unwrap();
        b.append(&RecordInput::new(1, "without")).unwrap();
        b.build().unwrap()
    };
    let r = produce_response(
        client
            .call(produce("state", 0, keyless.clone(), ACKS_ALL))
            .await,
    );
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, ErrorCode::InvalidRecord, "{p:?}");
    assert!(
        p.error_message
            .as_deref()
            .unwrap_or("")
            .contains("needs a key"),
        "{p:?}"
    );
    produce_ok(&mut client, "events", keyless).await;
    let keyed = keyed_batch(&[("k".into(), "v".into())], 1);
    assert_eq!(
        produce_ok(&mut client, "state", keyed).await,
        0,
        "nothing of the refused batch was written"
    );
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_policy_set_live_turns_compaction_on() {
    let broker = TestBroker::start_with(fast_housekeeping).await;
    let mut client = RawClient::connect(broker.addr).await;
    create(&mut client, "cfg", &[("segment.bytes", "65536")]).await;
    let model = write_updates(&mut client, "cfg", 100, 50).await;
    let (before, _) = read_all(broker.addr, "cfg").await;
    assert_eq!(
        before.len(),
        5_001,
        "a delete-policy topic is not compacted"
    );
    let alter = Request::AlterTopicConfigs(AlterTopicConfigsRequest {
        topic: "cfg".into(),
        configs: vec![ConfigEntry::new("cleanup.policy", "compact")],
    });
    match client.call(alter).await {
        Response::AlterTopicConfigs(r) => assert_eq!(r.error_code, ErrorCode::None, "{r:?}"),
        other => panic!("{other:?}"),
    }
    let after = wait_compacted(broker.addr, "cfg", 101).await;
    assert_eq!(fold(&after), model);
    broker.stop().await;
}

/// Every crash point of a pass, each in its own broker process: the process aborts there,
/// the restarted broker serves every latest value, then finishes compacting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_any_step_of_a_pass_loses_no_latest_value() {
    let points = [
        "cleaned-written",
        "swap-renamed",
        "log-replaced",
        "indexes-written",
        "pass-done",
    ];
    for point in points {
        let dir = tempfile::tempdir().unwrap();
        let env = [("RILL_CLEANER_CRASH_AT", point)];
        let (mut child, addr) = start_rilld_env(dir.path(), &[], &env).await;
        let mut client = RawClient::connect(addr).await;
        create(
            &mut client,
            "crashy",
            &[("cleanup.policy", "compact"), ("segment.bytes", "16384")],
        )
        .await;
        let model = write_updates(&mut client, "crashy", 200, 40).await;
        let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
            .await
            .unwrap_or_else(|_| panic!("rilld did not reach crash point {point}"))
            .unwrap();
        assert!(!status.success(), "{point}: rilld aborted ({status})");

        let (mut child, addr) = start_rilld_env(dir.path(), &[], &[]).await;
        let (records, hw) = read_all(addr, "crashy").await;
        assert_eq!(fold(&records), model, "after a crash at {point}");
        assert_eq!(hw, 8_001, "{point}");
        let compacted = wait_compacted(addr, "crashy", 201).await;
        assert_eq!(fold(&compacted), model, "{point}: compacted after restart");
        for leftover in std::fs::read_dir(dir.path().join("crashy-0")).unwrap() {
            let name = leftover.unwrap().file_name().into_string().unwrap();
            assert!(
                !name.ends_with(".cleaned") && !name.ends_with(".swap"),
                "{point}: {name}"
            );
        }
        child.kill().await.unwrap();
    }
}
