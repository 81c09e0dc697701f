//! A partition group's Raft log on disk: openraft's [`RaftLogStorage`] (storage-v2) over
//! segmented [`LogSegment`] files in the group's directory, plus the `raft-vote`,
//! `raft-committed` and `raft-purged` markers (checksummed, replaced atomically).
//!
//! Entries carry record data (up to a produce request each), so only their locations are
//! kept in memory; entries are read back from the files on demand, except the most
//! recent ones, which a small cache bounded in bytes keeps for the leader's replication
//! streams. Files roll at [`ROLL_BYTES`]; purging deletes whole files below the purge
//! point after the purged marker is durable. Appends are written, and fsynced as the
//! topic's flush policy says ([`PartitionLogStore::set_flush_policy`], `always` unless
//! told otherwise), on the blocking pool before the in-memory view changes and before
//! openraft hears they are flushed; truncations, purges and markers are always fsynced.
//! The writer and the readers share only the location index, locked for short moments.
//!
//! Opening cuts a torn or damaged tail of the last file (and anything after a break in
//! the indexes), logging what it cut.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    AnyError, EntryPayload, ErrorSubject, ErrorVerb, LogId, LogState, RaftLogReader, StorageError,
    StorageIOError, Vote,
};

use super::log_segment::{self, encode_record, Location, LogSegment};
use super::types::{Entry, PartitionConfig};
use super::ReplicationError;
use crate::cluster::raft::marker;
use crate::storage::FlushPolicy;

/// A log file rolls once it holds this many bytes.
pub const ROLL_BYTES: u64 = 64 * 1024 * 1024;

/// Bytes of recent entries' payloads kept in memory for replication reads. Small: it is
/// per partition group and kept while the group is idle; a miss reads the page cache.
pub const RECENT_CACHE_BYTES_MAX: usize = 1024 * 1024;

/// How often at most the committed marker is written. It only tells a restarting
/// replica how far it may apply before hearing from the leader; a stale one is safe.
pub const COMMITTED_SAVE_INTERVAL: Duration = Duration::from_secs(1);

/// Most payload bytes one [`RaftLogReader::limited_get_log_entries`] returns (at least
/// one entry), which bounds an AppendEntries request.
pub const READ_BATCH_BYTES_MAX: u64 = 8 * 1024 * 1024;

const VOTE_FILE: &str = "raft-vote";
const COMMITTED_FILE: &str = "raft-committed";
const PURGED_FILE: &str = "raft-purged";
const VOTE_PREFIX: &str = "rill-partition-raft-vote v1 crc32=";
const PURGED_PREFIX: &str = "rill-partition-raft-purged v1 crc32=";
const COMMITTED_PREFIX: &str = "rill-partition-raft-committed v1 crc32=";

type Error = StorageError<u64>;

/// What readers and the writer share: where each live entry is, and the markers.
#[derive(Debug, Default)]
struct Index {
    /// Open log files by first index.
    files: BTreeMap<u64, Arc<LogSegment>>,
    /// Locations of the live entries (after the purge point), contiguous indexes.
    locations: VecDeque<Location>,
    /// Bytes used in the last file (where the next record goes).
    last_file_bytes: u64,
    last_purged: Option<LogId<u64>>,
    vote: Option<Vote<u64>>,
    committed: Option<LogId<u64>>,
    /// When the committed marker was last written (it is a hint: written at most every
    /// [`COMMITTED_SAVE_INTERVAL`], never costing an fsync per commit).
    committed_saved_at: Option<Instant>,
    /// [`COMMITTED_SAVE_INTERVAL`] (tests set it).
    committed_save_interval: Duration,
}

impl Index {
    fn first_index(&self) -> Option<u64> {
        self.locations.front().map(|l| l.log_id.index)
    }

    fn last_log_id(&self) -> Option<LogId<u64>> {
        self.locations.back().map(|l| l.log_id).or(self.last_purged)
    }

    /// The index the next appended entry must have.
    fn next_index(&self) -> u64 {
        self.last_log_id().map_or(0, |l| l.index + 1)
    }

    /// Position of `index` in `locations`.
    fn slot(&self, index: u64) -> Option<usize> {
        let first = self.first_index()?;
        let slot = usize::try_from(index.checked_sub(first)?).ok()?;
        (slot < self.locations.len()).then_some(slot)
    }
}

