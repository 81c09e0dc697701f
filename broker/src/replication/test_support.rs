//! Test helpers for partition groups: partitions over temporary logs, entries carrying
//! valid batches, and a [`SegmentSource`] that reads other local partitions.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use openraft::{CommittedLeaderId, EntryPayload, LogId};

use super::types::{Entry, GroupId, ReplicaWrite, SegmentChunk};
use super::{ReplicationError, SegmentSource};
use crate::cluster::handle::BoxFuture;
use crate::cluster::NodeId;
use crate::storage::tests::{batch, small_config};
use crate::storage::PartitionLog;
use crate::topics::Partition;

/// The group the tests use.
pub const GROUP: GroupId = GroupId {
    topic_id: 0x1234,
    partition: 0,
};

/// A partition over a log in `dir` with ~1 KiB segments.
pub fn partition(dir: &Path) -> Arc<Partition> {
    let log = PartitionLog::open(dir, small_config(1024)).unwrap();
    Arc::new(Partition::online("t".into(), 0, log))
}

/// A log id of term `term` led by node 1.
pub fn log_id(term: u64, index: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

/// An entry carrying `count` batches of 2 records each (`fill` varies the bytes).
pub fn write_entry(term: u64, index: u64, count: usize, fill: u8) -> Entry {
    let mut batches = Vec::new();
    for i in 0..count {
        batches.extend(batch(
            2,
            1_000 + index as i64,
            120,
            fill.wrapping_add(i as u8),
        ));
    }
    entry_with(term, index, batches)
}

/// An entry carrying `batches` as they are.
pub fn entry_with(term: u64, index: u64, batches: Vec<u8>) -> Entry {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(ReplicaWrite {
            batches: Bytes::from(batches),
            timestamp_ms: 1_700_000_000_000 + index as i64,
        }),
    }
}

/// A batch from idempotent producer `producer_id` (epoch 0) at `sequence`.
pub fn idempotent(producer_id: i64, sequence: i32) -> Vec<u8> {
    let mut b = batch(1, 5, 40, sequence as u8);
    b[43..51].copy_from_slice(&producer_id.to_be_bytes());
    b[51..53].copy_from_slice(&0i16.to_be_bytes());
    b[53..57].copy_from_slice(&sequence.to_be_bytes());
    let crc = rill_protocol::batch::compute_crc(&b);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// Reads other replicas' segments from partitions in this process.
#[derive(Default)]
pub struct LocalSource {
    /// The partitions, by the node that holds them.
    pub nodes: HashMap<NodeId, Arc<Partition>>,
}

impl SegmentSource for LocalSource {
    fn read(
        &self,
        node: NodeId,
        group: GroupId,
        offset: i64,
        max_bytes: u32,
    ) -> BoxFuture<'_, Result<SegmentChunk, ReplicationError>> {
        Box::pin(async move {
            assert_eq!(group, GROUP);
            let peer = |message: String| ReplicationError::Peer { node, message };
            let partition = self
                .nodes
                .get(&node)
                .ok_or_else(|| peer("unknown node".into()))?;
            let log = partition.log()?;
            let from = offset.max(log.log_start_offset());
            let read = log.read(from, max_bytes as usize)?;
            Ok(SegmentChunk {
                log_start_offset: read.log_start_offset,
                log_end_offset: read.high_watermark,
                batches: read.records,
            })
        })
    }
}
