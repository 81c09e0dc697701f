//! openraft's [`RaftStateMachine`] for a partition group: applies committed entries to
//! the partition's segments, snapshots them as a small descriptor, and installs a
//! snapshot by copying the records it lacks from another replica's segments.
//!
//! Applying is deterministic: [`PartitionLog::append_replicated`] with the entry's clock
//! stamps the same offsets and refuses the same duplicates on every replica. Each apply
//! is followed by a record in the applied-index file ([`super::applied`]); on open, the
//! last record the recovered segments reach is the applied state and segments beyond it
//! are cut back, so a crash between the two writes re-applies the entry from the Raft
//! log instead of appending it twice. Segment appends, fsyncs and file creation all run
//! on the blocking pool.

use std::io::{self, Cursor};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use openraft::storage::RaftStateMachine;
use openraft::{
    AnyError, BasicNode, EntryPayload, ErrorSubject, ErrorVerb, LogId, RaftSnapshotBuilder,
    Snapshot, SnapshotMeta, StorageError, StorageIOError, StoredMembership,
};
use rill_protocol::batch::BatchHeader;

use super::applied::{AppliedFile, AppliedRecord};
use super::snapshot::{self, Memberships, SnapshotDescriptor, StoredSnapshot};
use super::types::{
    Appended, Applied, ApplyRefusal, Entry, GroupId, PartitionConfig, SnapshotData,
};
use super::{ReplicationError, SegmentSource};
use crate::cluster::NodeId;
use crate::storage::{PartitionLog, StorageError as LogError};
use crate::topics::Partition;

/// Bytes asked of another replica per read while installing a snapshot.
pub const INSTALL_CHUNK_BYTES: u32 = 1024 * 1024;

/// Rounds of asking every candidate replica for records before an install gives up.
const INSTALL_ROUNDS_MAX: u32 = 20;

/// Pause between rounds in which no replica could give records (short in unit tests).
const INSTALL_RETRY_PAUSE: Duration = Duration::from_millis(if cfg!(test) { 5 } else { 250 });

type Error = StorageError<u64>;
type Membership = StoredMembership<u64, BasicNode>;

/// What the apply path and the snapshot builders share.
struct Inner {
    dir: PathBuf,
    group: GroupId,
    partition: Arc<Partition>,
    source: Arc<dyn SegmentSource>,
    node: Option<NodeId>,
    applied: Mutex<AppliedFile>,
    /// The current snapshot; held across writing its file so an older one never
    /// replaces a newer one.
    current: tokio::sync::Mutex<Option<StoredSnapshot>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("dir", &self.dir)
            .field("group", &self.group)
            .finish()
    }
}

impl Inner {
    fn log(&self) -> Result<&PartitionLog, LogError> {
        self.partition.log()
    }

