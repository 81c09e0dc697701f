//! openraft's [`RaftLogStorage`] over [`LogFile`]: the metadata log, the vote and the
//! purged/committed markers under `<data_dir>/cluster/`.
//!
//! Every change is written and fsynced on the blocking pool before the in-memory copy
//! (which readers use) changes and before openraft hears it is flushed. The metadata
//! log is small and purged after each snapshot, so all live entries stay in memory.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{AnyError, ErrorSubject, ErrorVerb, LogState, RaftLogReader, StorageIOError};

use super::log_file::LogFile;
use super::marker;
use super::types::{Entry, LogId, StorageError, TypeConfig, Vote};

const VOTE_PREFIX: &str = "rill-raft-vote v1 crc32=";
const PURGED_PREFIX: &str = "rill-raft-purged v1 crc32=";
const COMMITTED_PREFIX: &str = "rill-raft-committed v1 crc32=";

/// The live log as readers see it.
#[derive(Debug, Default)]
struct Cache {
    entries: BTreeMap<u64, Entry>,
    last_purged: Option<LogId>,
    vote: Option<Vote>,
    committed: Option<LogId>,
}

/// The durable metadata log. Clones share the same log.
#[derive(Debug, Clone)]
pub struct LogStore {
    dir: PathBuf,
    file: Arc<Mutex<LogFile>>,
    cache: Arc<Mutex<Cache>>,
}

impl LogStore {
    /// Opens the log under `dir` (created if missing), recovering a torn tail. Blocking.
    pub fn open(dir: &Path) -> io::Result<LogStore> {
        std::fs::create_dir_all(dir)?;
        let recovered = LogFile::open(&dir.join("log"))?;
        let last_purged: Option<LogId> = marker::read(&dir.join("purged"), PURGED_PREFIX)?;
        let vote: Option<Vote> = marker::read(&dir.join("vote"), VOTE_PREFIX)?;
        let committed: Option<LogId> = marker::read(&dir.join("committed"), COMMITTED_PREFIX)?;
        let mut file = recovered.file;
        let entries: BTreeMap<u64, Entry> = recovered
            .entries
            .into_iter()
            .filter(|e| last_purged.is_none_or(|p| e.log_id.index > p.index))
            .map(|e| (e.log_id.index, e))
            .collect();
        if let Some(purged) = last_purged {
            let live: Vec<Entry> = entries.values().cloned().collect();
            file.purge(purged, &live)?;
        }
        Ok(LogStore {
            dir: dir.to_path_buf(),
            file: Arc::new(Mutex::new(file)),
            cache: Arc::new(Mutex::new(Cache {
                entries,
                last_purged,
                vote,
                committed,
            })),
        })
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn last_log_id(&self) -> Option<LogId> {
        let cache = self.cache();
        cache
            .entries
            .last_key_value()
            .map(|(_, e)| e.log_id)
            .or(cache.last_purged)
    }

    /// Runs `f` on the log file on the blocking pool.
    async fn with_file<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut LogFile) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || {
            let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut file)
        })
        .await
        .map_err(io::Error::other)?
    }

    /// Removes entries from index `from` on, on disk then in memory.
    async fn truncate_from(&self, from: u64) -> Result<(), StorageError> {
        self.with_file(move |file| file.truncate(from))
            .await
            .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Delete, e))?;
        self.cache().entries.split_off(&from);
        Ok(())
    }

    /// Writes a marker file on the blocking pool.
    async fn write_marker<T: serde::Serialize + Send + 'static>(
        &self,
        name: &str,
        prefix: &'static str,
        value: T,
    ) -> io::Result<()> {
        let path = self.dir.join(name);
        tokio::task::spawn_blocking(move || marker::write(&path, prefix, &value))
            .await
            .map_err(io::Error::other)?
    }
}

