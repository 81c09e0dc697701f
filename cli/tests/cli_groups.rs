//! End-to-end tests of `rill tail --group` and `rill group` against a real broker:
//! a group resumes where it stopped (committing exactly what was printed), describe
//! shows offsets and lag, offsets can be reset, and groups listed and deleted.

mod common;

use common::TestBroker;
use serde_json::Value;

/// A broker with a one-partition topic `t` holding `lines`.
fn broker_with(lines: &str) -> TestBroker {
    let broker = TestBroker::start();
    broker.ok(&["topic", "create", "t", "--partitions", "1"], "");
    broker.ok(&["produce", "t", "-q"], lines);
    broker
}

fn tail_group(broker: &TestBroker, group: &str, extra: &[&str]) -> String {
    let mut args = vec!["tail", "t", "--group", group, "--from-beginning"];
    args.extend_from_slice(extra);
    broker.ok(&args, "")
}

fn describe(broker: &TestBroker, group: &str) -> Value {
    let out = broker.ok(&["group", "describe", group, "--output", "json"], "");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{out}: {e}"))
}

#[test]
fn tail_group_resumes_from_its_commits_and_describe_shows_no_lag() {
    let broker = broker_with("a\nb\nc\n");
    assert_eq!(tail_group(&broker, "g", &["--no-follow"]), "a\nb\nc\n");
    assert_eq!(tail_group(&broker, "g", &["--no-follow"]), "");
    broker.ok(&["produce", "t", "-q"], "d\ne\n");
    assert_eq!(tail_group(&broker, "g", &["--no-follow"]), "d\ne\n");

    let group = describe(&broker, "g");
    assert_eq!(group["group"], "g");
    assert_eq!(group["state"], "Empty");
    assert_eq!(group["members"].as_array().unwrap().len(), 0);
    assert_eq!(group["total_lag"], 0);
    let partition = &group["partitions"][0];
    assert_eq!(partition["topic"], "t");
    assert_eq!(partition["committed_offset"], 5);
    assert_eq!(partition["end_offset"], 5);
    assert_eq!(partition["lag"], 0);

    let text = broker.ok(&["group", "describe", "g"], "");
    assert!(text.starts_with("group: g  state: Empty"), "{text}");
    assert!(text.contains("COMMITTED"), "{text}");
}

#[test]
fn tail_group_with_count_commits_only_what_it_printed() {
    let broker = broker_with("r0\nr1\nr2\nr3\nr4\n");
    assert_eq!(tail_group(&broker, "g", &["--count", "2"]), "r0\nr1\n");
    assert_eq!(describe(&broker, "g")["partitions"][0]["lag"], 3);
    assert_eq!(
        tail_group(&broker, "g", &["--no-follow", "--print-offset"]),
        "0:2\tr2\n0:3\tr3\n0:4\tr4\n"
    );
}

/// A new group that printed nothing still records where it started, so records
/// produced before its next run are not skipped.
#[test]
fn a_group_that_printed_nothing_resumes_where_it_started() {
    let broker = broker_with("old\n");
    let first = broker.ok(&["tail", "t", "--group", "quiet", "--no-follow"], "");
    assert_eq!(first, "", "a new group starts at the end");
    broker.ok(&["produce", "t", "-q"], "between-runs\n");
    let second = broker.ok(&["tail", "t", "--group", "quiet", "--no-follow"], "");
    assert_eq!(second, "between-runs\n");
}

#[test]
fn a_new_group_without_from_beginning_starts_at_the_end() {
    let broker = broker_with("old\n");
    let out = broker.ok(&["tail", "t", "--group", "fresh", "--no-follow"], "");
    assert_eq!(out, "");
}

#[test]
fn reset_offsets_dry_run_then_apply_then_list_and_delete() {
    let broker = broker_with("a\nb\nc\nd\n");
    assert_eq!(tail_group(&broker, "g", &["--no-follow"]), "a\nb\nc\nd\n");

    let dry = broker.ok(
        &[
            "group",
            "reset-offsets",
            "g",
            "--topic",
            "t",
            "--to-earliest",
            "--dry-run",
        ],
        "",
    );
    assert!(dry.contains("NEW-OFFSET"), "{dry}");
    assert!(dry.lines().nth(1).unwrap().ends_with(" 0"), "{dry}");
    assert_eq!(
        describe(&broker, "g")["partitions"][0]["committed_offset"],
        4
    );

    let applied = broker.ok(
        &[
            "group",
            "reset-offsets",
            "g",
            "--topic",
            "t",
            "--to-offset",
            "2",
            "--output",
            "json",
        ],
        "",
    );
    let applied: Value = serde_json::from_str(&applied).unwrap();
    assert_eq!(applied["offsets"][0]["new_offset"], 2);
    assert_eq!(tail_group(&broker, "g", &["--no-follow"]), "c\nd\n");

    broker.ok(
        &["group", "reset-offsets", "g", "-t", "t", "--to-earliest"],
        "",
    );
    assert_eq!(tail_group(&broker, "g", &["--no-follow"]), "a\nb\nc\nd\n");
    broker.ok(
        &["group", "reset-offsets", "g", "-t", "t", "--to-latest"],
        "",
    );
    assert_eq!(tail_group(&broker, "g", &["--no-follow"]), "");

    let list = broker.ok(&["group", "list"], "");
    assert!(list.contains("GROUP") && list.contains("g  "), "{list}");
    let json = broker.ok(&["group", "list", "--output", "json"], "");
    let groups: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(groups[0]["group"], "g");
    assert_eq!(groups[0]["state"], "Empty");

    broker.ok(&["group", "delete", "g"], "");
    assert_eq!(
        broker.ok(&["group", "list"], "").trim_end().lines().count(),
        1
    );
    let missing = broker.run(&["group", "describe", "g"], "");
    assert_eq!(missing.code(), Some(1));
    assert!(missing.stderr.contains("group g"), "{}", missing.stderr);
}