    fn applied(&self) -> std::sync::MutexGuard<'_, AppliedFile> {
        self.applied.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A partition group's state machine (one per replica of a replicated partition).
#[derive(Debug)]
pub struct PartitionStateMachine {
    inner: Arc<Inner>,
    last_applied: Option<LogId<u64>>,
    /// The partition's log end offset after `last_applied`.
    applied_end_offset: i64,
    memberships: Memberships,
    snapshots_built: u64,
}

impl PartitionStateMachine {
    /// Opens the state machine of `group` in `dir` over `partition`'s log: reads the
    /// applied-index file, cuts segments the applied state does not reach (see the module
    /// docs), loads the current snapshot and memberships. `source` reads other replicas'
    /// segments for snapshot installs. Blocking: call it on the blocking pool.
    pub fn open(
        dir: &Path,
        group: GroupId,
        partition: Arc<Partition>,
        source: Arc<dyn SegmentSource>,
    ) -> Result<PartitionStateMachine, ReplicationError> {
        let io_failed = |op: &'static str, path: PathBuf| {
            move |source| ReplicationError::Io { op, path, source }
        };
        std::fs::create_dir_all(dir).map_err(io_failed("create group dir", dir.to_path_buf()))?;
        let (applied_file, records) =
            AppliedFile::open(dir).map_err(io_failed("open", dir.join("applied")))?;
        let log = partition.log()?;
        let (last_applied, applied_end_offset) = settle(log, dir, &records)?;
        let current =
            snapshot::read_current(dir).map_err(io_failed("read", dir.join("snapshot")))?;
        let mut memberships =
            Memberships::read(dir).map_err(io_failed("read", dir.join("membership")))?;
        if let Some(current) = &current {
            // An installed snapshot's membership may be newer than any applied entry's.
            let from_snapshot = current.descriptor.membership.clone();
            let known = memberships.as_of(last_applied).and_then(|m| *m.log_id());
            if known < *from_snapshot.log_id() {
                memberships.recent.push(from_snapshot);
                memberships.recent.sort_by_key(|m| *m.log_id());
            }
        }
        Ok(PartitionStateMachine {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                group,
                partition,
                source,
                node: None,
                applied: Mutex::new(applied_file),
                current: tokio::sync::Mutex::new(current),
            }),
            last_applied,
            applied_end_offset,
            memberships,
            snapshots_built: 0,
        })
    }

    /// Names this broker in the snapshots it builds, so a replica installing one copies
    /// records from here first (without it, the install asks every voter in turn).
    pub fn with_node_id(mut self, node: NodeId) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.node = Some(node);
        }
        self
    }

    /// The last applied entry and the log end offset after it.
    pub fn applied(&self) -> (Option<LogId<u64>>, i64) {
        (self.last_applied, self.applied_end_offset)
    }

    fn membership(&self) -> Membership {
        self.memberships
            .as_of(self.last_applied)
            .cloned()
            .unwrap_or_default()
    }
}

/// The applied state the recovered segments support: the last record whose end offset
/// they reach; segments beyond it are cut back to it. Blocking.
fn settle(
    log: &PartitionLog,
    dir: &Path,
    records: &[AppliedRecord],
) -> Result<(Option<LogId<u64>>, i64), ReplicationError> {
    let log_end_offset = log.log_end_offset();
    let Some(last) = records
        .iter()
        .rev()
        .find(|r| r.end_offset <= log_end_offset)
    else {
        if records.is_empty() {
            if log_end_offset > log.log_start_offset() || log.log_start_offset() != 0 {
                tracing::warn!(dir = %dir.display(), log_end_offset, "replicated partition: segments hold records no applied entry accounts for; starting the log over (the group re-replicates them)");
                log.reset_to(0)?;
            }
            return Ok((None, 0));
        }
        return Err(ReplicationError::Stopped(format!(
            "{}: the partition's segments end at offset {log_end_offset}, before every applied entry; its data was lost. Remove this group directory and the partition's directory to rebuild the replica from the others",
            dir.display()
        )));
    };
    if last.end_offset < log.log_start_offset() {
        // A snapshot install started the log over past the applied state and stopped
        // before recording its own: nothing here is accounted for. Empty the log at the
        // applied end; the group sends the snapshot again.
        tracing::warn!(dir = %dir.display(), log_start_offset = log.log_start_offset(), applied_end_offset = last.end_offset, "replicated partition: an interrupted snapshot install; emptying the log");
        log.reset_to(last.end_offset)?;
    } else if log_end_offset > last.end_offset {
        tracing::warn!(dir = %dir.display(), log_end_offset, applied_end_offset = last.end_offset, "replicated partition: cutting records applied after the last applied-index record (re-applied from the Raft log)");
        log.truncate_to(last.end_offset)?;
    }
    Ok((Some(last.log_id), last.end_offset))
}

fn storage_error(subject: ErrorSubject<u64>, verb: ErrorVerb, e: &dyn std::error::Error) -> Error {
    StorageIOError::new(subject, verb, AnyError::error(e.to_string())).into()
}

