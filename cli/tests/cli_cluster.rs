//! `rill cluster status`, `rill topic create --replication-factor`, the replica fields of
//! `rill topic describe`, and `--broker` lists, against a real single broker (what one
//! broker can answer; multi-broker clusters are covered by the end-to-end cluster tests).

mod common;

use common::{rill_at, run_command, TestBroker};
use serde_json::Value;

#[test]
fn cluster_status_of_a_single_broker_names_it_alive_and_controller() {
    let broker = TestBroker::start();
    let json: Value =
        serde_json::from_str(&broker.ok(&["cluster", "status", "--output", "json"], "")).unwrap();
    let brokers = json["brokers"].as_array().unwrap();
    assert_eq!(brokers.len(), 1, "{json}");
    let only = &brokers[0];
    assert_eq!(json["answered_by"], only["node_id"], "{json}");
    assert_eq!(json["controller_id"], only["node_id"], "{json}");
    assert_eq!(json["metadata_stale"], false, "{json}");
    assert_eq!(only["alive"], true, "{json}");
    assert_eq!(only["controller"], true, "{json}");
    let port = broker.addr.port().to_string();
    assert!(only["address"].as_str().unwrap().ends_with(&port), "{json}");
    assert!(json["cluster_id"].is_string(), "{json}");
    let text = broker.ok(&["cluster", "status"], "");
    assert!(text.contains("brokers: 1/1 alive"), "{text}");
    assert!(text.contains("(answered)"), "{text}");
}

#[test]
fn topic_describe_shows_leader_epoch_replicas_and_isr() {
    let broker = TestBroker::start();
    broker.ok(
        &["topic", "create", "orders", "--partitions", "2", "-r", "1"],
        "",
    );
    let json: Value =
        serde_json::from_str(&broker.ok(&["topic", "describe", "orders", "--output", "json"], ""))
            .unwrap();
    for partition in json["partitions"].as_array().unwrap() {
        let leader = partition["leader"].as_i64().unwrap();
        assert!(leader >= 0, "{json}");
        assert!(partition["leader_epoch"].as_i64().unwrap() >= 0, "{json}");
        assert_eq!(partition["replicas"], serde_json::json!([leader]), "{json}");
        assert_eq!(partition["isr"], serde_json::json!([leader]), "{json}");
    }
    let text = broker.ok(&["topic", "describe", "orders"], "");
    let header = text.lines().nth(2).unwrap_or_default();
    assert!(
        header.split_whitespace().collect::<Vec<_>>()[..5]
            == ["PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR"],
        "{text}"
    );
}

#[test]
fn a_replication_factor_below_one_is_a_usage_error() {
    let broker = TestBroker::start();
    for bad in ["0", "many", "40000"] {
        let usage = broker.run(&["topic", "create", "t", "--replication-factor", bad], "");
        assert_eq!(usage.code(), Some(2), "{bad}: {}", usage.stderr);
        assert!(
            usage.stderr.contains("--replication-factor"),
            "{}",
            usage.stderr
        );
    }
}

/// An address nothing listens on.
fn dead_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    addr
}

#[test]
fn a_broker_list_skips_a_dead_member_in_every_kind_of_command() {
    let broker = TestBroker::start();
    let list = format!("{},{}", dead_addr(), broker.addr);
    let ok = |args: &[&str], input: &str| {
        let outcome = run_command(rill_at(&list, args), input.as_bytes());
        assert_eq!(outcome.code(), Some(0), "{args:?}: {}", outcome.stderr);
        outcome.stdout
    };
    ok(&["topic", "create", "t", "--partitions", "1"], "");
    ok(&["produce", "t"], "a\nb\n");
    let tailed = ok(&["tail", "t", "--from-beginning", "--no-follow"], "");
    assert_eq!(tailed, "a\nb\n");
    ok(
        &[
            "tail",
            "t",
            "--group",
            "g",
            "--from-beginning",
            "--no-follow",
        ],
        "",
    );
    let groups = ok(&["group", "list", "--output", "json"], "");
    assert!(groups.contains("\"g\""), "{groups}");
    // Two produce runs write 400 records; each consume run reads them all.
    let modes: [(&[&str], u64); 4] = [
        (&["produce"], 200),
        (&["produce", "--raw"], 200),
        (&["consume"], 400),
        (&["consume", "--raw"], 400),
    ];
    for (mode, messages) in modes {
        let mut args = vec!["--output", "json", "bench"];
        args.extend_from_slice(mode);
        args.extend_from_slice(&["--topic", "b", "--count", "200", "--message-size", "10"]);
        let report: Value = serde_json::from_str(&ok(&args, "")).unwrap();
        assert_eq!(report["messages"], messages, "{mode:?}: {report}");
        assert_eq!(report["lost"], 0, "{mode:?}: {report}");
    }
    // `--broker` takes the list as well as RILL_BROKER (which `rill_at` sets).
    let mut flagged = rill_at("127.0.0.1:1", &["--broker", &list, "topic", "list"]);
    flagged.env_remove("RILL_BROKER");
    let listed = run_command(flagged, b"");
    assert_eq!(listed.code(), Some(0), "{}", listed.stderr);
    assert!(listed.stdout.contains('t'), "{}", listed.stdout);
}
