//! Crash safety: `rilld` as a child process is SIGKILLed at random moments while
//! producers append with acks=all; after each restart every acknowledged record is at
//! its offset byte for byte, offsets are contiguous, and nothing torn is served.
//!
//! Runs a few iterations per flush policy in the normal suite; set
//! `RILL_CRASH_ITERATIONS=100` for a longer run.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::child::start_rilld;
use common::*;
use rill_protocol::api::produce::ACKS_ALL;
use rill_protocol::api::Response;
use rill_protocol::batch::BatchIter;
use rill_protocol::error_code::ErrorCode;

const PARTITIONS: i32 = 3;

/// Acknowledged records: (partition, offset) -> value.
type Acked = Arc<Mutex<BTreeMap<(i32, i64), String>>>;

/// Produces to one partition until the connection fails, recording what was acknowledged.
async fn producer(addr: std::net::SocketAddr, partition: i32, round: u32, acked: Acked) {
    let mut client = RawClient::connect(addr).await;
    // Real timestamps: retention (7 days by default) would delete 1970s records.
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for seq in 0.. {
        let prefix = format!("p{partition}-r{round}-s{seq}");
        let request = produce(
            "crash",
            partition,
            batch(&prefix, 5, now_ms + seq),
            ACKS_ALL,
        );
        let Some(Response::Produce(r)) = client.try_call(request).await else {
            return;
        };
        let p = &r.topics[0].partitions[0];
        assert_eq!(p.error_code, ErrorCode::None, "{p:?}");
        let mut acked = acked.lock().unwrap();
        for i in 0..5 {
            acked.insert((partition, p.base_offset + i), format!("{prefix}-{i}"));
        }
    }
}

/// Reads a whole partition and checks it against what was acknowledged.
async fn verify(addr: std::net::SocketAddr, acked: &Acked) {
    let mut client = RawClient::connect(addr).await;
    for partition in 0..PARTITIONS {
        let mut offset = 0;
        let mut values = BTreeMap::new();
        loop {
            let f = fetch_response(client.call(fetch("crash", partition, offset, 0, 0)).await);
            let part = &f.topics[0].partitions[0];
            assert_eq!(
                part.error_code,
                ErrorCode::None,
                "partition {partition} offset {offset}: {part:?}"
            );
            let records = part.records.clone().into_bytes();
            if records.is_empty() {
                assert_eq!(offset, part.high_watermark, "read up to the high watermark");
                break;
            }
            for batch in BatchIter::new(records, 64 << 20) {
                let batch = batch.expect("served batches are whole and CRC-valid");
                for r in batch.records().unwrap() {
                    let r = r.unwrap();
                    if r.offset < offset {
                        continue;
                    }
                    assert_eq!(r.offset, offset, "offsets are contiguous");
                    values.insert(
                        r.offset,
                        String::from_utf8(r.value.unwrap().to_vec()).unwrap(),
                    );
                    offset += 1;
                }
            }
        }
        for ((p, o), value) in acked.lock().unwrap().iter() {
            if *p == partition {
                assert_eq!(values.get(o), Some(value), "acknowledged record at {p}/{o}");
            }
        }
    }
}

async fn crash_loop(flush: &str) {
    let iterations: u32 = std::env::var("RILL_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    let acked: Acked = Arc::default();
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    for round in 0..iterations {
        let (mut child, addr) = start_rilld(dir.path(), flush).await;
        if round == 0 {
            let mut admin = RawClient::connect(addr).await;
            let create = rill_protocol::api::Request::CreateTopics(
                rill_protocol::api::create_topics::CreateTopicsRequest {
                    topics: vec![rill_protocol::api::create_topics::CreatableTopic {
                        name: "crash".into(),
                        num_partitions: PARTITIONS,
                        configs: vec![],
                    }],
                    timeout_ms: 5000,
                    validate_only: false,
                },
            );
            admin.call(create).await;
        } else {
            verify(addr, &acked).await;
        }
        let producers: Vec<_> = (0..PARTITIONS)
            .map(|p| tokio::spawn(producer(addr, p, round, acked.clone())))
            .collect();
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let run_ms = 100 + (seed >> 33) % 400;
        tokio::time::sleep(Duration::from_millis(run_ms)).await;
        child.start_kill().expect("SIGKILL rilld");
        child.wait().await.expect("rilld reaped");
        for p in producers {
            p.await.expect("producer task");
        }
    }
    let (mut child, addr) = start_rilld(dir.path(), flush).await;
    verify(addr, &acked).await;
    assert!(
        !acked.lock().unwrap().is_empty(),
        "the producers made progress"
    );
    child.start_kill().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_nothing_acknowledged_with_flush_always() {
    crash_loop("always").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_nothing_acknowledged_with_flush_os() {
    crash_loop("os").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_checkpoints_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = start_rilld(dir.path(), "os").await;
    let mut client = RawClient::connect(addr).await;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for i in 0..10 {
        let r = produce_response(
            client
                .call(produce(
                    "graceful",
                    0,
                    batch(&format!("g{i}"), 3, now_ms),
                    ACKS_ALL,
                ))
                .await,
        );
        assert_eq!(r.topics[0].partitions[0].base_offset, i * 3);
    }
    let pid = i32::try_from(child.id().expect("running")).unwrap();
    // SAFETY: kill(2) with a pid we own and a valid signal number has no memory effects.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("rilld stops on SIGTERM")
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
    let checkpoint =
        std::fs::read(dir.path().join("graceful-0").join("recovery-checkpoint")).unwrap();
    assert!(
        !checkpoint.is_empty(),
        "a clean shutdown writes the checkpoint"
    );

    let (mut child, addr) = start_rilld(dir.path(), "os").await;
    let mut client = RawClient::connect(addr).await;
    let f = fetch_response(client.call(fetch("graceful", 0, 27, 0, 0)).await);
    assert_eq!(fetched_values(&f), ["g9-0", "g9-1", "g9-2"]);
    child.start_kill().unwrap();
}
