//! The committed-offset store: every group's offsets in memory, each change written first
//! to the internal topic `__consumer_offsets` (one partition, kept forever, created on the
//! first write as Kafka does, so a broker that never saw a group has no internal topic).
//!
//! The log is the source of truth: a commit is visible in memory only after its batch was
//! appended (and fsynced when the topic's flush policy says `always`). At start the whole
//! log is read in order and each record replaces the previous value of its key, a null
//! value deleting it, so the newest commit per group/topic/partition wins. The topic has
//! `cleanup.policy=compact`: the broker's log cleaner keeps the latest record of each key
//! (see [`crate::storage::cleaner`]), so the log stays about as small as the live offsets.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use rill_protocol::batch::{BatchBuilder, BatchIter, Compression, RecordInput};
use tracing::{info, warn};

pub use super::offset_record::CommittedOffset;
use super::offset_record::{decode_key, decode_value, encode_key, encode_value};
use super::OFFSETS_TOPIC;
use super::{GroupError, TopicPartition};
use crate::topics::config::{CLEANUP_POLICY, RETENTION_BYTES, RETENTION_MS, SEGMENT_BYTES};
use crate::topics::{Partition, TopicError, TopicRegistry};

/// Largest batch the store writes, in bytes (it splits bigger commits).
pub const COMMIT_BATCH_BYTES_MAX: usize = 1024 * 1024;
/// Segment size of `__consumer_offsets`: small, so the cleaner (which never touches the
/// active segment) gets closed segments to compact soon.
pub const OFFSETS_SEGMENT_BYTES: u32 = 16 * 1024 * 1024;
/// `cleanup.policy` of `__consumer_offsets`.
const OFFSETS_CLEANUP_POLICY: &str = "compact";
/// Bytes read per step when loading the log.
const LOAD_READ_BYTES: usize = 4 * 1024 * 1024;

/// One group's committed offsets.
pub type GroupOffsets = BTreeMap<TopicPartition, CommittedOffset>;

/// How the store's encoded batches reach `__consumer_offsets`: straight into the local
/// log (a single broker, or a partition with one replica), or through the partition's
/// Raft group when it is replicated (issue #16). Called on the blocking pool.
pub trait OffsetsWriter: std::fmt::Debug + Send + Sync + 'static {
    /// Appends `batches` (whole batches, offsets unset) to `partition`; returns once
    /// they are in the log (committed, for a replicated partition).
    fn append(&self, partition: &Partition, batches: Vec<u8>) -> Result<(), GroupError>;
}

/// Committed offsets of every group, backed by the offsets log.
#[derive(Debug)]
pub struct OffsetStore {
    /// The log's only partition; `None` until the topic exists.
    partition: Option<Arc<Partition>>,
    offsets: BTreeMap<String, GroupOffsets>,
    /// Replicated writes; `None`: straight to the local log.
    writer: Option<Arc<dyn OffsetsWriter>>,
    /// For a replicated offsets partition: the Raft term this broker last loaded the
    /// log as its leader (its copy is complete then); `None` before.
    loaded_term: Option<u64>,
}

impl OffsetStore {
    /// Opens the store and loads every record of `__consumer_offsets`, if it exists.
    /// Blocking.
    pub fn open(topics: &TopicRegistry) -> Result<OffsetStore, GroupError> {
        let partition = match topics.get(OFFSETS_TOPIC) {
            Some(topic) => Some(first_partition(&*ensure_compacted(topics, topic)?)?),
            None => None,
        };
        let mut store = OffsetStore {
            partition,
            offsets: BTreeMap::new(),
            writer: None,
            loaded_term: None,
        };
        if let Some(partition) = store.partition.clone() {
            let records = store.load(&partition)?;
            let groups = store.offsets.len();
            info!(records, groups, "loaded committed offsets");
        }
        Ok(store)
    }

    /// Sends later writes through `writer`.
    pub fn set_writer(&mut self, writer: Arc<dyn OffsetsWriter>) {
        self.writer = Some(writer);
    }

