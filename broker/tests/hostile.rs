//! Hostile and broken clients against a `rilld` child process: random bytes, a 4 GB
//! length prefix, a frame trickled a byte at a time, a thousand idle connections, and a
//! consumer that never reads its socket. Throughout, a well-behaved client keeps
//! producing and consuming, and the broker's memory stays bounded.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::child::{rss_kib, start_rilld_with};
use common::*;
use rill_protocol::api::produce::ACKS_ALL;
use rill_protocol::error_code::ErrorCode;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Produces one batch and reads everything back: the broker still works for others.
async fn healthy(addr: std::net::SocketAddr, topic: &str, round: usize) {
    let mut c = RawClient::connect(addr).await;
    let r = produce_response(
        c.call(produce(
            topic,
            0,
            batch(&format!("ok{round}"), 2, now_ms()),
            ACKS_ALL,
        ))
        .await,
    );
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, ErrorCode::None);
    let f = fetch_response(c.call(fetch(topic, 0, p.base_offset, 0, 0)).await);
    assert_eq!(fetched_values(&f)[0], format!("ok{round}-0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_huge_prefixes_and_slow_frames_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = start_rilld_with(dir.path(), &["--frame-timeout", "500ms"]).await;
    healthy(addr, "h", 0).await;

    // Random bytes on the port (a fixed-seed generator: reproducible).
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..20 {
        let mut garbage = vec![0u8; 1 + round * 97];
        for b in garbage.iter_mut() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *b = seed as u8;
        }
        let mut s = TcpStream::connect(addr).await.unwrap();
        let _ = s.write_all(&garbage).await;
        drop(s);
    }
    healthy(addr, "h", 1).await;

    // A length prefix of 4 GB: refused before any of it is buffered.
    let mut huge = RawClient::connect(addr).await;
    huge.send_raw(&0xffff_fff0u32.to_be_bytes()).await;
    assert!(huge.is_closed().await);

    // A frame sent one byte at a time, slower than the frame timeout allows.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    let mut closed = false;
    for b in [
        0u8, 0, 0, 40, 0, 3, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0,
    ] {
        if slow.write_all(&[b]).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut buf = [0u8; 8];
    let read = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut slow, &mut buf),
    )
    .await;
    closed |= matches!(read, Ok(Ok(0)) | Ok(Err(_)));
    assert!(
        closed,
        "a trickled frame is cut off (after {:?})",
        started.elapsed()
    );
    healthy(addr, "h", 2).await;
    child.start_kill().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_connections_stay_bounded_and_the_limit_refuses_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = start_rilld_with(dir.path(), &["--max-connections", "1010"]).await;
    let pid = child.id().unwrap();
    healthy(addr, "idle", 0).await;
    let rss_before = rss_kib(pid);
    let mut idle = Vec::with_capacity(1000);
    for _ in 0..1000 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // New clients are still served while a thousand connections sit idle.
    healthy(addr, "idle", 1).await;
    let rss_idle = rss_kib(pid);
    assert!(
        rss_idle < rss_before + 64 * 1024,
        "1000 idle connections grew RSS from {rss_before} KiB to {rss_idle} KiB"
    );
    // Fill to the limit; the next connection is closed at once.
    let mut fillers = Vec::new();
    for _ in 0..10 {
        fillers.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut refused = RawClient::connect(addr).await;
    assert!(
        refused.is_closed().await,
        "beyond max-connections a client is refused"
    );
    drop(idle);
    // Freed slots serve again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = RawClient::connect(addr).await;
        let request = fetch("idle", 0, 0, 0, 0);
        if c.try_call(request).await.is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "slots are released when connections close"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.start_kill().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_never_reads_cannot_grow_the_broker_or_slow_producers() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = start_rilld_with(dir.path(), &[]).await;
    let pid = child.id().unwrap();
    // 32 MiB of data to fetch.
    let mut producer = RawClient::connect(addr).await;
    let big = "x".repeat(1000);
    for i in 0..32 {
        let mut b =
            rill_protocol::batch::BatchBuilder::new(rill_protocol::batch::Compression::None);
        for _ in 0..1000 {
            b.append(&rill_protocol::batch::RecordInput::new(
                now_ms(),
                big.clone(),
            ))
            .unwrap();
        }
        let r = produce_response(
            producer
                .call(produce("slow", 0, b.build().unwrap(), ACKS_ALL))
                .await,
        );
        assert_eq!(r.topics[0].partitions[0].base_offset, i * 1000);
    }
    let rss_before = rss_kib(pid);
    // A client pipelines 200 fetches of 1 MiB each (200 MiB of responses) and never reads.
    let mut stuck = RawClient::connect(addr).await;
    for i in 0..200 {
        stuck.send(fetch("slow", 0, (i % 32) * 1000, 0, 0)).await;
    }
    // Producers and consumers on other connections carry on.
    for round in 0..20 {
        healthy(addr, "other", round).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_stuck = rss_kib(pid);
    assert!(
        rss_stuck < rss_before + 64 * 1024,
        "a stuck reader grew RSS from {rss_before} KiB to {rss_stuck} KiB"
    );
    drop(stuck);
    child.start_kill().unwrap();
}
