//! Connection slots a stranger can take: the broker-wide and per-client-IP limits.
//!
//! Loopback addresses 127.0.0.x are distinct client IPs, so one test process can play
//! many hosts by binding its sockets to different source addresses.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::child::{rss_kib, start_rilld_with};
use common::*;
use rill_protocol::api::produce::ACKS_ALL;
use rill_protocol::error_code::ErrorCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Idle connections in the big test: the 10,000, spread over enough client IPs
/// to stay within the default per-IP limit.
const IDLE_CONNECTIONS: usize = 10_000;
/// Connections in the big test that sent half a frame and then nothing.
const HALF_FRAME_CONNECTIONS: usize = 500;
/// The default per-client-IP limit (`MAX_CONNECTIONS_PER_IP_DEFAULT`).
const PER_IP: usize = rill_broker::config::MAX_CONNECTIONS_PER_IP_DEFAULT;
/// What one idle connection may cost the broker in resident memory, on average.
const IDLE_CONNECTION_KIB_MAX: u64 = 32;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The loopback address 127.0.0.`last`: a client IP of its own.
fn client_ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// Connects to `addr` from `from` (any free port).
async fn connect_from(from: IpAddr, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    socket.connect(addr).await.unwrap()
}

/// True when the broker closes `stream` (EOF or reset) within 5 s without answering.
async fn closed_by_broker(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

/// True when `stream` is still open after `wait` (the broker kept it).
async fn kept_open(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 1];
    tokio::time::timeout(wait, stream.read(&mut buf))
        .await
        .is_err()
}

/// Produces one batch and reads it back on a fresh connection from `from`.
async fn produce_and_consume(addr: SocketAddr, from: IpAddr, topic: &str, round: usize) {
    let mut c = RawClient::over(connect_from(from, addr).await);
    let value = format!("ok{round}");
    let r = produce_response(
        c.call(produce(topic, 0, batch(&value, 1, now_ms()), ACKS_ALL))
            .await,
    );
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, ErrorCode::None, "produce answered");
    let f = fetch_response(c.call(fetch(topic, 0, p.base_offset, 0, 0)).await);
    assert_eq!(
        fetched_values(&f),
        [format!("{value}-0")],
        "consume answered"
    );
}

/// The body of GET /metrics.
async fn scrape(http: SocketAddr) -> String {
    let mut s = TcpStream::connect(http).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).await.unwrap();
    response
}

