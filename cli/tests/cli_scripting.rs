//! End-to-end tests of the `rill` binary as scripts use it, against a real broker: a
//! file comes back byte for byte, escaped fields are reversible and tell null from
//! empty, format strings, end bounds, `--print-offsets`, and `--output json` on every
//! subcommand that prints.

mod common;

use std::collections::BTreeMap;

use common::TestBroker;
use serde_json::Value;

/// A broker with a topic `t` of `partitions` partitions.
fn broker_with(partitions: &str) -> TestBroker {
    let broker = TestBroker::start();
    broker.ok(&["topic", "create", "t", "--partitions", partitions], "");
    broker
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines().map(json).collect()
}

/// Tabs, backslashes (also before n and N), UTF-8 of every width, empty lines, a CRLF
/// line, an escape sequence and bytes that are not UTF-8.
const AWKWARD_FILE: &[u8] = b"tab\there\tand there\n\
back\\slash \\n \\N \\\\ \\x41\n\
\n\
caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80\n\
windows line\r\n\
\x1b[31mred\x1b[0m \x00 nul\n\
\n\
not utf-8: \xff\xfe\xc0\n\
last\n";

#[test]
fn a_file_comes_back_byte_for_byte() {
    let broker = TestBroker::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("awkward.txt");
    std::fs::write(&path, AWKWARD_FILE).unwrap();
    let path = path.to_str().unwrap();

    broker.ok_bytes(&["produce", "from-file", "--file", path, "-q"], b"");
    broker.ok_bytes(&["produce", "from-stdin", "-q"], AWKWARD_FILE);
    for topic in ["from-file", "from-stdin"] {
        let out = broker.ok_bytes(&["tail", topic, "--from-beginning", "--no-follow"], b"");
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(AWKWARD_FILE),
            "{topic}"
        );
        assert_eq!(out, AWKWARD_FILE, "{topic}");
    }
}

#[test]
fn shared_lines_escape_reversibly_and_tell_null_from_empty() {
    let broker = broker_with("1");
    let input = concat!(
        "{\"key\": null, \"value\": \"a\\tb\"}\n",
        "{\"key\": \"\", \"value\": \"back\\\\slash\"}\n",
        "{\"key\": \"\\\\N\", \"value\": \"line\\nbreak\"}\n",
        "{\"key\": \"k\", \"value\": null}\n",
    );
    broker.ok(&["produce", "t", "--format", "json", "-q"], input);
    let out = broker.ok(
        &[
            "tail",
            "t",
            "--from-beginning",
            "--no-follow",
            "--print-key",
        ],
        "",
    );
    assert_eq!(
        out,
        "\\N\ta\\tb\n\tback\\\\slash\n\\\\N\tline\\nbreak\nk\t\\N\n"
    );
}

#[test]
fn format_strings_lay_out_each_record() {
    let broker = broker_with("1");
    let input = concat!(
        "{\"key\": \"k1\", \"value\": \"v1\", \"timestamp\": 1000, \"headers\": {\"h\": \"x\"}}\n",
        "{\"key\": null, \"value\": \"\", \"timestamp\": 2000}\n",
    );
    broker.ok(&["produce", "t", "--format", "json", "-q"], input);
    let out = broker.ok(
        &[
            "tail",
            "t",
            "--from-beginning",
            "--no-follow",
            "--format",
            "%t/%p/%o %T [%K:%k] [%S:%s] {%h}\\n",
        ],
        "",
    );
    assert_eq!(
        out,
        "t/0/0 1000 [2:k1] [2:v1] {h=x}\nt/0/1 2000 [-1:] [0:] {}\n"
    );
    let bad = broker.run(&["tail", "t", "--format", "%q"], "");
    assert_eq!(bad.code(), Some(2), "{}", bad.stderr);
    assert!(bad.stderr.contains("%q"), "{}", bad.stderr);
}

#[test]
fn until_offset_ends_a_following_tail() {
    let broker = broker_with("1");
    broker.ok(&["produce", "t", "-q"], "r0\nr1\nr2\nr3\nr4\nr5\n");
    // No --no-follow: the bound alone ends the command (within the run deadline).
    let out = broker.ok(
        &["tail", "t", "--from-beginning", "--until-offset", "4"],
        "",
    );
    assert_eq!(out, "r0\nr1\nr2\nr3\n");
    let out = broker.ok(&["tail", "t", "--offset", "2", "--until-offset", "3"], "");
    assert_eq!(out, "r2\n");

    // A group commits what it printed up to the bound, and resumes there.
    let group = ["tail", "t", "--group", "g", "--from-beginning"];
    let first = broker.ok(&[&group[..], &["--until-offset", "2"]].concat(), "");
    assert_eq!(first, "r0\nr1\n");
    let rest = broker.ok(&[&group[..], &["--no-follow"]].concat(), "");
    assert_eq!(rest, "r2\nr3\nr4\nr5\n");
}

