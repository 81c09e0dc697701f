//! End-to-end tests of `rill bench` against a real broker: the JSON report of each mode
//! carries the documented fields with plausible values. No timing assertions: the
//! figures depend on the machine; only counts and signs are checked.

mod common;

use common::TestBroker;
use serde_json::Value;

fn report(broker: &TestBroker, args: &[&str]) -> Value {
    let mut all = vec!["--output", "json"];
    all.extend_from_slice(args);
    let out = broker.ok(&all, "");
    let mut lines = out.lines();
    let line = lines.next().unwrap_or_default();
    assert!(
        lines.next().is_none(),
        "--output json prints one line: {out}"
    );
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
}

fn assert_rates(report: &Value, messages: u64) {
    assert_eq!(report["messages"], messages, "{report}");
    assert_eq!(report["lost"], 0, "{report}");
    for key in ["msgs_per_sec", "mb_per_sec", "elapsed_s"] {
        let value = report[key].as_f64().unwrap_or(-1.0);
        assert!(value > 0.0, "{key} = {value} in {report}");
    }
    assert!(report["parameters"].is_object(), "{report}");
}

fn assert_figures(report: &Value, messages: u64) {
    assert_rates(report, messages);
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
}

#[test]
fn produce_goes_through_the_library_by_default_then_consume_reports_rates() {
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
        ],
    );
    assert_eq!(produced["mode"], "produce");
    assert_figures(&produced, 2000);
    assert_eq!(produced["bytes"], 200_000);
    assert_eq!(produced["parameters"]["path"], "producer");
    // The library's defaults: no acks, linger or batch size of the bench's own.
    assert!(produced["parameters"]["load"]["acks"].is_null());
    assert!(produced["parameters"]["load"]["batch_size"].is_null());
    assert_eq!(produced["partitions_written"], 2);
    assert_eq!(produced["clients"].as_array().map(Vec::len), Some(1));

    let consumed = report(&broker, &["bench", "consume", "--topic", "b"]);
    assert_eq!(consumed["mode"], "consume");
    assert_rates(&consumed, 2000);
    assert_eq!(consumed["bytes"], 200_000);
    assert!(consumed["latency_us"].is_null(), "{consumed}");
    assert_eq!(consumed["parameters"]["path"], "consumer");

    // The plain Fetch loop reads the same records, counted from the batch headers.
    let raw = report(
        &broker,
        &[
            "bench",
            "consume",
            "--raw",
            "--topic",
            "b",
            "--consumers",
            "2",
            "--message-size",
            "100",
        ],
    );
    assert_rates(&raw, 2000);
    assert_eq!(raw["bytes"], 200_000);
    assert_eq!(raw["parameters"]["path"], "raw");
    assert_eq!(raw["clients"].as_array().map(Vec::len), Some(2));
    let one_each: Vec<u64> = raw["clients"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["messages"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(one_each.iter().sum::<u64>(), 2000, "{raw}");
    assert!(one_each.iter().all(|&n| n > 0), "{raw}");
}

#[test]
fn raw_produce_and_many_partitions_are_all_written() {
    let broker = TestBroker::start();
    let raw = report(
        &broker,
        &[
            "bench",
            "produce",
            "--raw",
            "--topic",
            "r",
            "--partitions",
            "3",
            "--count",
            "900",
            "--batch-size",
            "100",
            "--message-size",
            "64",
        ],
    );
    assert_figures(&raw, 900);
    assert_eq!(raw["parameters"]["path"], "raw");
    assert_eq!(raw["partitions_written"], 3);

    let many = report(
        &broker,
        &[
            "bench",
            "produce",
            "--topic",
            "many",
            "--partitions",
            "40",
            "--producers",
            "2",
            "--count",
            "200",
            "--message-size",
            "16",
        ],
    );
    assert_figures(&many, 400);
    assert_eq!(many["partitions_written"], 40, "{many}");
}

#[test]
fn e2e_reports_latency_and_nothing_lost() {
    let broker = TestBroker::start();
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
        ],
    );
    assert_eq!(e2e["mode"], "e2e");
    assert_figures(&e2e, 300);
    assert_eq!(e2e["parameters"]["produced"], 300);
}

#[test]
fn baseline_reports_the_socket_ceiling() {
    let broker = TestBroker::start();
    let baseline = report(&broker, &["bench", "baseline", "--duration", "1s"]);
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
    // One flag for JSON: the global --output json.
    let out = broker.run(&["bench", "produce", "--json"], "");
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    // --batch-size shapes bench-built batches only.
    let out = broker.run(&["bench", "produce", "--batch-size", "10"], "");
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("--raw"), "{}", out.stderr);
    let out = broker.run(&["bench", "e2e", "--message-size", "4"], "");
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("--message-size"), "{}", out.stderr);
    // Nothing to consume is an error that says what to do, not a table of zeros.
    let out = broker.run(&["bench", "consume", "--topic", "empty"], "");
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("rill bench produce --topic empty"),
        "{}",
        out.stderr
    );
}
