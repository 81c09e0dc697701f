//! Disk full: the broker's data directory is a 2 MiB tmpfs. Produce fills it until the
//! broker answers KAFKA_STORAGE_ERROR; the broker stays up and serves every acknowledged
//! record; once space is freed, produce works again and offsets continue without a gap.
//!
//! Needs permission to mount a tmpfs (root, as in CI). When it cannot mount, the test
//! FAILS, unless `RILL_TEST_CANNOT_MOUNT=1` says this environment cannot mount (then it
//! says loudly that it did not run).

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use rill_protocol::api::common::ConfigEntry;
use rill_protocol::api::create_topics::{CreatableTopic, CreateTopicsRequest};
use rill_protocol::api::produce::ACKS_ALL;
use rill_protocol::api::Request;
use rill_protocol::batch::{BatchBuilder, Compression, RecordInput};
use rill_protocol::error_code::ErrorCode;

const TOPIC: &str = "full";
/// Size of the tmpfs data directory.
const TMPFS_SIZE: &str = "size=2m";
/// Bytes of the file that takes most of the space, deleted to free it.
const FILLER_BYTES: usize = 1536 * 1024;
/// Produce attempts before giving up on filling the disk.
const PRODUCE_ATTEMPTS_MAX: usize = 200;
/// Set to `1` where the test cannot mount a tmpfs (not root): it then skips, loudly.
const CANNOT_MOUNT_ENV: &str = "RILL_TEST_CANNOT_MOUNT";

/// Unmounts the tmpfs when dropped, even if the test fails.
struct Mounted<'a>(&'a Path);

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0).status();
    }
}

/// Mounts a size-limited tmpfs on `dir`; says why not when it cannot.
fn mount_tmpfs(dir: &Path) -> Result<(), String> {
    let output = Command::new("mount")
        .args(["-t", "tmpfs", "-o", TMPFS_SIZE, "tmpfs"])
        .arg(dir)
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "mount -t tmpfs failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    ))
}

/// True when the environment says it cannot mount (the only way this test may skip).
fn mounting_is_impossible_here() -> bool {
    std::env::var(CANNOT_MOUNT_ENV).is_ok_and(|v| v == "1")
}

/// A batch of one ~16 KiB record whose value starts with `name`.
fn big_batch(name: &str) -> bytes::Bytes {
    let mut builder = BatchBuilder::new(Compression::None);
    let value = format!("{name}:{}", "v".repeat(16 * 1024));
    builder.append(&RecordInput::new(1_000, value)).unwrap();
    builder.build().unwrap()
}

async fn produce_one(c: &mut RawClient, name: &str) -> (ErrorCode, i64) {
    let r = produce_response(c.call(produce(TOPIC, 0, big_batch(name), ACKS_ALL)).await);
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.base_offset)
}

/// Names of every record in the partition (the value up to ':').
async fn read_names(c: &mut RawClient) -> Vec<String> {
    let mut names = Vec::new();
    loop {
        let f = fetch_response(c.call(fetch(TOPIC, 0, names.len() as i64, 0, 0)).await);
        let part = &f.topics[0].partitions[0];
        assert_eq!(part.error_code, ErrorCode::None);
        let values = fetched_values(&f);
        if values.is_empty() {
            assert_eq!(names.len() as i64, part.high_watermark);
            return names;
        }
        names.extend(
            values
                .iter()
                .map(|v| v.split(':').next().unwrap().to_string()),
        );
    }
}

#[tokio::test]
async fn full_disk_fails_produce_keeps_reads_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    if let Err(why) = mount_tmpfs(dir.path()) {
        if mounting_is_impossible_here() {
            eprintln!(
                "SKIPPED (not run): {why}; {CANNOT_MOUNT_ENV}=1 says this machine cannot mount"
            );
            return;
        }
        panic!(
            "the disk-full test needs a size-limited tmpfs and could not make one: {why}. \
             Run as root, or set {CANNOT_MOUNT_ENV}=1 where mounting is impossible"
        );
    }
    let mount = Mounted(dir.path());
    let filler = dir.path().join("filler");
    std::fs::write(&filler, vec![1u8; FILLER_BYTES]).unwrap();

    let data_dir = tempfile::tempdir_in(dir.path()).unwrap();
    let broker = TestBroker::start_in(data_dir, |_| {}).await;
    let mut c = RawClient::connect(broker.addr).await;
    c.call(Request::CreateTopics(CreateTopicsRequest {
        topics: vec![CreatableTopic {
            replication_factor: -1,
            name: TOPIC.into(),
            num_partitions: 1,
            configs: vec![ConfigEntry {
                key: "flush".into(),
                value: Some("always".into()),
            }],
        }],
        timeout_ms: 5000,
        validate_only: false,
    }))
    .await;

    let mut acked = Vec::new();
    let full = loop {
        assert!(acked.len() < PRODUCE_ATTEMPTS_MAX, "the disk never filled");
        let name = format!("r{}", acked.len());
        match produce_one(&mut c, &name).await {
            (ErrorCode::None, offset) => {
                assert_eq!(offset, acked.len() as i64);
                acked.push(name);
            }
            (code, _) => break code,
        }
    };
    eprintln!("disk full after {} records", acked.len());
    assert_eq!(full, ErrorCode::KafkaStorageError);
    assert!(!acked.is_empty(), "some records fit before the disk filled");

    // Still up: reads serve every acknowledged record, and produce keeps failing cleanly.
    assert_eq!(read_names(&mut c).await, acked);
    assert_eq!(
        produce_one(&mut c, "still-full").await.0,
        ErrorCode::KafkaStorageError
    );
    assert_eq!(read_names(&mut c).await, acked);

    // Free the space: produce continues at the next offset, with no gap.
    std::fs::remove_file(&filler).unwrap();
    for _ in 0..3 {
        let name = format!("r{}", acked.len());
        assert_eq!(
            produce_one(&mut c, &name).await,
            (ErrorCode::None, acked.len() as i64)
        );
        acked.push(name);
    }
    assert_eq!(read_names(&mut c).await, acked);

    // And the log recovers from what the failed appends left behind.
    let data_dir = broker.stop().await;
    let broker = TestBroker::start_in(data_dir, |_| {}).await;
    let mut c = RawClient::connect(broker.addr).await;
    assert_eq!(read_names(&mut c).await, acked);
    drop(broker.stop().await);
    drop(mount);
}
