//! File-level faults on a stopped broker: each test damages the files of partition 0 of a
//! two-partition topic, restarts the broker on the same data directory, and checks that it
//! starts, serves every intact record of partition 0 (and all of partition 1) with valid
//! CRCs and contiguous offsets, and that the next produce continues after the last intact
//! batch.

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use common::*;
use rill_protocol::api::common::ConfigEntry;
use rill_protocol::api::create_topics::{CreatableTopic, CreateTopicsRequest};
use rill_protocol::api::produce::ACKS_ALL;
use rill_protocol::api::Request;
use rill_protocol::batch::{BatchBuilder, BatchIter, Compression, RecordInput};
use rill_protocol::error_code::ErrorCode;

const TOPIC: &str = "faults";
/// Batches produced to each partition before the damage.
const BATCHES: usize = 12;
/// Records per batch.
const RECORDS: usize = 3;
/// Small segments so that partition 0 spans several of them.
const SEGMENT_BYTES: &str = "4096";

/// A batch of `RECORDS` records `"{prefix}-{i}"` padded to ~250 bytes each.
fn padded_batch(prefix: &str) -> Bytes {
    let mut builder = BatchBuilder::new(Compression::None);
    for i in 0..RECORDS {
        let value = format!("{prefix}-{i}-{}", "x".repeat(240));
        builder
            .append(&RecordInput::new(1_000 + i as i64, value))
            .unwrap();
    }
    builder.build().unwrap()
}

/// The value stored for record `i` of batch `b` of `partition`.
fn value(partition: i32, b: usize, i: usize) -> String {
    format!("p{partition}-b{b}-{i}-{}", "x".repeat(240))
}

/// Values of the first `batches` batches of `partition`, in offset order.
fn expected(partition: i32, batches: usize) -> Vec<String> {
    (0..batches)
        .flat_map(|b| (0..RECORDS).map(move |i| value(partition, b, i)))
        .collect()
}

/// Starts a broker, creates the topic, produces `BATCHES` batches to both partitions and
/// stops it cleanly. Returns the data directory.
async fn populated() -> tempfile::TempDir {
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(broker.addr).await;
    let configs = [("segment.bytes", SEGMENT_BYTES), ("retention.ms", "-1")]
        .map(|(k, v)| ConfigEntry {
            key: k.into(),
            value: Some(v.into()),
        })
        .to_vec();
    c.call(Request::CreateTopics(CreateTopicsRequest {
        topics: vec![CreatableTopic {
            replication_factor: -1,
            name: TOPIC.into(),
            num_partitions: 2,
            configs,
        }],
        timeout_ms: 5000,
        validate_only: false,
    }))
    .await;
    for partition in 0..2 {
        for b in 0..BATCHES {
            let records = padded_batch(&format!("p{partition}-b{b}"));
            let r = produce_response(c.call(produce(TOPIC, partition, records, ACKS_ALL)).await);
            let p = &r.topics[0].partitions[0];
            assert_eq!(p.error_code, ErrorCode::None, "{p:?}");
            assert_eq!(p.base_offset, (b * RECORDS) as i64);
        }
    }
    broker.stop().await
}

fn partition_dir(dir: &Path, partition: i32) -> PathBuf {
    dir.join(format!("{TOPIC}-{partition}"))
}

/// Segment files of `partition` with extension `ext`, oldest first.
fn files(dir: &Path, partition: i32, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(partition_dir(dir, partition))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    out.sort();
    out
}

/// The active (last) segment log of partition 0.
fn active_log(dir: &Path) -> PathBuf {
    files(dir, 0, "log").pop().unwrap()
}

/// Byte positions where the batches of a segment file start, and its length.
fn batch_starts(path: &Path) -> (Vec<usize>, usize) {
    let bytes = Bytes::from(fs::read(path).unwrap());
    let mut starts = vec![0];
    let mut iter = BatchIter::new(bytes.clone(), usize::MAX);
    while let Some(batch) = iter.next() {
        batch.unwrap();
        starts.push(iter.position());
    }
    starts.pop();
    (starts, bytes.len())
}

