//! openraft's [`RaftStateMachine`]: applies committed entries, in order, to the
//! [`MetadataImage`] and publishes each new image to the servers; snapshots the image.
//!
//! The image lives in memory; a restart loads the last snapshot
//! (`<data_dir>/cluster/snapshot`, checksummed JSON of the image, the last applied log
//! id and the membership) and openraft replays the committed log after it. A snapshot
//! received from the leader replaces the image and the snapshot file.

use std::io::{self, Cursor};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::StorageIOError;
use openraft::{AnyError, EntryPayload, ErrorSubject, ErrorVerb, RaftSnapshotBuilder, Snapshot};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::marker;
use super::recent::RecentProposals;
use super::types::{
    CommandOutcome, Entry, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};
use crate::cluster::MetadataImage;

const SNAPSHOT_PREFIX: &str = "rill-raft-snapshot v1 crc32=";

/// What a snapshot holds: everything applied up to `last_applied`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SnapshotContents {
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
    image: MetadataImage,
    #[serde(default)]
    recent: RecentProposals,
}

/// A snapshot as stored in `<data_dir>/cluster/snapshot`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    contents: SnapshotContents,
}

/// The latest snapshot, shared by the state machine and its builders.
#[derive(Debug, Clone)]
struct CurrentSnapshot {
    meta: SnapshotMeta,
    /// `contents` as JSON, what is sent to followers.
    bytes: Arc<Vec<u8>>,
}

/// Held across writing the snapshot file, so a builder and an install never write it at
/// once and an older snapshot never replaces a newer one.
type SharedSnapshot = Arc<tokio::sync::Mutex<Option<CurrentSnapshot>>>;

/// The metadata state machine.
#[derive(Debug)]
pub struct StateMachine {
    dir: PathBuf,
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
    image: Arc<MetadataImage>,
    recent: RecentProposals,
    published: watch::Sender<Arc<MetadataImage>>,
    snapshot: SharedSnapshot,
    snapshots_built: u64,
}

impl StateMachine {
    /// Opens the state machine under `dir`: the last snapshot if there is one, else an
    /// empty image. Publishes the image it starts from through `published`. Blocking.
    pub fn open(dir: &Path, published: watch::Sender<Arc<MetadataImage>>) -> io::Result<Self> {
        let stored: Option<StoredSnapshot> = marker::read(&dir.join("snapshot"), SNAPSHOT_PREFIX)?;
        let mut machine = StateMachine {
            dir: dir.to_path_buf(),
            last_applied: None,
            last_membership: StoredMembership::default(),
            image: Arc::new(MetadataImage::default()),
            recent: RecentProposals::default(),
            published,
            snapshot: Arc::new(tokio::sync::Mutex::new(None)),
            snapshots_built: 0,
        };
        if let Some(stored) = stored {
            let bytes = serde_json::to_vec(&stored.contents).map_err(io::Error::other)?;
            machine.load(stored.contents);
            machine.snapshot = Arc::new(tokio::sync::Mutex::new(Some(CurrentSnapshot {
                meta: stored.meta,
                bytes: Arc::new(bytes),
            })));
        }
        machine.published.send_replace(machine.image.clone());
        Ok(machine)
    }

    /// Replaces the state with a snapshot's.
    fn load(&mut self, contents: SnapshotContents) {
        self.last_applied = contents.last_applied;
        self.last_membership = contents.last_membership;
        self.image = Arc::new(contents.image);
        self.recent = contents.recent;
    }

    fn contents(&self) -> SnapshotContents {
        SnapshotContents {
            last_applied: self.last_applied,
            last_membership: self.last_membership.clone(),
            image: (*self.image).clone(),
            recent: self.recent.clone(),
        }
    }
}

fn storage_error(verb: ErrorVerb, e: &dyn std::error::Error) -> StorageError {
    StorageIOError::new(
        ErrorSubject::StateMachine,
        verb,
        AnyError::error(e.to_string()),
    )
    .into()
}

