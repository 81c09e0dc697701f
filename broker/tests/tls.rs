//! TLS on the broker's listeners, seen from outside: `openssl s_client` as an independent
//! peer (TLS 1.3 and 1.2 negotiated, 1.1 refused), kcat over TLS on the Kafka listener,
//! HTTPS on the HTTP endpoint, a client that never sends a ClientHello dropped at the
//! handshake timeout while others are served, certificates reloaded on SIGHUP without
//! dropping open connections (a bad file keeping the old one), and the client
//! certificate's subject as the mTLS principal.

mod common;

#[path = "../../tests/tls_certs/mod.rs"]
mod tls_certs;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use rill_broker::config::{Args, BrokerConfig};
use rill_broker::reload::Reloader;
use rill_broker::tls::{ClientAuth, Listener, TlsAcceptor, TlsSettings};
use rill_protocol::api::api_versions::ApiVersionsRequest;
use rill_protocol::api::{encode_request, Request, RequestHeader, Response};
use rill_protocol::frame::{FrameBuf, FrameCodec};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_util::codec::Framed;

use common::TestBroker;
use tls_certs::{Identity, Pki};

/// Longest an outside program (openssl, kcat) may run.
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

fn serving(identity: &Identity) -> TlsSettings {
    TlsSettings {
        cert: Some(identity.cert.clone()),
        key: Some(identity.key.clone()),
        ..TlsSettings::default()
    }
}

async fn tls_broker(settings: TlsSettings) -> TestBroker {
    TestBroker::start_with(|c| {
        c.tls = settings;
        c.kafka_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    })
    .await
}

#[allow(deprecated)] // ring, as the broker (see rill_broker::tls::certs::provider)
fn client_config(ca: &Path, client: Option<&Identity>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some(id) => builder
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(&id.cert)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_file(&id.key).unwrap(),
            )
            .unwrap(),
    };
    Arc::new(config)
}

async fn tls_connect(
    addr: SocketAddr,
    ca: &Path,
    client: Option<&Identity>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::IpAddress(addr.ip().into());
    tokio_rustls::TlsConnector::from(client_config(ca, client))
        .connect(name, tcp)
        .await
}

/// The DER of the first certificate in a PEM file.
fn der_of(pem: &Path) -> Vec<u8> {
    CertificateDer::pem_file_iter(pem)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

fn served_certificate(stream: &TlsStream<TcpStream>) -> Vec<u8> {
    stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// Sends ApiVersions over an open connection and checks the answer.
async fn api_versions(framed: &mut Framed<TlsStream<TcpStream>, FrameCodec>) {
    let request = Request::ApiVersions(ApiVersionsRequest);
    let header = RequestHeader {
        api_key: request.api_key(),
        api_version: 0,
        correlation_id: 7,
        client_id: Some("tls-test".into()),
    };
    let mut out = FrameBuf::new();
    encode_request(&header, &request, &mut out).unwrap();
    framed.send(out).await.unwrap();
    let frame = tokio::time::timeout(Duration::from_secs(10), framed.next())
        .await
        .expect("an answer in time")
        .expect("the connection stays open")
        .unwrap();
    let (correlation_id, response) = Response::decode(request.api_key(), 0, frame).unwrap();
    assert_eq!(correlation_id, 7);
    assert!(matches!(response, Response::ApiVersions(_)));
}

/// Runs `program args` with stdin closed; returns (success, stdout + stderr). Panics when
/// the program is missing (it is installed by .ci/run) or runs past the timeout.
async fn run_tool(program: &str, args: &[&str]) -> (bool, String) {
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(TOOL_TIMEOUT, child)
        .await
        .unwrap_or_else(|_| panic!("{program} {args:?} timed out"))
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}): install it (Debian package; .ci/run does)")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn openssl_s_client_negotiates_tls_1_3_and_1_2_and_is_refused_tls_1_1() {
    let pki = Pki::generate();
    let broker = tls_broker(serving(&pki.server)).await;
    let connect = broker.addr.to_string();
    let ca = pki.ca.to_str().unwrap();
    let common = [
        "s_client",
        "-connect",
        &connect,
        "-CAfile",
        ca,
        "-verify_return_error",
        "-brief",
    ];
    for (flag, version) in [("-tls1_3", "TLSv1.3"), ("-tls1_2", "TLSv1.2")] {
        let mut args = common.to_vec();
        args.push(flag);
        let (ok, out) = run_tool("openssl", &args).await;
        assert!(ok, "openssl {args:?} failed:\n{out}");
        assert!(
            out.contains(&format!("Protocol version: {version}")),
            "{out}"
        );
        assert!(out.contains("Verification: OK"), "{out}");
    }
    // TLS 1.1 offered (the client's own security level lowered so that it offers it):
    // the broker answers with an alert and no session.
    let mut args = common.to_vec();
    args.extend(["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"]);
    let (ok, out) = run_tool("openssl", &args).await;
    assert!(!ok, "TLS 1.1 must be refused:\n{out}");
    assert!(
        out.contains("alert handshake failure") || out.contains("alert protocol version"),
        "{out}"
    );
    assert!(!out.contains("Protocol version: TLSv1.1"), "{out}");
    // The same identity on the Kafka listener.
    let kafka = broker.kafka_addr.unwrap().to_string();
    let mut args = common.to_vec();
    args[2] = &kafka;
    let (ok, out) = run_tool("openssl", &args).await;
    assert!(ok && out.contains("Verification: OK"), "{out}");
}