fn sm_error(verb: ErrorVerb, e: &dyn std::error::Error) -> Error {
    storage_error(ErrorSubject::StateMachine, verb, e)
}

/// A failure on the blocking pool, small until it becomes openraft's error.
#[derive(Debug)]
struct Failure {
    verb: ErrorVerb,
    message: String,
}

fn fail(verb: ErrorVerb, e: &dyn std::error::Error) -> Failure {
    Failure {
        verb,
        message: e.to_string(),
    }
}

/// Runs `f` on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Failure> + Send + 'static,
) -> Result<T, Error> {
    let failure = match tokio::task::spawn_blocking(f).await {
        Ok(Ok(value)) => return Ok(value),
        Ok(Err(failure)) => failure,
        Err(e) => fail(ErrorVerb::Write, &e),
    };
    let e = io::Error::other(failure.message);
    Err(sm_error(failure.verb, &e))
}

/// Whether `e` comes out the same on every replica (the entry's bytes and the log's
/// contents decide it), so it is an answer to the producer, not a failure of this replica.
fn is_deterministic(e: &LogError) -> bool {
    matches!(
        e,
        LogError::Sequence { .. }
            | LogError::IdempotentMultiBatch { .. }
            | LogError::InvalidBatch { .. }
            | LogError::EmptyAppend { .. }
    )
}

/// A refusal's message, the same on every replica (no local paths).
fn refusal_message(e: &LogError) -> String {
    match e {
        LogError::Sequence {
            producer_id,
            source,
            ..
        } => format!("producer {producer_id}: {source}"),
        LogError::IdempotentMultiBatch {
            producer_id,
            batches,
            ..
        } => format!("producer {producer_id} sent {batches} batches in one write; an idempotent producer sends one"),
        LogError::InvalidBatch {
            position, source, ..
        } => format!("invalid batch at byte {position}: {source}"),
        LogError::EmptyAppend { .. } => "a write with no batch".to_string(),
        other => other.to_string(),
    }
}

/// What applying a batch of entries did.
struct ApplyOutcome {
    results: Vec<Applied>,
    last: Option<(LogId<u64>, i64)>,
    memberships: Memberships,
}

/// Applies `entries` in order on the calling (blocking) thread, then records them in the
/// applied-index file. A failure of this replica's storage stops at that entry (the
/// ones before it are recorded) and is returned.
fn apply_entries(
    inner: &Inner,
    entries: Vec<Entry>,
    mut memberships: Memberships,
) -> Result<ApplyOutcome, Failure> {
    let log = inner.log().map_err(|e| fail(ErrorVerb::Write, &e))?;
    let mut results = Vec::with_capacity(entries.len());
    let mut records = Vec::with_capacity(entries.len());
    let mut failure = None;
    for entry in entries {
        let first_offset = log.log_end_offset();
        let result = match entry.payload {
            EntryPayload::Normal(write) => {
                let mut batches = write.batches.to_vec();
                match log.append_replicated(&mut batches, write.timestamp_ms) {
                    Ok(info) => Applied::Appended(Appended {
                        base_offset: info.base_offset,
                        last_offset: info.last_offset,
                        log_append_time_ms: info.log_append_time_ms,
                        duplicate: info.duplicate,
                    }),
                    Err(e) if is_deterministic(&e) => Applied::Refused(ApplyRefusal {
                        code: crate::server::handlers::errors::storage_error_code(&e).code(),
                        message: refusal_message(&e),
                    }),
                    Err(e) => {
                        failure = Some(fail(ErrorVerb::Write, &e));
                        break;
                    }
                }
            }
            EntryPayload::Blank => Applied::Nothing,
            EntryPayload::Membership(membership) => {
                let stored = StoredMembership::new(Some(entry.log_id), membership);
                if let Err(e) = memberships.record(&inner.dir, stored) {
                    failure = Some(fail(ErrorVerb::Write, &e));
                    break;
                }
                Applied::Nothing
            }
        };
        records.push(AppliedRecord {
            log_id: entry.log_id,
            first_offset,
            end_offset: log.log_end_offset(),
        });
        results.push(result);
    }
    if !records.is_empty() {
        inner
            .applied()
            .append(&records)
            .map_err(|e| fail(ErrorVerb::Write, &e))?;
    }
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(ApplyOutcome {
        results,
        last: records.last().map(|r| (r.log_id, r.end_offset)),
        memberships,
    })
}

