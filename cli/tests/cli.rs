//! End-to-end tests of the `rill` binary against a real broker: what goes in with
//! `produce` comes back out of `tail`, topic administration, error messages and exit
//! codes, and a closed pipe.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use common::{rill_at, run_command, wait_deadline, LineReader, TestBroker};
use serde_json::Value;

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect()
}

/// A broker with a one-partition topic `t`.
fn broker_with_topic() -> TestBroker {
    let broker = TestBroker::start();
    broker.ok(&["topic", "create", "t", "--partitions", "1"], "");
    broker
}

#[test]
fn produced_lines_come_back_identical_and_in_order() {
    let broker = broker_with_topic();
    let input = "first\nsecond line\n\nfourth: with colon\nlast\n";
    let produced = broker.run(&["produce", "t"], input);
    assert_eq!(produced.code(), Some(0), "{}", produced.stderr);
    assert!(
        produced.stderr.starts_with("produced 5 records"),
        "{}",
        produced.stderr
    );
    let out = broker.ok(&["tail", "t", "--from-beginning", "--no-follow"], "");
    assert_eq!(out, input);
}

#[test]
fn quiet_produce_prints_nothing() {
    let broker = broker_with_topic();
    let produced = broker.run(
        &["produce", "t", "--quiet", "--compression", "zstd"],
        "a\nb\n",
    );
    assert_eq!(produced.code(), Some(0));
    assert_eq!(produced.stderr, "");
    assert_eq!(broker.ok(&["tail", "t", "--no-follow"], ""), "a\nb\n");
}

#[test]
fn last_n_and_offset_and_count() {
    let broker = broker_with_topic();
    broker.ok(&["produce", "t", "-q"], "r0\nr1\nr2\nr3\nr4\n");
    assert_eq!(
        broker.ok(&["tail", "t", "-n", "3", "--no-follow"], ""),
        "r2\nr3\nr4\n"
    );
    assert_eq!(
        broker.ok(&["tail", "t", "--offset", "3", "--no-follow"], ""),
        "r3\nr4\n"
    );
    // --count ends a follow by itself.
    assert_eq!(
        broker.ok(&["tail", "t", "--from-beginning", "--count", "2"], ""),
        "r0\nr1\n"
    );
    let with_offsets = broker.ok(
        &["tail", "t", "-n", "1", "--no-follow", "--print-offset"],
        "",
    );
    assert_eq!(with_offsets, "0:4\tr4\n");
}

#[test]
fn json_output_carries_keys_and_headers() {
    let broker = broker_with_topic();
    let args = [
        "produce",
        "t",
        "--key-separator",
        ":",
        "--header",
        "source=test",
        "-H",
        "n=1",
    ];
    broker.ok(&args, "k1:v1\nk2:v:2\n");
    let out = broker.ok(
        &[
            "tail",
            "t",
            "--from-beginning",
            "--no-follow",
            "--format",
            "json",
        ],
        "",
    );
    let records = json_lines(&out);
    assert_eq!(records.len(), 2);
    let first = &records[0];
    assert_eq!(first["topic"], "t");
    assert_eq!(first["partition"], 0);
    assert_eq!(first["offset"], 0);
    assert!(first["timestamp"]
        .as_i64()
        .is_some_and(|ts| ts > 1_600_000_000_000));
    assert_eq!(first["key"], "k1");
    assert_eq!(first["value"], "v1");
    assert_eq!(
        first["headers"],
        serde_json::json!([{"key": "source", "value": "test"}, {"key": "n", "value": "1"}])
    );
    assert_eq!(records[1]["key"], "k2");
    assert_eq!(records[1]["value"], "v:2");
    let text = broker.ok(
        &[
            "tail",
            "t",
            "-n",
            "1",
            "--no-follow",
            "--print-key",
            "--print-headers",
        ],
        "",
    );
    assert_eq!(text, "k2\tsource=test,n=1\tv:2\n");
}

