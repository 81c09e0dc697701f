//! Hostile and broken clients against a `rilld` child process: random bytes, a 4 GB
//! length prefix, a frame trickled a byte at a time, and clients that never read their
//! socket. Throughout, a well-behaved client keeps producing and consuming, and the
//! broker's memory stays bounded. (Connection floods: `connections.rs`.)

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
    // Cut while it was still trickling (4 s), about one frame timeout after its first
    // byte: bytes arriving now and then do not extend a frame's deadline.
    assert!(
        started.elapsed() < Duration::from_millis(3000),
        "a trickled frame was cut only after {:?}",
        started.elapsed()
    );
    healthy(addr, "h", 2).await;
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

/// A client that pipelines fetches it never reads, then large produce requests: from the
/// broker's side, a connection whose responses pile up while its requests keep coming.
/// Sends from a background task (it blocks once the broker stops reading).
async fn never_reading_client(
    addr: std::net::SocketAddr,
    big_batch: bytes::Bytes,
) -> tokio::task::JoinHandle<()> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    // A small receive window makes the broker's writes block after little data.
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let mut c = RawClient::over(stream);
    tokio::spawn(async move {
        for i in 0..8 {
            c.send(fetch("slow", 0, i * 1000, 0, 0)).await;
        }
        for _ in 0..10 {
            c.send(produce("slow", 0, big_batch.clone(), ACKS_ALL))
                .await;
        }
        std::future::pending::<()>().await;
    })
}

/// The most RSS (KiB) `pid` reaches over `window`, sampled every 50 ms.
async fn peak_rss_kib(pid: u32, window: Duration) -> u64 {
    let until = Instant::now() + window;
    let mut peak = 0;
    while Instant::now() < until {
        peak = peak.max(rss_kib(pid));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    peak
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_are_held_to_their_connection_and_total_budgets() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = start_rilld_with(
        dir.path(),
        &[
            "--max-frame-bytes",
            "4MiB",
            "--max-connection-buffer-bytes",
            "16MiB",
            "--max-total-buffer-bytes",
            "48MiB",
        ],
    )
    .await;
    let pid = child.id().unwrap();
    // 8 MiB to fetch, in batches of 1,000 records of 1 KB.
    let mut producer = RawClient::connect(addr).await;
    let value = "x".repeat(1000);
    for i in 0..8 {
        let mut b =
            rill_protocol::batch::BatchBuilder::new(rill_protocol::batch::Compression::None);
        for _ in 0..1000 {
            b.append(&rill_protocol::batch::RecordInput::new(
                now_ms(),
                value.clone(),
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
    // Each never-reading client then sends ten ~2.9 MB produce requests (29 MB).
    let mut b = rill_protocol::batch::BatchBuilder::new(rill_protocol::batch::Compression::None);
    for _ in 0..2900 {
        b.append(&rill_protocol::batch::RecordInput::new(
            now_ms(),
            value.clone(),
        ))
        .unwrap();
    }
    let big_batch = b.build().unwrap();
    let rss_before = rss_kib(pid);

    // Two such clients fit the total budget: each fills only its own, others carry on.
    let mut stuck = Vec::new();
    for _ in 0..2 {
        stuck.push(never_reading_client(addr, big_batch.clone()).await);
    }
    for round in 0..10 {
        healthy(addr, "other", round).await;
    }
    // Twelve of them would hold 348 MB if their requests were all read: the total
    // budget stops reading at 48 MiB.
    for _ in 0..10 {
        stuck.push(never_reading_client(addr, big_batch.clone()).await);
    }
    let rss_peak = peak_rss_kib(pid, Duration::from_secs(3)).await;
    let grown_mib = rss_peak.saturating_sub(rss_before) / 1024;
    eprintln!("RSS {rss_before} KiB before, peak {rss_peak} KiB with 12 never-reading clients");
    // 48 MiB of budget, up to one partly read 4 MiB frame per connection, allocator slack.
    assert!(
        grown_mib < 160,
        "12 never-reading clients grew the broker by {grown_mib} MiB"
    );
    // Once they go, their budget is free for everyone again.
    for task in stuck {
        task.abort();
        let _ = task.await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut c = RawClient::connect(addr).await;
        if c.try_call(fetch("other", 0, 0, 0, 0)).await.is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the budget is released when clients leave"
        );
    }
    healthy(addr, "other", 99).await;
    child.start_kill().unwrap();
}
