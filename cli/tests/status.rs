//! `rill status` against a real broker.

mod common;

use common::TestBroker;
use serde_json::Value;

#[test]
fn status_reports_version_topics_and_partitions() {
    let broker = TestBroker::start();
    broker.ok(&["topic", "create", "a", "--partitions", "3"], "");
    broker.ok(&["topic", "create", "b", "--partitions", "2"], "");
    // A group's commits create the broker's internal offsets topic, not counted.
    broker.ok(&["tail", "a", "--group", "g", "--no-follow"], "");
    let json: Value =
        serde_json::from_str(&broker.ok(&["status", "--output", "json"], "")).unwrap();
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json["topics"], 2);
    assert_eq!(json["partitions"], 5);
    assert!(json["connections_open"].as_i64().unwrap() >= 1);
    assert!(json["broker"].as_str().unwrap().starts_with("127.0.0.1:"));
    let text = broker.ok(&["status"], "");
    assert!(text.contains("partitions  5"), "{text}");
}