/// Recent entries, newest last, bounded by payload bytes.
#[derive(Debug, Default)]
struct RecentEntries {
    entries: VecDeque<Entry>,
    bytes: usize,
}

impl RecentEntries {
    fn push(&mut self, entry: Entry) {
        if self
            .entries
            .back()
            .is_some_and(|last| last.log_id.index + 1 != entry.log_id.index)
        {
            self.clear();
        }
        self.bytes += payload_bytes(&entry);
        self.entries.push_back(entry);
        while self.bytes > RECENT_CACHE_BYTES_MAX {
            let Some(old) = self.entries.pop_front() else {
                break;
            };
            self.bytes -= payload_bytes(&old);
        }
    }

    /// Drops entries from index `from` on.
    fn truncate(&mut self, from: u64) {
        while self.entries.back().is_some_and(|e| e.log_id.index >= from) {
            if let Some(old) = self.entries.pop_back() {
                self.bytes -= payload_bytes(&old);
            }
        }
    }

    /// Drops entries up to index `upto`.
    fn purge(&mut self, upto: u64) {
        while self.entries.front().is_some_and(|e| e.log_id.index <= upto) {
            if let Some(old) = self.entries.pop_front() {
                self.bytes -= payload_bytes(&old);
            }
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// The entries `[start, end)` if all of them are here.
    fn get(&self, start: u64, end: u64) -> Option<Vec<Entry>> {
        let first = self.entries.front()?.log_id.index;
        let last = self.entries.back()?.log_id.index;
        if start < first || end > last + 1 {
            return None;
        }
        let from = usize::try_from(start - first).ok()?;
        let to = usize::try_from(end - first).ok()?;
        Some(self.entries.range(from..to).cloned().collect())
    }
}

fn payload_bytes(entry: &Entry) -> usize {
    match &entry.payload {
        EntryPayload::Normal(write) => write.batches.len() + 64,
        _ => 64,
    }
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    roll_bytes: u64,
    /// Taken by appends (on the blocking pool) and [`PartitionLogStore::flush_if_due`].
    sync: Mutex<SyncState>,
    index: Mutex<Index>,
    recent: Mutex<RecentEntries>,
}

/// The partition group's durable Raft log. Clones share it (the reader openraft's
/// replication streams use is a clone).
#[derive(Debug, Clone)]
pub struct PartitionLogStore {
    shared: Arc<Shared>,
}

impl Shared {
    fn sync_state(&self) -> MutexGuard<'_, SyncState> {
        self.sync.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl PartitionLogStore {
    /// Opens the log in `dir` (created if missing), cutting a torn or damaged tail.
    /// Blocking: call it on the blocking pool.
    pub fn open(dir: &Path) -> Result<PartitionLogStore, ReplicationError> {
        Self::open_with_roll_bytes(dir, ROLL_BYTES)
    }

    /// [`Self::open`] with files rolling at `roll_bytes` (tests cross many files).
    pub fn open_with_roll_bytes(
        dir: &Path,
        roll_bytes: u64,
    ) -> Result<PartitionLogStore, ReplicationError> {
        let failed = |op: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| ReplicationError::Io { op, path, source }
        };
        std::fs::create_dir_all(dir).map_err(failed("create group dir", dir))?;
        let last_purged: Option<LogId<u64>> = marker::read(&dir.join(PURGED_FILE), PURGED_PREFIX)
            .map_err(failed("read", &dir.join(PURGED_FILE)))?;
        let vote: Option<Vote<u64>> = marker::read(&dir.join(VOTE_FILE), VOTE_PREFIX)
            .map_err(failed("read", &dir.join(VOTE_FILE)))?;
        // Only a hint of how far to apply at start: a damaged one is dropped, not fatal.
        let committed: Option<LogId<u64>> =
            marker::read(&dir.join(COMMITTED_FILE), COMMITTED_PREFIX).unwrap_or_else(|e| {
                tracing::warn!(dir = %dir.display(), error = %e, "partition raft log: ignoring the committed marker");
                None
            });
        let mut index = recover(dir, last_purged).map_err(failed("recover raft log", dir))?;
        index.vote = vote;
        index.committed = committed;
        index.committed_save_interval = COMMITTED_SAVE_INTERVAL;
        Ok(PartitionLogStore {
            shared: Arc::new(Shared {
                dir: dir.to_path_buf(),
                roll_bytes,
                sync: Mutex::new(SyncState {
                    policy: FlushPolicy::Always,
                    last_sync: Instant::now(),
                    pending: Vec::new(),
                    dir_pending: false,
                }),
                index: Mutex::new(index),
                recent: Mutex::new(RecentEntries::default()),
            }),
        })
    }

    /// Follows the topic's flush policy, as its segments do: `always` (the default)
    /// fsyncs every append before openraft hears it is flushed; `every N ms` fsyncs an
    /// append once N ms passed since the last fsync (and [`Self::flush_if_due`] catches
    /// up an idle log); `os` leaves it to the page cache, so an acknowledged write
    /// survives a process crash, and a machine crash only where a majority kept it.
    pub fn set_flush_policy(&self, policy: FlushPolicy) {
        self.shared.sync_state().policy = policy;
    }

    /// fsyncs what appends left unsynced when the flush policy's interval has passed
    /// (`every N ms`); returns whether it did. Call it periodically. Blocking (fsyncs).
    pub fn flush_if_due(&self) -> Result<bool, ReplicationError> {
        let mut sync = self.shared.sync_state();
        let pending = !sync.pending.is_empty() || sync.dir_pending;
        let due = match sync.policy {
            FlushPolicy::Interval(every) => sync.last_sync.elapsed() >= every,
            FlushPolicy::Always | FlushPolicy::Os => false,
        };
        if !(pending && due) {
            return Ok(false);
        }
        sync.sync(&self.shared.dir)
            .map_err(|source| ReplicationError::Io {
                op: "fsync raft log",
                path: self.shared.dir.clone(),
                source,
            })?;
        Ok(true)
    }

    /// Sets how often at most the committed marker is written.
    #[cfg(test)]
    fn set_committed_save_interval(&self, interval: Duration) {
        self.index().committed_save_interval = interval;
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        self.shared
            .index
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn recent(&self) -> MutexGuard<'_, RecentEntries> {
        self.shared
            .recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The live entries' index range `[first, end)`, clamped to `range`.
    fn clamp(&self, range: &impl RangeBounds<u64>) -> (u64, u64) {
        let index = self.index();
        let first = index.first_index().unwrap_or(index.next_index());
        let end = index.next_index();
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let stop = match range.end_bound() {
            Bound::Included(&e) => e.saturating_add(1),
            Bound::Excluded(&e) => e,
            Bound::Unbounded => u64::MAX,
        };
        (start.max(first), stop.min(end))
    }

    /// Reads `[start, end)` (live entries only), at most `max_bytes` of payload (at
    /// least one entry): from the recent cache when it holds them all, else from the
    /// files on the blocking pool.
    async fn read(&self, start: u64, end: u64, max_bytes: u64) -> Result<Vec<Entry>, Error> {
        if start >= end {
            return Ok(Vec::new());
        }
        if let Some(entries) = self.recent().get(start, end) {
            return Ok(limit_bytes(entries, max_bytes));
        }
        let plan = {
            let index = self.index();
            read_plan(&index, start, end, max_bytes)
        };
        let entries = tokio::task::spawn_blocking(move || -> io::Result<Vec<Entry>> {
            let mut entries = Vec::new();
            for (file, locations) in plan {
                entries.extend(file.read(&locations)?);
            }
            Ok(entries)
        })
        .await
        .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Read, io::Error::other(e)))?
        .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Read, e))?;
        Ok(entries)
    }

    /// Writes a marker file on the blocking pool.
    async fn write_marker<T: serde::Serialize + Send + 'static>(
        &self,
        name: &str,
        prefix: &'static str,
        value: T,
    ) -> io::Result<()> {
        let path = self.shared.dir.join(name);
        tokio::task::spawn_blocking(move || marker::write(&path, prefix, &value))
            .await
            .map_err(io::Error::other)?
    }

    /// Removes the entries from index `from` on: later files deleted (newest first),
    /// the file holding `from` cut, all fsynced, then the index and cache updated.
    async fn truncate_from(&self, from: u64) -> Result<(), Error> {
        let (doomed, cut) = {
            let index = self.index();
            let Some(slot) = index.slot(from) else {
                return Ok(());
            };
            let location = index.locations[slot];
            // Truncating every live entry drops every file (the rest is purged); else the
            // files after the one holding `from`, and that one too if `from` starts it.
            let whole_file = slot == 0 || location.position == 0;
            let doomed: Vec<Arc<LogSegment>> = index
                .files
                .iter()
                .filter(|(first, _)| {
                    slot == 0 || **first > location.file || (**first == location.file && whole_file)
                })
                .map(|(_, f)| Arc::clone(f))
                .collect();
            let cut = (!whole_file)
                .then(|| index.files.get(&location.file).cloned())
                .flatten()
                .map(|f| (f, location.position));
            (doomed, cut)
        };
        let dir = self.shared.dir.clone();
        let (doomed_files, cut_file) = (doomed.clone(), cut.clone());
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            for file in doomed_files.iter().rev() {
                file.delete()?;
            }
            if let Some((file, len)) = cut_file {
                file.truncate(len)?;
            }
            log_segment::sync_dir(&dir)
        })
        .await
        .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Delete, io::Error::other(e)))?
        .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Delete, e))?;
        let mut index = self.index();
        for file in &doomed {
            index.files.remove(&file.first_index);
        }
        if let Some(slot) = index.slot(from) {
            index.locations.truncate(slot);
        }
        index.last_file_bytes = index.locations.back().map_or(0, Location::end);
        drop(index);
        self.recent().truncate(from);
        Ok(())
    }
}

