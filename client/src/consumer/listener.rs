//! Rebalance callbacks: what a group member's application hears when partitions are
//! given to it or taken away.
//!
//! Both callbacks run inside [`super::Consumer::poll`] (and `close`), on the
//! application's task, never concurrently with record processing. `on_revoked` runs
//! *before* the partitions are handed over: the member keeps owning them, at its
//! current epoch, until the callback returns and the offsets it chose are committed, so
//! the next owner starts exactly where this one stopped. Only after that does the
//! member tell the broker it released them.

use std::collections::BTreeMap;
use std::fmt;

use crate::record::TopicPartition;

/// Partitions being taken away from this member, and what to commit for them before
/// they are handed over.
///
/// With `enable_auto_commit` the commit is pre-filled with the consumed positions
/// (the offset after the last record `poll` returned); without it, nothing is committed
/// unless the callback asks ([`Revocation::commit_positions`],
/// [`Revocation::commit_offset`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    partitions: Vec<TopicPartition>,
    positions: BTreeMap<TopicPartition, i64>,
    to_commit: BTreeMap<TopicPartition, i64>,
    lost: bool,
}

impl Revocation {
    /// A revocation of `partitions` whose consumed positions are `positions`; `commit`
    /// pre-fills the commit with them; `lost` marks partitions already taken away.
    pub(crate) fn new(
        partitions: Vec<TopicPartition>,
        positions: BTreeMap<TopicPartition, i64>,
        commit: bool,
        lost: bool,
    ) -> Self {
        let mut revocation = Revocation {
            partitions,
            positions,
            to_commit: BTreeMap::new(),
            lost,
        };
        if commit {
            revocation.commit_positions();
        }
        revocation
    }

    /// The partitions being revoked.
    pub fn partitions(&self) -> &[TopicPartition] {
        &self.partitions
    }

    /// The consumed position of a revoked partition (offset after the last record
    /// returned by `poll`), if it had one.
    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        self.positions
            .get(&TopicPartition::new(topic, partition))
            .copied()
    }

    /// True when the partitions were already lost (the membership expired or was
    /// fenced): another member may own them by now, so nothing can be committed.
    pub fn is_lost(&self) -> bool {
        self.lost
    }

    /// Commits every revoked partition's consumed position before handing it over.
    pub fn commit_positions(&mut self) {
        if self.lost {
            return;
        }
        self.to_commit = self.positions.clone();
    }

    /// Commits `offset` (the next record to read) for one revoked partition instead of
    /// its consumed position; ignored for partitions that are not being revoked.
    pub fn commit_offset(&mut self, topic: &str, partition: i32, offset: i64) {
        let tp = TopicPartition::new(topic, partition);
        if !self.lost && self.partitions.contains(&tp) {
            self.to_commit.insert(tp, offset);
        }
    }

    /// Commits nothing for the revoked partitions (the application stores its progress
    /// elsewhere).
    pub fn skip_commit(&mut self) {
        self.to_commit.clear();
    }

    /// The offsets that will be committed when the callback returns.
    pub fn offsets_to_commit(&self) -> &BTreeMap<TopicPartition, i64> {
        &self.to_commit
    }

    pub(crate) fn into_offsets(self) -> BTreeMap<TopicPartition, i64> {
        self.to_commit
    }
}

/// Hears about partitions given to or taken from a group member. Both methods have
/// empty defaults; implement the ones you need.
pub trait RebalanceListener: Send {
    /// `partitions` were given to this member; their starting positions are set (from
    /// the group's committed offsets, or `auto_offset_reset`) when
    /// `auto_offset_reset` allows, and the next `poll` returns their records.
    fn on_assigned(&mut self, partitions: &[TopicPartition]) {
        let _ = partitions;
    }

    /// Partitions are about to be handed to another member (or were lost, see
    /// [`Revocation::is_lost`]). Finish their work here; choose what to commit with
    /// `revocation`. The member stops fetching them when this returns.
    fn on_revoked(&mut self, revocation: &mut Revocation) {
        let _ = revocation;
    }
}

type AssignedFn = Box<dyn FnMut(&[TopicPartition]) + Send>;
type RevokedFn = Box<dyn FnMut(&mut Revocation) + Send>;

