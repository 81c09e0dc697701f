//! The committed-offset store: every group's offsets in memory, each change written first
//! to the internal topic `__consumer_offsets` (one partition) as record batches.
//!
//! The log is the source of truth: a commit is visible in memory only after its batch was
//! appended (and fsynced when the topic's flush policy says `always`). At start the whole
//! log is read in order and each record replaces the previous value of its key, a null
//! value deleting it, so the newest commit per group/topic/partition wins (compaction
//! semantics without rewriting the log).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use rill_protocol::batch::{BatchBuilder, BatchIter, Compression, RecordInput};
use tracing::{info, warn};

pub use super::offset_record::CommittedOffset;
use super::offset_record::{decode_key, decode_value, encode_key, encode_value};
use super::{GroupError, TopicPartition};
use crate::topics::Partition;

/// Largest batch the store writes, in bytes (it splits bigger commits).
pub const COMMIT_BATCH_BYTES_MAX: usize = 1024 * 1024;
/// Bytes read per step when loading the log.
const LOAD_READ_BYTES: usize = 4 * 1024 * 1024;

/// One group's committed offsets.
pub type GroupOffsets = BTreeMap<TopicPartition, CommittedOffset>;

/// Committed offsets of every group, backed by the offsets log.
#[derive(Debug)]
pub struct OffsetStore {
    partition: Arc<Partition>,
    offsets: BTreeMap<String, GroupOffsets>,
}

impl OffsetStore {
    /// Opens the store over the offsets log's partition and loads every record. Blocking.
    pub fn open(partition: Arc<Partition>) -> Result<OffsetStore, GroupError> {
        let mut store = OffsetStore {
            partition,
            offsets: BTreeMap::new(),
        };
        let records = store.load()?;
        info!(
            records,
            groups = store.offsets.len(),
            "loaded committed offsets"
        );
        Ok(store)
    }

    /// The offset `group_id` committed for `tp`.
    pub fn get(&self, group_id: &str, tp: &TopicPartition) -> Option<&CommittedOffset> {
        self.offsets.get(group_id)?.get(tp)
    }

    /// Every offset `group_id` committed.
    pub fn group(&self, group_id: &str) -> Option<&GroupOffsets> {
        self.offsets.get(group_id)
    }

    /// Ids of the groups with committed offsets, sorted.
    pub fn group_ids(&self) -> impl Iterator<Item = &String> {
        self.offsets.keys()
    }

    /// Number of groups with committed offsets.
    pub fn group_count(&self) -> usize {
        self.offsets.len()
    }

    /// Writes `commits` for `group_id` to the log, then applies them. Blocking.
    pub fn commit(
        &mut self,
        group_id: &str,
        commits: Vec<(TopicPartition, CommittedOffset)>,
        now_ms: i64,
    ) -> Result<(), GroupError> {
        let records = commits
            .iter()
            .map(|(tp, c)| record(group_id, tp, Some(encode_value(c)), now_ms));
        self.append(records)?;
        let group = self.offsets.entry(group_id.to_string()).or_default();
        group.extend(commits);
        Ok(())
    }

    /// Writes tombstones for every offset of `group_id` and forgets them; returns how many
    /// there were. Blocking.
    pub fn delete_group(&mut self, group_id: &str, now_ms: i64) -> Result<usize, GroupError> {
        let Some(group) = self.offsets.get(group_id) else {
            return Ok(0);
        };
        let records = group.keys().map(|tp| record(group_id, tp, None, now_ms));
        self.append(records)?;
        Ok(self.offsets.remove(group_id).map_or(0, |g| g.len()))
    }

    /// Encodes records into batches of at most [`COMMIT_BATCH_BYTES_MAX`] and appends
    /// them in one call, so a commit lands as a contiguous run.
    fn append(&self, records: impl Iterator<Item = RecordInput>) -> Result<(), GroupError> {
        let limit = COMMIT_BATCH_BYTES_MAX.min(self.partition.log.config().max_batch_bytes);
        let mut out = Vec::new();
        let mut builder = BatchBuilder::new(Compression::None);
        for record in records {
            if !builder.is_empty()
                && builder.estimated_size() + builder.encoded_record_bytes(&record) > limit
            {
                let full = std::mem::replace(&mut builder, BatchBuilder::new(Compression::None));
                out.extend_from_slice(&full.build()?);
            }
            builder.append(&record)?;
        }
        if !builder.is_empty() {
            out.extend_from_slice(&builder.build()?);
        }
        if !out.is_empty() {
            self.partition.log.append(&mut out)?;
        }
        Ok(())
    }

    /// Replays the log from its start to the high watermark; returns the records applied.
    /// Undecodable records are logged and skipped; an unreadable batch is an error.
    fn load(&mut self) -> Result<u64, GroupError> {
        let partition = self.partition.clone();
        let log = &partition.log;
        let max_batch_bytes = log.config().max_batch_bytes;
        let (mut offset, end) = (log.log_start_offset(), log.high_watermark());
        let mut applied = 0;
        while offset < end {
            let read = log.read(offset, LOAD_READ_BYTES)?;
            let before = offset;
            for batch in BatchIter::new(read.records, max_batch_bytes) {
                let batch = batch?;
                for record in batch.records()? {
                    let record = record?;
                    match self.apply(record.offset, record.key, record.value) {
                        Ok(()) => applied += 1,
                        // A record this build cannot read (foreign or from a newer version)
                        // must not stop the broker; the other groups' offsets still load.
                        Err(e) => warn!(error = %e, "skipping unreadable offsets record"),
                    }
                }
                offset = batch.header().next_offset();
            }
            if offset == before {
                return Err(self.corrupt(offset, "the log returned no whole batch".into()));
            }
        }
        Ok(applied)
    }

    /// Applies one record: the newest value per key wins, a null value deletes.
    fn apply(
        &mut self,
        at: i64,
        key: Option<Bytes>,
        value: Option<Bytes>,
    ) -> Result<(), GroupError> {
        let key = key.ok_or_else(|| self.corrupt(at, "null key".into()))?;
        let key = decode_key(&key).map_err(|e| self.corrupt(at, format!("key: {e}")))?;
        match value {
            Some(value) => {
                let committed =
                    decode_value(&value).map_err(|e| self.corrupt(at, format!("value: {e}")))?;
                self.offsets
                    .entry(key.group_id)
                    .or_default()
                    .insert(key.tp, committed);
            }
            None => {
                if let Some(group) = self.offsets.get_mut(&key.group_id) {
                    group.remove(&key.tp);
                    if group.is_empty() {
                        self.offsets.remove(&key.group_id);
                    }
                }
            }
        }
        Ok(())
    }

    fn corrupt(&self, offset: i64, reason: String) -> GroupError {
        GroupError::CorruptOffsetRecord {
            path: self.partition.log.dir().to_path_buf(),
            offset,
            reason,
        }
    }
}

fn record(group_id: &str, tp: &TopicPartition, value: Option<Bytes>, now_ms: i64) -> RecordInput {
    RecordInput {
        timestamp: now_ms,
        key: Some(encode_key(group_id, tp)),
        value,
        headers: Vec::new(),
    }
}
