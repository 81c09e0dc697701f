//! Unmodified Kafka clients against a real broker's Kafka listener: kcat, kafka-python
//! 2.x and 3.x, confluent-kafka (librdkafka) and kafkajs, each run from
//! `tests/kafka_clients/` and checked on what it printed (counts, keys, values, headers,
//! timestamps, offsets), plus records crossing between the Kafka and native protocols.
//!
//! The clients are installed by `.ci/run` (see its Kafka clients block). A missing
//! client fails the test; `RILL_KAFKA_CLIENTS_OPTIONAL=1` skips those tests instead, for
//! machines without them.

mod common;
mod kafka_tools;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use kafka_tools::{clients_dir, kcat, python, require};
use rill::broker::testing::TestBroker;
use rill::client::{Producer, ProducerConfig, ProducerRecord};
use serde_json::Value;

/// Longest any one client script may run.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);
/// First timestamp of the records the scripts write (as `records.py`).
const BASE_TIMESTAMP_MS: i64 = 1_700_000_000_000;

async fn broker() -> (TestBroker, SocketAddr) {
    let broker = TestBroker::start_with(|c| {
        c.kafka_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        c.http_listen = None;
    })
    .await;
    let kafka = broker.kafka_addr.expect("the Kafka listener is on");
    (broker, kafka)
}

/// Runs `program args...` in the clients folder; returns its stdout, failing the test on
/// a non-zero exit or the timeout.
async fn run(program: &Path, args: &[&str]) -> String {
    let child = tokio::process::Command::new(program)
        .args(args)
        .current_dir(clients_dir())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(SCRIPT_TIMEOUT, child)
        .await
        .unwrap_or_else(|_| panic!("{} {args:?} timed out", program.display()))
        .expect("client starts");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{} {args:?} failed ({}):\nstdout: {stdout}\nstderr: {}",
        program.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs a Python client script and parses the JSON object it prints last.
async fn script(python: &Path, name: &str, args: &[&str]) -> Value {
    let mut all = vec![name];
    all.extend_from_slice(args);
    let stdout = run(python, &all).await;
    let last = stdout.lines().last().unwrap_or_default();
    let value: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("{name} printed no JSON ({e}): {stdout}"));
    assert_eq!(value["ok"], true, "{name}: {value}");
    value
}