/// Waits (10 s at most) until the broker counts exactly `open` connections.
async fn wait_for_open_connections(broker: &TestBroker, open: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while broker.ctx.metrics.snapshot().connections_open != open {
        assert!(
            Instant::now() < deadline,
            "{open} connections open, the broker counts {}",
            broker.ctx.metrics.snapshot().connections_open
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_refuse_clearly_count_refusals_and_free_slots() {
    let broker = TestBroker::start_with(|c| {
        c.max_connections = 12;
        c.max_connections_per_ip = 5;
    })
    .await;
    let addr = broker.addr;
    // One host fills its share; its next connection is refused, other hosts are not.
    let mut host_a = Vec::new();
    for _ in 0..5 {
        host_a.push(connect_from(client_ip(21), addr).await);
    }
    let mut sixth = connect_from(client_ip(21), addr).await;
    assert!(
        closed_by_broker(&mut sixth).await,
        "the 6th connection from one IP is refused at max_connections_per_ip = 5"
    );
    produce_and_consume(addr, client_ip(22), "slots", 0).await;
    wait_for_open_connections(&broker, 5).await;
    // Fill the broker from other hosts; the next connection from anywhere is refused.
    let mut others = Vec::new();
    for i in 0..7 {
        others.push(connect_from(client_ip(30 + i), addr).await);
    }
    wait_for_open_connections(&broker, 12).await;
    let mut over = connect_from(client_ip(40), addr).await;
    assert!(
        closed_by_broker(&mut over).await,
        "the 13th connection is refused at max_connections = 12"
    );
    for held in host_a.iter_mut().chain(others.iter_mut()).take(3) {
        assert!(kept_open(held, Duration::from_millis(10)).await);
    }
    let counts = broker.ctx.metrics.snapshot();
    assert_eq!(counts.connections_refused_per_ip, 1);
    assert_eq!(counts.connections_refused, 1);
    let scraped = scrape(broker.http_addr.expect("HTTP endpoint on")).await;
    for line in [
        "rill_connections_refused_total 1",
        "rill_connections_refused_per_ip_total 1",
        "rill_connections_open 12",
    ] {
        assert!(scraped.lines().any(|l| l == line), "{line} in /metrics");
    }
    assert!(scraped.contains("rill_connection_buffer_bytes "));
    // Freed slots serve again, for the host that was refused too.
    drop(host_a);
    drop(others);
    wait_for_open_connections(&broker, 0).await;
    produce_and_consume(addr, client_ip(21), "slots", 1).await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idle_and_five_hundred_half_frames_do_not_lock_out_a_new_client() {
    // This process holds every client socket: it needs ~10,600 descriptors.
    let (_, limit) = rill_broker::fd_limit::raise_open_files_limit().unwrap();
    let needed = (IDLE_CONNECTIONS + HALF_FRAME_CONNECTIONS + 200) as u64;
    assert!(
        limit >= needed,
        "the open-file hard limit is {limit}; this test needs {needed} (raise `ulimit -Hn`)"
    );
    let dir = tempfile::tempdir().unwrap();
    // Default connection limits; half frames may stay for the whole test.
    let (mut child, addr) = start_rilld_with(
        dir.path(),
        &["--frame-timeout", "10m", "--idle-timeout", "10m"],
    )
    .await;
    let pid = child.id().unwrap();
    produce_and_consume(addr, client_ip(1), "crowd", 0).await;
    let rss_before = rss_kib(pid);

    // 10,000 idle connections from ten client IPs, 1,000 each.
    let mut idle = Vec::with_capacity(IDLE_CONNECTIONS);
    for i in 0..IDLE_CONNECTIONS {
        let host = client_ip(2 + (i / PER_IP) as u8);
        idle.push(connect_from(host, addr).await);
    }
    // 500 that start a 50-byte frame and never finish it.
    let mut half = Vec::with_capacity(HALF_FRAME_CONNECTIONS);
    for _ in 0..HALF_FRAME_CONNECTIONS {
        let mut s = connect_from(client_ip(20), addr).await;
        s.write_all(&[0, 0, 0, 50, 0, 3, 0]).await.unwrap();
        half.push(s);
    }
    // A new client still produces and consumes.
    produce_and_consume(addr, client_ip(1), "crowd", 1).await;
    // None of the crowd was turned away.
    for s in idle
        .iter_mut()
        .step_by(997)
        .chain(half.iter_mut().step_by(97))
    {
        assert!(
            kept_open(s, Duration::from_millis(20)).await,
            "the broker kept every connection of the crowd"
        );
    }
    let rss_crowd = rss_kib(pid);
    let per_connection_kib =
        rss_crowd.saturating_sub(rss_before) / (IDLE_CONNECTIONS + HALF_FRAME_CONNECTIONS) as u64;
    eprintln!(
        "RSS {rss_before} KiB -> {rss_crowd} KiB with {} connections: {per_connection_kib} KiB each",
        IDLE_CONNECTIONS + HALF_FRAME_CONNECTIONS
    );
    assert!(
        per_connection_kib <= IDLE_CONNECTION_KIB_MAX,
        "an idle connection costs {per_connection_kib} KiB (at most {IDLE_CONNECTION_KIB_MAX})"
    );
    // One host cannot take more than its share: its 1,001st connection is refused.
    let mut over = connect_from(client_ip(2), addr).await;
    assert!(
        closed_by_broker(&mut over).await,
        "a host's 1,001st connection is refused"
    );
    produce_and_consume(addr, client_ip(1), "crowd", 2).await;
    drop(idle);
    drop(half);
    child.start_kill().unwrap();
}