/// Keeps entries while their payload bytes stay within `max_bytes` (one at least).
fn limit_bytes(mut entries: Vec<Entry>, max_bytes: u64) -> Vec<Entry> {
    let mut total = 0u64;
    let keep = entries
        .iter()
        .position(|e| {
            total += payload_bytes(e) as u64;
            total > max_bytes
        })
        .map_or(entries.len(), |at| at.max(1));
    entries.truncate(keep);
    entries
}

/// Which files to read for `[start, end)` (all live), grouped into runs per file, within
/// `max_bytes` of records (one at least).
fn read_plan(
    index: &Index,
    start: u64,
    end: u64,
    max_bytes: u64,
) -> Vec<(Arc<LogSegment>, Vec<Location>)> {
    let mut plan: Vec<(Arc<LogSegment>, Vec<Location>)> = Vec::new();
    let (Some(from), Some(first)) = (index.slot(start), index.first_index()) else {
        return plan;
    };
    let to = usize::try_from(end - first)
        .unwrap_or(usize::MAX)
        .min(index.locations.len());
    let mut total = 0u64;
    for location in index.locations.range(from..to) {
        total += location.record_bytes();
        if total > max_bytes && !plan.is_empty() {
            break;
        }
        match plan.last_mut() {
            Some((file, run)) if file.first_index == location.file => run.push(*location),
            _ => {
                let Some(file) = index.files.get(&location.file) else {
                    break;
                };
                plan.push((Arc::clone(file), vec![*location]));
            }
        }
    }
    plan
}