    /// The Raft term the store was last loaded at (replicated offsets partition).
    pub fn loaded_term(&self) -> Option<u64> {
        self.loaded_term
    }

    /// Forgets what is in memory and loads the offsets log again from the local copy:
    /// a broker that just became the leader of a replicated `__consumer_offsets` (its
    /// copy holds every committed record; what it had in memory is from an older
    /// term). Returns the records loaded. Blocking.
    pub fn reload(&mut self, topics: &TopicRegistry, term: u64) -> Result<u64, GroupError> {
        let partition = self.partition(topics)?;
        self.offsets.clear();
        let records = self.load(&partition)?;
        self.loaded_term = Some(term);
        info!(
            records,
            groups = self.offsets.len(),
            term,
            "loaded committed offsets as the new leader of {OFFSETS_TOPIC}"
        );
        Ok(records)
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
        topics: &TopicRegistry,
        group_id: &str,
        commits: Vec<(TopicPartition, CommittedOffset)>,
        now_ms: i64,
    ) -> Result<(), GroupError> {
        if commits.is_empty() {
            // Nothing accepted: no record, and no empty group entry that would be listed
            // and count against the group limit.
            return Ok(());
        }
        let records = commits
            .iter()
            .map(|(tp, c)| record(group_id, tp, Some(encode_value(c)), now_ms));
        self.append(topics, records)?;
        let group = self.offsets.entry(group_id.to_string()).or_default();
        group.extend(commits);
        Ok(())
    }

    /// Writes tombstones for every offset of `group_id` and forgets them; returns how many
    /// there were. Blocking.
    pub fn delete_group(
        &mut self,
        topics: &TopicRegistry,
        group_id: &str,
        now_ms: i64,
    ) -> Result<usize, GroupError> {
        let Some(group) = self.offsets.get(group_id) else {
            return Ok(0);
        };
        let records: Vec<_> = group
            .keys()
            .map(|tp| record(group_id, tp, None, now_ms))
            .collect();
        self.append(topics, records.into_iter())?;
        Ok(self.offsets.remove(group_id).map_or(0, |g| g.len()))
    }

    /// Writes tombstones for every group's offsets of `topic` and forgets them; returns
    /// how many there were. Blocking.
    pub fn delete_topic(
        &mut self,
        topics: &TopicRegistry,
        topic: &str,
        now_ms: i64,
    ) -> Result<usize, GroupError> {
        let doomed: Vec<(String, TopicPartition)> = self
            .offsets
            .iter()
            .flat_map(|(group, offsets)| {
                offsets
                    .keys()
                    .filter(|tp| tp.topic == topic)
                    .map(move |tp| (group.clone(), tp.clone()))
            })
            .collect();
        if doomed.is_empty() {
            return Ok(0);
        }
        let records: Vec<_> = doomed
            .iter()
            .map(|(group, tp)| record(group, tp, None, now_ms))
            .collect();
        self.append(topics, records.into_iter())?;
        for (group, tp) in &doomed {
            if let Some(offsets) = self.offsets.get_mut(group) {
                offsets.remove(tp);
                if offsets.is_empty() {
                    self.offsets.remove(group);
                }
            }
        }
        Ok(doomed.len())
    }

    /// Every topic some group committed offsets for.
    pub fn topics(&self) -> std::collections::BTreeSet<String> {
        self.offsets
            .values()
            .flat_map(|g| g.keys().map(|tp| tp.topic.clone()))
            .collect()
    }

    /// Encodes records into batches of at most [`COMMIT_BATCH_BYTES_MAX`] and appends
    /// them in one call, so a commit lands as a contiguous run.
    fn append(
        &mut self,
        topics: &TopicRegistry,
        records: impl Iterator<Item = RecordInput>,
    ) -> Result<(), GroupError> {
        let partition = self.partition(topics)?;
        let limit = COMMIT_BATCH_BYTES_MAX.min(partition.log()?.config().max_batch_bytes);
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
        if out.is_empty() {
            return Ok(());
        }
        match &self.writer {
            Some(writer) => writer.append(&partition, out),
            None => {
                partition.log()?.append(&mut out)?;
                Ok(())
            }
        }
    }

