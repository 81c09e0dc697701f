//! `rill user create|list|delete` and the global SASL options against a broker that
//! requires SCRAM.

mod common;

use common::TestBroker;
use rill_protocol::sasl::SaslMechanism;
use serde_json::Value;

fn sasl_broker() -> (TestBroker, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    rill_broker::security::bootstrap::create(dir.path(), "admin", &[], b"admin-pw").unwrap();
    let broker = TestBroker::start_in_with(dir, |c| {
        c.sasl.mechanisms = vec![SaslMechanism::ScramSha256, SaslMechanism::ScramSha512];
        // SASL turns ACLs on; these tests are about users, so both are super users.
        c.authorization.super_users = ["User:admin", "User:bob"]
            .iter()
            .map(|p| p.parse().expect("principal"))
            .collect();
    });
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("admin.pw"), "admin-pw\n").unwrap();
    (broker, files)
}

#[test]
fn users_are_managed_and_log_in_with_the_global_sasl_options() {
    let (broker, files) = sasl_broker();
    let pw_file = files.path().join("admin.pw");
    let pw_file = pw_file.to_str().unwrap();
    let admin = |args: &[&str]| {
        let mut all = vec!["--sasl-username", "admin", "--sasl-password-file", pw_file];
        all.extend_from_slice(args);
        all.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let create = admin(&["user", "create", "bob", "--password-stdin"]);
    let create: Vec<&str> = create.iter().map(String::as_str).collect();
    assert_eq!(broker.ok(&create, "bob-pw\n"), "created user bob\n");
    let list = admin(&["user", "list", "--output", "json"]);
    let list: Vec<&str> = list.iter().map(String::as_str).collect();
    let users: Value = serde_json::from_str(&broker.ok(&list, "")).unwrap();
    assert_eq!(users[1]["name"], "bob", "{users}");
    assert_eq!(
        users[1]["mechanisms"].as_array().unwrap().len(),
        2,
        "{users}"
    );

    // bob, by environment variables, with SCRAM-SHA-512.
    let mut bob = broker.rill(&["topic", "create", "bobs"]);
    bob.env("RILL_SASL_USERNAME", "bob")
        .env("RILL_SASL_PASSWORD", "bob-pw")
        .env("RILL_SASL_MECHANISM", "SCRAM-SHA-512");
    let out = common::run_command(bob, b"");
    assert!(out.status.success(), "{}", out.stderr);

    // A wrong password, and no password at all, fail with what to do.
    let mut wrong = broker.rill(&["--sasl-username", "bob", "topic", "list"]);
    wrong.env("RILL_SASL_PASSWORD", "nope");
    let out = common::run_command(wrong, b"");
    assert_eq!(out.code(), Some(1));
    assert!(
        out.stderr
            .contains("authentication failed for user bob: wrong password or unknown user"),
        "{}",
        out.stderr
    );
    let out = broker.run(&["--sasl-username", "bob", "topic", "list"], "");
    assert_eq!(out.code(), Some(1));
    assert!(out.stderr.contains("RILL_SASL_PASSWORD"), "{}", out.stderr);
    // Without SASL settings the broker refuses to serve.
    assert_ne!(broker.run(&["topic", "list"], "").code(), Some(0));

    // Deleted: bob no longer logs in.
    let delete = admin(&["user", "delete", "bob"]);
    let delete: Vec<&str> = delete.iter().map(String::as_str).collect();
    assert_eq!(broker.ok(&delete, ""), "deleted user bob\n");
    let mut gone = broker.rill(&["--sasl-username", "bob", "topic", "list"]);
    gone.env("RILL_SASL_PASSWORD", "bob-pw");
    let out = common::run_command(gone, b"");
    assert!(
        out.stderr.contains("authentication failed for user bob"),
        "{}",
        out.stderr
    );
}
