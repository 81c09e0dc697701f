//! SASL end to end with the Rust client: SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN with
//! right and wrong passwords, the authentication gate, PLAIN over plaintext, users
//! created, deleted and surviving a restart, the authentication timeout, and 1,000
//! failed logins that do not hold up a good client.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rill::broker::config::BrokerConfig;
use rill::broker::security::bootstrap;
use rill::broker::security::credentials::CredentialStore;
use rill::broker::security::Principal;
use rill::broker::testing::TestBroker;
use rill::client::{
    Admin, ClientError, ConnectionConfig, Consumer, ConsumerConfig, Producer, ProducerConfig,
    ProducerRecord, SaslConfig, SaslMechanism, SeekTo, TopicPartition,
};
use rill::protocol::api::metadata::MetadataRequest;
use rill::protocol::api::sasl_authenticate::{SaslAuthenticateRequest, SaslAuthenticateResponse};
use rill::protocol::api::sasl_handshake::{SaslHandshakeRequest, SaslHandshakeResponse};
use rill::protocol::api::{encode_request, Message, Request, RequestHeader, Response};
use rill::protocol::error_code::ErrorCode;
use rill::protocol::frame::FrameBuf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ADMIN: &str = "alice";
const ADMIN_PASSWORD: &str = "alice-secret-1";
const DEADLINE: Duration = Duration::from_secs(30);

/// A broker with `mechanisms` on and `alice` created offline (as `rilld user create`).
/// Authentication is what these tests are about: `alice` and `bob` are super users, so
/// the ACLs that SASL turns on (see tests/kafka_acl.rs, broker/tests/authorization.rs)
/// let them do everything once logged in.
async fn sasl_broker(
    mechanisms: &[SaslMechanism],
    tweak: impl FnOnce(&mut BrokerConfig),
) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    bootstrap::create(dir.path(), ADMIN, &[], ADMIN_PASSWORD.as_bytes()).unwrap();
    let mechanisms = mechanisms.to_vec();
    TestBroker::start_in(dir, move |c| {
        c.sasl.mechanisms = mechanisms;
        c.authorization.super_users = vec![Principal::user(ADMIN), Principal::user("bob")];
        c.kafka_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        tweak(c);
    })
    .await
}

fn connection(addr: SocketAddr, sasl: Option<SaslConfig>) -> ConnectionConfig {
    let mut config = ConnectionConfig::new(addr.to_string());
    config.sasl = sasl;
    config.connect_timeout = Duration::from_secs(10);
    config
}