#[test]
fn binary_values_round_trip_through_json_as_base64() {
    let broker = broker_with_topic();
    let input = r#"{"key":"bin","value_base64":"/wBh","headers":{"h":"x"}}"#;
    broker.ok(&["produce", "t", "--format", "json"], &format!("{input}\n"));
    let out = broker.ok(&["tail", "t", "--no-follow", "--format", "json"], "");
    let record = &json_lines(&out)[0];
    assert_eq!(record["value_base64"], "/wBh");
    assert!(record.get("value").is_none());
    // Alone, the value is printed raw; sharing a line with the key, escaped.
    let raw = broker.ok_bytes(&["tail", "t", "--no-follow"], b"");
    assert_eq!(raw, b"\xff\x00a\n");
    let text = broker.ok(&["tail", "t", "--no-follow", "--print-key"], "");
    assert_eq!(text, "bin\t\\xff\\x00a\n");
    let hex = broker.ok(
        &["tail", "t", "--no-follow", "--format", "hex", "--print-key"],
        "",
    );
    assert_eq!(hex, "62696e\tff0061\n");
}

#[test]
fn since_selects_by_timestamp() {
    let broker = broker_with_topic();
    // Two records from 2020 (explicit create times), then two from now.
    let old = "{\"value\":\"old-1\",\"timestamp\":1577836800000}\n{\"value\":\"old-2\",\"timestamp\":1577836801000}\n";
    broker.ok(&["produce", "t", "--format", "json", "-q"], old);
    broker.ok(&["produce", "t", "-q"], "new-1\nnew-2\n");
    assert_eq!(
        broker.ok(&["tail", "t", "--since", "1h", "--no-follow"], ""),
        "new-1\nnew-2\n"
    );
    let all = broker.ok(
        &[
            "tail",
            "t",
            "--since",
            "2019-12-31T00:00:00Z",
            "--no-follow",
        ],
        "",
    );
    assert_eq!(all, "old-1\nold-2\nnew-1\nnew-2\n");
    let second = broker.ok(
        &[
            "tail",
            "t",
            "--since",
            "2020-01-01T00:00:01Z",
            "--no-follow",
        ],
        "",
    );
    assert_eq!(second, "old-2\nnew-1\nnew-2\n");
}

#[test]
fn partitions_can_be_chosen() {
    let broker = TestBroker::start();
    broker.ok(&["topic", "create", "p3", "--partitions", "3"], "");
    broker.ok(&["produce", "p3", "--partition", "2", "-q"], "on-two\n");
    broker.ok(&["produce", "p3", "--partition", "0", "-q"], "on-zero\n");
    let out = broker.ok(
        &[
            "tail",
            "p3",
            "--partition",
            "2",
            "--no-follow",
            "--print-offset",
        ],
        "",
    );
    assert_eq!(out, "2:0\ton-two\n");
    let bad = broker.run(&["tail", "p3", "--partition", "7", "--no-follow"], "");
    assert_eq!(bad.code(), Some(1));
    assert!(bad.stderr.contains("no partition 7"), "{}", bad.stderr);
    let bad = broker.run(&["produce", "p3", "--partition", "7"], "x\n");
    assert_eq!(bad.code(), Some(1));
    assert!(bad.stderr.contains("partition 7"), "{}", bad.stderr);
}

