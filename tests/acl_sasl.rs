//! ACLs with real SCRAM users, through the Rust client: a super user manages the ACLs
//! with `Admin`; `alice` reads and writes what they allow (a prefixed grant, a deny that
//! wins over it), `bob` with no ACL can do nothing, cannot see the topics and cannot
//! grant himself anything; removing an ACL stops `alice`'s open connection at its next
//! request.

use std::time::{Duration, Instant};

use rill::broker::security::bootstrap;
use rill::broker::security::Principal;
use rill::broker::testing::TestBroker;
use rill::client::{
    AclBinding, AclFilter, AclOperation, AclPermission, Admin, ClientError, ConnectionConfig,
    Consumer, ConsumerConfig, ErrorCode, PatternType, Producer, ProducerConfig, ProducerRecord,
    ResourceType, SaslConfig, SaslMechanism, SeekTo, TopicPartition,
};

const DEADLINE: Duration = Duration::from_secs(30);
const USERS: &[(&str, &str)] = &[
    ("admin", "admin-secret-1"),
    ("alice", "alice-secret-1"),
    ("bob", "bob-secret-1"),
];

fn sasl(user: &str) -> SaslConfig {
    let password = USERS.iter().find(|(u, _)| *u == user).unwrap().1;
    SaslConfig::scram_sha256(user, password)
}

async fn broker() -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    for (user, password) in USERS {
        bootstrap::create(dir.path(), user, &[], password.as_bytes()).unwrap();
    }
    TestBroker::start_in(dir, |c| {
        c.sasl.mechanisms = vec![SaslMechanism::ScramSha256];
        c.authorization.super_users = vec![Principal::user("admin")];
    })
    .await
}

async fn admin_as(broker: &TestBroker, user: &str) -> Admin {
    let mut config = ConnectionConfig::new(broker.addr.to_string());
    config.sasl = Some(sasl(user));
    Admin::connect(config).await.unwrap()
}

async fn producer_as(broker: &TestBroker, user: &str) -> Producer {
    let config = ProducerConfig::builder(broker.addr.to_string())
        .sasl(sasl(user))
        .build()
        .unwrap();
    Producer::connect(config).await.unwrap()
}

/// Sends one record to partition 0 of `topic`; the broker's error code, if any.
async fn send(producer: &Producer, topic: &str) -> Option<ErrorCode> {
    let record = ProducerRecord::new(topic, "v").with_partition(0);
    let delivered = match producer.send(record).await {
        Ok(delivery) => delivery.await,
        Err(e) => Err(e.into_parts().0),
    };
    delivered
        .err()
        .map(|e| e.error_code().unwrap_or_else(|| panic!("{e}")))
}

/// What reading partition 0 of `topic` from the start as `user` yields first.
async fn read_as(broker: &TestBroker, user: &str, topic: &str) -> Result<usize, ClientError> {
    let config = ConsumerConfig::builder(broker.addr.to_string())
        .sasl(sasl(user))
        .build()
        .unwrap();
    let mut consumer = Consumer::connect(config).await?;
    let tp = TopicPartition::new(topic, 0);
    consumer.assign([tp.clone()]);
    consumer.seek(&tp, SeekTo::Beginning).await?;
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < DEADLINE, "nothing read from {topic}");
        let records = consumer.poll(Duration::from_millis(200)).await?;
        if !records.is_empty() {
            return Ok(records.len());
        }
    }
}

fn acl(
    principal: &str,
    name: &str,
    pattern_type: PatternType,
    operation: AclOperation,
    permission: AclPermission,
) -> AclBinding {
    AclBinding {
        resource_type: ResourceType::Topic,
        resource_name: name.into(),
        pattern_type,
        principal: principal.into(),
        host: "*".into(),
        operation,
        permission,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_users_get_exactly_what_their_acls_allow() {
    let broker = broker().await;
    let admin = admin_as(&broker, "admin").await;
    for topic in ["orders", "orders-secret", "payroll"] {
        admin.create_topic(topic, 1, &[]).await.unwrap();
    }
    let (prefixed, literal) = (PatternType::Prefixed, PatternType::Literal);
    let allow = AclPermission::Allow;
    let alice_write = acl("User:alice", "orders", prefixed, AclOperation::Write, allow);
    let alice_read = acl("User:alice", "orders", prefixed, AclOperation::Read, allow);
    let deny_secret = acl(
        "User:alice",
        "orders-secret",
        literal,
        AclOperation::Read,
        AclPermission::Deny,
    );
    let grants = vec![alice_write.clone(), alice_read.clone(), deny_secret.clone()];
    admin.create_acls(grants).await.unwrap();
    let mut listed = admin.describe_acls(AclFilter::any()).await.unwrap();
    listed.sort();
    let mut expected = vec![alice_write.clone(), alice_read.clone(), deny_secret];
    expected.sort();
    assert_eq!(listed, expected);

    // alice: the prefixed grant covers both topics; the deny takes Read on one away.
    let alice = producer_as(&broker, "alice").await;
    assert_eq!(send(&alice, "orders").await, None);
    assert_eq!(send(&alice, "orders-secret").await, None);
    let denied = Some(ErrorCode::TopicAuthorizationFailed);
    assert_eq!(send(&alice, "payroll").await, denied);
    assert_eq!(read_as(&broker, "alice", "orders").await.unwrap(), 1);
    let secret = read_as(&broker, "alice", "orders-secret")
        .await
        .unwrap_err();
    assert_eq!(secret.error_code(), denied, "{secret}");

    // bob: no ACL, nothing; he cannot see the topics nor grant himself access.
    let bob_admin = admin_as(&broker, "bob").await;
    assert!(bob_admin.list_topics().await.unwrap().is_empty());
    let grab = acl("User:bob", "*", literal, AclOperation::All, allow);
    let refused = bob_admin.create_acls(vec![grab]).await.unwrap_err();
    assert_eq!(
        refused.error_code(),
        Some(ErrorCode::ClusterAuthorizationFailed)
    );
    let refused = bob_admin.describe_acls(AclFilter::any()).await.unwrap_err();
    assert_eq!(
        refused.error_code(),
        Some(ErrorCode::ClusterAuthorizationFailed)
    );

    // Removing alice's write grant stops her open producer at its next request.
    let removed = admin
        .delete_acls(vec![AclFilter::exact(&alice_write)])
        .await
        .unwrap();
    assert_eq!(removed, vec![alice_write]);
    assert_eq!(send(&alice, "orders").await, denied);
    assert_eq!(read_as(&broker, "alice", "orders").await.unwrap(), 1);
    // Closing reports the records the ACLs refused.
    let closed = alice.close().await.unwrap_err();
    assert!(
        matches!(closed, ClientError::DeliveryFailed { .. }),
        "{closed}"
    );
    broker.stop().await;
}
