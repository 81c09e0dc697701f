//! The HTTP endpoint's connection slots cannot be held by clients that keep connections
//! open after their request: the scraper still gets an answer.

use std::net::SocketAddr;
use std::time::Duration;

use rill_broker::server::http::HTTP_CONNECTIONS_MAX;
use rill_broker::testing::TestBroker;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends a keep-alive GET /health and reads the response head and body (not waiting for
/// the connection to close); returns the stream, still open as far as the client goes.
async fn health_keep_alive(http: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(http).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !String::from_utf8_lossy(&got).ends_with("ok\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("answer in time")
            .unwrap();
        assert!(n > 0, "answered before closing");
        got.extend_from_slice(&buf[..n]);
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_kept_open_after_a_request_cannot_lock_out_the_scraper() {
    let broker = TestBroker::start_with(|c| {
        c.http_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let http = broker.http_addr.expect("HTTP endpoint on");
    let mut held = Vec::new();
    for _ in 0..HTTP_CONNECTIONS_MAX {
        held.push(health_keep_alive(http).await);
    }
    // Well within the header timeout: only a freed slot can answer this.
    let answered = tokio::time::timeout(Duration::from_secs(5), health_keep_alive(http)).await;
    assert!(
        answered.is_ok(),
        "{HTTP_CONNECTIONS_MAX} kept-alive connections locked the scraper out"
    );
    drop(held);
    broker.stop().await;
}
