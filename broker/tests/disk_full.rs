//! Disk full: the broker's data directory is a 2 MiB tmpfs. Produce fills it until the
//! broker answers KAFKA_STORAGE_ERROR; the broker stays up and serves every acknowledged
//! record; once space is freed, produce works again and offsets continue without a gap.
//!
//! Needs permission to mount a tmpfs (root); elsewhere the test says so and passes.

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

/// Unmounts the tmpfs when dropped, even if the test fails.
struct Mounted<'a>(&'a Path);

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0).status();
    }
}

fn mount_tmpfs(dir: &Path) -> bool {
    Command::new("mount")
        .args(["-t", "tmpfs", "-o", TMPFS_SIZE, "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success())
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
    if !mount_tmpfs(dir.path()) {
        eprintln!("skipping: cannot mount a tmpfs here (needs root)");
        return;
    }
    let mount = Mounted(dir.path());
    let filler = dir.path().join("filler");
    std::fs::write(&filler, vec![1u8; FILLER_BYTES]).unwrap();

    let data_dir = tempfile::tempdir_in(dir.path()).unwrap();
    let broker = TestBroker::start_in(data_dir, |_| {}).await;
    let mut c = RawClient::connect(broker.addr).await;
    c.call(Request::CreateTopics(CreateTopicsRequest {
        topics: vec![CreatableTopic {
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