/// A [`RebalanceListener`] made of closures.
///
/// ```
/// use rill_client::RebalanceCallbacks;
/// let listener = RebalanceCallbacks::new()
///     .on_assigned(|partitions| println!("got {partitions:?}"))
///     .on_revoked(|revocation| println!("losing {:?}", revocation.partitions()));
/// # let _ = listener;
/// ```
#[derive(Default)]
pub struct RebalanceCallbacks {
    assigned: Option<AssignedFn>,
    revoked: Option<RevokedFn>,
}

impl RebalanceCallbacks {
    /// Callbacks that do nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the closure run when partitions are assigned.
    #[must_use]
    pub fn on_assigned(mut self, f: impl FnMut(&[TopicPartition]) + Send + 'static) -> Self {
        self.assigned = Some(Box::new(f));
        self
    }

    /// Sets the closure run before partitions are handed over.
    #[must_use]
    pub fn on_revoked(mut self, f: impl FnMut(&mut Revocation) + Send + 'static) -> Self {
        self.revoked = Some(Box::new(f));
        self
    }
}

impl fmt::Debug for RebalanceCallbacks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RebalanceCallbacks")
            .field("on_assigned", &self.assigned.is_some())
            .field("on_revoked", &self.revoked.is_some())
            .finish()
    }
}

impl RebalanceListener for RebalanceCallbacks {
    fn on_assigned(&mut self, partitions: &[TopicPartition]) {
        if let Some(f) = self.assigned.as_mut() {
            f(partitions);
        }
    }

    fn on_revoked(&mut self, revocation: &mut Revocation) {
        if let Some(f) = self.revoked.as_mut() {
            f(revocation);
        }
    }
}

/// The listener used when the application gives none.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct NoopListener;

impl RebalanceListener for NoopListener {}

#[cfg(test)]
mod tests {
    use super::*;

    fn tps(ps: &[i32]) -> Vec<TopicPartition> {
        ps.iter().map(|p| TopicPartition::new("t", *p)).collect()
    }

    fn positions() -> BTreeMap<TopicPartition, i64> {
        BTreeMap::from([
            (TopicPartition::new("t", 0), 5),
            (TopicPartition::new("t", 1), 9),
        ])
    }

    #[test]
    fn auto_commit_prefills_and_callbacks_adjust() {
        let mut r = Revocation::new(tps(&[0, 1]), positions(), true, false);
        assert_eq!(r.offsets_to_commit().len(), 2);
        r.commit_offset("t", 1, 7);
        r.commit_offset("t", 2, 7); // not revoked: ignored
        assert_eq!(r.position("t", 1), Some(9));
        let offsets = r.into_offsets();
        assert_eq!(offsets[&TopicPartition::new("t", 1)], 7);
        assert_eq!(offsets.len(), 2);
    }

    #[test]
    fn manual_commit_starts_empty_and_lost_commits_nothing() {
        let mut r = Revocation::new(tps(&[0, 1]), positions(), false, false);
        assert!(r.offsets_to_commit().is_empty());
        r.commit_positions();
        assert_eq!(r.offsets_to_commit().len(), 2);
        r.skip_commit();
        assert!(r.offsets_to_commit().is_empty());
        let mut lost = Revocation::new(tps(&[0]), positions(), true, true);
        lost.commit_positions();
        lost.commit_offset("t", 0, 1);
        assert!(lost.is_lost() && lost.offsets_to_commit().is_empty());
    }

    #[test]
    fn closures_are_called() {
        let (tx, rx) = std::sync::mpsc::channel();
        let tx2 = tx.clone();
        let mut callbacks = RebalanceCallbacks::new()
            .on_assigned(move |p| tx.send(format!("a{}", p.len())).unwrap())
            .on_revoked(move |r| tx2.send(format!("r{}", r.partitions().len())).unwrap());
        RebalanceListener::on_assigned(&mut callbacks, &tps(&[0, 1]));
        let mut revocation = Revocation::new(tps(&[1]), positions(), false, false);
        RebalanceListener::on_revoked(&mut callbacks, &mut revocation);
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), ["a2", "r1"]);
    }
}
