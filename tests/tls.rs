//! TLS through the Rust client library against a real broker: records produced over TLS
//! come back byte for byte, and each misconfiguration fails at connect with an error that
//! names it (unknown issuer, expired certificate, name mismatch, plaintext and TLS mixed
//! up, a client certificate required or refused).

#[path = "tls_certs/mod.rs"]
mod tls_certs;

use std::time::{Duration, Instant};

use rill::broker::security::{bootstrap, Principal};
use rill::broker::testing::TestBroker;
use rill::broker::tls::{ClientAuth, TlsSettings};
use rill::client::{
    Admin, ConnectionConfig, Consumer, ConsumerConfig, Producer, ProducerConfig, ProducerRecord,
    SaslConfig, SaslMechanism, SeekTo, TlsConfig, TopicPartition,
};
use rill::protocol::error_code::ErrorCode;
use tls_certs::{Identity, Pki};

/// Broker TLS settings serving `identity`.
fn serving(identity: &Identity) -> TlsSettings {
    TlsSettings {
        cert: Some(identity.cert.clone()),
        key: Some(identity.key.clone()),
        ..TlsSettings::default()
    }
}

async fn tls_broker(settings: TlsSettings) -> TestBroker {
    TestBroker::start_with(|c| c.tls = settings).await
}

/// Connects an admin client and returns the error text (the test fails if it connects).
async fn connect_error(addr: &str, tls: Option<TlsConfig>) -> String {
    let mut config = ConnectionConfig::new(addr);
    config.connect_timeout = Duration::from_secs(5);
    config.tls = tls;
    match Admin::connect(config).await {
        Ok(_) => panic!("connected to {addr} but expected a failure"),
        Err(e) => e.to_string(),
    }
}

fn trusting(ca: &std::path::Path) -> TlsConfig {
    TlsConfig::builder().ca_file(ca).build().unwrap()
}

#[tokio::test]
async fn records_produced_over_tls_are_consumed_over_tls_byte_for_byte() {
    let pki = Pki::generate();
    let broker = tls_broker(serving(&pki.server)).await;
    let addr = broker.addr.to_string();
    let tls = trusting(&pki.ca);
    let config = ProducerConfig::builder(addr.clone())
        .tls(tls.clone())
        .build()
        .unwrap();
    let producer = Producer::connect(config).await.unwrap();
    let values: Vec<Vec<u8>> = (0..500u32)
        .map(|i| (0..(i % 300)).map(|b| (b as u8) ^ (i as u8)).collect())
        .collect();
    let mut deliveries = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let record = ProducerRecord::new("secure", value.clone()).with_key(format!("k{i}"));
        deliveries.push(producer.send(record).await.unwrap());
    }
    for (i, delivery) in deliveries.into_iter().enumerate() {
        assert_eq!(delivery.await.unwrap().offset, i as i64);
    }
    producer.close().await.unwrap();

    let config = ConsumerConfig::builder(addr).tls(tls).build().unwrap();
    let mut consumer = Consumer::connect(config).await.unwrap();
    let tp = TopicPartition::new("secure", 0);
    consumer.assign([tp.clone()]);
    consumer.seek(&tp, SeekTo::Beginning).await.unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.len() < values.len() {
        assert!(
            Instant::now() < deadline,
            "read {} of {}",
            got.len(),
            values.len()
        );
        got.extend(consumer.poll(Duration::from_millis(500)).await.unwrap());
    }
    for (i, record) in got.iter().enumerate() {
        assert_eq!(record.offset, i as i64);
        assert_eq!(record.value.as_deref(), Some(&values[i][..]));
        assert_eq!(record.key.as_deref(), Some(format!("k{i}").as_bytes()));
    }
}

#[tokio::test]
async fn a_client_trusting_another_ca_reports_an_unknown_issuer() {
    let pki = Pki::generate();
    let broker = tls_broker(serving(&pki.server)).await;
    let addr = broker.addr.to_string();
    let err = connect_error(&addr, Some(trusting(&pki.other_ca))).await;
    assert!(
        err.starts_with(&format!("TLS handshake with {addr} failed: unknown issuer")),
        "{err}"
    );
}