/// Makes `stored` the current snapshot, file first (on the blocking pool), unless the
/// current one is as new; `bytes` is `stored.contents` as JSON.
async fn store(
    shared: &SharedSnapshot,
    dir: &Path,
    stored: StoredSnapshot,
    bytes: Arc<Vec<u8>>,
) -> Result<(), StorageError> {
    let mut current = shared.lock().await;
    let index = |meta: &SnapshotMeta| meta.last_log_id.map(|l| l.index);
    if current
        .as_ref()
        .is_some_and(|c| index(&c.meta) >= index(&stored.meta))
    {
        return Ok(());
    }
    let meta = stored.meta.clone();
    let path = dir.join("snapshot");
    tokio::task::spawn_blocking(move || marker::write(&path, SNAPSHOT_PREFIX, &stored))
        .await
        .map_err(|e| storage_error(ErrorVerb::Write, &e))?
        .map_err(|e| storage_error(ErrorVerb::Write, &e))?;
    *current = Some(CurrentSnapshot { meta, bytes });
    Ok(())
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.last_applied, self.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandOutcome>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut outcomes = Vec::new();
        let mut changed = false;
        for entry in entries {
            self.last_applied = Some(entry.log_id);
            let outcome = match entry.payload {
                EntryPayload::Blank => Ok(()),
                EntryPayload::Normal(proposal) => match self.recent.get(proposal.id) {
                    // A retry of a proposal applied already: its first outcome.
                    Some(first) => first.clone(),
                    None => {
                        let outcome = Arc::make_mut(&mut self.image).apply(&proposal.command);
                        changed |= outcome.is_ok();
                        self.recent.insert(proposal.id, outcome.clone());
                        outcome
                    }
                },
                EntryPayload::Membership(membership) => {
                    self.last_membership = StoredMembership::new(Some(entry.log_id), membership);
                    Ok(())
                }
            };
            outcomes.push(outcome);
        }
        if changed {
            self.published.send_replace(self.image.clone());
        }
        Ok(outcomes)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        self.snapshots_built += 1;
        SnapshotBuilder {
            dir: self.dir.clone(),
            contents: self.contents(),
            snapshot: self.snapshot.clone(),
            sequence: self.snapshots_built,
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let bytes = snapshot.into_inner();
        let contents: SnapshotContents =
            serde_json::from_slice(&bytes).map_err(|e| storage_error(ErrorVerb::Read, &e))?;
        if contents.last_applied != meta.last_log_id {
            let e = io::Error::other(format!(
                "snapshot {} claims {:?} but holds state up to {:?}",
                meta.snapshot_id, meta.last_log_id, contents.last_applied
            ));
            return Err(storage_error(ErrorVerb::Read, &e));
        }
        let stored = StoredSnapshot {
            meta: meta.clone(),
            contents: contents.clone(),
        };
        store(&self.snapshot, &self.dir, stored, Arc::new(bytes)).await?;
        tracing::info!(snapshot = %meta.snapshot_id, "metadata: installed a snapshot from the controller");
        self.load(contents);
        self.published.send_replace(self.image.clone());
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let current = self.snapshot.lock().await.clone();
        Ok(current.map(|c| Snapshot {
            meta: c.meta,
            snapshot: Box::new(Cursor::new((*c.bytes).clone())),
        }))
    }
}

/// Builds a snapshot of the state as it was when the builder was made.
#[derive(Debug)]
pub struct SnapshotBuilder {
    dir: PathBuf,
    contents: SnapshotContents,
    snapshot: SharedSnapshot,
    sequence: u64,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let bytes =
            serde_json::to_vec(&self.contents).map_err(|e| storage_error(ErrorVerb::Write, &e))?;
        let last = self.contents.last_applied;
        let snapshot_id = match last {
            Some(id) => format!("{}-{}-{}", id.leader_id.term, id.index, self.sequence),
            None => format!("empty-{}", self.sequence),
        };
        let meta = SnapshotMeta {
            last_log_id: last,
            last_membership: self.contents.last_membership.clone(),
            snapshot_id,
        };
        let stored = StoredSnapshot {
            meta: meta.clone(),
            contents: self.contents.clone(),
        };
        store(&self.snapshot, &self.dir, stored, Arc::new(bytes.clone())).await?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use openraft::{CommittedLeaderId, Entry};