impl RaftStateMachine<PartitionConfig> for PartitionStateMachine {
    type SnapshotBuilder = PartitionSnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId<u64>>, Membership), Error> {
        Ok((self.last_applied, self.membership()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, Error>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let inner = Arc::clone(&self.inner);
        let memberships = self.memberships.clone();
        let outcome = blocking(move || apply_entries(&inner, entries, memberships)).await?;
        if let Some((log_id, end_offset)) = outcome.last {
            self.last_applied = Some(log_id);
            self.applied_end_offset = end_offset;
        }
        self.memberships = outcome.memberships;
        Ok(outcome.results)
    }

    async fn get_snapshot_builder(&mut self) -> PartitionSnapshotBuilder {
        self.snapshots_built += 1;
        PartitionSnapshotBuilder {
            inner: Arc::clone(&self.inner),
            last_applied: self.last_applied,
            applied_end_offset: self.applied_end_offset,
            membership: self.membership(),
            sequence: self.snapshots_built,
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<SnapshotData>, Error> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<SnapshotData>,
    ) -> Result<(), Error> {
        let descriptor = SnapshotDescriptor::from_bytes(snapshot.get_ref())
            .map_err(|e| sm_error(ErrorVerb::Read, &e))?;
        if descriptor.last_log_id != meta.last_log_id {
            let e = io::Error::other(format!(
                "snapshot {} claims {:?} but describes {:?}",
                meta.snapshot_id, meta.last_log_id, descriptor.last_log_id
            ));
            return Err(sm_error(ErrorVerb::Read, &e));
        }
        catch_up(&self.inner, &descriptor).await?;
        let inner = Arc::clone(&self.inner);
        let mut memberships = self.memberships.clone();
        let installed = descriptor.clone();
        let memberships = blocking(move || {
            record_install(&inner, &installed, &mut memberships).map(|()| memberships)
        })
        .await?;
        let stored = StoredSnapshot {
            meta: meta.clone(),
            descriptor: descriptor.clone(),
        };
        store(&self.inner, stored).await?;
        tracing::info!(group = %self.inner.group, snapshot = %meta.snapshot_id, log_end_offset = descriptor.log_end_offset, "replicated partition: installed a snapshot");
        self.last_applied = descriptor.last_log_id;
        self.applied_end_offset = descriptor.log_end_offset;
        self.memberships = memberships;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<PartitionConfig>>, Error> {
        let current = self.inner.current.lock().await.clone();
        let Some(current) = current else {
            return Ok(None);
        };
        let bytes = current
            .descriptor
            .to_bytes()
            .map_err(|e| sm_error(ErrorVerb::Read, &e))?;
        Ok(Some(Snapshot {
            meta: current.meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}

/// After the records are in place: segments and applied state made durable, the applied
/// file restarted at the snapshot's entry, the membership recorded. Blocking.
fn record_install(
    inner: &Inner,
    descriptor: &SnapshotDescriptor,
    memberships: &mut Memberships,
) -> Result<(), Failure> {
    let log = inner.log().map_err(|e| fail(ErrorVerb::Write, &e))?;
    log.sync().map_err(|e| fail(ErrorVerb::Write, &e))?;
    if let Some(log_id) = descriptor.last_log_id {
        let record = AppliedRecord {
            log_id,
            first_offset: descriptor.log_end_offset,
            end_offset: descriptor.log_end_offset,
        };
        inner
            .applied()
            .compact(log_id.index, Some(record))
            .map_err(|e| fail(ErrorVerb::Write, &e))?;
    }
    if memberships.recent.last() != Some(&descriptor.membership) {
        memberships
            .record(&inner.dir, descriptor.membership.clone())
            .map_err(|e| fail(ErrorVerb::Write, &e))?;
    }
    Ok(())
}

/// Makes `stored` the current snapshot, file first, unless the current one is as new.
async fn store(inner: &Inner, stored: StoredSnapshot) -> Result<(), Error> {
    let mut current = inner.current.lock().await;
    let index = |s: &StoredSnapshot| s.meta.last_log_id.map(|l| l.index);
    if current.as_ref().is_some_and(|c| index(c) >= index(&stored)) {
        return Ok(());
    }
    let dir = inner.dir.clone();
    let written = stored.clone();
    blocking(move || {
        snapshot::write_current(&dir, &written).map_err(|e| fail(ErrorVerb::Write, &e))
    })
    .await?;
    *current = Some(stored);
    Ok(())
}

/// Brings the local segments to the descriptor's log end offset by copying records from
/// other replicas: the descriptor's builder first, then every voter. Starts the log over
/// at the source's log start offset when retention deleted what this replica lacks.
async fn catch_up(inner: &Arc<Inner>, descriptor: &SnapshotDescriptor) -> Result<(), Error> {
    let target = descriptor.log_end_offset;
    let mut local_end = inner
        .log()
        .map_err(|e| sm_error(ErrorVerb::Write, &e))?
        .log_end_offset();
    if local_end > target {
        let e = io::Error::other(format!(
            "this replica's log ends at {local_end}, past the snapshot's end {target}: it holds records the group did not commit"
        ));
        return Err(sm_error(ErrorVerb::Write, &e));
    }
    let candidates = candidates(descriptor);
    let mut failed_rounds = 0;
    while local_end < target {
        let Some(chunk) = fetch_chunk(inner, &candidates, local_end, target).await else {
            failed_rounds += 1;
            if failed_rounds >= INSTALL_ROUNDS_MAX {
                let e = io::Error::other(format!(
                    "no replica among {candidates:?} gave records from offset {local_end} (snapshot ends at {target})"
                ));
                return Err(sm_error(ErrorVerb::Read, &e));
            }
            tokio::time::sleep(INSTALL_RETRY_PAUSE).await;
            continue;
        };
        let step = Arc::clone(inner);
        local_end = blocking(move || copy_chunk(&step, chunk, local_end, target)).await?;
    }
    Ok(())
}

/// Who to read records from: the snapshot's builder, then the voters.
fn candidates(descriptor: &SnapshotDescriptor) -> Vec<NodeId> {
    let mut nodes: Vec<NodeId> = descriptor.node.into_iter().collect();
    for voter in descriptor.membership.membership().voter_ids() {
        if !nodes.contains(&voter) {
            nodes.push(voter);
        }
    }
    nodes
}

/// One chunk from the first candidate that has records past `offset` (or whose log
/// starts past it); `None` when none has.
async fn fetch_chunk(
    inner: &Inner,
    candidates: &[NodeId],
    offset: i64,
    target: i64,
) -> Option<super::SegmentChunk> {
    for &node in candidates {
        if Some(node) == inner.node {
            continue;
        }
        match inner
            .source
            .read(node, inner.group, offset, INSTALL_CHUNK_BYTES)
            .await
        {
            Ok(chunk) if chunk.log_start_offset > offset || !chunk.batches.is_empty() => {
                return Some(chunk)
            }
            Ok(chunk) => {
                tracing::debug!(group = %inner.group, node, offset, target, source_end = chunk.log_end_offset, "replica has no records to copy yet");
            }
            Err(e) => {
                tracing::warn!(group = %inner.group, node, offset, error = %e, "cannot read records for a snapshot install");
            }
        }
    }
    None
}

/// Appends `chunk`'s batches below `target` to the local log (starting it over at the
/// chunk's log start offset first when that is past `local_end`); returns the new end.
/// Blocking.
fn copy_chunk(
    inner: &Inner,
    chunk: super::SegmentChunk,
    mut local_end: i64,
    target: i64,
) -> Result<i64, Failure> {
    let log = inner.log().map_err(|e| fail(ErrorVerb::Write, &e))?;
    if chunk.log_start_offset > local_end {
        let start = chunk.log_start_offset.min(target);
        log.reset_to(start)
            .map_err(|e| fail(ErrorVerb::Write, &e))?;
        local_end = start;
    }
    let batches = batches_between(&chunk.batches, local_end, target)
        .map_err(|e| fail(ErrorVerb::Read, &e))?;
    if batches.is_empty() {
        return Ok(local_end);
    }
    let info = log
        .append_copied(&batches)
        .map_err(|e| fail(ErrorVerb::Write, &e))?;
    Ok(info.last_offset + 1)
}

/// The whole batches of `chunk` from offset `from` (skipping earlier ones) up to, not
/// including, the first at or past `target`. A batch straddling `from` is an error.
fn batches_between(chunk: &Bytes, from: i64, target: i64) -> io::Result<Bytes> {
    let mut start = None;
    let mut end = 0;
    let mut position = 0;
    while position < chunk.len() {
        let header = BatchHeader::parse(&chunk[position..], usize::MAX).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("copied chunk: {e}"))
        })?;
        let next = position + header.total_bytes();
        if next > chunk.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "copied chunk ends inside a batch",
            ));
        }
        if header.base_offset >= target {
            break;
        }
        if header.base_offset < from && header.last_offset() >= from {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "copied batch {}..={} straddles offset {from}",
                    header.base_offset,
                    header.last_offset()
                ),
            ));
        }
        if header.base_offset >= from {
            start.get_or_insert(position);
            end = next;
        }
        position = next;
    }
    Ok(start.map_or_else(Bytes::new, |s| chunk.slice(s..end)))
}

