//! Unmodified Kafka clients authenticating to the Kafka listener with SASL
//! (`security.protocol=SASL_PLAINTEXT`): kafka-python, confluent-kafka (librdkafka) and
//! kcat, each with SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN, right and wrong passwords.
//!
//! The clients are installed by `.ci/run`; a missing one fails the test unless
//! `RILL_KAFKA_CLIENTS_OPTIONAL=1`.

mod kafka_tools;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use kafka_tools::{clients_dir, kcat, python};
use rill::broker::security::{bootstrap, Principal};
use rill::broker::testing::TestBroker;
use rill::protocol::sasl::SaslMechanism;
use serde_json::Value;

const USER: &str = "carol";
const PASSWORD: &str = "carol-pass-7";
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);
const MECHANISMS: [&str; 3] = ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"];

/// A broker whose Kafka listener requires SASL (every mechanism, PLAIN allowed without
/// TLS), with `carol` created offline. SASL turns ACLs on: `carol` (and `dave`, whom
/// she creates) are super users, since authentication is what these tests are about.
async fn broker() -> (TestBroker, SocketAddr) {
    let dir = tempfile::tempdir().unwrap();
    bootstrap::create(dir.path(), USER, &[], PASSWORD.as_bytes()).unwrap();
    let broker = TestBroker::start_in(dir, |c| {
        c.kafka_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        c.http_listen = None;
        c.sasl.mechanisms = SaslMechanism::ALL.to_vec();
        c.sasl.allow_plain_without_tls = true;
        c.authorization.super_users = vec![Principal::user(USER), Principal::user("dave")];
    })
    .await;
    let kafka = broker.kafka_addr.unwrap();
    (broker, kafka)
}

/// Runs `program args...` with `stdin`; returns (success, stdout, stderr).
async fn run(program: &Path, args: &[&str], stdin: &[u8]) -> (bool, String, String) {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .current_dir(clients_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("client starts");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).await.unwrap();
    drop(input);
    let out = tokio::time::timeout(SCRIPT_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{} {args:?} timed out", program.display()))
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

async fn script(py: &Path, args: &[&str]) -> Value {
    let mut all = vec!["sasl_client.py"];
    all.extend_from_slice(args);
    let (ok, stdout, stderr) = run(py, &all, b"").await;
    let last = stdout.lines().last().unwrap_or_default();
    let value: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {stdout}\n{stderr}"));
    assert!(ok && value["ok"] == true, "{args:?}: {value}\n{stderr}");
    value
}

async fn python_client(venv: &str, kind: &str) {
    let Some(py) = python(venv) else { return };
    let (broker, kafka) = broker().await;
    let kafka = kafka.to_string();
    for mechanism in MECHANISMS {
        let topic = format!("{kind}-{}", mechanism.to_lowercase());
        let ok = script(
            &py,
            &[kind, &kafka, mechanism, USER, PASSWORD, &topic, "ok"],
        )
        .await;
        assert_eq!(ok["consumed"], 5, "{mechanism}: {ok}");
        let refused = script(
            &py,
            &[kind, &kafka, mechanism, USER, "wrong", &topic, "refused"],
        )
        .await;
        assert!(refused["refused"].is_string(), "{mechanism}: {refused}");
    }
    let failures = broker.ctx.metrics.sasl.rows();
    for mechanism in MECHANISMS {
        let failed = failures
            .iter()
            .find(|(m, r, _)| *m == mechanism && *r == "failure")
            .map_or(0, |row| row.2);
        assert!(failed >= 1, "{mechanism}: no failed login counted");
    }
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_authenticates_with_scram_and_plain() {
    python_client("kp3", "kafka-python").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_kafka_authenticates_with_scram_and_plain() {
    python_client("ck", "confluent").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_kafka_admin_creates_a_user_who_then_logs_in() {
    let Some(py) = python("ck") else { return };
    let (broker, kafka) = broker().await;
    let kafka = kafka.to_string();
    let created = script(
        &py,
        &[
            "confluent-admin",
            &kafka,
            "SCRAM-SHA-512",
            USER,
            PASSWORD,
            "dave",
            "dave-pass-9",
        ],
    )
    .await;
    assert_eq!(created["created"], "dave", "{created}");
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let topic = format!("dave-{}", mechanism.to_lowercase());
        let args = [
            "confluent",
            &kafka,
            mechanism,
            "dave",
            "dave-pass-9",
            &topic,
            "ok",
        ];
        assert_eq!(script(&py, &args).await["consumed"], 5, "{mechanism}");
    }
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_authenticates_with_scram_and_plain() {
    let Some(kcat) = kcat() else { return };
    let (broker, kafka) = broker().await;
    let kafka = kafka.to_string();
    for mechanism in MECHANISMS {
        let topic = format!("kcat-{}", mechanism.to_lowercase());
        let sasl = |password: &str| {
            [
                "-X".to_string(),
                "security.protocol=SASL_PLAINTEXT".to_string(),
                "-X".to_string(),
                format!("sasl.mechanism={mechanism}"),
                "-X".to_string(),
                format!("sasl.username={USER}"),
                "-X".to_string(),
                format!("sasl.password={password}"),
            ]
        };
        let args = |extra: &[&str], password: &str| {
            let mut all: Vec<String> = vec!["-b".into(), kafka.clone()];
            all.extend(sasl(password));
            all.extend(extra.iter().map(|s| s.to_string()));
            all
        };
        let produce = args(&["-P", "-t", &topic, "-p", "0"], PASSWORD);
        let produce: Vec<&str> = produce.iter().map(String::as_str).collect();
        let (ok, _, stderr) = run(&kcat, &produce, b"one\ntwo\nthree\n").await;
        assert!(ok, "{mechanism}: kcat -P failed: {stderr}");
        let consume = args(
            &[
                "-C",
                "-t",
                &topic,
                "-p",
                "0",
                "-o",
                "beginning",
                "-e",
                "-f",
                "%s\\n",
            ],
            PASSWORD,
        );
        let consume: Vec<&str> = consume.iter().map(String::as_str).collect();
        let (ok, stdout, stderr) = run(&kcat, &consume, b"").await;
        assert!(ok, "{mechanism}: kcat -C failed: {stderr}");
        assert_eq!(stdout, "one\ntwo\nthree\n", "{mechanism}");
        let list = args(&["-L", "-m", "10"], "wrong");
        let list: Vec<&str> = list.iter().map(String::as_str).collect();
        let (ok, stdout, stderr) = run(&kcat, &list, b"").await;
        assert!(
            !ok,
            "{mechanism}: a wrong password listed metadata: {stdout}"
        );
        assert!(
            stderr.contains("uthentication"),
            "{mechanism}: kcat did not report an authentication failure: {stderr}"
        );
    }
    broker.stop().await;
}
