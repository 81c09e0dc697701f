//! The operator's endpoint end to end: produce and consume over raw frames, scrape
//! `/metrics` over HTTP, parse it with a Prometheus text parser, and check the numbers
//! against what the test did; `/ready` during recovery; retention and group-lag metrics;
//! config reload.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use rill_broker::config::{Args, BrokerConfig};
use rill_broker::metrics::GroupOffset;
use rill_broker::reload::Reloader;
use rill_broker::server::http::{HttpEndpoint, Telemetry};
use rill_broker::server::{housekeeping, Server};
use rill_broker::shutdown::ShutdownSignal;
use rill_broker::storage::FlushPolicy;
use rill_protocol::api::common::TopicPartitions;
use rill_protocol::api::offset_commit::{
    OffsetCommitPartition, OffsetCommitRequest, SIMPLE_COMMIT_EPOCH,
};
use rill_protocol::api::produce::ACKS_LEADER;
use rill_protocol::api::{Request, Response};
use rill_protocol::error_code::ErrorCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// GETs `path` over a fresh HTTP/1.1 connection; returns the status code and body.
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: rill\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("HTTP answer in time")
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP head and body");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

/// A parsed scrape.
struct Scrape(prometheus_parse::Scrape);

impl Scrape {
    async fn fetch(addr: SocketAddr) -> Scrape {
        let (status, body) = http_get(addr, "/metrics").await;
        assert_eq!(status, 200, "{body}");
        assert!(
            body.ends_with("# EOF\n"),
            "an OpenMetrics exposition ends with # EOF"
        );
        let lines = body.lines().map(|l| Ok(l.to_string()));
        Scrape(prometheus_parse::Scrape::parse(lines).unwrap())
    }

    /// The value of the sample named `metric` whose labels include `labels`.
    fn get(&self, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.0
            .samples
            .iter()
            .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
            .and_then(|s| match &s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => Some(*v),
                _ => None,
            })
    }

    fn value(&self, metric: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(metric, labels)
            .unwrap_or_else(|| panic!("no sample {metric} {labels:?}"))
    }
}

const TOPIC_M0: &[(&str, &str)] = &[("topic", "m"), ("partition", "0")];