    /// Replays the log from its start to the high watermark; returns the records applied.
    /// Undecodable records are logged and skipped; an unreadable batch is an error.
    fn load(&mut self, partition: &Partition) -> Result<u64, GroupError> {
        let log = partition.log()?;
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
                return Err(corrupt(
                    partition,
                    offset,
                    "the log returned no whole batch".into(),
                ));
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
        match &self.partition {
            Some(p) => corrupt(p, offset, reason),
            None => GroupError::CorruptOffsetRecord {
                path: Default::default(),
                offset,
                reason,
            },
        }
    }

    /// The log's partition, creating `__consumer_offsets` on first use.
    fn partition(&mut self, topics: &TopicRegistry) -> Result<Arc<Partition>, GroupError> {
        if let Some(p) = &self.partition {
            return Ok(p.clone());
        }
        let topic = match topics.create(
            OFFSETS_TOPIC,
            Some(OFFSETS_PARTITIONS),
            offsets_topic_configs(),
        ) {
            Err(TopicError::AlreadyExists(_)) => topics
                .get(OFFSETS_TOPIC)
                .ok_or_else(|| TopicError::UnknownTopic(OFFSETS_TOPIC.to_string()))?,
            other => other?,
        };
        let partition = first_partition(&topic)?;
        self.partition = Some(partition.clone());
        Ok(partition)
    }
}

/// Partitions of `__consumer_offsets`. The store writes every group's offsets to
/// partition 0, so in a cluster one broker (that partition's leader) coordinates every
/// group: `hash(group_id) % 1` is always 0.
pub const OFFSETS_PARTITIONS: u32 = 1;

/// The settings of `__consumer_offsets`: kept forever, compacted, small segments.
pub fn offsets_topic_configs() -> BTreeMap<String, String> {
    [
        (RETENTION_MS.to_string(), "-1".to_string()),
        (RETENTION_BYTES.to_string(), "-1".to_string()),
        (SEGMENT_BYTES.to_string(), OFFSETS_SEGMENT_BYTES.to_string()),
        (
            CLEANUP_POLICY.to_string(),
            OFFSETS_CLEANUP_POLICY.to_string(),
        ),
    ]
    .into_iter()
    .collect()
}

fn record(group_id: &str, tp: &TopicPartition, value: Option<Bytes>, now_ms: i64) -> RecordInput {
    RecordInput {
        timestamp: now_ms,
        key: Some(encode_key(group_id, tp)),
        value,
        headers: Vec::new(),
    }
}

/// Turns compaction on for an offsets topic created before the broker compacted it.
fn ensure_compacted(
    topics: &TopicRegistry,
    topic: Arc<crate::topics::Topic>,
) -> Result<Arc<crate::topics::Topic>, GroupError> {
    if topic.log_config.compaction.policy.compacts() {
        return Ok(topic);
    }
    info!("turning on compaction for {OFFSETS_TOPIC}");
    let change = (
        CLEANUP_POLICY.to_string(),
        Some(OFFSETS_CLEANUP_POLICY.to_string()),
    );
    Ok(topics.alter(OFFSETS_TOPIC, vec![change])?)
}

fn first_partition(topic: &crate::topics::Topic) -> Result<Arc<Partition>, GroupError> {
    topic
        .partition(0)
        .cloned()
        .ok_or_else(|| GroupError::UnknownTopicOrPartition {
            topic: OFFSETS_TOPIC.to_string(),
            partition: 0,
        })
}

fn corrupt(partition: &Partition, offset: i64, reason: String) -> GroupError {
    GroupError::CorruptOffsetRecord {
        path: partition
            .log()
            .map_or_else(|_| std::path::PathBuf::new(), |log| log.dir().to_path_buf()),
        offset,
        reason,
    }
}