/// Opens the files of `dir`: checks every header, the CRCs of the last file, index
/// continuity across files; cuts at the first problem (deleting later files), drops
/// files holding only entries at or below `last_purged` (an interrupted purge).
fn recover(dir: &Path, last_purged: Option<LogId<u64>>) -> io::Result<Index> {
    let firsts = log_segment::list(dir)?;
    let mut index = Index {
        last_purged,
        ..Index::default()
    };
    let purged_end = last_purged.map_or(0, |p| p.index + 1);
    let mut expected: Option<u64> = None;
    let mut cut_bytes = 0u64;
    let mut broken = false;
    for (i, &first) in firsts.iter().enumerate() {
        let file = LogSegment::open(dir, first)?;
        if !broken && expected.is_some_and(|e| e != first) {
            tracing::warn!(path = %file.path.display(), expected, "partition raft log: file does not continue the log; deleting it and later files");
            broken = true;
        }
        if broken {
            cut_bytes += file.scan(false).map_or(0, |s| s.file_bytes);
            file.delete()?;
            continue;
        }
        if firsts.get(i + 1).is_some_and(|&next| next <= purged_end) {
            file.delete()?;
            continue;
        }
        let scanned = file.scan(i + 1 == firsts.len())?;
        if let Some(reason) = &scanned.stop {
            let cut = scanned.file_bytes - scanned.valid_bytes;
            cut_bytes += cut;
            tracing::warn!(path = %file.path.display(), position = scanned.valid_bytes, cut_bytes = cut, reason, "partition raft log: cutting a torn or damaged tail");
            file.truncate(scanned.valid_bytes)?;
            broken = true;
        }
        if scanned.locations.is_empty() {
            file.delete()?;
            continue;
        }
        expected = Some(first + scanned.locations.len() as u64);
        let live = scanned
            .locations
            .into_iter()
            .filter(|l| l.log_id.index >= purged_end);
        index.locations.extend(live);
        index.files.insert(first, Arc::new(file));
    }
    if index.locations.is_empty() {
        // Only purged entries (or none): the next append starts a new file.
        for file in std::mem::take(&mut index.files).into_values() {
            file.delete()?;
        }
    }
    index.last_file_bytes = index.locations.back().map_or(0, Location::end);
    debug_assert_eq!(
        index.locations.back().map(|l| l.file),
        index.files.keys().next_back().copied()
    );
    if cut_bytes > 0 {
        tracing::warn!(dir = %dir.display(), cut_bytes, kept_entries = index.locations.len(), "partition raft log recovered");
    }
    log_segment::sync_dir(dir)?;
    Ok(index)
}