#[test]
fn follow_sees_records_produced_after_it_started() {
    let broker = broker_with_topic();
    let mut tail = broker
        .rill(&["tail", "t"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn tail");
    let lines = LineReader::new(tail.stdout.take().expect("stdout"));
    broker.ok(&["produce", "t", "-q"], "one\n");
    assert_eq!(lines.next_line(), "one");
    broker.ok(&["produce", "t", "-q"], "two\nthree\n");
    assert_eq!(lines.next_line(), "two");
    assert_eq!(lines.next_line(), "three");
    let _ = tail.kill();
    let _ = tail.wait();
}

#[test]
fn closed_pipe_ends_quietly_with_success() {
    let broker = broker_with_topic();
    broker.ok(&["produce", "t", "-q"], "a\nb\nc\n");
    // Like `rill tail t --from-beginning | head -n 1`, in follow mode.
    let mut tail = broker
        .rill(&["tail", "t", "--from-beginning"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tail");
    let mut reader = BufReader::new(tail.stdout.take().expect("stdout"));
    let mut first = String::new();
    reader.read_line(&mut first).expect("first line");
    assert_eq!(first, "a\n");
    drop(reader);
    let status = wait_deadline(&mut tail, Duration::from_secs(15));
    assert_eq!(status.code(), Some(0));
    let mut stderr = String::new();
    let _ = std::io::Read::read_to_string(&mut tail.stderr.take().expect("stderr"), &mut stderr);
    assert_eq!(stderr, "", "a closed pipe is not an error");
}

#[test]
fn topic_administration() {
    let broker = TestBroker::start();
    let created = broker.ok(
        &[
            "topic",
            "create",
            "orders",
            "--partitions",
            "2",
            "--config",
            "retention.ms=3600000",
        ],
        "",
    );
    assert_eq!(created, "created topic orders\n");
    let listed: Value =
        serde_json::from_str(&broker.ok(&["topic", "list", "--output", "json"], "")).unwrap();
    let orders = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "orders")
        .unwrap();
    assert_eq!(orders["partitions"], 2);
    assert!(broker.ok(&["topic", "list"], "").contains("orders"));

    broker.ok(&["produce", "orders", "-p", "1", "-q"], "x\ny\n");
    let described: Value =
        serde_json::from_str(&broker.ok(&["topic", "describe", "orders", "--output", "json"], ""))
            .unwrap();
    assert_eq!(described["partitions"][1]["earliest_offset"], 0);
    assert_eq!(described["partitions"][1]["latest_offset"], 2);
    assert_eq!(described["config"]["retention.ms"], "3600000");
    let text = broker.ok(&["topic", "describe", "orders"], "");
    assert!(
        text.contains("PARTITION") && text.contains("retention.ms"),
        "{text}"
    );

    broker.ok(
        &[
            "topic",
            "alter",
            "orders",
            "--config",
            "retention.ms=7200000",
        ],
        "",
    );
    let described: Value =
        serde_json::from_str(&broker.ok(&["topic", "describe", "orders", "--output", "json"], ""))
            .unwrap();
    assert_eq!(described["config"]["retention.ms"], "7200000");

    let again = broker.run(&["topic", "create", "orders"], "");
    assert_eq!(again.code(), Some(1));
    assert!(
        again.stderr.contains("rill topic describe orders"),
        "{}",
        again.stderr
    );
    broker.ok(&["topic", "create", "orders", "--if-not-exists"], "");

    assert_eq!(
        broker.ok(&["topic", "delete", "orders"], ""),
        "deleted topic orders\n"
    );
    let gone = broker.run(&["topic", "describe", "orders"], "");
    assert_eq!(gone.code(), Some(1));
    broker.ok(&["topic", "delete", "orders", "--if-exists"], "");
}

#[test]
fn describe_shows_an_offline_partition_and_the_rest() {
    let broker = TestBroker::start();
    broker.ok(&["topic", "create", "o", "--partitions", "2"], "");
    broker.ok(&["produce", "o", "-p", "1", "-q"], "a\nb\nc\n");
    let dir = broker.stop();
    // Partition 0's directory becomes a file: the broker cannot open it.
    let p0 = dir.path().join("o-0");
    std::fs::remove_dir_all(&p0).unwrap();
    std::fs::write(&p0, "not a directory").unwrap();
    let broker = TestBroker::start_in(dir);
    let described: Value =
        serde_json::from_str(&broker.ok(&["topic", "describe", "o", "--output", "json"], ""))
            .unwrap();
    let parts = &described["partitions"];
    assert_eq!(parts[0]["error"], "LEADER_NOT_AVAILABLE", "{described}");
    assert_eq!(parts[0]["leader"], -1);
    assert_eq!(parts[1]["error"], Value::Null);
    assert_eq!(parts[1]["latest_offset"], 3);
    let text = broker.ok(&["topic", "describe", "o"], "");
    assert!(text.contains("offline (LEADER_NOT_AVAILABLE)"), "{text}");
    assert_eq!(
        broker.ok(
            &["tail", "o", "-p", "1", "--from-beginning", "--no-follow"],
            ""
        ),
        "a\nb\nc\n"
    );
}

#[test]
fn unknown_topic_fails_with_a_hint() {
    let broker = TestBroker::start();
    let out = broker.run(&["tail", "nope", "--no-follow"], "");
    assert_eq!(out.code(), Some(1));
    assert!(out.stderr.contains("nope"), "{}", out.stderr);
    assert!(
        out.stderr.contains("rill topic create nope"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stdout, "");
}

#[test]
fn unreachable_broker_names_the_address() {
    // Port 1 on loopback: nothing listens there.
    let out = run_command(rill_at("127.0.0.1:1", &["topic", "list"]), b"");
    assert_eq!(out.code(), Some(1));
    assert!(out.stderr.contains("127.0.0.1:1"), "{}", out.stderr);
    assert!(out.stderr.contains("rilld"), "{}", out.stderr);
    let out = run_command(rill_at("127.0.0.1:1", &["produce", "t"]), b"x\n");
    assert_eq!(out.code(), Some(1));
    assert!(out.stderr.contains("127.0.0.1:1"), "{}", out.stderr);
}

/// Pointed at something that is not a Rill broker (here a stand-in for the broker's
/// HTTP endpoint), `rill` says so instead of blaming a slow broker; a bad port in
/// `--broker` is a usage error.
#[test]
fn a_non_rill_endpoint_and_a_bad_address_are_named_as_such() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        while let Ok((mut stream, _)) = listener.accept() {
            let mut buf = [0u8; 512];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let out = run_command(rill_at(&addr, &["status"]), b"");
    assert_eq!(out.code(), Some(1));
    assert!(out.stderr.contains("HTTP port"), "{}", out.stderr);
    let out = run_command(rill_at("127.0.0.1:port", &["status"]), b"");
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("not a port number"), "{}", out.stderr);
}

#[test]
fn usage_errors_exit_with_2() {
    for args in [
        &["tail"][..],
        &["produce", "t", "--acks", "7"],
        &["tail", "t", "--since", "yesterday"],
        &["tail", "t", "-n", "3", "--offset", "1"],
        &["no-such-command"],
    ] {
        let out = run_command(rill_at("127.0.0.1:1", args), b"");
        assert_eq!(out.code(), Some(2), "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("Usage") || out.stderr.contains("error"),
            "{}",
            out.stderr
        );
    }
    let help = run_command(rill_at("127.0.0.1:1", &["tail", "--help"]), b"");
    assert_eq!(help.code(), Some(0));
    assert!(help.stdout.contains("Examples:"));
}

#[test]
fn bad_input_line_fails_after_delivering_the_lines_before_it() {
    let broker = broker_with_topic();
    let out = broker.run(
        &["produce", "t", "--key-separator", ":"],
        "k:v\nno separator\nk:w\n",
    );
    assert_eq!(out.code(), Some(1));
    assert!(out.stderr.contains("line 2 of stdin"), "{}", out.stderr);
    assert!(out.stderr.contains("produced 1 record"), "{}", out.stderr);
    assert_eq!(broker.ok(&["tail", "t", "--no-follow"], ""), "v\n");
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run_command(rill_at("127.0.0.1:1", &["completions", shell]), b"");
        assert_eq!(out.code(), Some(0));
        assert!(out.stdout.contains("tail"), "{shell}");
    }
}
