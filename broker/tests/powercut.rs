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

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::child::start_rilld_with;
use common::*;
use powercut_fs::{fuse_available, Disk};
use rill_protocol::api::create_topics::{CreatableTopic, CreateTopicsRequest};
use rill_protocol::api::produce::ACKS_ALL;
use rill_protocol::api::{Request, Response};
use rill_protocol::batch::BatchIter;
use rill_protocol::error_code::ErrorCode;

const TOPIC: &str = "powercut";
const PARTITIONS: i32 = 2;
const RECORDS_PER_BATCH: i64 = 5;

/// What the producers sent and what the broker acknowledged.
#[derive(Default)]
struct Ledger {
    /// Acknowledged records of the current incarnation of each offset: (partition, offset).
    acked: BTreeMap<(i32, i64), String>,
    /// Every record value ever sent, per partition.
    sent: HashSet<(i32, String)>,
}

type Shared = Arc<Mutex<Ledger>>;

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

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Produces to one partition until the connection fails, recording what was sent and
/// what was acknowledged.
async fn producer(addr: SocketAddr, partition: i32, round: u32, ledger: Shared) {
    let mut client = RawClient::connect(addr).await;
    let start_ms = now_ms();
    for seq in 0.. {
        let prefix = format!("p{partition}-r{round}-s{seq}");
        {
            let mut ledger = ledger.lock().unwrap();
            for i in 0..RECORDS_PER_BATCH {
                ledger.sent.insert((partition, format!("{prefix}-{i}")));
            }
        }
        let records = batch(&prefix, RECORDS_PER_BATCH as usize, start_ms + seq);
        let request = produce(TOPIC, partition, records, ACKS_ALL);
        let Some(Response::Produce(r)) = client.try_call(request).await else {
            return;
        };
        let p = &r.topics[0].partitions[0];
        assert_eq!(p.error_code, ErrorCode::None, "{p:?}");
        let mut ledger = ledger.lock().unwrap();
        for i in 0..RECORDS_PER_BATCH {
            ledger
                .acked
                .insert((partition, p.base_offset + i), format!("{prefix}-{i}"));
        }
    }
}

/// Reads a whole partition as a consumer would, asserting that it is clean: no error,
/// whole CRC-valid batches, contiguous offsets from 0 up to the high watermark.
async fn read_partition(client: &mut RawClient, partition: i32) -> BTreeMap<i64, String> {
    let mut offset = 0;
    let mut values = BTreeMap::new();
    loop {
        let f = fetch_response(client.call(fetch(TOPIC, partition, offset, 0, 0)).await);
        let part = &f.topics[0].partitions[0];
        assert_eq!(
            part.error_code,
            ErrorCode::None,
            "partition {partition}: a consumer at offset {offset} is stuck: {part:?}"
        );
        let records = part.records.clone().into_bytes();
        if records.is_empty() {
            assert_eq!(offset, part.high_watermark, "read up to the high watermark");
            return values;
        }
        for batch in BatchIter::new(records, 64 << 20) {
            let batch = batch.expect("served batches are whole and CRC-valid");
            for r in batch.records().expect("records decode") {
                let r = r.expect("record decodes");
                if r.offset < offset {
                    continue;
                }
                assert_eq!(r.offset, offset, "offsets are contiguous");
                let value = r.value.expect("value");
                values.insert(r.offset, String::from_utf8(value.to_vec()).unwrap());
                offset += 1;
            }
        }
    }
}

/// Checks what the restarted broker serves against the ledger.
async fn check(addr: SocketAddr, ledger: &Shared, acked_must_survive: bool) {
    let mut client = RawClient::connect(addr).await;
    for partition in 0..PARTITIONS {
        let values = read_partition(&mut client, partition).await;
        let mut ledger = ledger.lock().unwrap();
        for value in values.values() {
            assert!(
                ledger.sent.contains(&(partition, value.clone())),
                "partition {partition} serves {value:?}, which no producer sent"
            );
        }
        if acked_must_survive {
            for ((p, offset), value) in &ledger.acked {
                if *p == partition {
                    assert_eq!(
                        values.get(offset),
                        Some(value),
                        "acknowledged record at {p}/{offset} after a power cut"
                    );
                }
            }
        }
        // What the log holds now is what later rounds build on.
        ledger.acked.retain(|(p, _), _| *p != partition);
        ledger
            .acked
            .extend(values.into_iter().map(|(o, v)| ((partition, o), v)));
    }
}

async fn create_topic(addr: SocketAddr) {
    let mut admin = RawClient::connect(addr).await;
    let create = Request::CreateTopics(CreateTopicsRequest {
        topics: vec![CreatableTopic {
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
    let ledger: Shared = Arc::default();
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
            check(addr, &ledger, acked_must_survive).await;
        }
        let producers: Vec<_> = (0..PARTITIONS)
            .map(|p| tokio::spawn(producer(addr, p, round, ledger.clone())))
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
    check(addr, &ledger, acked_must_survive).await;
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
