//! End-to-end tests of `rill bench` against a real broker: the JSON report of each mode
//! carries the documented fields with plausible values. No timing assertions: the
//! figures depend on the machine; only counts and signs are checked.

mod common;

use common::TestBroker;
use serde_json::Value;

fn report(broker: &TestBroker, args: &[&str]) -> Value {
    let out = broker.ok(args, "");
    let mut lines = out.lines();
    let line = lines.next().unwrap_or_default();
    assert!(lines.next().is_none(), "--json prints one line: {out}");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
}

fn assert_figures(report: &Value, messages: u64) {
    assert_eq!(report["messages"], messages, "{report}");
    for key in ["msgs_per_sec", "mb_per_sec", "elapsed_s"] {
        let value = report[key].as_f64().unwrap_or(-1.0);
        assert!(value > 0.0, "{key} = {value} in {report}");
    }
    let latency = &report["latency_us"];
    let names = ["p50", "p90", "p99", "p999", "max"];
    let values: Vec<u64> = names
        .iter()
        .map(|n| {
            latency[n]
                .as_u64()
                .unwrap_or_else(|| panic!("{n} in {latency}"))
        })
        .collect();
    assert!(values[0] > 0, "{latency}");
    assert!(values.windows(2).all(|w| w[0] <= w[1]), "{latency}");
    assert!(report["parameters"].is_object(), "{report}");
}

#[test]
fn produce_then_consume_report_matching_counts() {
    let broker = TestBroker::start();
    let produced = report(
        &broker,
        &[
            "bench",
            "produce",
            "--topic",
            "b",
            "--partitions",
            "2",
            "--count",
            "2000",
            "--message-size",
            "100",
            "--batch-size",
            "300",
            "--json",
        ],
    );
    assert_eq!(produced["mode"], "produce");
    assert_figures(&produced, 2000);
    assert_eq!(produced["bytes"], 200_000);
    assert_eq!(produced["parameters"]["load"]["message_size"], 100);
    assert_eq!(produced["clients"].as_array().map(Vec::len), Some(1));

    let consumed = report(&broker, &["bench", "consume", "--topic", "b", "--json"]);
    assert_eq!(consumed["mode"], "consume");
    assert_figures(&consumed, 2000);
    assert_eq!(consumed["bytes"], 200_000);
}

#[test]
fn producer_client_path_and_e2e_report() {
    let broker = TestBroker::start();
    let produced = report(
        &broker,
        &[
            "bench",
            "produce",
            "--topic",
            "p",
            "--client",
            "producer",
            "--producers",
            "2",
            "--count",
            "500",
            "--message-size",
            "64",
            "--json",
        ],
    );
    assert_figures(&produced, 1000);
    let e2e = report(
        &broker,
        &[
            "bench",
            "e2e",
            "--topic",
            "e",
            "--count",
            "300",
            "--rate",
            "3000",
            "--linger",
            "1ms",
            "--message-size",
            "64",
            "--json",
        ],
    );
    assert_eq!(e2e["mode"], "e2e");
    assert_figures(&e2e, 300);
    assert_eq!(e2e["parameters"]["produced"], 300);
}

#[test]
fn baseline_reports_the_socket_ceiling() {
    let broker = TestBroker::start();
    let baseline = report(
        &broker,
        &["bench", "baseline", "--duration", "1s", "--json"],
    );
    assert_eq!(baseline["mode"], "baseline");
    let messages = baseline["messages"].as_u64().unwrap_or(0);
    assert!(messages > 0 && messages.is_multiple_of(1000), "{baseline}");
    assert!(baseline["mb_per_sec"].as_f64().unwrap_or(0.0) > 0.0);
    assert!(baseline["parameters"]["frame_bytes"].as_u64().unwrap_or(0) > 1_000_000);
}

#[test]
fn bad_options_are_usage_errors() {
    let broker = TestBroker::start();
    let out = broker.run(
        &["bench", "produce", "--count", "1", "--duration", "1s"],
        "",
    );
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    let out = broker.run(&["bench", "e2e", "--message-size", "4", "--json"], "");
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("--message-size"), "{}", out.stderr);
    // Nothing to consume is an error that says what to do, not a table of zeros.
    let out = broker.run(&["bench", "consume", "--topic", "empty", "--json"], "");
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("rill bench produce --topic empty"),
        "{}",
        out.stderr
    );
}