/// Produces `count` values to partition 0 of `topic` and reads them back, both as `sasl`.
async fn round_trip(addr: SocketAddr, sasl: SaslConfig, topic: &str, count: usize) -> Vec<Bytes> {
    let producer = Producer::connect(
        ProducerConfig::builder(addr.to_string())
            .sasl(sasl.clone())
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let mut deliveries = Vec::new();
    for i in 0..count {
        let record = ProducerRecord::new(topic, format!("{topic}-{i}")).with_partition(0);
        deliveries.push(producer.send(record).await.unwrap());
    }
    for d in deliveries {
        d.await.unwrap();
    }
    producer.close().await.unwrap();
    let config = ConsumerConfig::builder(addr.to_string())
        .sasl(sasl)
        .build()
        .unwrap();
    let mut consumer = Consumer::connect(config).await.unwrap();
    let tp = TopicPartition::new(topic, 0);
    consumer.assign([tp.clone()]);
    consumer.seek(&tp, SeekTo::Beginning).await.unwrap();
    let mut values = Vec::new();
    let started = Instant::now();
    while values.len() < count {
        assert!(started.elapsed() < DEADLINE, "records did not come back");
        for r in consumer.poll(Duration::from_millis(200)).await.unwrap() {
            values.push(r.value.unwrap());
        }
    }
    values
}

fn expected(topic: &str, count: usize) -> Vec<Bytes> {
    (0..count)
        .map(|i| Bytes::from(format!("{topic}-{i}")))
        .collect()
}

async fn metrics(broker: &TestBroker) -> String {
    let addr = broker.http_addr.unwrap();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    out
}

/// The value of `rill_sasl_authentications_total{mechanism, result}`.
async fn logins(broker: &TestBroker, mechanism: &str, result: &str) -> u64 {
    let text = metrics(broker).await;
    let prefix = format!(
        "rill_sasl_authentications_total{{mechanism=\"{mechanism}\",result=\"{result}\"}} "
    );
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in /metrics:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

fn auth_error(error: ClientError) -> String {
    match error {
        ClientError::Authentication { reason, .. } => reason,
        other => panic!("expected an authentication error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mechanism_logs_in_with_the_right_password_and_moves_bytes() {
    let all = [
        SaslMechanism::ScramSha256,
        SaslMechanism::ScramSha512,
        SaslMechanism::Plain,
    ];
    let broker = sasl_broker(&all, |c| c.sasl.allow_plain_without_tls = true).await;
    for (i, mechanism) in all.into_iter().enumerate() {
        let topic = format!("sasl-{i}");
        let sasl = SaslConfig::new(mechanism, ADMIN, ADMIN_PASSWORD);
        let values = round_trip(broker.addr, sasl, &topic, 5).await;
        assert_eq!(values, expected(&topic, 5), "{mechanism}");
        assert!(
            logins(&broker, mechanism.name(), "success").await >= 2,
            "{mechanism}"
        );
        assert_eq!(logins(&broker, mechanism.name(), "failure").await, 0);
    }
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_and_unknown_users_are_refused_clearly_and_counted() {
    let all = [
        SaslMechanism::ScramSha256,
        SaslMechanism::ScramSha512,
        SaslMechanism::Plain,
    ];
    let broker = sasl_broker(&all, |c| c.sasl.allow_plain_without_tls = true).await;
    for mechanism in all {
        for (user, password) in [(ADMIN, "wrong"), ("mallory", ADMIN_PASSWORD)] {
            let sasl = SaslConfig::new(mechanism, user, password);
            let error = Admin::connect(connection(broker.addr, Some(sasl)))
                .await
                .unwrap_err();
            assert_eq!(
                auth_error(error),
                format!("authentication failed for user {user}: wrong password or unknown user")
            );
        }
        assert_eq!(
            logins(&broker, mechanism.name(), "failure").await,
            2,
            "{mechanism}"
        );
        assert_eq!(
            logins(&broker, mechanism.name(), "success").await,
            0,
            "{mechanism}"
        );
    }
    broker.stop().await;
}

/// Sends one request on a raw native connection; returns the response payload, or
/// `None` when the broker closed the connection instead.
async fn raw_call(stream: &mut TcpStream, api_request: Request, version: u16) -> Option<Bytes> {
    let header = RequestHeader {
        api_key: api_request.api_key(),
        api_version: version,
        correlation_id: 7,
        client_id: None,
    };
    let mut out = FrameBuf::new();
    encode_request(&header, &api_request, &mut out).unwrap();
    let mut frame = out.finish(1 << 20).unwrap();
    if stream.write_all_buf(&mut frame).await.is_err() {
        return None;
    }
    let mut len = [0u8; 4];
    match tokio::time::timeout(DEADLINE, stream.read_exact(&mut len))
        .await
        .unwrap()
    {
        Ok(_) => {}
        Err(_) => return None,
    }
    let mut payload = vec![0u8; u32::from_be_bytes(len) as usize];
    stream.read_exact(&mut payload).await.unwrap();
    Some(Bytes::from(payload))
}

/// True when the broker closes `stream` (EOF or reset) within the deadline.
async fn closed_by_broker(stream: &mut TcpStream, within: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(within, stream.read(&mut byte)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_before_authentication_are_refused_on_both_listeners() {
    let broker = sasl_broker(&[SaslMechanism::ScramSha256], |_| {}).await;
    // Native: Metadata before authenticating closes the connection.
    let mut stream = TcpStream::connect(broker.addr).await.unwrap();
    let metadata = Request::Metadata(MetadataRequest {
        topics: None,
        allow_auto_topic_creation: false,
    });
    assert_eq!(raw_call(&mut stream, metadata, 0).await, None);
    // ApiVersions and SaslHandshake are allowed; a mechanism not enabled is named.
    let mut stream = TcpStream::connect(broker.addr).await.unwrap();
    let handshake = SaslHandshakeRequest {
        mechanism: "SCRAM-SHA-512".into(),
    };
    let payload = raw_call(&mut stream, handshake.into(), 0).await.unwrap();
    let (_, response) = Response::decode(SaslHandshakeRequest::API_KEY, 0, payload).unwrap();
    let Response::SaslHandshake(SaslHandshakeResponse {
        error_code,
        mechanisms,
    }) = response
    else {
        panic!("{response:?}")
    };
    assert_eq!(error_code, ErrorCode::UnsupportedSaslMechanism);
    assert_eq!(mechanisms, vec!["SCRAM-SHA-256".to_string()]);
    // The library says the same to its user.
    let sasl = SaslConfig::scram_sha512(ADMIN, ADMIN_PASSWORD);
    let error = Admin::connect(connection(broker.addr, Some(sasl)))
        .await
        .unwrap_err();
    assert_eq!(
        auth_error(error),
        "broker does not enable SCRAM-SHA-512; it offers: SCRAM-SHA-256"
    );
    // A client without SASL settings cannot use the broker.
    let admin = Admin::connect(connection(broker.addr, None)).await;
    let listed = match admin {
        Ok(admin) => admin.list_topics().await.map(drop),
        Err(e) => Err(e),
    };
    assert!(listed.is_err(), "an anonymous client listed topics");
    // Kafka: a Metadata v1 request (api 3) before authenticating closes the connection.
    let mut kafka = TcpStream::connect(broker.kafka_addr.unwrap())
        .await
        .unwrap();
    let body: &[u8] = &[0, 3, 0, 1, 0, 0, 0, 9, 0, 1, b'k', 0xff, 0xff, 0xff, 0xff];
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(body);
    kafka.write_all(&frame).await.unwrap();
    assert!(closed_by_broker(&mut kafka, DEADLINE).await);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_over_plaintext_is_refused_unless_allowed() {
    let plain = SaslConfig::plain(ADMIN, ADMIN_PASSWORD);
    let broker = sasl_broker(&[SaslMechanism::Plain, SaslMechanism::ScramSha256], |_| {}).await;
    let error = Admin::connect(connection(broker.addr, Some(plain.clone())))
        .await
        .unwrap_err();
    let reason = auth_error(error);
    assert!(reason.contains("PLAIN needs TLS"), "{reason}");
    assert!(
        reason.contains("--sasl-allow-plain-without-tls"),
        "{reason}"
    );
    broker.stop().await;
    let broker = sasl_broker(&[SaslMechanism::Plain], |c| {
        c.sasl.allow_plain_without_tls = true
    })
    .await;
    let admin = Admin::connect(connection(broker.addr, Some(plain)))
        .await
        .unwrap();
    admin.list_topics().await.unwrap();
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_created_over_the_wire_log_in_survive_a_restart_and_are_deleted() {
    let mechanisms = [SaslMechanism::ScramSha256, SaslMechanism::ScramSha512];
    let broker = sasl_broker(&mechanisms, |_| {}).await;
    let admin_sasl = SaslConfig::scram_sha512(ADMIN, ADMIN_PASSWORD);
    let admin = Admin::connect(connection(broker.addr, Some(admin_sasl.clone())))
        .await
        .unwrap();
    admin
        .create_user("bob", "bob-password-42", &[])
        .await
        .unwrap();
    let users = admin.list_users().await.unwrap();
    let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!(users[1].mechanisms.len(), 2);
    admin.close().await.unwrap();
    let bob = SaslConfig::scram_sha256("bob", "bob-password-42");
    assert_eq!(
        round_trip(broker.addr, bob.clone(), "bobs", 3).await,
        expected("bobs", 3)
    );

    // Restart on the same data directory: bob still logs in; the file has no password.
    let dir = broker.stop().await;
    let file = std::fs::read_to_string(CredentialStore::path_in(dir.path())).unwrap();
    assert!(file.contains("\"bob\""));
    assert!(!file.contains("bob-password-42") && !file.contains(ADMIN_PASSWORD));
    let broker = TestBroker::start_in(dir, |c| {
        c.sasl.mechanisms = mechanisms.to_vec();
        c.authorization.super_users = vec![Principal::user(ADMIN), Principal::user("bob")];
    })
    .await;
    assert_eq!(
        round_trip(broker.addr, bob.clone(), "bobs-again", 3).await,
        expected("bobs-again", 3)
    );

    // Deleted: bob can no longer log in.
    let admin = Admin::connect(connection(broker.addr, Some(admin_sasl)))
        .await
        .unwrap();
    admin.delete_user("bob").await.unwrap();
    let missing = admin.delete_user("bob").await.unwrap_err();
    assert_eq!(
        missing.error_code(),
        Some(ErrorCode::ResourceNotFound),
        "{missing}"
    );
    let error = Admin::connect(connection(broker.addr, Some(bob)))
        .await
        .unwrap_err();
    assert!(auth_error(error).contains("wrong password or unknown user"));
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_authenticates_is_closed_after_the_sasl_timeout() {
    let broker = sasl_broker(&[SaslMechanism::ScramSha256], |c| {
        c.sasl.timeout = Duration::from_millis(300);
    })
    .await;
    for addr in [broker.addr, broker.kafka_addr.unwrap()] {
        let mut silent = TcpStream::connect(addr).await.unwrap();
        assert!(closed_by_broker(&mut silent, DEADLINE).await, "{addr}");
    }
    // An authenticated connection stays open past the timeout.
    let sasl = SaslConfig::scram_sha256(ADMIN, ADMIN_PASSWORD);
    let admin = Admin::connect(connection(broker.addr, Some(sasl)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    admin.list_topics().await.unwrap();
    broker.stop().await;
}

/// One failed SCRAM login on a raw connection: a real client-first, then a client-final
/// with the broker's nonce and a wrong proof. True when the broker refused it.
async fn failed_login(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return false;
    };
    let handshake = SaslHandshakeRequest {
        mechanism: "SCRAM-SHA-256".into(),
    };
    if raw_call(&mut stream, handshake.into(), 0).await.is_none() {
        return false;
    }
    let first = SaslAuthenticateRequest {
        auth_bytes: Bytes::from_static(b"n,,n=alice,r=attackernonce"),
    };
    let Some(payload) = raw_call(&mut stream, first.into(), 0).await else {
        return false;
    };
    let Ok((_, Response::SaslAuthenticate(answer))) =
        Response::decode(SaslAuthenticateRequest::API_KEY, 0, payload)
    else {
        return false;
    };
    let server_first = String::from_utf8_lossy(&answer.auth_bytes).to_string();
    let nonce = server_first.split(',').next().unwrap_or_default();
    let last = format!("c=biws,{nonce},p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    let fin = SaslAuthenticateRequest {
        auth_bytes: Bytes::from(last),
    };
    let Some(payload) = raw_call(&mut stream, fin.into(), 0).await else {
        return false;
    };
    matches!(
        Response::decode(SaslAuthenticateRequest::API_KEY, 0, payload),
        Ok((
            _,
            Response::SaslAuthenticate(SaslAuthenticateResponse {
                error_code: ErrorCode::SaslAuthenticationFailed,
                ..
            })
        ))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_failed_logins_do_not_hold_up_a_good_client() {
    const FAILURES: usize = 1000;
    const PARALLEL: usize = 200;
    const GOOD_ROUNDS: usize = 20;
    let broker = sasl_broker(&[SaslMechanism::ScramSha256], |_| {}).await;
    let addr = broker.addr;
    let attack = tokio::spawn(async move {
        let mut refused = 0;
        for _ in 0..FAILURES / PARALLEL {
            let batch: Vec<_> = (0..PARALLEL)
                .map(|_| tokio::spawn(failed_login(addr)))
                .collect();
            for login in batch {
                refused += usize::from(login.await.unwrap());
            }
        }
        refused
    });
    // Wait until the attack is under way, then keep producing and consuming.
    let started = Instant::now();
    while logins(&broker, "SCRAM-SHA-256", "failure").await == 0 {
        assert!(
            started.elapsed() < DEADLINE,
            "the failed logins never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sasl = SaslConfig::scram_sha256(ADMIN, ADMIN_PASSWORD);
    let producer = Producer::connect(
        ProducerConfig::builder(addr.to_string())
            .sasl(sasl.clone())
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let mut consumer = Consumer::connect(
        ConsumerConfig::builder(addr.to_string())
            .sasl(sasl)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let tp = TopicPartition::new("busy", 0);
    let mut seen: BTreeMap<i64, Bytes> = BTreeMap::new();
    for round in 0..GOOD_ROUNDS {
        let value = format!("good-{round}");
        let record = ProducerRecord::new("busy", value.clone()).with_partition(0);
        let meta = producer.send(record).await.unwrap().await.unwrap();
        if round == 0 {
            consumer.assign([tp.clone()]);
        }
        consumer
            .seek(&tp, SeekTo::Offset(meta.offset))
            .await
            .unwrap();
        let deadline = Instant::now() + DEADLINE;
        while !seen.contains_key(&meta.offset) {
            assert!(Instant::now() < deadline, "round {round} not read back");
            for r in consumer.poll(Duration::from_millis(100)).await.unwrap() {
                seen.insert(r.offset, r.value.unwrap());
            }
        }
        assert_eq!(seen[&meta.offset], Bytes::from(value));
    }
    let failures_so_far = logins(&broker, "SCRAM-SHA-256", "failure").await;
    assert!(
        !attack.is_finished() && failures_so_far < FAILURES as u64,
        "the good client finished only after the {FAILURES} failed logins ({failures_so_far} counted)"
    );
    producer.close().await.unwrap();
    assert_eq!(
        attack.await.unwrap(),
        FAILURES,
        "every failed login was refused"
    );
    assert_eq!(
        logins(&broker, "SCRAM-SHA-256", "failure").await,
        FAILURES as u64
    );
    broker.stop().await;
}