#[tokio::test]
async fn scraped_metrics_match_what_the_client_did() {
    let broker = TestBroker::start_with(|c| c.topic_defaults.flush = FlushPolicy::Always).await;
    let http = broker.http_addr.expect("HTTP endpoint on");
    let mut c = RawClient::connect(broker.addr).await;
    let mut bytes_in = 0;
    for (i, n) in [3usize, 4, 5].into_iter().enumerate() {
        let records = batch("v", n, 1000 * i as i64);
        bytes_in += records.len();
        let r = produce_response(c.call(produce("m", 0, records, ACKS_LEADER)).await);
        assert_eq!(r.topics[0].partitions[0].error_code, ErrorCode::None);
    }
    let r = produce_response(c.call(produce("m", 7, batch("x", 1, 0), ACKS_LEADER)).await);
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ErrorCode::UnknownTopicOrPartition
    );
    let f = fetch_response(c.call(fetch("m", 0, 0, 0, 0)).await);
    assert_eq!(fetched_values(&f).len(), 12);
    let f = fetch_response(c.call(fetch("m", 0, 1000, 0, 0)).await);
    assert_eq!(
        f.topics[0].partitions[0].error_code,
        ErrorCode::OffsetOutOfRange
    );

    let s = Scrape::fetch(http).await;
    assert_eq!(s.value("rill_partition_messages_in_total", TOPIC_M0), 12.0);
    assert_eq!(
        s.value("rill_partition_bytes_in_total", TOPIC_M0),
        bytes_in as f64
    );
    assert_eq!(s.value("rill_partition_messages_out_total", TOPIC_M0), 12.0);
    assert_eq!(
        s.value("rill_partition_bytes_out_total", TOPIC_M0),
        bytes_in as f64
    );
    assert_eq!(s.value("rill_partition_high_watermark", TOPIC_M0), 12.0);
    assert_eq!(s.value("rill_partition_log_start_offset", TOPIC_M0), 0.0);
    assert_eq!(
        s.value("rill_partition_size_bytes", TOPIC_M0),
        bytes_in as f64
    );
    assert_eq!(s.value("rill_partition_segments", TOPIC_M0), 1.0);
    assert_eq!(
        s.value("rill_partition_recovery_truncated_bytes_total", TOPIC_M0),
        0.0
    );

    let produce_api = [("api", "Produce")];
    assert_eq!(s.value("rill_api_requests_total", &produce_api), 4.0);
    assert_eq!(s.value("rill_api_requests_total", &[("api", "Fetch")]), 2.0);
    assert_eq!(
        s.value("rill_api_requests_total", &[("api", "Metadata")]),
        0.0
    );
    let unknown = ErrorCode::UnknownTopicOrPartition.name();
    let errors = [("api", "Produce"), ("code", unknown)];
    assert_eq!(s.value("rill_api_errors_total", &errors), 1.0);
    let errors = [
        ("api", "Fetch"),
        ("code", ErrorCode::OffsetOutOfRange.name()),
    ];
    assert_eq!(s.value("rill_api_errors_total", &errors), 1.0);
    assert_eq!(
        s.value("rill_api_request_duration_seconds_count", &produce_api),
        4.0
    );

    assert_eq!(s.value("rill_connections_open", &[]), 1.0);
    assert_eq!(s.value("rill_connections_accepted_total", &[]), 1.0);
    assert_eq!(s.value("rill_connections_refused_total", &[]), 0.0);
    assert_eq!(s.value("rill_ready", &[]), 1.0);
    // flush=always fsyncs every append (the histogram is process-wide: at least ours).
    let fsyncs = s.value(
        "rill_storage_fsync_duration_seconds_count",
        &[("file", "segment")],
    );
    assert!(fsyncs >= 3.0, "{fsyncs}");
    assert!(s.value("process_resident_memory_bytes", &[]) > 0.0);
    assert!(s.value("process_open_fds", &[]) > 0.0);
    assert!(s.value("rill_uptime_seconds", &[]) >= 0.0);

    drop(c);
    let (status, _) = http_get(http, "/health").await;
    assert_eq!(status, 200);
    let (status, _) = http_get(http, "/nope").await;
    assert_eq!(status, 404);
    broker.stop().await;
}

#[tokio::test]
async fn ready_is_503_until_recovery_finished_and_listener_accepts() {
    // Data to recover.
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(broker.addr).await;
    c.call(produce("m", 0, batch("r", 5, 0), ACKS_LEADER)).await;
    drop(c);
    let dir = broker.stop().await;

    // The same order as `server::start`, one step at a time: HTTP first, then recovery
    // (`bind_observed`), then serving.
    let (signal, shutdown) = ShutdownSignal::new();
    let telemetry = Telemetry::new();
    let endpoint = HttpEndpoint::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let http = endpoint.local_addr();
    let http_task = tokio::spawn(endpoint.serve(telemetry.clone(), None, signal.subscribe()));
    assert_eq!(http_get(http, "/ready").await.0, 503);
    assert_eq!(http_get(http, "/health").await.0, 200);
    let s = Scrape::fetch(http).await;
    assert_eq!(s.value("rill_ready", &[]), 0.0);
    assert!(
        s.get("rill_partition_high_watermark", TOPIC_M0).is_none(),
        "no topics yet"
    );

    let config = BrokerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: dir.path().to_path_buf(),
        http_listen: None,
        ..BrokerConfig::default()
    };
    let server = Server::bind_observed(config, telemetry.clone())
        .await
        .unwrap();
    assert_eq!(
        http_get(http, "/ready").await.0,
        503,
        "recovered but not serving yet"
    );
    let s = Scrape::fetch(http).await;
    assert_eq!(s.value("rill_partition_high_watermark", TOPIC_M0), 5.0);

    let task = tokio::spawn(server.run(shutdown));
    let deadline = Instant::now() + Duration::from_secs(10);
    while http_get(http, "/ready").await.0 != 200 {
        assert!(Instant::now() < deadline, "/ready never turned 200");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    signal.trigger();
    task.await.unwrap().unwrap();
    http_task.await.unwrap();
    assert!(
        TcpStream::connect(http).await.is_err(),
        "HTTP stops with the broker"
    );
}