fn io_error(subject: ErrorSubject<u64>, verb: ErrorVerb, e: io::Error) -> Error {
    StorageIOError::new(subject, verb, AnyError::new(&e)).into()
}

impl RaftLogReader<PartitionConfig> for PartitionLogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, Error> {
        let (start, end) = self.clamp(&range);
        self.read(start, end, u64::MAX).await
    }

    async fn limited_get_log_entries(&mut self, start: u64, end: u64) -> Result<Vec<Entry>, Error> {
        // Replication reads from `start` on: if `start` was purged meanwhile, later entries
        // must not come back as if they followed it (openraft sends a snapshot instead).
        let first = {
            let index = self.index();
            index.first_index().unwrap_or(index.next_index())
        };
        if start < first {
            return Ok(Vec::new());
        }
        let (start, end) = self.clamp(&(start..end));
        self.read(start, end, READ_BATCH_BYTES_MAX).await
    }
}

impl RaftLogStorage<PartitionConfig> for PartitionLogStore {
    type LogReader = PartitionLogStore;

    async fn get_log_state(&mut self) -> Result<LogState<PartitionConfig>, Error> {
        let index = self.index();
        Ok(LogState {
            last_purged_log_id: index.last_purged,
            last_log_id: index.last_log_id(),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), Error> {
        self.write_marker(VOTE_FILE, VOTE_PREFIX, *vote)
            .await
            .map_err(|e| io_error(ErrorSubject::Vote, ErrorVerb::Write, e))?;
        self.index().vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, Error> {
        Ok(self.index().vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> Result<(), Error> {
        {
            let mut index = self.index();
            let due = index
                .committed_saved_at
                .is_none_or(|at| at.elapsed() >= index.committed_save_interval);
            // Going back (a cut tail) is written at once; going forward only when due.
            let backwards = committed < index.committed;
            index.committed = committed;
            if !due && !backwards {
                return Ok(());
            }
            index.committed_saved_at = Some(Instant::now());
        }
        self.write_marker(COMMITTED_FILE, COMMITTED_PREFIX, committed)
            .await
            .map_err(|e| io_error(ErrorSubject::Store, ErrorVerb::Write, e))?;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>, Error> {
        // Never past the log's end (a damaged tail may have been cut since).
        let index = self.index();
        Ok(index.committed.min(index.last_log_id()))
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<PartitionConfig>,
    ) -> Result<(), Error>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        // Entries at or below the purge point are in a snapshot already: nothing to keep.
        let purged_end = self.index().last_purged.map_or(0, |p| p.index + 1);
        let entries: Vec<Entry> = entries
            .into_iter()
            .filter(|e| e.log_id.index >= purged_end)
            .collect();
        let Some(first) = entries.first() else {
            callback.log_io_completed(Ok(()));
            return Ok(());
        };
        let contiguous = entries
            .windows(2)
            .all(|w| w[0].log_id.index + 1 == w[1].log_id.index);
        let from = first.log_id.index;
        // Entries at or below the log's end replace what is there (openraft truncates
        // first; this keeps the files ordered even if it did not).
        if from < self.index().next_index() {
            self.truncate_from(from).await?;
        }
        let (next, empty) = {
            let index = self.index();
            (index.next_index(), index.locations.is_empty())
        };
        // An empty log may start anywhere past its end (openraft appends after a purge
        // point it has not recorded yet); a log with entries grows without gaps.
        if !contiguous || from < next || (from > next && !empty) {
            let e = io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("entries to append start at {from} (contiguous: {contiguous}); the log's next index is {next}"),
            );
            return Err(io_error(ErrorSubject::Logs, ErrorVerb::Write, e));
        }
        let (last_file, last_file_bytes) = {
            let index = self.index();
            let last = index.files.last_key_value().map(|(_, f)| Arc::clone(f));
            (last, index.last_file_bytes)
        };
        let shared = Arc::clone(&self.shared);
        let written = Arc::new(entries);
        let to_write = Arc::clone(&written);
        let result = tokio::task::spawn_blocking(move || {
            let place = Placement {
                last_file,
                last_file_bytes,
                roll_bytes: shared.roll_bytes,
            };
            let outcome = write_entries(&shared.dir, place, &to_write)?;
            let mut sync = shared.sync_state();
            sync.note(&outcome);
            if sync.due() {
                if let Err(e) = sync.sync(&shared.dir) {
                    outcome.undo();
                    return Err(e);
                }
            }
            Ok(outcome)
        })
        .await
        .map_err(io::Error::other)
        .and_then(|r| r);
        match result {
            Ok(outcome) => {
                {
                    let mut index = self.index();
                    for file in outcome.new_files {
                        index.files.insert(file.first_index, file);
                    }
                    index.locations.extend(outcome.locations);
                    index.last_file_bytes = outcome.last_file_bytes;
                }
                let mut recent = self.recent();
                for entry in written.iter() {
                    recent.push(entry.clone());
                }
                drop(recent);
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let message = e.to_string();
                callback.log_io_completed(Err(io::Error::new(e.kind(), message)));
                Err(io_error(ErrorSubject::Logs, ErrorVerb::Write, e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), Error> {
        self.truncate_from(log_id.index).await
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), Error> {
        if self
            .index()
            .last_purged
            .is_some_and(|p| p.index >= log_id.index)
        {
            return Ok(());
        }
        self.write_marker(PURGED_FILE, PURGED_PREFIX, log_id)
            .await
            .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Delete, e))?;
        let doomed = {
            let mut index = self.index();
            index.last_purged = Some(log_id);
            let keep_from = index
                .slot(log_id.index.saturating_add(1))
                .unwrap_or(index.locations.len());
            index.locations.drain(..keep_from);
            // Whole files below the first live entry (all of them if none is live).
            let live_file = index.locations.front().map(|l| l.file);
            let doomed: Vec<Arc<LogSegment>> = index
                .files
                .values()
                .filter(|f| live_file.is_none_or(|live| f.first_index < live))
                .cloned()
                .collect();
            for file in &doomed {
                index.files.remove(&file.first_index);
            }
            if index.files.is_empty() {
                index.last_file_bytes = 0;
            }
            doomed
        };
        self.recent().purge(log_id.index);
        if doomed.is_empty() {
            return Ok(());
        }
        let dir = self.shared.dir.clone();
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            for file in &doomed {
                file.delete()?;
            }
            log_segment::sync_dir(&dir)
        })
        .await
        .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Delete, io::Error::other(e)))?
        .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Delete, e))
    }
}

