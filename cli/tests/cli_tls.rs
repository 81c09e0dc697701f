//! The `rill` command line over TLS: `produce` then `tail` through `--tls-ca` (and the
//! `RILL_TLS_CA` variable), `rill bench` on both of its paths, mTLS with `--tls-cert` and
//! `--tls-key`, and the errors a user sees for a wrong CA or a missing `--tls-ca`.

mod common;

#[path = "../../tests/tls_certs/mod.rs"]
mod tls_certs;

use common::{rill_at, run_command, TestBroker};
use rill_broker::tls::{ClientAuth, TlsSettings};
use tls_certs::Pki;

fn tls_broker(pki: &Pki, client_auth: Option<ClientAuth>) -> TestBroker {
    let settings = TlsSettings {
        cert: Some(pki.server.cert.clone()),
        key: Some(pki.server.key.clone()),
        client_ca: client_auth.map(|_| pki.ca.clone()),
        client_auth,
        ..TlsSettings::default()
    };
    TestBroker::start_with(move |c| c.tls = settings)
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn produce_then_tail_over_tls_returns_the_lines() {
    let pki = Pki::generate();
    let broker = tls_broker(&pki, None);
    let ca = path(&pki.ca);
    let input = "first\nsecond: über\nthird\n";
    broker.ok(&["--tls-ca", ca, "produce", "secure"], input);
    let out = broker.ok(
        &[
            "--tls-ca",
            ca,
            "tail",
            "secure",
            "--from-beginning",
            "--no-follow",
        ],
        "",
    );
    assert_eq!(out, input);
    // The environment variable works as the flag does.
    let mut command = broker.rill(&["tail", "secure", "-n", "1", "--no-follow"]);
    command.env("RILL_TLS_CA", ca);
    let outcome = run_command(command, b"");
    assert!(outcome.status.success(), "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "third\n");
}

#[test]
fn bench_runs_over_tls_on_the_library_and_raw_paths() {
    let pki = Pki::generate();
    let broker = tls_broker(&pki, None);
    let ca = path(&pki.ca);
    for raw in [false, true] {
        let mut args = vec![
            "--output",
            "json",
            "--tls-ca",
            ca,
            "bench",
            "produce",
            "--topic",
            "b",
            "--count",
            "3000",
            "--message-size",
            "100",
        ];
        if raw {
            args.push("--raw");
        }
        let out = broker.ok(&args, "");
        let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(report["messages"], 3000, "{report}");
        assert_eq!(report["lost"], 0, "{report}");
    }
    let out = broker.ok(
        &[
            "--output", "json", "--tls-ca", ca, "bench", "consume", "--topic", "b",
        ],
        "",
    );
    let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["messages"], 6000, "{report}");
}

#[test]
fn mtls_takes_a_client_certificate_and_key() {
    let pki = Pki::generate();
    let broker = tls_broker(&pki, Some(ClientAuth::Required));
    let ca = path(&pki.ca);
    let refused = broker.run(&["--tls-ca", ca, "topic", "list"], "");
    assert_eq!(refused.code(), Some(1), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("requires a client certificate"),
        "{}",
        refused.stderr
    );
    let (cert, key) = (path(&pki.client.cert), path(&pki.client.key));
    broker.ok(
        &[
            "--tls-ca",
            ca,
            "--tls-cert",
            cert,
            "--tls-key",
            key,
            "produce",
            "m",
        ],
        "one\n",
    );
    let mut command = broker.rill(&["tail", "m", "--from-beginning", "--no-follow"]);
    command
        .env("RILL_TLS_CA", ca)
        .env("RILL_TLS_CLIENT_CERT", cert)
        .env("RILL_TLS_CLIENT_KEY", key);
    let outcome = run_command(command, b"");
    assert!(outcome.status.success(), "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "one\n");
}

#[test]
fn mistakes_are_reported_with_what_to_do() {
    let pki = Pki::generate();
    let broker = tls_broker(&pki, None);
    let addr = broker.addr.to_string();
    let wrong_ca = broker.run(&["--tls-ca", path(&pki.other_ca), "topic", "list"], "");
    assert_eq!(wrong_ca.code(), Some(1), "{}", wrong_ca.stderr);
    assert!(
        wrong_ca
            .stderr
            .contains(&format!("TLS handshake with {addr} failed: unknown issuer")),
        "{}",
        wrong_ca.stderr
    );
    let plaintext = broker.run(&["topic", "list"], "");
    assert_eq!(plaintext.code(), Some(1), "{}", plaintext.stderr);
    assert!(
        plaintext.stderr.contains("answered with a TLS record")
            && plaintext.stderr.contains("--tls-ca"),
        "{}",
        plaintext.stderr
    );
    let missing = run_command(
        rill_at(&addr, &["--tls-ca", "/nonexistent/ca.pem", "topic", "list"]),
        b"",
    );
    assert_eq!(missing.code(), Some(1), "{}", missing.stderr);
    assert!(
        missing.stderr.contains("/nonexistent/ca.pem"),
        "{}",
        missing.stderr
    );
    let half = run_command(
        rill_at(&addr, &["--tls-cert", "c.pem", "topic", "list"]),
        b"",
    );
    assert_eq!(half.code(), Some(2), "a usage error: {}", half.stderr);
}