#[tokio::test]
async fn retention_deletions_are_counted() {
    let broker = TestBroker::start_with(|c| {
        c.topic_defaults.segment_bytes = 4096;
        c.topic_defaults.retention_bytes = Some(4096);
    })
    .await;
    let mut c = RawClient::connect(broker.addr).await;
    for i in 0..40 {
        c.call(produce("m", 0, batch("retained", 10, i * 10), ACKS_LEADER))
            .await;
    }
    let ctx = broker.ctx.clone();
    tokio::task::spawn_blocking(move || housekeeping::sweep(&ctx))
        .await
        .unwrap();
    let s = Scrape::fetch(broker.http_addr.unwrap()).await;
    let deleted = s.value("rill_partition_retention_deleted_segments_total", TOPIC_M0);
    assert!(deleted >= 1.0, "{deleted}");
    assert!(s.value("rill_partition_retention_deleted_bytes_total", TOPIC_M0) > 0.0);
    assert!(s.value("rill_partition_log_start_offset", TOPIC_M0) > 0.0);
    assert_eq!(s.value("rill_partition_messages_in_total", TOPIC_M0), 400.0);
    broker.stop().await;
}

#[tokio::test]
async fn group_lag_is_what_the_group_left_unread() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(broker.addr).await;
    c.call(produce("m", 0, batch("g", 12, 0), ACKS_LEADER))
        .await;
    // A simple commit (no membership): the group has consumed offsets 0..5.
    let commit = Request::OffsetCommit(OffsetCommitRequest {
        group_id: "readers".into(),
        member_id: String::new(),
        member_epoch: SIMPLE_COMMIT_EPOCH,
        topics: vec![TopicPartitions {
            name: "m".into(),
            partitions: vec![OffsetCommitPartition {
                partition: 0,
                offset: 5,
                metadata: None,
            }],
        }],
    });
    match c.call(commit).await {
        Response::OffsetCommit(r) => {
            assert_eq!(r.topics[0].partitions[0].error_code, ErrorCode::None)
        }
        other => panic!("{other:?}"),
    }
    let http = broker.http_addr.unwrap();
    let s = Scrape::fetch(http).await;
    let labels = [("group", "readers"), ("topic", "m"), ("partition", "0")];
    assert_eq!(s.value("rill_group_committed_offset", &labels), 5.0);
    assert_eq!(
        s.value("rill_group_lag", &labels),
        7.0,
        "12 produced, 5 consumed"
    );
    assert_eq!(
        s.value("rill_api_requests_total", &[("api", "OffsetCommit")]),
        1.0
    );

    // A registered source replaces the coordinator (embedding, tests).
    let hook = || {
        vec![GroupOffset {
            group: "other".into(),
            topic: "m".into(),
            partition: 0,
            committed_offset: 10,
        }]
    };
    assert!(broker.ctx.metrics.set_group_offsets(Arc::new(hook)).is_ok());
    let s = Scrape::fetch(http).await;
    let other = [("group", "other"), ("topic", "m"), ("partition", "0")];
    assert_eq!(s.value("rill_group_lag", &other), 2.0);
    assert!(s.get("rill_group_lag", &labels).is_none());
    broker.stop().await;
}

