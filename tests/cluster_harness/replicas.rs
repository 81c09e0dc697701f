//! Every replica's copy of a partition, read straight from the brokers' data
//! directories (`<data-dir>/<topic>-<partition>/`) with the storage engine itself, for
//! the checker to compare. Only for stopped brokers: opening a log recovers it, and the
//! copy is closed cleanly again (a clean-shutdown checkpoint), so the broker can be
//! started on it afterwards.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use bytes::Bytes;
use rill_broker::storage::{FlushPolicy, LogConfig, PartitionLog};
use rill_protocol::batch::{BatchIter, MAX_BATCH_BYTES_DEFAULT};

use super::checker::history::{ReplicaCopy, Stored};
use super::node::NodeState;
use super::{TestCluster, DEADLINE};

/// Bytes read from a log at a time.
const READ_BYTES: usize = 1 << 20;

/// Which brokers hold each partition of a topic.
pub type Layout = BTreeMap<i32, Vec<u64>>;

/// Node `node`'s copy of `topic`-`partition` in `data_dir` (the broker must be down).
pub fn read_copy(
    node: u64,
    data_dir: &Path,
    topic: &str,
    partition: i32,
) -> Result<ReplicaCopy, String> {
    let dir = data_dir.join(format!("{topic}-{partition}"));
    if !dir.is_dir() {
        return Err(format!("node {node} has no {}", dir.display()));
    }
    let config = LogConfig {
        flush: FlushPolicy::Os,
        retention_bytes: None,
        retention_ms: None,
        ..LogConfig::default()
    };
    let log = PartitionLog::open(&dir, config)
        .map_err(|e| format!("node {node}: open {}: {e}", dir.display()))?;
    let copy = read_all(node, partition, &log);
    log.close()
        .map_err(|e| format!("node {node}: close {}: {e}", dir.display()))?;
    copy
}

/// Every record of `log` from its start to its high watermark.
fn read_all(node: u64, partition: i32, log: &PartitionLog) -> Result<ReplicaCopy, String> {
    let log_start_offset = log.log_start_offset();
    let log_end_offset = log.high_watermark();
    let mut records = Vec::new();
    let mut offset = log_start_offset;
    while offset < log_end_offset {
        let read = log
            .read(offset, READ_BYTES)
            .map_err(|e| format!("node {node} partition {partition} at {offset}: {e}"))?;
        let next = decode_batches(read.records, offset, &mut records)
            .map_err(|e| format!("node {node} partition {partition} at {offset}: {e}"))?;
        if next <= offset {
            return Err(format!(
                "node {node} partition {partition}: no batch at {offset} below the end \
                 {log_end_offset}"
            ));
        }
        offset = next;
    }
    Ok(ReplicaCopy {
        node,
        partition,
        log_start_offset,
        log_end_offset,
        records,
    })
}

/// Appends the records at or after `from` in `batches` to `out`; returns the offset
/// after the last batch.
fn decode_batches(batches: Bytes, from: i64, out: &mut Vec<Stored>) -> Result<i64, String> {
    let mut next = from;
    for batch in BatchIter::new(batches, MAX_BATCH_BYTES_DEFAULT) {
        let batch = batch.map_err(|e| format!("corrupt batch: {e}"))?;
        next = next.max(batch.header().next_offset());
        if batch.header().is_control() {
            continue;
        }
        for record in batch.records().map_err(|e| format!("records: {e}"))? {
            let record = record.map_err(|e| format!("record: {e}"))?;
            if record.offset < from {
                continue;
            }
            out.push(Stored {
                offset: record.offset,
                key: record.key.map(|k| k.to_vec()),
                value: String::from_utf8_lossy(record.value.as_deref().unwrap_or_default())
                    .into_owned(),
            });
        }
    }
    Ok(next)
}

/// Which brokers hold each partition of `topic`, as node `id` describes it.
pub async fn layout(cluster: &TestCluster, id: u64, topic: &str) -> Layout {
    let description = cluster.describe_topic(id, topic).await;
    description
        .partitions
        .iter()
        .map(|p| {
            let replicas = p.replicas.iter().map(|r| *r as u64).collect();
            (p.partition, replicas)
        })
        .collect()
}