/// What [`write_entries`] wrote.
struct Written {
    /// Files written, with where this write started in each.
    touched: Vec<(Arc<LogSegment>, u64)>,
    new_files: Vec<Arc<LogSegment>>,
    locations: Vec<Location>,
    last_file_bytes: u64,
}

/// Where an append's records go.
struct Placement {
    /// The file being filled (none: the log has no file).
    last_file: Option<Arc<LogSegment>>,
    /// Its length.
    last_file_bytes: u64,
    /// Roll to a new file once one holds this many bytes.
    roll_bytes: u64,
}

/// Writes `entries` after the last file's records (or in new files, rolling at
/// `roll_bytes`), without an fsync (the caller decides). On failure the partial writes
/// are undone.
fn write_entries(dir: &Path, place: Placement, entries: &[Entry]) -> io::Result<Written> {
    let Placement {
        last_file,
        last_file_bytes,
        roll_bytes,
    } = place;
    let mut runs: Vec<(Arc<LogSegment>, u64, Vec<u8>)> = Vec::new();
    let mut new_files = Vec::new();
    let mut locations = Vec::with_capacity(entries.len());
    let mut current = last_file.map(|f| (f, last_file_bytes, Vec::new()));
    let result = (|| -> io::Result<()> {
        for entry in entries {
            let must_roll = current
                .as_ref()
                .is_none_or(|(_, start, buf)| *start + buf.len() as u64 >= roll_bytes);
            if must_roll {
                let file = Arc::new(LogSegment::create(dir, entry.log_id.index)?);
                new_files.push(Arc::clone(&file));
                if let Some(done) = current.replace((file, 0, Vec::new())) {
                    runs.push(done);
                }
            }
            let Some((file, start, buf)) = current.as_mut() else {
                return Err(io::Error::other("no log file to write to"));
            };
            let position = *start + buf.len() as u64;
            let payload_len = encode_record(entry, buf)?;
            locations.push(Location {
                file: file.first_index,
                position,
                payload_len,
                log_id: entry.log_id,
            });
        }
        runs.extend(current.take());
        for (file, start, buf) in &runs {
            if !buf.is_empty() {
                file.write_at(*start, buf)?;
            }
        }
        Ok(())
    })();
    let last_file_bytes = runs
        .last()
        .map_or(last_file_bytes, |(_, start, buf)| start + buf.len() as u64);
    let written = Written {
        touched: runs
            .iter()
            .map(|(file, start, _)| (Arc::clone(file), *start))
            .collect(),
        new_files,
        locations,
        last_file_bytes,
    };
    match result {
        Ok(()) => Ok(written),
        Err(e) => {
            written.undo();
            Err(e)
        }
    }
}

