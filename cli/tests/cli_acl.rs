//! `rill acl` against a real broker with authorization on: add, list (text and JSON),
//! remove, and what a principal without rights sees.

mod common;

use common::TestBroker;
use rill_broker::security::acl::AuthorizationMode;
use rill_broker::security::Principal;
use serde_json::{json, Value};

#[test]
fn acls_are_added_listed_and_removed() {
    // Every connection is User:ANONYMOUS here (no SASL): make it the super user.
    let broker = TestBroker::start_with(|c| {
        c.authorization.mode = AuthorizationMode::On;
        c.authorization.super_users = vec![Principal::anonymous()];
    });
    let added = broker.ok(
        &[
            "acl",
            "add",
            "--allow",
            "--principal",
            "User:alice",
            "--topic",
            "logs-",
            "--prefixed",
            "--operation",
            "read,write",
        ],
        "",
    );
    assert_eq!(added.lines().count(), 2, "{added}");
    broker.ok(
        &[
            "acl",
            "add",
            "--deny",
            "--principal",
            "User:bob",
            "--group",
            "billing",
            "--operation",
            "all",
        ],
        "",
    );
    let listed: Value =
        serde_json::from_str(&broker.ok(&["acl", "list", "--output", "json"], "")).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 3, "{listed}");
    let alice = broker.ok(
        &[
            "acl",
            "list",
            "--principal",
            "User:alice",
            "--output",
            "json",
        ],
        "",
    );
    let alice: Value = serde_json::from_str(&alice).unwrap();
    assert_eq!(
        alice[0],
        json!({"permission": "Allow", "principal": "User:alice", "operation": "Read",
               "resource_type": "Topic", "pattern_type": "Prefixed", "resource_name": "logs-",
               "host": "*"})
    );
    let text = broker.ok(&["acl", "list", "--group", "billing"], "");
    assert!(text.contains("Deny") && text.contains("billing"), "{text}");

    let refused = broker.run(&["acl", "remove"], "");
    assert_eq!(refused.code(), Some(1));
    assert!(refused.stderr.contains("--all"), "{}", refused.stderr);
    let removed = broker.ok(&["acl", "remove", "--principal", "User:bob"], "");
    assert!(
        removed.contains("removed: Deny User:bob All on Group"),
        "{removed}"
    );
    let left: Value =
        serde_json::from_str(&broker.ok(&["acl", "list", "--output", "json"], "")).unwrap();
    assert_eq!(left.as_array().unwrap().len(), 2, "{left}");
    broker.stop();
}

#[test]
fn a_principal_without_rights_is_told_how_to_get_them() {
    let broker = TestBroker::start_with(|c| c.authorization.mode = AuthorizationMode::On);
    let listed = broker.run(&["acl", "list"], "");
    assert_eq!(listed.code(), Some(1));
    assert!(
        listed.stderr.contains("CLUSTER_AUTHORIZATION_FAILED"),
        "{}",
        listed.stderr
    );
    assert!(listed.stderr.contains("rill acl add"), "{}", listed.stderr);
    let created = broker.run(&["topic", "create", "orders"], "");
    assert_eq!(created.code(), Some(1));
    assert!(
        created.stderr.contains("TOPIC_AUTHORIZATION_FAILED"),
        "{}",
        created.stderr
    );
    broker.stop();
}
