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

fn reset(broker: &TestBroker, args: &[&str]) -> String {
    let mut all = vec!["group", "reset-offsets", "g"];
    all.extend_from_slice(args);
    broker.ok(&all, "")
}

fn committed(broker: &TestBroker) -> Value {
    describe(broker, "g")["partitions"][0]["committed_offset"].clone()
}

#[test]
fn reset_offsets_plans_by_default_and_changes_only_with_execute() {
    let broker = broker_with("a\nb\nc\nd\n");
    assert_eq!(tail_group(&broker, "g", &["--no-follow"]), "a\nb\nc\nd\n");

    // The plan, with and without --dry-run: current and new offsets, nothing changed.
    for extra in [&[][..], &["--dry-run"]] {
        let mut args = vec!["--topic", "t", "--to-earliest"];
        args.extend_from_slice(extra);
        let plan = broker.run(&[&["group", "reset-offsets", "g"][..], &args].concat(), "");
        assert!(plan.status.success(), "{}", plan.stderr);
        let mut lines = plan.stdout.lines();
        let header = lines.next().unwrap();
        assert!(header.contains("CURRENT-OFFSET") && header.contains("NEW-OFFSET"));
        let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(row, ["t", "0", "4", "0"], "{}", plan.stdout);
        assert!(plan.stderr.contains("--execute"), "{}", plan.stderr);
        assert_eq!(committed(&broker), 4);
    }

    let applied = reset(
        &broker,
        &[
            "-t",
            "t",
            "--to-offset",
            "2",
            "--execute",
            "--output",
            "json",
        ],
    );
    let applied: Value = serde_json::from_str(&applied).unwrap();
    assert_eq!(applied["executed"], true);
    assert_eq!(applied["offsets"][0]["current_offset"], 4);
    assert_eq!(applied["offsets"][0]["new_offset"], 2);
    assert_eq!(committed(&broker), 2);
    assert_eq!(tail_group(&broker, "g", &["--no-follow"]), "c\nd\n");

    // --shift-by moves the committed offset (4) back by 3; a plan first.
    let plan = reset(
        &broker,
        &["-t", "t", "--shift-by", "-3", "--output", "json"],
    );
    let plan: Value = serde_json::from_str(&plan).unwrap();
    assert_eq!(plan["executed"], false);
    assert_eq!(plan["offsets"][0]["new_offset"], 1);
    assert_eq!(committed(&broker), 4);
    reset(&broker, &["-t", "t", "--shift-by", "-3", "--execute"]);
    assert_eq!(committed(&broker), 1);
    // Past the start of the log it stops at the start.
    reset(&broker, &["-t", "t", "--shift-by", "-100", "--execute"]);
    assert_eq!(committed(&broker), 0);
    reset(&broker, &["-t", "t", "--shift-by", "100", "--execute"]);
    assert_eq!(committed(&broker), 4);

    // --all-topics: every topic the group committed.
    reset(&broker, &["--all-topics", "--to-earliest", "--execute"]);
    assert_eq!(tail_group(&broker, "g", &["--no-follow"]), "a\nb\nc\nd\n");
    reset(&broker, &["-t", "t", "--to-latest", "--execute"]);
    assert_eq!(tail_group(&broker, "g", &["--no-follow"]), "");
}

#[test]
fn groups_are_listed_and_deleted() {
    let broker = broker_with("a\n");
    assert_eq!(tail_group(&broker, "g", &["--no-follow"]), "a\n");
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