impl Written {
    /// Removes what was written (best effort; a torn tail is also cut on the next open).
    fn undo(&self) {
        for (file, start) in &self.touched {
            if !self.new_files.iter().any(|n| Arc::ptr_eq(n, file)) {
                let _ = file.truncate(*start);
            }
        }
        for file in &self.new_files {
            let _ = file.delete();
        }
    }
}

/// When the log's files are fsynced: the topic's flush policy, as for its segments.
#[derive(Debug)]
struct SyncState {
    policy: FlushPolicy,
    last_sync: Instant,
    /// Files written since the last fsync.
    pending: Vec<Arc<LogSegment>>,
    /// A file was created since the last fsync of the directory.
    dir_pending: bool,
}

impl SyncState {
    fn note(&mut self, written: &Written) {
        for (file, _) in &written.touched {
            if !self.pending.iter().any(|p| Arc::ptr_eq(p, file)) {
                self.pending.push(Arc::clone(file));
            }
        }
        self.dir_pending |= !written.new_files.is_empty();
    }

    fn due(&self) -> bool {
        match self.policy {
            FlushPolicy::Always => true,
            FlushPolicy::Interval(every) => self.last_sync.elapsed() >= every,
            FlushPolicy::Os => false,
        }
    }

    /// fsyncs the pending files and, if needed, the directory. Blocking.
    fn sync(&mut self, dir: &Path) -> io::Result<()> {
        for file in self.pending.drain(..) {
            file.sync()?;
        }
        if std::mem::take(&mut self.dir_pending) {
            log_segment::sync_dir(dir)?;
        }
        self.last_sync = Instant::now();
        Ok(())
    }
}

#[cfg(test)]
#[path = "log_store_tests.rs"]
mod tests;
