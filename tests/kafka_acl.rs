//! A Kafka client (confluent-kafka, i.e. librdkafka) refused a topic by the ACLs gets
//! TOPIC_AUTHORIZATION_FAILED on produce and on consume and does not see the topic in
//! the cluster's topic list, while a topic it is allowed works as usual; its admin
//! client adds, lists and removes ACLs (CreateAcls, DescribeAcls, DeleteAcls).
//!
//! The client is installed by `.ci/run` (the `ck` virtualenv of `tests/kafka_clients/`).
//! A missing client fails the test; `RILL_KAFKA_CLIENTS_OPTIONAL=1` skips it instead.

mod kafka_tools;

use std::net::SocketAddr;
use std::time::Duration;

use kafka_tools::{clients_dir, python};
use rill::broker::security::acl::{
    AclBinding, AclOperation, AclPermission, AuthorizationMode, PatternType, ResourceType,
};
use rill::broker::testing::TestBroker;
use serde_json::{json, Value};

const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

fn allow(resource_type: ResourceType, name: &str, operation: AclOperation) -> AclBinding {
    AclBinding {
        resource_type,
        resource_name: name.into(),
        pattern_type: PatternType::Literal,
        principal: "User:ANONYMOUS".into(),
        host: "*".into(),
        operation,
        permission: AclPermission::Allow,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_client_denied_a_topic_gets_the_authorization_error() {
    let Some(py) = python("ck") else { return };
    let broker = TestBroker::start_with(|c| {
        c.kafka_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        c.http_listen = None;
        c.authorization.mode = AuthorizationMode::On;
    })
    .await;
    let ctx = broker.ctx.clone();
    tokio::task::spawn_blocking(move || {
        for topic in ["secret", "open"] {
            ctx.topics
                .create(topic, Some(1), Default::default())
                .unwrap();
        }
        let acls = vec![
            allow(ResourceType::Topic, "open", AclOperation::All),
            allow(ResourceType::Group, "*", AclOperation::Read),
            allow(ResourceType::Cluster, "kafka-cluster", AclOperation::Alter),
        ];
        ctx.authorizer.store().create(acls).unwrap();
    })
    .await
    .unwrap();

    let kafka = broker
        .kafka_addr
        .expect("the Kafka listener is on")
        .to_string();
    let child = tokio::process::Command::new(&py)
        .args(["acl_client.py", &kafka, "secret", "open"])
        .current_dir(clients_dir())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(SCRIPT_TIMEOUT, child)
        .await
        .expect("acl_client.py timed out")
        .expect("python starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "acl_client.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no JSON from acl_client.py ({e}): {stdout}"));
    assert_eq!(
        summary["denied_produce"], "TOPIC_AUTHORIZATION_FAILED",
        "{summary}"
    );
    assert_eq!(
        summary["denied_consume"],
        json!({"error": "TOPIC_AUTHORIZATION_FAILED"}),
        "{summary}"
    );
    assert_eq!(summary["allowed_produce"], Value::Null, "{summary}");
    assert_eq!(
        summary["allowed_consume"],
        json!({"value": "acl-test"}),
        "{summary}"
    );
    assert_eq!(summary["listed"], json!(["open"]), "{summary}");
    let carol = "ALLOW User:carol READ TOPIC PREFIXED:ledger- *";
    let expected = json!({"listed": [carol], "deleted": [carol], "after": []});
    assert_eq!(summary["admin_acls"], expected, "{summary}");
    let secret = broker.ctx.topics.get("secret").expect("topic kept");
    let written = secret.partitions[0].log().expect("online").high_watermark();
    assert_eq!(written, 0, "a denied produce appended records");
    broker.stop().await;
}
