//! The committed-offset store: every group's offsets in memory, each change written first
//! to the internal topic `__consumer_offsets` (kept forever, created on the first write as
//! Kafka does, so a broker that never saw a group has no internal topic). A group's
//! records go to partition `abs(hash(group id)) % partitions` (Kafka's rule, see
//! [`crate::cluster::routing::coordinator_partition`]): a single broker creates the topic
//! with one partition; a cluster with [`CLUSTER_OFFSETS_PARTITIONS`], each led (and its
//! groups coordinated) by its own broker.
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
    /// Appends `batches` (whole batches, offsets unset) to `partition`, the offsets
    /// topic's partition `index`; returns once they are in the log (committed, for a
    /// replicated partition).
    fn append(&self, index: i32, partition: &Partition, batches: Vec<u8>)
        -> Result<(), GroupError>;
}

/// Committed offsets of every group, backed by the offsets log.
#[derive(Debug)]
pub struct OffsetStore {
    /// The log's partitions; empty until the topic exists.
    partitions: Vec<Arc<Partition>>,
    offsets: BTreeMap<String, GroupOffsets>,
    /// Replicated writes; `None`: straight to the local log.
    writer: Option<Arc<dyn OffsetsWriter>>,
    /// For replicated offsets partitions: the Raft term at which this broker last
    /// loaded each partition as its leader (its copy is complete then).
    loaded_terms: BTreeMap<i32, u64>,
}

impl OffsetStore {
    /// Opens the store and loads every record of `__consumer_offsets`, if it exists.
    /// Blocking.
    pub fn open(topics: &TopicRegistry) -> Result<OffsetStore, GroupError> {
        let partitions = match topics.get(OFFSETS_TOPIC) {
            Some(topic) => all_partitions(&*ensure_compacted(topics, topic)?)?,
            None => Vec::new(),
        };
        let mut store = OffsetStore {
            partitions,
            offsets: BTreeMap::new(),
            writer: None,
            loaded_terms: BTreeMap::new(),
        };
        if !store.partitions.is_empty() {
            let mut records = 0;
            for partition in store.partitions.clone() {
                records += store.load(&partition)?;
            }
            let groups = store.offsets.len();
            info!(records, groups, "loaded committed offsets");
        }
        Ok(store)
    }

    /// Sends later writes through `writer`.
    pub fn set_writer(&mut self, writer: Arc<dyn OffsetsWriter>) {
        self.writer = Some(writer);
    }

    /// The Raft term offsets partition `index` was last loaded at (replicated).
    pub fn loaded_term(&self, index: i32) -> Option<u64> {
        self.loaded_terms.get(&index).copied()
    }

    /// The offsets partition holding `group_id`'s records (0 before the topic exists).
    pub fn partition_of(&self, group_id: &str) -> i32 {
        crate::cluster::routing::coordinator_partition(group_id, self.partitions.len()).unwrap_or(0)
    }

    /// Forgets the groups of offsets partition `index` and loads them again from the
    /// local copy: a broker that just became the leader of that replicated partition
    /// (its copy holds every committed record; what it had in memory is from an older
    /// term). Returns the records loaded. Blocking.
    pub fn reload(
        &mut self,
        topics: &TopicRegistry,
        index: i32,
        term: u64,
    ) -> Result<u64, GroupError> {
        self.ensure_partitions(topics)?;
        let partition = self.partition_at(index)?;
        let n = self.partitions.len();
        self.offsets.retain(|group, _| {
            crate::cluster::routing::coordinator_partition(group, n) != Some(index)
        });
        let records = self.load(&partition)?;
        self.loaded_terms.insert(index, term);
        info!(
            records,
            partition = index,
            term,
            "loaded committed offsets as the new leader of an {OFFSETS_TOPIC} partition"
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
        self.append(topics, group_id, records)?;
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
        self.append(topics, group_id, records.into_iter())?;
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
        // Each group's tombstones go to that group's partition.
        let mut by_group: BTreeMap<&str, Vec<RecordInput>> = BTreeMap::new();
        for (group, tp) in &doomed {
            by_group
                .entry(group)
                .or_default()
                .push(record(group, tp, None, now_ms));
        }
        for (group, records) in by_group {
            self.append(topics, group, records.into_iter())?;
        }
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
        group_id: &str,
        records: impl Iterator<Item = RecordInput>,
    ) -> Result<(), GroupError> {
        self.ensure_partitions(topics)?;
        let index = self.partition_of(group_id);
        let partition = self.partition_at(index)?;
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
            Some(writer) => writer.append(index, &partition, out),
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
        GroupError::CorruptOffsetRecord {
            path: self
                .partitions
                .first()
                .and_then(|p| p.log().ok().map(|l| l.dir().to_path_buf()))
                .unwrap_or_default(),
            offset,
            reason,
        }
    }

    /// Partition `index` of the log.
    fn partition_at(&self, index: i32) -> Result<Arc<Partition>, GroupError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.get(i))
            .cloned()
            .ok_or_else(|| GroupError::UnknownTopicOrPartition {
                topic: OFFSETS_TOPIC.to_string(),
                partition: index,
            })
    }

    /// The log's partitions, creating `__consumer_offsets` on first use (a cluster's
    /// reconcile task creates it from the metadata instead, with its partition count).
    fn ensure_partitions(&mut self, topics: &TopicRegistry) -> Result<(), GroupError> {
        if !self.partitions.is_empty() {
            return Ok(());
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
        self.partitions = all_partitions(&topic)?;
        Ok(())
    }
}

/// Partitions of the `__consumer_offsets` a single broker creates (it coordinates every
/// group itself).
pub const OFFSETS_PARTITIONS: u32 = 1;

/// Partitions of the `__consumer_offsets` a cluster's controller creates: the groups
/// spread over this many coordinators (Kafka's `offsets.topic.num.partitions` is 50, for
/// clusters far larger than this one's; each partition is a Raft group here).
pub const CLUSTER_OFFSETS_PARTITIONS: u32 = 5;

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

fn all_partitions(topic: &crate::topics::Topic) -> Result<Vec<Arc<Partition>>, GroupError> {
    if topic.partitions.is_empty() {
        return Err(GroupError::UnknownTopicOrPartition {
            topic: OFFSETS_TOPIC.to_string(),
            partition: 0,
        });
    }
    Ok(topic.partitions.to_vec())
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