/// Stops every running broker cleanly and reads every replica of `topic` in `layout`.
/// A follower may not have applied the last committed entries when it stopped (it
/// learns the commit index from the leader's next message): while the copies of a
/// partition end at different offsets, the cluster is started again, given its leaders,
/// and stopped again, until they agree or [`DEADLINE`] passes (the checker then reports
/// the divergence). Leaves every broker down.
pub async fn stop_and_read(
    cluster: &mut TestCluster,
    topic: &str,
    layout: &Layout,
) -> Vec<ReplicaCopy> {
    let started = Instant::now();
    let mut rounds = 0;
    loop {
        rounds += 1;
        stop_all(cluster).await;
        let copies = read_copies(cluster, topic, layout);
        if ends_agree(&copies) || started.elapsed() > DEADLINE {
            eprintln!(
                "read {} replica copies after {rounds} stop(s)",
                copies.len()
            );
            return copies;
        }
        eprintln!("replica ends differ after stop {rounds}; starting the cluster again");
        for id in cluster.ids() {
            cluster.restart(id).await;
        }
        for id in cluster.ids() {
            cluster.wait_for_topics(id, &[topic]).await;
        }
    }
}

/// SIGTERM to every broker not down; each must exit cleanly.
pub async fn stop_all(cluster: &mut TestCluster) {
    for id in cluster.ids() {
        if cluster.node(id).state() != NodeState::Down {
            cluster.stop(id).await;
        }
    }
}

/// Every replica in `layout` read from the stopped brokers' directories.
pub fn read_copies(cluster: &TestCluster, topic: &str, layout: &Layout) -> Vec<ReplicaCopy> {
    let mut copies = Vec::new();
    for (partition, replicas) in layout {
        for node in replicas {
            let dir = &cluster.node(*node).data_dir;
            match read_copy(*node, dir, topic, *partition) {
                Ok(copy) => copies.push(copy),
                Err(e) => panic!("cannot read a replica: {e}"),
            }
        }
    }
    copies
}

/// Whether every partition's copies end at the same offset.
fn ends_agree(copies: &[ReplicaCopy]) -> bool {
    let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
    copies
        .iter()
        .all(|c| *ends.entry(c.partition).or_insert(c.log_end_offset) == c.log_end_offset)
}

#[cfg(test)]
mod tests {
    use rill_protocol::batch::{BatchBuilder, Compression, RecordInput};

    use super::*;

    /// A log with small segments, retention by size, records `v-0`..: what the reader
    /// gets back is every record from the log start on, at its offset.
    #[test]
    fn reads_every_record_from_the_log_start_after_retention() {
        let data = tempfile::tempdir().unwrap();
        let config = LogConfig {
            segment_bytes: 4096,
            retention_bytes: Some(8192),
            retention_ms: None,
            ..LogConfig::default()
        };
        let log = PartitionLog::open(data.path().join("t-0"), config).unwrap();
        for n in 0..200 {
            let mut batch = BatchBuilder::new(Compression::None);
            let mut record = RecordInput::new(0, format!("v-{n}"));
            record.key = Some(Bytes::from(vec![b'k'; 100]));
            batch.append(&record).unwrap();
            let mut bytes = batch.build().unwrap().to_vec();
            log.append(&mut bytes).unwrap();
        }
        log.enforce_retention(i64::MAX).unwrap();
        let start = log.log_start_offset();
        log.close().unwrap();
        drop(log);
        assert!(start > 0, "retention deleted nothing");

        let copy = read_copy(7, data.path(), "t", 0).unwrap();
        assert_eq!((copy.node, copy.partition), (7, 0));
        assert_eq!(copy.log_start_offset, start);
        assert_eq!(copy.log_end_offset, 200);
        let offsets: Vec<i64> = copy.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, (start..200).collect::<Vec<_>>());
        for r in &copy.records {
            assert_eq!(r.value, format!("v-{}", r.offset));
            assert_eq!(r.key.as_deref(), Some(&[b'k'; 100][..]));
        }
        // Closed cleanly again: a second read sees the same copy.
        assert_eq!(read_copy(7, data.path(), "t", 0).unwrap(), copy);
        assert!(
            read_copy(7, data.path(), "t", 1).is_err(),
            "no such partition"
        );
    }
}