fn io_error(subject: ErrorSubject<u64>, verb: ErrorVerb, e: io::Error) -> StorageError {
    StorageIOError::new(subject, verb, AnyError::new(&e)).into()
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = range.start_bound().cloned();
        let end = range.end_bound().cloned();
        if let (Bound::Included(s), Bound::Excluded(e)) = (start, end) {
            if s >= e {
                return Ok(Vec::new());
            }
        }
        Ok(self
            .cache()
            .entries
            .range((start, end))
            .map(|(_, e)| e.clone())
            .collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_log_id = self.last_log_id();
        Ok(LogState {
            last_purged_log_id: self.cache().last_purged,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.write_marker("vote", VOTE_PREFIX, *vote)
            .await
            .map_err(|e| io_error(ErrorSubject::Vote, ErrorVerb::Write, e))?;
        self.cache().vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.cache().vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        if self.cache().committed == committed {
            return Ok(());
        }
        self.write_marker("committed", COMMITTED_PREFIX, committed)
            .await
            .map_err(|e| io_error(ErrorSubject::Store, ErrorVerb::Write, e))?;
        self.cache().committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        // Never past the log's end (a damaged tail may have been cut since).
        let last = self.last_log_id();
        Ok(self.cache().committed.min(last))
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let Some(first) = entries.first() else {
            callback.log_io_completed(Ok(()));
            return Ok(());
        };
        if !entries
            .windows(2)
            .all(|w| w[0].log_id.index < w[1].log_id.index)
        {
            let e = io::Error::other("entries to append are not in index order");
            return Err(io_error(ErrorSubject::Logs, ErrorVerb::Write, e));
        }
        // Entries at or below the log's end replace what is there (openraft truncates
        // first; this keeps the file ordered even if it did not).
        let from = first.log_id.index;
        if self.last_log_id().is_some_and(|l| from <= l.index) {
            self.truncate_from(from).await?;
        }
        let written = entries.clone();
        let result = self.with_file(move |file| file.append(&written)).await;
        match result {
            Ok(()) => {
                let mut cache = self.cache();
                cache
                    .entries
                    .extend(entries.into_iter().map(|e| (e.log_id.index, e)));
                drop(cache);
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

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.truncate_from(log_id.index).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.write_marker("purged", PURGED_PREFIX, log_id)
            .await
            .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Delete, e))?;
        let live: Vec<Entry> = {
            let mut cache = self.cache();
            cache.last_purged = Some(log_id);
            cache.entries = cache.entries.split_off(&log_id.index.saturating_add(1));
            cache.entries.values().cloned().collect()
        };
        self.with_file(move |file| file.purge(log_id, &live))
            .await
            .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Delete, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use openraft::storage::RaftLogStorageExt;
    use openraft::testing::{StoreBuilder, Suite};
    use openraft::{CommittedLeaderId, EntryPayload};
    use proptest::prelude::*;
    use tempfile::TempDir;
    use tokio::sync::watch;

    use super::*;
    use crate::cluster::raft::state_machine::StateMachine;
    use crate::cluster::{MetadataCommand, MetadataImage};

    struct Builder;

    impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for Builder {
        async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError> {
            let dir = tempfile::tempdir().unwrap();
            let (sender, _) = watch::channel(Arc::new(MetadataImage::default()));
            let log = LogStore::open(dir.path()).unwrap();
            let machine = StateMachine::open(dir.path(), sender).unwrap();
            Ok((dir, log, machine))
        }
    }

    #[test]
    fn passes_openraft_storage_suite() {
        Suite::test_all(Builder).unwrap();
    }

    fn entry(term: u64, index: u64) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
            payload: EntryPayload::Normal(MetadataCommand::DeleteTopic {
                name: format!("t{index}"),
            }),
        }
    }

    async fn append(log: &mut LogStore, entries: Vec<Entry>) {
        log.blocking_append(entries).await.unwrap();
    }

    /// What the log must hold: `(purged, entries)`.
    #[derive(Debug, Default, Clone)]
    struct Model {
        purged: Option<LogId>,
        entries: Vec<Entry>,
    }

    #[derive(Debug, Clone)]
    enum Op {
        Append(u8),
        Truncate(u8),
        Purge(u8),
        Reopen,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (1u8..5).prop_map(Op::Append),
            1 => any::<u8>().prop_map(Op::Truncate),
            1 => any::<u8>().prop_map(Op::Purge),
            1 => Just(Op::Reopen),
        ]
    }

    async fn check(log: &mut LogStore, model: &Model) {
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, model.purged);
        let last = model.entries.last().map(|e| e.log_id).or(model.purged);
        assert_eq!(state.last_log_id, last);
        let all = log.try_get_log_entries(0..u64::MAX).await.unwrap();
        assert_eq!(all, model.entries);
    }

    async fn run(ops: Vec<Op>) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogStore::open(dir.path()).unwrap();
        let mut model = Model::default();
        let mut term = 1;
        for op in ops {
            match op {
                Op::Append(n) => {
                    let next = model
                        .entries
                        .last()
                        .map(|e| e.log_id)
                        .or(model.purged)
                        .map_or(0, |l| l.index + 1);
                    let new: Vec<Entry> = (next..next + u64::from(n))
                        .map(|i| entry(term, i))
                        .collect();
                    append(&mut log, new.clone()).await;
                    model.entries.extend(new);
                }
                Op::Truncate(at) if !model.entries.is_empty() => {
                    let at = usize::from(at) % model.entries.len();
                    let from = model.entries[at].log_id;
                    log.truncate(from).await.unwrap();
                    model.entries.truncate(at);
                    term += 1;
                }
                Op::Purge(at) if !model.entries.is_empty() => {
                    let at = usize::from(at) % model.entries.len();
                    let upto = model.entries[at].log_id;
                    log.purge(upto).await.unwrap();
                    model.purged = Some(upto);
                    model.entries.drain(..=at);
                }
                Op::Reopen => {
                    drop(log);
                    log = LogStore::open(dir.path()).unwrap();
                }
                _ => {}
            }
            check(&mut log, &model).await;
        }
        drop(log);
        let mut log = LogStore::open(dir.path()).unwrap();
        check(&mut log, &model).await;
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn behaves_like_a_vec_across_reopens(ops in proptest::collection::vec(op(), 1..40)) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(run(ops));
        }
    }

    #[tokio::test]
    async fn vote_and_committed_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogStore::open(dir.path()).unwrap();
        assert_eq!(log.read_vote().await.unwrap(), None);
        let vote = Vote::new(3, 2);
        log.save_vote(&vote).await.unwrap();
        append(&mut log, vec![entry(1, 0), entry(1, 1)]).await;
        log.save_committed(Some(entry(1, 1).log_id)).await.unwrap();
        drop(log);
        let mut log = LogStore::open(dir.path()).unwrap();
        assert_eq!(log.read_vote().await.unwrap(), Some(vote));
        assert_eq!(
            log.read_committed().await.unwrap(),
            Some(entry(1, 1).log_id)
        );
        // A committed marker past a log whose tail was cut is clamped to the log.
        log.truncate(entry(1, 1).log_id).await.unwrap();
        assert_eq!(
            log.read_committed().await.unwrap(),
            Some(entry(1, 0).log_id)
        );
    }
}