    use super::*;
    use crate::cluster::raft::types::Proposal;
    use crate::cluster::{ApplyError, BrokerRegistration, MetadataCommand};

    fn entry(index: u64, proposal: &Proposal) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(proposal.clone()),
        }
    }

    fn machine(dir: &Path) -> (StateMachine, watch::Receiver<Arc<MetadataImage>>) {
        let (sender, receiver) = watch::channel(Arc::new(MetadataImage::default()));
        (StateMachine::open(dir, sender).unwrap(), receiver)
    }

    fn proposals() -> (Proposal, Proposal) {
        let register = Proposal::new(MetadataCommand::RegisterBroker(BrokerRegistration {
            node_id: 1,
            host: "h".into(),
            port: 1,
            kafka: None,
            inter_broker: "h:2".into(),
            rack: None,
            incarnation: 0,
        }));
        let create = Proposal::new(MetadataCommand::CreateTopic {
            name: "t".into(),
            id: 9,
            internal: false,
            configs: BTreeMap::new(),
            assignments: vec![vec![1]],
        });
        (register, create)
    }

    #[tokio::test]
    async fn a_retried_proposal_gets_its_first_outcome_and_applies_once() {
        let dir = tempfile::tempdir().unwrap();
        let (mut sm, images) = machine(dir.path());
        let (register, create) = proposals();
        let outcomes = sm
            .apply(vec![
                entry(1, &register),
                entry(2, &create),
                entry(3, &create),
            ])
            .await
            .unwrap();
        assert_eq!(outcomes, vec![Ok(()), Ok(()), Ok(())]);
        assert!(images.borrow().topics.contains_key("t"));
        // The same command under a new id is a new proposal: refused.
        let again = Proposal::new(create.command.clone());
        let outcomes = sm.apply(vec![entry(4, &again)]).await.unwrap();
        assert_eq!(outcomes, vec![Err(ApplyError::TopicExists("t".into()))]);
    }

    #[tokio::test]
    async fn snapshots_carry_the_image_and_the_recent_proposals() {
        let dir = tempfile::tempdir().unwrap();
        let (mut sm, _) = machine(dir.path());
        let (register, create) = proposals();
        sm.apply(vec![entry(1, &register), entry(2, &create)])
            .await
            .unwrap();
        let snapshot = sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        assert_eq!(snapshot.meta.last_log_id.map(|l| l.index), Some(2));

        // Installed on another member.
        let other = tempfile::tempdir().unwrap();
        let (mut installed, images) = machine(other.path());
        installed
            .install_snapshot(&snapshot.meta, snapshot.snapshot)
            .await
            .unwrap();
        assert!(images.borrow().topics.contains_key("t"));
        let outcomes = installed.apply(vec![entry(3, &create)]).await.unwrap();
        assert_eq!(outcomes, vec![Ok(())]);

        // Reopened from the snapshot file.
        drop(sm);
        let (mut reopened, images) = machine(dir.path());
        assert!(images.borrow().topics.contains_key("t"));
        let (applied, _) = reopened.applied_state().await.unwrap();
        assert_eq!(applied.map(|l| l.index), Some(2));
        let current = reopened.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(current.meta.last_log_id, applied);
    }

    #[tokio::test]
    async fn an_older_snapshot_finishing_late_never_replaces_a_newer_one() {
        let dir = tempfile::tempdir().unwrap();
        let (mut sm, _) = machine(dir.path());
        let (register, create) = proposals();
        sm.apply(vec![entry(1, &register)]).await.unwrap();
        let mut older = sm.get_snapshot_builder().await;
        sm.apply(vec![entry(2, &create)]).await.unwrap();
        let mut newer = sm.get_snapshot_builder().await;
        newer.build_snapshot().await.unwrap();
        older.build_snapshot().await.unwrap();
        let current = sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(current.meta.last_log_id.map(|l| l.index), Some(2));
        drop(sm);
        let (mut reopened, images) = machine(dir.path());
        let (applied, _) = reopened.applied_state().await.unwrap();
        assert_eq!(applied.map(|l| l.index), Some(2));
        assert!(images.borrow().topics.contains_key("t"));
    }
}