/// Number of batches partition 0 holds in segments before the active one.
fn batches_before_active(dir: &Path) -> usize {
    let logs = files(dir, 0, "log");
    logs[..logs.len() - 1]
        .iter()
        .map(|p| batch_starts(p).0.len())
        .sum()
}

/// Reads a whole partition, checking every batch's CRC and offset contiguity.
async fn read_partition(c: &mut RawClient, partition: i32) -> Vec<String> {
    let mut offset = 0;
    let mut values = Vec::new();
    loop {
        let f = fetch_response(c.call(fetch(TOPIC, partition, offset, 0, 0)).await);
        let part = &f.topics[0].partitions[0];
        assert_eq!(part.error_code, ErrorCode::None, "{partition}/{offset}");
        let records = part.records.clone().into_bytes();
        if records.is_empty() {
            assert_eq!(offset, part.high_watermark);
            return values;
        }
        for batch in BatchIter::new(records, usize::MAX) {
            let batch = batch.expect("served batches are whole and CRC-valid");
            for r in batch.records().unwrap() {
                let r = r.unwrap();
                if r.offset < offset {
                    continue;
                }
                assert_eq!(r.offset, offset, "contiguous offsets");
                values.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
                offset += 1;
            }
        }
    }
}

/// Restarts on `dir` and checks: partition 0 serves exactly its first `intact` batches,
/// partition 1 is untouched, and produce continues at the next offset in both.
async fn restart_and_check(dir: tempfile::TempDir, intact: usize) -> tempfile::TempDir {
    let broker = TestBroker::start_in(dir, |_| {}).await;
    let mut c = RawClient::connect(broker.addr).await;
    assert_eq!(read_partition(&mut c, 0).await, expected(0, intact));
    assert_eq!(read_partition(&mut c, 1).await, expected(1, BATCHES));
    for (partition, batches) in [(0, intact), (1, BATCHES)] {
        let records = padded_batch(&format!("p{partition}-b{batches}"));
        let r = produce_response(c.call(produce(TOPIC, partition, records, ACKS_ALL)).await);
        let p = &r.topics[0].partitions[0];
        assert_eq!(p.error_code, ErrorCode::None);
        assert_eq!(p.base_offset, (batches * RECORDS) as i64, "next offset");
        assert_eq!(
            read_partition(&mut c, partition).await,
            expected(partition, batches + 1)
        );
    }
    broker.stop().await
}

/// Removes the recovery checkpoint, as after a crash: every segment is scanned.
fn forget_checkpoint(dir: &Path) {
    fs::remove_file(partition_dir(dir, 0).join("recovery-checkpoint")).unwrap();
}

#[tokio::test]
async fn truncated_mid_batch_is_cut_at_the_last_whole_batch() {
    let dir = populated().await;
    let log = active_log(dir.path());
    let (starts, len) = batch_starts(&log);
    let last = *starts.last().unwrap();
    let file = OpenOptions::new().write(true).open(&log).unwrap();
    file.set_len((last + (len - last) / 2) as u64).unwrap();
    let intact = batches_before_active(dir.path()) + starts.len() - 1;
    restart_and_check(dir, intact).await;
}

#[tokio::test]
async fn random_garbage_after_the_last_batch_is_cut() {
    let dir = populated().await;
    let mut seed = 0x9e37_79b9_u32;
    let garbage: Vec<u8> = (0..777)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as u8
        })
        .collect();
    let mut file = OpenOptions::new()
        .append(true)
        .open(active_log(dir.path()))
        .unwrap();
    file.write_all(&garbage).unwrap();
    restart_and_check(dir, BATCHES).await;
}

