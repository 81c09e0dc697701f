//! Committing a group member's consumed positions, and leaving the group.
//!
//! The consumed position of a partition is the offset after the last record `poll`
//! returned (Kafka's semantics): committing it says "everything before this is done".
//! Commits travel through the membership task ([`super::coordinator`]) so they carry
//! the member's current epoch; a commit from an older generation is refused rather
//! than overwrite the offsets of the partition's new owner.
//!
//! # At least once
//!
//! After any failure (a crash, a lost session, a broker restart) the group resumes
//! every partition from its last committed offset. Nothing is lost; the records that
//! may be delivered again are only those after the last commit. Commit after
//! processing (or let auto-commit do it from `poll`, which commits what the previous
//! polls returned) to keep that window small.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::coordinator::Command;
use super::Consumer;
use crate::error::{ClientError, Result};
use crate::record::TopicPartition;

/// A commit queued by [`Consumer::commit_async`]; await it for the outcome, or drop it
/// (failures are then only logged).
#[derive(Debug)]
#[must_use = "drop it explicitly to ignore the outcome"]
pub struct PendingCommit {
    reply: oneshot::Receiver<Result<()>>,
    group_id: String,
}

impl Future for PendingCommit {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.reply).poll(cx) {
            Poll::Ready(Ok(outcome)) => Poll::Ready(outcome),
            Poll::Ready(Err(_)) => Poll::Ready(Err(ClientError::GroupClosed {
                group_id: self.group_id.clone(),
            })),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Consumer {
    /// Commits the consumed positions of every assigned partition (the offset after
    /// the last record `poll` returned) and waits for the broker. Fails with
    /// [`ClientError::NotSubscribed`] without a group, and with
    /// [`ClientError::GroupMembershipLost`] if a rebalance took the partitions away
    /// (they will be re-read from the last successful commit).
    pub async fn commit(&mut self) -> Result<()> {
        let offsets = self.consumed_positions();
        self.queue_commit(offsets).await?.await
    }

    /// Queues a commit of the consumed positions and returns at once; the returned
    /// [`PendingCommit`] resolves when the broker answered. Commits are sent in order.
    pub async fn commit_async(&mut self) -> Result<PendingCommit> {
        let offsets = self.consumed_positions();
        self.queue_commit(offsets).await
    }

    /// Commits explicit offsets (the next offset to read, e.g. after the last record
    /// *processed*) and waits for the broker. Only partitions this consumer holds are
    /// committed: a partition already handed over belongs to its new owner.
    pub async fn commit_offsets(&mut self, offsets: &[(TopicPartition, i64)]) -> Result<()> {
        let held: Vec<(TopicPartition, i64)> = offsets
            .iter()
            .filter(|(tp, _)| self.positions.contains_key(tp))
            .cloned()
            .collect();
        self.queue_commit(held).await?.await
    }

    async fn queue_commit(&mut self, offsets: Vec<(TopicPartition, i64)>) -> Result<PendingCommit> {
        self.check_open()?;
        let group = self.group.as_ref().ok_or(ClientError::NotSubscribed)?;
        let (reply, receiver) = oneshot::channel();
        let command = Command::Commit {
            generation: group.generation,
            offsets,
            reply: Some(reply),
        };
        let closed = || ClientError::GroupClosed {
            group_id: group.group_id.clone(),
        };
        group.commands.send(command).await.map_err(|_| closed())?;
        Ok(PendingCommit {
            reply: receiver,
            group_id: group.group_id.clone(),
        })
    }

    /// Every placed partition's consumed position.
    fn consumed_positions(&self) -> Vec<(TopicPartition, i64)> {
        self.positions
            .iter()
            .filter_map(|(tp, position)| position.map(|p| (tp.clone(), p)))
            .collect()
    }

    /// With `enable_auto_commit`, queues a commit of the consumed positions when the
    /// interval has passed. Called from `poll` before fetching on: the records the
    /// previous polls returned are the application's, and it is asking for more.
    pub(crate) fn auto_commit_if_due(&mut self) {
        if !self.config.enable_auto_commit {
            return;
        }
        let offsets = self.consumed_positions();
        let interval = self.config.auto_commit_interval;
        let Some(group) = self.group.as_mut() else {
            return;
        };
        let now = Instant::now();
        if now < group.next_auto_commit {
            return;
        }
        group.next_auto_commit = now + interval;
        let command = Command::Commit {
            generation: group.generation,
            offsets,
            reply: None,
        };
        if group.commands.try_send(command).is_err() {
            tracing::debug!(group = %group.group_id, "commit queue full; auto-commit skipped");
        }
    }

    /// Closes the consumer. A group member first hands its partitions back: `on_revoked`
    /// runs, the consumed positions are committed (with `enable_auto_commit`, or as the
    /// listener chose), and it leaves the group so its partitions move at once. Returns
    /// the commit's error, if any, after leaving anyway.
    ///
    /// Like `close` on every handle: idempotent (a second call does nothing and returns
    /// `Ok`), and later calls fail with [`ClientError::Closed`].
    ///
    /// Dropping a subscribed consumer without `close` is like a crash: nothing is
    /// committed and the partitions move only after the session timeout.
    pub async fn close(&mut self) -> Result<()> {
        let mut outcome = Ok(());
        if self.group.is_some() {
            // Take in a pending rebalance first, so the commit below is made in the
            // current generation (or skipped for partitions already lost).
            if let Err(error) = self.apply_group_changes().await {
                tracing::debug!(%error, "group changes not applied before close");
            }
            let held: Vec<TopicPartition> = self.positions.keys().cloned().collect();
            if !held.is_empty() {
                outcome = self.revoke(held, false).await;
            }
            if let Some(group) = self.group.take() {
                let (reply, receiver) = oneshot::channel();
                if group.commands.send(Command::Leave { reply }).await.is_ok() {
                    let left = receiver.await.unwrap_or(Ok(()));
                    outcome = outcome.and(left);
                }
                group.slot.close().await;
            }
        }
        self.closed = true;
        self.positions.clear();
        for in_flight in self.in_flight.drain(..) {
            in_flight.response.abort();
        }
        self.brokers.close().await;
        outcome
    }
}