#[tokio::test]
async fn an_expired_broker_certificate_is_reported_as_expired() {
    let pki = Pki::generate();
    let broker = tls_broker(serving(&pki.expired)).await;
    let addr = broker.addr.to_string();
    let err = connect_error(&addr, Some(trusting(&pki.ca))).await;
    assert!(
        err.starts_with(&format!(
            "TLS handshake with {addr} failed: certificate expired"
        )),
        "{err}"
    );
}

#[tokio::test]
async fn a_certificate_for_another_host_is_a_name_mismatch_unless_that_name_is_asked_for() {
    let pki = Pki::generate();
    let broker = tls_broker(serving(&pki.wrong_host)).await;
    let addr = broker.addr.to_string();
    let err = connect_error(&addr, Some(trusting(&pki.ca))).await;
    assert!(
        err.starts_with(&format!("TLS handshake with {addr} failed: name mismatch")),
        "{err}"
    );
    // With the name the certificate holds, the same broker is reachable.
    let tls = TlsConfig::builder()
        .ca_file(&pki.ca)
        .server_name("broker.elsewhere.example")
        .build()
        .unwrap();
    let mut config = ConnectionConfig::new(addr);
    config.tls = Some(tls);
    let admin = Admin::connect(config).await.unwrap();
    admin.create_topic("named", 1, &[]).await.unwrap();
}

#[tokio::test]
async fn a_plaintext_client_on_a_tls_port_is_told_to_use_tls() {
    let pki = Pki::generate();
    let broker = tls_broker(serving(&pki.server)).await;
    let addr = broker.addr.to_string();
    let err = connect_error(&addr, None).await;
    assert!(
        err.starts_with(&format!(
            "the broker at {addr} answered with a TLS record: it serves TLS on this port"
        )),
        "{err}"
    );
}

#[tokio::test]
async fn a_tls_client_on_a_plaintext_port_is_told_the_port_may_be_plaintext() {
    let pki = Pki::generate();
    let broker = TestBroker::start().await;
    let addr = broker.addr.to_string();
    let err = connect_error(&addr, Some(trusting(&pki.ca))).await;
    assert!(
        err.starts_with(&format!("TLS handshake with {addr} failed: ")),
        "{err}"
    );
    assert!(err.contains("may serve plaintext"), "{err}");
}

const CLIENT_SUBJECT: &str = "CN=alice,O=Example";