#[tokio::test]
async fn flipped_byte_cuts_from_the_damaged_batch_after_a_crash() {
    let dir = populated().await;
    let log = active_log(dir.path());
    let (starts, _) = batch_starts(&log);
    let damaged = starts.len() / 2;
    let mut bytes = fs::read(&log).unwrap();
    bytes[starts[damaged] + 100] ^= 0x40;
    fs::write(&log, &bytes).unwrap();
    forget_checkpoint(dir.path());
    let intact = batches_before_active(dir.path()) + damaged;
    restart_and_check(dir, intact).await;
}

#[tokio::test]
async fn zero_filled_tail_is_dropped() {
    let dir = populated().await;
    let log = active_log(dir.path());
    let (starts, len) = batch_starts(&log);
    let last = *starts.last().unwrap();
    let mut bytes = fs::read(&log).unwrap();
    bytes[last..].fill(0);
    bytes.resize(len + 4096, 0);
    fs::write(&log, &bytes).unwrap();
    let intact = batches_before_active(dir.path()) + starts.len() - 1;
    restart_and_check(dir, intact).await;
}

#[tokio::test]
async fn deleted_indexes_are_rebuilt() {
    let dir = populated().await;
    for ext in ["index", "timeindex"] {
        for path in files(dir.path(), 0, ext) {
            fs::remove_file(path).unwrap();
        }
    }
    let dir = restart_and_check(dir, BATCHES).await;
    assert!(
        !files(dir.path(), 0, "index").is_empty(),
        "indexes rewritten"
    );
}

#[tokio::test]
async fn corrupt_indexes_are_rebuilt() {
    let dir = populated().await;
    for (n, path) in files(dir.path(), 0, "index").iter().enumerate() {
        let len = fs::metadata(path).unwrap().len() as usize;
        let junk: Vec<u8> = (0..len.max(8)).map(|i| (i * 31 + n * 7) as u8).collect();
        fs::write(path, junk).unwrap();
    }
    for path in files(dir.path(), 0, "timeindex") {
        fs::write(path, b"not a time index").unwrap();
    }
    restart_and_check(dir, BATCHES).await;
}

#[tokio::test]
async fn index_entry_pointing_at_the_wrong_batch_is_not_trusted() {
    let dir = populated().await;
    let log = active_log(dir.path());
    let (starts, _) = batch_starts(&log);
    let index = log.with_extension("index");
    // One well-formed entry: relative offset 0 at the position of the third batch.
    let mut entry = 0u32.to_be_bytes().to_vec();
    entry.extend_from_slice(&(starts[2] as u32).to_be_bytes());
    fs::write(&index, entry).unwrap();
    restart_and_check(dir, BATCHES).await;
}

#[tokio::test]
async fn corrupt_checkpoint_makes_recovery_scan() {
    let dir = populated().await;
    let checkpoint = partition_dir(dir.path(), 0).join("recovery-checkpoint");
    let mut bytes = fs::read(&checkpoint).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&checkpoint, &bytes).unwrap();
    let log = active_log(dir.path());
    let (starts, len) = batch_starts(&log);
    let file = OpenOptions::new().write(true).open(&log).unwrap();
    file.set_len((len - 5) as u64).unwrap();
    let intact = batches_before_active(dir.path()) + starts.len() - 1;
    restart_and_check(dir, intact).await;
}

#[tokio::test]
async fn unreadable_checkpoint_does_not_stop_the_broker() {
    let dir = populated().await;
    let checkpoint = partition_dir(dir.path(), 0).join("recovery-checkpoint");
    fs::remove_file(&checkpoint).unwrap();
    fs::create_dir(&checkpoint).unwrap();
    restart_and_check(dir, BATCHES).await;
}

#[tokio::test]
async fn unreadable_segment_keeps_the_segments_before_it() {
    let dir = populated().await;
    let logs = files(dir.path(), 0, "log");
    assert!(logs.len() >= 3, "partition 0 spans several segments");
    let intact = batch_starts(&logs[0]).0.len();
    // A segment file the broker cannot open (a directory in its place).
    fs::remove_file(&logs[1]).unwrap();
    fs::create_dir(&logs[1]).unwrap();
    restart_and_check(dir, intact).await;
}