/// Builds a snapshot of the state as of when it was made.
#[derive(Debug)]
pub struct PartitionSnapshotBuilder {
    inner: Arc<Inner>,
    last_applied: Option<LogId<u64>>,
    applied_end_offset: i64,
    membership: Membership,
    sequence: u64,
}

impl RaftSnapshotBuilder<PartitionConfig> for PartitionSnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<PartitionConfig>, Error> {
        let inner = Arc::clone(&self.inner);
        let last_applied = self.last_applied;
        let log_start_offset = blocking(move || {
            let log = inner.log().map_err(|e| fail(ErrorVerb::Write, &e))?;
            log.sync().map_err(|e| fail(ErrorVerb::Write, &e))?;
            if let Some(log_id) = last_applied {
                inner
                    .applied()
                    .compact(log_id.index, None)
                    .map_err(|e| fail(ErrorVerb::Write, &e))?;
            }
            Ok(log.log_start_offset())
        })
        .await?;
        let descriptor = SnapshotDescriptor {
            last_log_id: self.last_applied,
            membership: self.membership.clone(),
            log_start_offset: log_start_offset.min(self.applied_end_offset),
            log_end_offset: self.applied_end_offset,
            node: self.inner.node,
        };
        let snapshot_id = match self.last_applied {
            Some(id) => format!("{}-{}-{}", id.leader_id.term, id.index, self.sequence),
            None => format!("empty-{}", self.sequence),
        };
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
            snapshot_id,
        };
        let bytes = descriptor
            .to_bytes()
            .map_err(|e| sm_error(ErrorVerb::Write, &e))?;
        store(
            &self.inner,
            StoredSnapshot {
                meta: meta.clone(),
                descriptor,
            },
        )
        .await?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

#[cfg(test)]
#[path = "state_machine_tests.rs"]
mod tests;