/// Checks the summary of a `roundtrip` scenario: everything produced came back intact.
fn assert_roundtrip(summary: &Value) {
    assert_eq!(summary["produced"], 300, "{summary}");
    assert_eq!(summary["consumed"], 300, "{summary}");
    assert_eq!(summary["problems"], Value::Array(vec![]), "{summary}");
    assert_eq!(summary["first_after_seek"], 7, "{summary}");
    assert_eq!(summary["end_offset_p1"], 100, "{summary}");
    assert_eq!(summary["deleted"], true, "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_2_produces_and_consumes_with_every_codec() {
    let Some(py) = python("kp2") else { return };
    let (broker, kafka) = broker().await;
    let summary = script(
        &py,
        "kafka_python_client.py",
        &["roundtrip", &kafka.to_string(), "kp2"],
    )
    .await;
    assert!(
        summary["client"]
            .as_str()
            .unwrap()
            .starts_with("kafka-python 2."),
        "{summary}"
    );
    assert_roundtrip(&summary);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_3_produces_and_consumes_with_every_codec() {
    let Some(py) = python("kp3") else { return };
    let (broker, kafka) = broker().await;
    let summary = script(
        &py,
        "kafka_python_client.py",
        &["roundtrip", &kafka.to_string(), "kp3"],
    )
    .await;
    assert!(
        summary["client"]
            .as_str()
            .unwrap()
            .starts_with("kafka-python 3."),
        "{summary}"
    );
    assert_roundtrip(&summary);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_kafka_produces_and_consumes_with_every_codec() {
    let Some(py) = python("ck") else { return };
    let (broker, kafka) = broker().await;
    let summary = script(
        &py,
        "confluent_client.py",
        &["roundtrip", &kafka.to_string(), "ck"],
    )
    .await;
    assert_roundtrip(&summary);
    broker.stop().await;
}

/// The bytes `records.py` writes as record `i` of `tag`.
fn expected(tag: &str, i: i64) -> (Bytes, Bytes, Vec<(String, Option<Bytes>)>, i64) {
    let key = Bytes::from(format!("{tag}-k{i}"));
    let mut value = vec![0x00, 0xff];
    for _ in 0..(1 + i % 5) {
        value.extend_from_slice(format!("{tag}-value-{i}").as_bytes());
    }
    let headers = vec![
        ("trace".to_string(), Some(Bytes::from(format!("t{i}")))),
        ("empty".to_string(), Some(Bytes::new())),
    ];
    (key, Bytes::from(value), headers, BASE_TIMESTAMP_MS + i)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_cross_between_kafka_and_native_clients_byte_for_byte() {
    let Some(py) = python("kp3") else { return };
    let (broker, kafka) = broker().await;
    const COUNT: i64 = 40;
    // Kafka client -> native client.
    let produced = script(
        &py,
        "kafka_python_client.py",
        &[
            "produce",
            &kafka.to_string(),
            "to-native",
            &COUNT.to_string(),
        ],
    )
    .await;
    let offsets: Vec<i64> = (0..COUNT).collect();
    assert_eq!(produced["offsets"], serde_json::json!(offsets));
    let ends = BTreeMap::from([(0, COUNT)]);
    let read = common::read_all(broker.addr, "to-native", &ends, Duration::from_secs(30)).await;
    let records = &read[&0];
    assert_eq!(records.len(), COUNT as usize);
    for (i, r) in records.iter().enumerate() {
        let (key, value, headers, ts) = expected("cross", i as i64);
        assert_eq!(r.offset, i as i64);
        assert_eq!(r.key.as_ref(), Some(&key));
        assert_eq!(r.value.as_ref(), Some(&value));
        assert_eq!(r.headers, headers);
        assert_eq!(r.timestamp, ts);
    }
    // Native client -> Kafka client.
    let config = ProducerConfig::builder(broker.addr.to_string())
        .build()
        .unwrap();
    let producer = Producer::connect(config).await.unwrap();
    let mut deliveries = Vec::new();
    for i in 0..COUNT {
        let (key, value, headers, ts) = expected("native", i);
        let mut record = ProducerRecord::new("from-native", value)
            .with_key(key)
            .with_partition(0)
            .with_timestamp(ts);
        for (k, v) in headers {
            record = record.with_header(k, v.unwrap_or_default());
        }
        deliveries.push(producer.send(record).await.unwrap());
    }
    for d in deliveries {
        d.await.unwrap();
    }
    producer.close().await.unwrap();
    let consumed = script(
        &py,
        "kafka_python_client.py",
        &[
            "consume",
            &kafka.to_string(),
            "from-native",
            &COUNT.to_string(),
        ],
    )
    .await;
    assert_eq!(consumed["consumed"], COUNT, "{consumed}");
    assert_eq!(consumed["problems"], Value::Array(vec![]), "{consumed}");
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_lists_produces_and_consumes() {
    let Some(kcat) = kcat() else { return };
    let (broker, kafka) = broker().await;
    let bootstrap = kafka.to_string();
    let input: String = (0..20).map(|i| format!("k{i}:v{i}\n")).collect();
    let mut child = tokio::process::Command::new(&kcat)
        .args([
            "-b", &bootstrap, "-P", "-t", "kc", "-K:", "-H", "h1=v1", "-z", "lz4",
        ])
        .stdin(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kcat starts");
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).await.unwrap();
    }
    let status = tokio::time::timeout(SCRIPT_TIMEOUT, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "kcat -P failed: {status}");
    let listing = run(&kcat, &["-b", &bootstrap, "-L", "-J"]).await;
    let listing: Value = serde_json::from_str(listing.trim()).expect("kcat -L -J prints JSON");
    let topic = listing["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == "kc")
        .unwrap_or_else(|| panic!("kc not listed: {listing}"));
    assert_eq!(topic["partitions"].as_array().unwrap().len(), 1);
    let consumed = run(&kcat, &["-b", &bootstrap, "-C", "-t", "kc", "-e", "-J"]).await;
    let lines: Vec<Value> = consumed
        .lines()
        .map(|l| serde_json::from_str(l).expect("kcat -J line"))
        .collect();
    assert_eq!(lines.len(), 20, "{consumed}");
    for (i, m) in lines.iter().enumerate() {
        assert_eq!(m["offset"], i as i64);
        assert_eq!(m["key"], format!("k{i}"));
        assert_eq!(m["payload"], format!("v{i}"));
        assert_eq!(m["headers"], serde_json::json!(["h1", "v1"]));
    }
    // What kcat wrote, the native client reads.
    let ends = BTreeMap::from([(0, 20)]);
    let read = common::read_all(broker.addr, "kc", &ends, Duration::from_secs(30)).await;
    for (i, r) in read[&0].iter().enumerate() {
        assert_eq!(r.key.as_deref(), Some(format!("k{i}").as_bytes()));
        assert_eq!(r.value.as_deref(), Some(format!("v{i}").as_bytes()));
        assert_eq!(r.headers, vec![("h1".to_string(), Some(Bytes::from("v1")))]);
    }
    broker.stop().await;
}

/// Checks the summary of a `group` scenario: three members split six partitions, two
/// take over when one leaves, and a later member resumes at the committed offsets.
fn assert_group(s: &Value) {
    let sizes = |v: &Value| -> Vec<usize> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_array().unwrap().len())
            .collect()
    };
    assert_eq!(sizes(&s["three_way"]), vec![2, 2, 2], "{s}");
    let two = sizes(&s["two_way"]);
    assert_eq!((two.len(), two.iter().sum::<usize>()), (2, 6), "{s}");
    assert_eq!(s["errors"], Value::Array(vec![]), "{s}");
    // The late member read only the 60 records produced after the commits: 10 per
    // partition at offsets 100..109.
    assert_eq!(s["resumed_count"], 60, "{s}");
    assert_eq!(
        s["resumed_offsets"],
        serde_json::json!((100..110).collect::<Vec<_>>()),
        "{s}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_kafka_group_of_three_splits_partitions_survives_a_leave_and_resumes() {
    let Some(py) = python("ck") else { return };
    let (broker, kafka) = broker().await;
    let s = script(
        &py,
        "confluent_client.py",
        &["group", &kafka.to_string(), "grp"],
    )
    .await;
    assert_group(&s);
    assert_eq!(s["state_after"], "ConsumerGroupState.EMPTY", "{s}");
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_kafka_kip848_group_of_three_splits_partitions_survives_a_leave_and_resumes() {
    let Some(py) = python("ck") else { return };
    let (broker, kafka) = broker().await;
    let s = script(
        &py,
        "confluent_client.py",
        &["group-kip848", &kafka.to_string(), "grp"],
    )
    .await;
    // Broker-side assignment moves partitions one step at a time: the script waited
    // until three non-empty member sets covered the six partitions without overlap.
    let sizes = |v: &Value| -> Vec<usize> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_array().unwrap().len())
            .collect()
    };
    let three = sizes(&s["three_way"]);
    assert_eq!((three.len(), three.iter().sum::<usize>()), (3, 6), "{s}");
    let two = sizes(&s["two_way"]);
    assert_eq!((two.len(), two.iter().sum::<usize>()), (2, 6), "{s}");
    assert_eq!(s["errors"], Value::Array(vec![]), "{s}");
    assert_eq!(s["resumed_count"], 60, "{s}");
    assert_eq!(
        s["resumed_offsets"],
        serde_json::json!((100..110).collect::<Vec<_>>()),
        "{s}"
    );
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_2_group_of_three_splits_partitions_survives_a_leave_and_resumes() {
    let Some(py) = python("kp2") else { return };
    let (broker, kafka) = broker().await;
    let s = script(
        &py,
        "kafka_python_client.py",
        &["group", &kafka.to_string(), "grp"],
    )
    .await;
    assert_group(&s);
    assert_eq!(s["listed"], true, "{s}");
    broker.stop().await;
}

/// kafka-python 3.0.12 has a client-side stall: about one run in ten to twenty-five
/// (more under CPU load), a member stops sending any request right after its SyncGroup
/// answer (the broker's trace shows every request it received answered), so the
/// group never splits three ways. One fresh attempt is allowed for that stall only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_3_group_of_three_splits_partitions_survives_a_leave_and_resumes() {
    let Some(py) = python("kp3") else { return };
    for attempt in 1..=2 {
        let (broker, kafka) = broker().await;
        let bootstrap = kafka.to_string();
        let args = ["kafka_python_client.py", "group", bootstrap.as_str(), "grp"];
        let out = tokio::process::Command::new(&py)
            .args(args)
            .current_dir(clients_dir())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(SCRIPT_TIMEOUT, out)
            .await
            .unwrap()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stalled = stdout.contains("until three members split six partitions");
        if !out.status.success() && stalled && attempt == 1 {
            eprintln!("kafka-python 3 member stalled (client-side); retrying once: {stdout}");
            broker.stop().await;
            continue;
        }
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{stdout}\n{stderr}");
        let s: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
        assert_group(&s);
        assert_eq!(s["listed"], true, "{s}");
        broker.stop().await;
        return;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafkajs_produces_and_consumes_in_a_group() {
    let node = PathBuf::from("/usr/bin/node");
    let module = clients_dir().join("node/node_modules/kafkajs/package.json");
    let (Some(node), Some(_)) = (require(node, "node"), require(module, "kafkajs (npm ci)")) else {
        return;
    };
    let (broker, kafka) = broker().await;
    let stdout = run(
        &node,
        &["node/kafkajs_client.js", &kafka.to_string(), "kjs"],
    )
    .await;
    let s: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("kafkajs printed no JSON ({e}): {stdout}"));
    assert_eq!(s["ok"], true, "{s}");
    assert_eq!(s["consumed"], 40, "{s}");
    assert_eq!(s["problems"], Value::Array(vec![]), "{s}");
    let offsets: Vec<i64> = (0..20).collect();
    assert_eq!(s["offsets_p0"], serde_json::json!(offsets), "{s}");
    assert_eq!(s["offsets_p1"], serde_json::json!(offsets), "{s}");
    assert_eq!(s["deleted"], true, "{s}");
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_cross_between_kafka_and_native_groups() {
    let Some(py) = python("ck") else { return };
    let (broker, kafka) = broker().await;
    let bootstrap = kafka.to_string();
    // 20 records in a one-partition topic, written natively.
    let config = ProducerConfig::builder(broker.addr.to_string())
        .build()
        .unwrap();
    let producer = Producer::connect(config).await.unwrap();
    for i in 0..20 {
        let record = ProducerRecord::new("offsets", format!("v{i}")).with_partition(0);
        producer.send(record).await.unwrap().await.unwrap();
    }
    producer.close().await.unwrap();
    // A Kafka client commits 5 for group "from-kafka"; a native group member of the
    // same name starts reading there.
    let c = script(
        &py,
        "confluent_client.py",
        &["commit", &bootstrap, "offsets", "from-kafka", "0", "5"],
    )
    .await;
    assert_eq!(c["committed"], 5, "{c}");
    let mut consumer = native_group_member(broker.addr, "from-kafka").await;
    let first = first_record_offset(&mut consumer).await;
    assert_eq!(first, 5);
    // The native member commits 12 and leaves; a Kafka client of that group sees 12.
    let tp = rill::client::TopicPartition::new("offsets", 0);
    consumer.commit_offsets(&[(tp, 12)]).await.unwrap();
    consumer.close().await.unwrap();
    let c = script(
        &py,
        "confluent_client.py",
        &["committed", &bootstrap, "offsets", "from-kafka", "0"],
    )
    .await;
    assert_eq!(c["committed"], 12, "{c}");
    broker.stop().await;
}

async fn native_group_member(addr: SocketAddr, group: &str) -> rill::client::Consumer {
    let config = rill::client::ConsumerConfig::builder(addr.to_string())
        .enable_auto_commit(false)
        .build()
        .unwrap();
    let mut consumer = rill::client::Consumer::connect(config).await.unwrap();
    consumer.subscribe(group, &["offsets"]).await.unwrap();
    consumer
}

async fn first_record_offset(consumer: &mut rill::client::Consumer) -> i64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no record within 30 s"
        );
        if let Some(r) = consumer
            .poll(Duration::from_millis(500))
            .await
            .unwrap()
            .first()
        {
            return r.offset;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_kafka_admin_configs_cluster_and_partitions() {
    let Some(py) = python("ck") else { return };
    let (broker, kafka) = broker().await;
    let s = script(
        &py,
        "confluent_client.py",
        &["configs", &kafka.to_string(), "cfg"],
    )
    .await;
    assert!(
        s["topic_config_count"].as_u64().unwrap() >= 29,
        "full default list: {s}"
    );
    assert_eq!(s["retention_before"], "604800000", "{s}");
    assert_eq!(s["cleanup_policy"], "delete", "{s}");
    assert_eq!(s["retention_after"], "3600000", "{s}");
    assert_eq!(
        s["retention_after_source"], "1",
        "dynamic topic config: {s}"
    );
    assert_eq!(s["refused"], "INVALID_CONFIG", "{s}");
    assert_eq!(s["broker_auto_create"], "true", "{s}");
    assert_eq!(s["cluster_id"], "rill", "{s}");
    assert_eq!(s["nodes"], serde_json::json!([kafka.to_string()]), "{s}");
    assert_eq!(s["partitions_after_grow"], 5, "{s}");
    assert_eq!(s["shrink_refused"], "INVALID_PARTITIONS", "{s}");
    // The change reached the native topic settings.
    let topic = broker.ctx.topics.get("cfg").expect("topic");
    assert_eq!(topic.log_config.retention_ms, Some(3_600_000));
    assert_eq!(topic.partitions.len(), 5);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kip848_kafka_consumer_and_native_consumer_share_one_group() {
    let Some(py) = python("ck") else { return };
    let (broker, kafka) = broker().await;
    broker
        .ctx
        .topics
        .create("mixed", Some(4), BTreeMap::new())
        .unwrap();
    let config = ProducerConfig::builder(broker.addr.to_string())
        .build()
        .unwrap();
    let producer = Producer::connect(config).await.unwrap();
    for p in 0..4 {
        for i in 0..5 {
            let record = ProducerRecord::new("mixed", format!("v{p}-{i}")).with_partition(p);
            producer.send(record).await.unwrap().await.unwrap();
        }
    }
    producer.close().await.unwrap();
    let config = rill::client::ConsumerConfig::builder(broker.addr.to_string())
        .enable_auto_commit(false)
        .auto_offset_reset(rill::client::AutoOffsetReset::Earliest)
        .build()
        .unwrap();
    let mut native = rill::client::Consumer::connect(config).await.unwrap();
    native.subscribe("mixed-group", &["mixed"]).await.unwrap();
    // Alone in the group, the native member reads all four partitions.
    let mut native_partitions = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while native_partitions.len() < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "native member read {native_partitions:?}"
        );
        for r in native.poll(Duration::from_millis(200)).await.unwrap() {
            native_partitions.insert(r.partition);
        }
    }
    // The Kafka member joins the same group; the native one keeps polling (and so
    // heartbeating) until the Kafka member holds half the partitions.
    let kafka_member = tokio::spawn({
        let py = py.clone();
        let bootstrap = kafka.to_string();
        async move {
            script(
                &py,
                "confluent_client.py",
                &["join848", &bootstrap, "mixed", "mixed-group", "2"],
            )
            .await
        }
    });
    while !kafka_member.is_finished() {
        native.poll(Duration::from_millis(200)).await.unwrap();
    }
    let s = kafka_member.await.unwrap();
    let held: Vec<i32> = serde_json::from_value(s["held"].clone()).unwrap();
    // The broker split the four partitions between the two members.
    assert_eq!(held.len(), 2, "{s}");
    native.close().await.unwrap();
    broker.stop().await;
}