/// A partition directory the broker cannot open at all (here a regular file in its place;
/// on a real disk EIO or EACCES) takes that partition offline, not the broker: the other
/// partition is served in full, requests for the offline one get typed errors, and the
/// metrics say so. Once the directory is back, a restart serves it again.
#[tokio::test]
async fn unopenable_partition_directory_goes_offline_alone() {
    use rill_protocol::api::common::TopicPartitions;
    use rill_protocol::api::list_offsets::{
        ListOffsetsPartition, ListOffsetsRequest, LATEST_TIMESTAMP,
    };
    use rill_protocol::api::metadata::MetadataRequest;
    use rill_protocol::api::Response;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = populated().await;
    let p0 = partition_dir(dir.path(), 0);
    let saved = dir.path().join("saved-partition-0");
    fs::rename(&p0, &saved).unwrap();
    fs::write(&p0, b"not a directory").unwrap();

    let broker = TestBroker::start_in(dir, |_| {}).await;
    let mut c = RawClient::connect(broker.addr).await;
    assert_eq!(read_partition(&mut c, 1).await, expected(1, BATCHES));

    let r = produce_response(c.call(produce(TOPIC, 0, padded_batch("x"), ACKS_ALL)).await);
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ErrorCode::KafkaStorageError
    );
    let f = fetch_response(c.call(fetch(TOPIC, 0, 0, 0, 0)).await);
    assert_eq!(
        f.topics[0].partitions[0].error_code,
        ErrorCode::KafkaStorageError
    );
    let list = Request::ListOffsets(ListOffsetsRequest {
        isolation_level: 0,
        topics: vec![TopicPartitions {
            name: TOPIC.into(),
            partitions: vec![ListOffsetsPartition {
                partition: 0,
                timestamp: LATEST_TIMESTAMP,
            }],
        }],
    });
    match c.call(list).await {
        Response::ListOffsets(r) => assert_eq!(
            r.topics[0].partitions[0].error_code,
            ErrorCode::KafkaStorageError
        ),
        other => panic!("{other:?}"),
    }
    let metadata = Request::Metadata(MetadataRequest {
        topics: Some(vec![TOPIC.into()]),
        allow_auto_topic_creation: false,
    });
    match c.call(metadata).await {
        Response::Metadata(m) => {
            let parts = &m.topics[0].partitions;
            assert_eq!(parts[0].error_code, ErrorCode::LeaderNotAvailable);
            assert_eq!(parts[0].leader, -1);
            assert_eq!(parts[1].error_code, ErrorCode::None);
            assert_eq!(parts[1].high_watermark, (BATCHES * RECORDS) as i64);
        }
        other => panic!("{other:?}"),
    }
    // Partition 1 still takes writes.
    let r = produce_response(
        c.call(produce(TOPIC, 1, padded_batch("p1-more"), ACKS_ALL))
            .await,
    );
    assert_eq!(r.topics[0].partitions[0].error_code, ErrorCode::None);
    assert_eq!(
        r.topics[0].partitions[0].base_offset,
        (BATCHES * RECORDS) as i64
    );

    let http = broker.http_addr.expect("HTTP endpoint on");
    let mut stream = tokio::net::TcpStream::connect(http).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).await.unwrap();
    let line = |partition: u32| {
        format!("rill_partition_offline{{topic=\"{TOPIC}\",partition=\"{partition}\"}} ")
    };
    assert!(body.contains(&format!("{}1", line(0))), "{body}");
    assert!(body.contains(&format!("{}0", line(1))), "{body}");

    // Repaired: the next start serves partition 0 again, all of it.
    let dir = broker.stop().await;
    fs::remove_file(&p0).unwrap();
    fs::rename(&saved, &p0).unwrap();
    let broker = TestBroker::start_in(dir, |_| {}).await;
    let mut c = RawClient::connect(broker.addr).await;
    assert_eq!(read_partition(&mut c, 0).await, expected(0, BATCHES));
    broker.stop().await;
}
