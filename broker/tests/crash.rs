//! Crash safety: `rilld` as a child process is SIGKILLed at random moments while
//! producers append with acks=all; after each restart every acknowledged record is at
//! its offset byte for byte, offsets are contiguous, and nothing torn is served.
//!
//! Runs a few iterations per flush policy in the normal suite; set
//! `RILL_CRASH_ITERATIONS=100` for a longer run.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::child::start_rilld;
use common::ledger::{check, producer, Shared};
use common::*;
use rill_protocol::api::produce::ACKS_ALL;

const PARTITIONS: i32 = 3;

async fn crash_loop(flush: &str) {
    let iterations: u32 = std::env::var("RILL_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    let ledger = Shared::default();
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
                        replication_factor: -1,
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
            check(addr, "crash", PARTITIONS, &ledger, true).await;
        }
        let producers: Vec<_> = (0..PARTITIONS)
            .map(|p| tokio::spawn(producer(addr, "crash", p, round, ledger.clone())))
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
    check(addr, "crash", PARTITIONS, &ledger, true).await;
    assert!(
        !ledger.lock().unwrap().acked.is_empty(),
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