#[tokio::test]
async fn kcat_produces_and_consumes_over_tls_on_the_kafka_listener() {
    let kcat = ["/usr/bin/kcat", "/usr/bin/kafkacat", "/usr/local/bin/kcat"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(kcat) = kcat else {
        if std::env::var("RILL_KAFKA_CLIENTS_OPTIONAL").as_deref() == Ok("1") {
            eprintln!("skipping: kcat is not installed");
            return;
        }
        panic!("kcat is not installed: run the Kafka clients block of .ci/run, or set RILL_KAFKA_CLIENTS_OPTIONAL=1");
    };
    let pki = Pki::generate();
    let broker = tls_broker(serving(&pki.server)).await;
    let bootstrap = broker.kafka_addr.unwrap().to_string();
    let ca_setting = format!("ssl.ca.location={}", pki.ca.display());
    let ssl = ["-X", "security.protocol=ssl", "-X", &ca_setting];
    let input = pki.path("records.txt");
    std::fs::write(&input, "alpha\nbeta\ngamma\n").unwrap();
    let mut args = vec![
        "-b",
        &bootstrap,
        "-P",
        "-t",
        "secure",
        "-l",
        input.to_str().unwrap(),
    ];
    args.extend(ssl);
    let (ok, out) = run_tool(kcat, &args).await;
    assert!(ok, "kcat -P over TLS failed:\n{out}");
    let mut args = vec!["-b", &bootstrap, "-C", "-t", "secure", "-e", "-q"];
    args.extend(ssl);
    let (ok, out) = run_tool(kcat, &args).await;
    assert!(ok, "kcat -C over TLS failed:\n{out}");
    assert_eq!(out, "alpha\nbeta\ngamma\n");
    // Plaintext to the TLS listener gets nothing through.
    let (ok, out) = run_tool(kcat, &["-b", &bootstrap, "-L", "-m", "3"]).await;
    assert!(
        !ok,
        "plaintext kcat must fail against a TLS listener:\n{out}"
    );
}

#[tokio::test]
async fn the_http_endpoint_serves_metrics_over_tls_unless_opted_out() {
    let pki = Pki::generate();
    let broker = tls_broker(serving(&pki.server)).await;
    let http = broker.http_addr.unwrap();
    let mut stream = tls_connect(http, &pki.ca, None).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: rill\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut body))
        .await
        .unwrap()
        .unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("rill_tls_handshakes_total"), "{body}");
    // Plaintext HTTP gets no answer from the HTTPS endpoint.
    let mut plain = TcpStream::connect(http).await.unwrap();
    plain
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: rill\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), plain.read_to_end(&mut answer)).await;
    assert!(!answer.starts_with(b"HTTP/1.1 200"));

    // `--tls-listeners native,kafka`: /metrics stays plaintext for a scraper.
    let opted_out = tls_broker(TlsSettings {
        listeners: vec![Listener::Native, Listener::Kafka],
        ..serving(&pki.server)
    })
    .await;
    let mut plain = TcpStream::connect(opted_out.http_addr.unwrap())
        .await
        .unwrap();
    plain
        .write_all(b"GET /health HTTP/1.1\r\nHost: rill\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    plain.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_client_that_never_sends_a_client_hello_is_dropped_at_the_handshake_timeout() {
    let pki = Pki::generate();
    let timeout = Duration::from_millis(400);
    let broker = tls_broker(TlsSettings {
        handshake_timeout: timeout,
        ..serving(&pki.server)
    })
    .await;
    let opened = Instant::now();
    let mut silent: Vec<TcpStream> = Vec::new();
    for _ in 0..5 {
        silent.push(TcpStream::connect(broker.addr).await.unwrap());
    }
    // Meanwhile another client completes its handshake and is served.
    let stream = tls_connect(broker.addr, &pki.ca, None).await.unwrap();
    let mut framed = Framed::new(stream, FrameCodec::new(1 << 20));
    api_versions(&mut framed).await;
    for mut stream in silent {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
            .await
            .expect("the broker closes a silent connection");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
    assert!(
        opened.elapsed() >= timeout - Duration::from_millis(50),
        "closed before the handshake timeout: {:?}",
        opened.elapsed()
    );
    // Counted once each (the count may trail the close by a moment).
    let stats = broker.ctx.tls.as_ref().unwrap().stats();
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats.timeouts.load(Ordering::Relaxed) < 5 {
        assert!(Instant::now() < deadline, "the timeouts were not counted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(stats.timeouts.load(Ordering::Relaxed), 5);
    assert_eq!(stats.failures.load(Ordering::Relaxed), 0);
    // The served client is untouched.
    api_versions(&mut framed).await;
}

#[tokio::test]
async fn sighup_serves_the_renewed_certificate_to_new_connections_and_keeps_open_ones() {
    let pki = Pki::generate();
    let (cert, key) = (pki.path("live.pem"), pki.path("live.key"));
    std::fs::copy(&pki.server.cert, &cert).unwrap();
    std::fs::copy(&pki.server.key, &key).unwrap();
    let data = tempfile::tempdir().unwrap();
    let args = [
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    let (child, addr) = common::child::start_rilld_with(data.path(), &args).await;
    let open = tls_connect(addr, &pki.ca, None).await.unwrap();
    assert_eq!(served_certificate(&open), der_of(&pki.server.cert));
    let mut open = Framed::new(open, FrameCodec::new(1 << 20));
    api_versions(&mut open).await;

    std::fs::copy(&pki.renewed.cert, &cert).unwrap();
    std::fs::copy(&pki.renewed.key, &key).unwrap();
    let pid = i32::try_from(child.id().unwrap()).unwrap();
    // SAFETY: kill(2) with a pid we own and a valid signal number has no memory effects.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let fresh = tls_connect(addr, &pki.ca, None).await.unwrap();
        if served_certificate(&fresh) == der_of(&pki.renewed.cert) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the renewed certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The connection opened before the reload still works.
    api_versions(&mut open).await;
}

#[tokio::test]
async fn a_reload_with_a_bad_certificate_file_keeps_the_running_one() {
    let pki = Pki::generate();
    let (cert, key) = (pki.path("live.pem"), pki.path("live.key"));
    std::fs::copy(&pki.server.cert, &cert).unwrap();
    std::fs::copy(&pki.server.key, &key).unwrap();
    let mut args = Args::default();
    args.tls.tls_cert = Some(cert.clone());
    args.tls.tls_key = Some(key.clone());
    let config = BrokerConfig::load(&args).unwrap();
    let broker = TestBroker::start_with(|c| c.tls = config.tls.clone()).await;
    let reloader = Reloader::new(args, &config, None);

    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nnot base64!\n").unwrap();
    let err = reloader.reload(&broker.ctx).unwrap_err().to_string();
    assert!(
        err.contains("TLS certificates not reloaded") && err.contains("live.pem"),
        "{err}"
    );
    let fresh = tls_connect(broker.addr, &pki.ca, None).await.unwrap();
    assert_eq!(served_certificate(&fresh), der_of(&pki.server.cert));
    let stats = broker.ctx.tls.as_ref().unwrap().stats();
    assert_eq!(stats.reload_failures.load(Ordering::Relaxed), 1);

    // A key that does not match the certificate is refused too.
    std::fs::copy(&pki.renewed.cert, &cert).unwrap();
    let err = reloader.reload(&broker.ctx).unwrap_err().to_string();
    assert!(err.contains("TLS certificates not reloaded"), "{err}");
    let fresh = tls_connect(broker.addr, &pki.ca, None).await.unwrap();
    assert_eq!(served_certificate(&fresh), der_of(&pki.server.cert));

    // Good files again: served from the next handshake on.
    std::fs::copy(&pki.renewed.key, &key).unwrap();
    reloader.reload(&broker.ctx).unwrap();
    let fresh = tls_connect(broker.addr, &pki.ca, None).await.unwrap();
    assert_eq!(served_certificate(&fresh), der_of(&pki.renewed.cert));
}

#[tokio::test]
async fn the_client_certificate_subject_is_the_mtls_principal() {
    let pki = Pki::generate();
    let settings = TlsSettings {
        client_ca: Some(pki.ca.clone()),
        client_auth: Some(ClientAuth::Requested),
        ..serving(&pki.server)
    };
    let acceptor = TlsAcceptor::load(&settings).unwrap().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    for (client, subject) in [
        (Some(&pki.client), Some("CN=alice,O=Example")),
        (None, None),
    ] {
        let connecting = tls_connect(addr, &pki.ca, client);
        let accepting = async {
            let (tcp, peer) = listener.accept().await.unwrap();
            acceptor.accept(tcp, peer).await.unwrap()
        };
        let (connected, accepted) = tokio::join!(connecting, accepting);
        connected.unwrap();
        assert!(accepted.is_tls());
        assert_eq!(accepted.peer_certificate_subject().as_deref(), subject);
    }
}