#[tokio::test]
async fn reload_applies_live_settings_and_names_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let path = dir.path().join("rill.toml");
    let base = format!(
        "listen = \"127.0.0.1:0\"\nhttp_listen = \"127.0.0.1:0\"\ndata_dir = {:?}\n",
        data.display().to_string()
    );
    std::fs::write(&path, &base).unwrap();
    let args = Args {
        config: Some(path.clone()),
        ..Args::default()
    };
    let config = BrokerConfig::load(&args).unwrap();
    let started = rill_broker::server::start(config.clone()).await.unwrap();
    let ctx = started.ctx.clone();
    let overrides = [("retention.ms".to_string(), "1000".to_string())].into();
    let topics = ctx.clone();
    tokio::task::spawn_blocking(move || {
        topics
            .topics
            .create("plain", Some(2), Default::default())
            .unwrap();
        topics.topics.create("pinned", Some(1), overrides).unwrap();
    })
    .await
    .unwrap();
    let filters = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = filters.clone();
    let setter = Box::new(move |f: &str| {
        seen.lock().unwrap().push(f.to_string());
        Ok(())
    });
    let reloader = Reloader::new(args, &config, Some(setter));

    let live = "retention = \"1h\"\nretention_bytes = 1048576\nflush = \"100ms\"\n";
    std::fs::write(
        &path,
        format!("{base}{live}log_level = \"debug\"\nmax_connections = 7\n"),
    )
    .unwrap();
    let report = reloader.reload(&ctx).unwrap();
    assert_eq!(
        report.changed,
        [
            "retention_ms: 604800000 -> 3600000",
            "retention_bytes: none -> 1048576",
            "flush: os -> 100ms",
            "log_level: info -> debug",
        ]
    );
    assert_eq!(report.restart_required, ["max_connections"]);
    assert_eq!(*filters.lock().unwrap(), ["debug"]);
    let plain = ctx.topics.get("plain").unwrap();
    for p in &plain.partitions {
        let config = p.log().unwrap().config();
        assert_eq!(config.retention_ms, Some(3_600_000));
        assert_eq!(config.retention_bytes, Some(1_048_576));
        assert_eq!(
            config.flush,
            FlushPolicy::Interval(Duration::from_millis(100))
        );
    }
    let pinned = ctx.topics.get("pinned").unwrap().partitions[0]
        .log()
        .unwrap()
        .config();
    assert_eq!(pinned.retention_ms, Some(1000), "a topic override wins");
    assert_eq!(pinned.retention_bytes, Some(1_048_576));

    // An invalid file changes nothing and is counted as a failure.
    std::fs::write(&path, format!("{base}flush = \"sometimes\"\n")).unwrap();
    assert!(reloader.reload(&ctx).is_err());
    assert_eq!(ctx.topics.defaults().retention_ms, Some(3_600_000));
    let s = Scrape::fetch(started.http_addr.unwrap()).await;
    assert_eq!(
        s.value("rill_config_reloads_total", &[("result", "ok")]),
        1.0
    );
    assert_eq!(
        s.value("rill_config_reloads_total", &[("result", "error")]),
        1.0
    );
    started.signal.trigger();
    started.task.await.unwrap().unwrap();
}

/// The `rilld` binary reloads its config file on SIGHUP, including the log level.
#[cfg(unix)]
#[tokio::test]
async fn sighup_reloads_the_config_file_of_rilld() {
    use tokio::io::AsyncBufReadExt;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rill.toml");
    let base = format!(
        "listen = \"127.0.0.1:0\"\nhttp_listen = \"none\"\ndata_dir = {:?}\n",
        dir.path().join("data").display().to_string()
    );
    std::fs::write(&path, format!("{base}log_level = \"info\"\n")).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rilld"))
        .arg("--config")
        .arg(&path)
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut wait_for = async |needle: &str| -> String {
        let found = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.contains(needle) {
                    return line;
                }
            }
            panic!("rilld exited before logging {needle:?}");
        });
        found
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} in time"))
    };
    let ready = wait_for("rilld ready").await;
    let addr: SocketAddr = ready
        .split("listen=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();

    let live = "retention = \"1h\"\nlog_level = \"debug\"\nmax_inflight = 9\n";
    std::fs::write(&path, format!("{base}{live}")).unwrap();
    let pid = i32::try_from(child.id().unwrap()).unwrap();
    // SAFETY: kill(2) with a pid we spawned and still own.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let reloaded = wait_for("config reloaded").await;
    assert!(
        reloaded.contains("retention_ms: 604800000 -> 3600000"),
        "{reloaded}"
    );
    assert!(reloaded.contains("log_level: info -> debug"), "{reloaded}");
    let warning = wait_for("restart required").await;
    assert!(warning.contains("max_inflight"), "{warning}");
    // The new level is live: connection accepts are logged at debug.
    let _client = TcpStream::connect(addr).await.unwrap();
    wait_for("connection accepted").await;
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    assert!(child.wait().await.unwrap().success());
}
