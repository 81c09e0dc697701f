//! Power cuts: the real `rilld` runs on a FUSE filesystem (`powercut_fs`) that keeps every
//! write, creation, rename and unlink that no fsync made durable in memory only, and drops
//! them all when the power is cut. Producers append with acks=all; at a random moment
//! `rilld` is SIGKILLed and the power cut (every other time keeping a random part of what
//! was not fsynced, as when the kernel wrote some of it back); then it restarts on what
//! survived.
//!
//! - `flush = always`: every acknowledged record is there, at its offset, byte for byte.
//! - `flush = os`: recovery serves a clean log: whole CRC-valid batches at contiguous
//!   offsets up to the high watermark, every record one that was sent, and a consumer
//!   reads it all without an error (never stuck on a corrupt segment).
//!
//! A few rounds per policy in the normal suite; `RILL_POWERCUT_ITERATIONS=50` runs longer.
//! Needs FUSE (`/dev/fuse`, as root or with `fusermount3`): without it the tests FAIL,
//! unless `RILL_POWERCUT_NO_FUSE=1` says this machine has none (then they say loudly that
//! they did not run).

mod common;
mod powercut_fs;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::child::start_rilld_with;
use common::ledger::{check, producer, Shared};
use common::*;
use powercut_fs::{fuse_available, Disk};
use rill_protocol::api::create_topics::{CreatableTopic, CreateTopicsRequest};
use rill_protocol::api::{Request, Response};
use rill_protocol::error_code::ErrorCode;

const TOPIC: &str = "powercut";
const PARTITIONS: i32 = 2;

/// The disk, or `None` when the environment says explicitly that FUSE is unavailable.
fn disk_or_fail() -> Option<Disk> {
    if !fuse_available() {
        if std::env::var("RILL_POWERCUT_NO_FUSE").as_deref() == Ok("1") {
            eprintln!(
                "!!!!! POWER-CUT TESTS DID NOT RUN: no FUSE here (RILL_POWERCUT_NO_FUSE=1) !!!!!"
            );
            return None;
        }
        panic!(
            "FUSE is not available (/dev/fuse missing or not openable): the power-cut tests \
             cannot run. Load the fuse module / install fuse3, or set RILL_POWERCUT_NO_FUSE=1 \
             to skip them explicitly on a machine without FUSE."
        );
    }
    match Disk::mount_new() {
        Ok(disk) => Some(disk),
        Err(e) => panic!("cannot mount the power-cut FUSE filesystem: {e} (run as root, or install fuse3 for fusermount3)"),
    }
}

async fn create_topic(addr: SocketAddr) {
    let mut admin = RawClient::connect(addr).await;
    let create = Request::CreateTopics(CreateTopicsRequest {
        topics: vec![CreatableTopic {
            replication_factor: -1,
            name: TOPIC.into(),
            num_partitions: PARTITIONS,
            configs: vec![],
        }],
        timeout_ms: 5000,
        validate_only: false,
    });
    match admin.call(create).await {
        Response::CreateTopics(r) => assert_eq!(r.topics[0].error_code, ErrorCode::None, "{r:?}"),
        other => panic!("expected a CreateTopics response, got {other:?}"),
    }
}

/// Starts `rilld` on the disk with small segments, so that rolls happen often.
async fn start(disk: &Disk, flush: &str) -> (tokio::process::Child, SocketAddr) {
    start_rilld_with(disk.path(), &["--flush", flush, "--segment-bytes", "16384"]).await
}

async fn powercut_loop(flush: &str) {
    let iterations: u32 = std::env::var("RILL_POWERCUT_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let Some(mut disk) = disk_or_fail() else {
        return;
    };
    let acked_must_survive = flush == "always";
    let ledger = Shared::default();
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("flush={flush}: power-cut seed {seed}");
    for round in 0..iterations {
        let (mut child, addr) = start(&disk, flush).await;
        if round == 0 {
            create_topic(addr).await;
        } else {
            check(addr, TOPIC, PARTITIONS, &ledger, acked_must_survive).await;
        }
        let producers: Vec<_> = (0..PARTITIONS)
            .map(|p| tokio::spawn(producer(addr, TOPIC, p, round, ledger.clone())))
            .collect();
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        // Up to 2.5 s: past a housekeeping round (1 s), which writes the checkpoint.
        let run_ms = 300 + (seed >> 33) % 2200;
        tokio::time::sleep(Duration::from_millis(run_ms)).await;
        child.start_kill().expect("SIGKILL rilld");
        child.wait().await.expect("rilld reaped");
        for p in producers {
            p.await.expect("producer task");
        }
        // Every other cut keeps a random part of what was not fsynced, as when the kernel
        // wrote some of it back first.
        let cut = if round % 2 == 1 {
            disk.cut_power_torn(seed)
        } else {
            disk.cut_power()
        };
        cut.expect("cut the power and mount what survived");
    }
    let (mut child, addr) = start(&disk, flush).await;
    check(addr, TOPIC, PARTITIONS, &ledger, acked_must_survive).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let stats = disk.stats();
    eprintln!(
        "flush={flush}: {stats:?}, {} records in the log",
        ledger.lock().unwrap().acked.len()
    );
    assert_eq!(stats.power_cuts, u64::from(iterations));
    assert!(stats.writes > 0 && stats.file_syncs > 0, "{stats:?}");
    assert!(
        !ledger.lock().unwrap().acked.is_empty(),
        "records survived the power cuts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_cut_loses_nothing_acknowledged_with_flush_always() {
    powercut_loop("always").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_cut_with_flush_os_recovers_a_clean_log() {
    powercut_loop("os").await;
}

/// The filesystem itself: what an fsync made durable survives a cut; what it did not,
/// including a created or renamed file whose directory was not fsynced, does not.
#[test]
fn the_disk_drops_exactly_what_was_not_fsynced() {
    use std::io::Write;
    let Some(mut disk) = disk_or_fail() else {
        return;
    };
    let root = disk.path().to_path_buf();
    let sync_dir = |dir: &std::path::Path| std::fs::File::open(dir).unwrap().sync_all().unwrap();
    let mut kept = std::fs::File::create(root.join("kept")).unwrap();
    kept.write_all(b"durable").unwrap();
    kept.sync_data().unwrap();
    kept.write_all(b" and lost").unwrap();
    drop(kept);
    std::fs::create_dir(root.join("d")).unwrap();
    sync_dir(&root);
    let mut unsynced_entry = std::fs::File::create(root.join("d").join("orphan")).unwrap();
    unsynced_entry.write_all(b"x").unwrap();
    unsynced_entry.sync_data().unwrap();
    drop(unsynced_entry);
    std::fs::write(root.join("tmp"), b"new").unwrap();
    std::fs::rename(root.join("tmp"), root.join("renamed")).unwrap();
    disk.cut_power().unwrap();
    let root = disk.path().to_path_buf();
    assert_eq!(std::fs::read(root.join("kept")).unwrap(), b"durable");
    assert!(
        root.join("d").is_dir(),
        "an fsynced directory entry survives"
    );
    assert!(
        !root.join("d").join("orphan").exists(),
        "an entry whose directory was not fsynced is lost"
    );
    assert!(!root.join("renamed").exists() && !root.join("tmp").exists());
}