#[test]
fn until_time_stops_at_the_first_record_at_or_after_it() {
    let broker = broker_with("1");
    // Records from 2100 stand for "a time still to come": the topic must take them.
    broker.ok(
        &[
            "topic",
            "alter",
            "t",
            "--config",
            "message.timestamp.after.max.ms=9223372036854775807",
        ],
        "",
    );
    let input = concat!(
        "{\"value\": \"a\", \"timestamp\": 1000}\n",
        "{\"value\": \"b\", \"timestamp\": 3000}\n",
        "{\"value\": \"c\", \"timestamp\": 4102444799000}\n",
        "{\"value\": \"d\", \"timestamp\": 4102444800000}\n",
        "{\"value\": \"e\", \"timestamp\": 1000}\n",
    );
    broker.ok(&["produce", "t", "--format", "json", "-q"], input);
    let past = broker.ok(
        &[
            "tail",
            "t",
            "--from-beginning",
            "--until-time",
            "1970-01-01T00:00:02Z",
        ],
        "",
    );
    assert_eq!(past, "a\n");
    // A time still to come: following, the record at 2100-01-01 ends the partition.
    let future = broker.ok(
        &[
            "tail",
            "t",
            "--from-beginning",
            "--until-time",
            "2100-01-01T00:00:00Z",
        ],
        "",
    );
    assert_eq!(future, "a\nb\nc\n");
}

#[test]
fn print_offsets_says_where_each_record_landed() {
    let broker = broker_with("3");
    let input = "k1:a\nk2:b\nk3:c\nk1:d\nk4:e\n";
    let out = broker.ok(
        &[
            "produce",
            "t",
            "--key-separator",
            ":",
            "--print-offsets",
            "-q",
        ],
        input,
    );
    let landed: Vec<&str> = out.lines().collect();
    assert_eq!(landed.len(), 5, "{out}");
    // Every value is found at the place printed for its line.
    let tail = broker.ok(
        &[
            "tail",
            "t",
            "--from-beginning",
            "--no-follow",
            "--print-offset",
        ],
        "",
    );
    let at: BTreeMap<&str, &str> = tail
        .lines()
        .map(|line| line.split_once('\t').unwrap())
        .map(|(place, value)| (value, place))
        .collect();
    for (line, place) in input.lines().zip(&landed) {
        let value = line.split_once(':').unwrap().1;
        assert_eq!(at[value], *place, "{line}");
    }
    assert_eq!(landed[0].split(':').next(), landed[3].split(':').next());

    let out = broker.ok(
        &["produce", "t", "--print-offsets", "--output", "json"],
        "x\ny\n",
    );
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3, "two records then the summary: {out}");
    assert_eq!(lines[0]["line"], 1);
    assert_eq!(lines[1]["line"], 2);
    assert_eq!(lines[0]["topic"], "t");
    assert!(lines[1]["offset"].as_i64().unwrap() >= 0);
    assert_eq!(lines[2]["acknowledged"], 2);
    assert_eq!(lines[2]["failed"], 0);
}

#[test]
fn output_json_on_every_subcommand_that_prints() {
    let broker = TestBroker::start();
    let j = |args: &[&str]| -> Value {
        let mut all = vec!["--output", "json"];
        all.extend_from_slice(args);
        json(broker.ok(&all, "").trim_end())
    };
    assert_eq!(
        j(&["topic", "create", "o", "--partitions", "2"])["topic"],
        "o"
    );
    assert_eq!(j(&["topic", "list"])[0]["name"], "o");
    assert_eq!(
        j(&["topic", "describe", "o"])["partitions"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert!(j(&["topic", "alter", "o", "--config", "retention.ms=1000"]).is_object());
    assert_eq!(j(&["produce", "o"])["sent"], 0);
    let produced = broker.ok(&["--output", "json", "produce", "o"], "a\n");
    assert_eq!(json(produced.trim_end())["acknowledged"], 1);
    let tailed = broker.ok(&["--output", "json", "tail", "o", "--no-follow"], "");
    assert_eq!(json(tailed.trim_end())["value"], "a");
    broker.ok(
        &[
            "tail",
            "o",
            "--group",
            "g",
            "--from-beginning",
            "--no-follow",
        ],
        "",
    );
    assert_eq!(j(&["group", "list"])[0]["group"], "g");
    assert_eq!(j(&["group", "describe", "g"])["group"], "g");
    let plan = j(&[
        "group",
        "reset-offsets",
        "g",
        "--all-topics",
        "--to-earliest",
    ]);
    assert_eq!(plan["executed"], false);
    assert_eq!(j(&["group", "delete", "g"])["deleted"], "g");
    assert!(j(&["status"]).is_object());
    let bench = j(&[
        "bench",
        "produce",
        "--topic",
        "b",
        "--count",
        "100",
        "--message-size",
        "10",
    ]);
    assert_eq!(bench["mode"], "produce");
    assert!(j(&["topic", "delete", "o"]).is_object());
}