#[tokio::test]
async fn mtls_required_refuses_clients_without_a_good_certificate() {
    let pki = Pki::generate();
    let settings = TlsSettings {
        client_ca: Some(pki.ca.clone()),
        client_auth: Some(ClientAuth::Required),
        ..serving(&pki.server)
    };
    // Required client certificates turn ACLs on; the certificate's subject is the
    // principal, here a super user.
    let broker = TestBroker::start_with(|c| {
        c.tls = settings;
        c.authorization.super_users = vec![Principal::user(CLIENT_SUBJECT)];
    })
    .await;
    let addr = broker.addr.to_string();

    let err = connect_error(&addr, Some(trusting(&pki.ca))).await;
    assert!(
        err.starts_with(&format!("TLS handshake with {addr} failed: ")),
        "{err}"
    );
    assert!(err.contains("requires a client certificate"), "{err}");

    let untrusted = TlsConfig::builder()
        .ca_file(&pki.ca)
        .client_cert(&pki.untrusted_client.cert, &pki.untrusted_client.key)
        .build()
        .unwrap();
    let err = connect_error(&addr, Some(untrusted)).await;
    assert!(err.contains("refused the client certificate"), "{err}");

    let good = TlsConfig::builder()
        .ca_file(&pki.ca)
        .client_cert(&pki.client.cert, &pki.client.key)
        .build()
        .unwrap();
    let config = ProducerConfig::builder(addr)
        .tls(good.clone())
        .build()
        .unwrap();
    let producer = Producer::connect(config).await.unwrap();
    let delivered = producer
        .send(ProducerRecord::new("mtls", "hello"))
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(delivered.offset, 0);
    producer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_certificate_subject_is_the_principal_acls_see() {
    let pki = Pki::generate();
    let settings = TlsSettings {
        client_ca: Some(pki.ca.clone()),
        client_auth: Some(ClientAuth::Required),
        ..serving(&pki.server)
    };
    // Another principal is the super user: `CN=alice,O=Example` has no ACL, so it may
    // not even list topics (not ANONYMOUS either, which would also be refused).
    let broker = TestBroker::start_with(|c| {
        c.tls = settings;
        c.authorization.super_users = vec![Principal::user("CN=bob,O=Example")];
    })
    .await;
    let mut config = ConnectionConfig::new(broker.addr.to_string());
    config.tls = Some(
        TlsConfig::builder()
            .ca_file(&pki.ca)
            .client_cert(&pki.client.cert, &pki.client.key)
            .build()
            .unwrap(),
    );
    let admin = Admin::connect(config).await.unwrap();
    let refused = admin.create_topic("secret", 1, &[]).await.unwrap_err();
    assert_eq!(
        refused.error_code(),
        Some(ErrorCode::TopicAuthorizationFailed),
        "{refused}"
    );
    assert!(admin.list_topics().await.unwrap().is_empty());
    admin.close().await.unwrap();
}

#[tokio::test]
async fn large_records_cross_tls_records_and_come_back_whole() {
    let pki = Pki::generate();
    let broker = tls_broker(serving(&pki.server)).await;
    let addr = broker.addr.to_string();
    let tls = trusting(&pki.ca);
    let config = ProducerConfig::builder(addr.clone())
        .tls(tls.clone())
        .build()
        .unwrap();
    let producer = Producer::connect(config).await.unwrap();
    // Sizes around the 16 KiB TLS record and the broker's 8 KiB read stash, and a few
    // MiB: frames split across TLS records at every kind of boundary.
    let sizes = [
        1,
        8191,
        8192,
        8193,
        16_384,
        16_385,
        100_000,
        1 << 20,
        3 << 20,
    ];
    let values: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| (0..n).map(|b| (b * 31 + i) as u8).collect())
        .collect();
    for value in &values {
        let delivery = producer
            .send(ProducerRecord::new("large", value.clone()))
            .await
            .unwrap();
        delivery.await.unwrap();
    }
    producer.close().await.unwrap();
    let config = ConsumerConfig::builder(addr).tls(tls).build().unwrap();
    let mut consumer = Consumer::connect(config).await.unwrap();
    let tp = TopicPartition::new("large", 0);
    consumer.assign([tp.clone()]);
    consumer.seek(&tp, SeekTo::Beginning).await.unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.len() < values.len() {
        assert!(
            Instant::now() < deadline,
            "read {} of {}",
            got.len(),
            values.len()
        );
        got.extend(consumer.poll(Duration::from_millis(500)).await.unwrap());
    }
    for (record, value) in got.iter().zip(&values) {
        assert_eq!(record.value.as_deref().map(<[u8]>::len), Some(value.len()));
        assert!(record.value.as_deref() == Some(&value[..]), "bytes differ");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_plain_is_accepted_over_tls_without_the_plaintext_exception() {
    let pki = Pki::generate();
    let dir = tempfile::tempdir().unwrap();
    bootstrap::create(dir.path(), "carol", &[], b"carol-secret-9").unwrap();
    let settings = serving(&pki.server);
    // PLAIN is offered but `allow_plain_without_tls` stays false: only TLS lets it in.
    let broker = TestBroker::start_in(dir, move |c| {
        c.tls = settings;
        c.sasl.mechanisms = vec![SaslMechanism::Plain];
        c.authorization.super_users = vec![Principal::user("carol")];
    })
    .await;
    let addr = broker.addr.to_string();
    let config = ProducerConfig::builder(addr.as_str())
        .tls(trusting(&pki.ca))
        .sasl(SaslConfig::plain("carol", "carol-secret-9"))
        .build()
        .unwrap();
    let producer = Producer::connect(config).await.unwrap();
    let delivered = producer
        .send(ProducerRecord::new("plain-over-tls", "hello"))
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(delivered.offset, 0);
    producer.close().await.unwrap();

    // The wrong password over the same TLS listener is refused.
    let mut wrong = ConnectionConfig::new(addr.as_str());
    wrong.tls = Some(trusting(&pki.ca));
    wrong.sasl = Some(SaslConfig::plain("carol", "not-her-password"));
    let refused = match Admin::connect(wrong).await {
        Ok(_) => panic!("a wrong password must fail"),
        Err(e) => e,
    };
    assert!(
        refused
            .to_string()
            .contains("authentication failed for user carol"),
        "{refused}"
    );
}
