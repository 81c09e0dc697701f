//! Group membership on the consumer's side: [`Consumer::subscribe`] starts the
//! membership task ([`super::coordinator`]); `poll` applies the targets it publishes.
//!
//! Applying a target is incremental: partitions kept stay placed and their fetches go
//! on; partitions revoked go through [`RebalanceListener::on_revoked`] and the commit
//! it leaves (the consumed positions with `enable_auto_commit`) *before* the consumer
//! stops holding them and acknowledges the release; partitions added start at the
//! group's committed offset (OffsetFetch) or by `auto_offset_reset`, then
//! [`RebalanceListener::on_assigned`] runs. A target of a newer generation (the member
//! rejoined after being fenced or expiring) means everything held was lost: the
//! listener hears a [`Revocation`] with `is_lost()` and nothing is committed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use rill_protocol::api::offset_fetch::{OffsetFetchRequest, NO_COMMITTED_OFFSET};
use rill_protocol::error_code::ErrorCode;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::coordinator::{self, Command, Coordinator, MemberSettings, Status, Target};
use super::group_link::GroupLink;
use super::listener::{NoopListener, RebalanceListener, Revocation};
use super::wire;
use super::Consumer;
use crate::error::{ClientError, Result};
use crate::record::TopicPartition;

/// The consumer's handle on its group membership.
pub(crate) struct GroupMembership {
    pub(crate) group_id: String,
    /// Commands to the membership task.
    pub(crate) commands: mpsc::Sender<Command>,
    /// Targets published by the task.
    pub(crate) status: watch::Receiver<Status>,
    /// The coordinator's connection (shared with the task; never blocked by a parked
    /// fetch).
    pub(crate) slot: Arc<GroupLink>,
    task: JoinHandle<()>,
    /// The generation of the target applied last (0: none yet).
    pub(crate) generation: u64,
    /// A target taken from `status` and not fully applied yet (a `poll` cut short
    /// leaves it here for the next one).
    pending: Option<Target>,
    /// In a `Mutex` only so the consumer stays `Sync`; reached through `get_mut`.
    listener: Mutex<Box<dyn RebalanceListener>>,
    /// When `poll` next commits the consumed positions (with `enable_auto_commit`).
    pub(crate) next_auto_commit: Instant,
}

impl std::fmt::Debug for GroupMembership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupMembership")
            .field("group_id", &self.group_id)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl GroupMembership {
    /// The application's listener (no locking: `&mut self` proves exclusive access).
    fn listener(&mut self) -> &mut dyn RebalanceListener {
        self.listener
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_mut()
    }
}

impl Drop for GroupMembership {
    /// Stops heartbeating at once, without leaving: to the broker this is a crash and
    /// the partitions move after the session timeout. Use [`Consumer::close`] instead.
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Resolves when the group publishes a new status (or its task ended); never without a
/// group. Cancel-safe (`watch::Receiver::changed` is). Leaves the change marked unseen
/// for [`Consumer::apply_group_changes`].
pub(crate) async fn changed(group: &mut Option<GroupMembership>) {
    match group {
        Some(group) => {
            let _ = group.status.changed().await;
            group.status.mark_changed();
        }
        None => std::future::pending().await,
    }
}

impl Consumer {
    /// Joins consumer group `group_id` subscribed to `topics`; the broker then assigns
    /// this consumer a share of their partitions, and `poll` follows the assignment as
    /// members come and go. Returns once the first join is answered (or, if the broker
    /// keeps answering "try again", after `request_timeout`; joining goes on in the
    /// background).
    ///
    /// Partitions start at the group's committed offsets, or by `auto_offset_reset`
    /// where the group has none. With `enable_auto_commit` (the default) the consumed
    /// positions are committed every `auto_commit_interval`, when partitions are
    /// revoked and on [`Consumer::close`]. Any manual assignment is dropped.
    ///
    /// Calling it again with the same `group_id` changes the subscribed topics (the
    /// listener of the first call stays); the broker rebalances and partitions of topics
    /// no longer subscribed are revoked like any other move. Another group id while
    /// subscribed is [`ClientError::AlreadySubscribed`]: [`Consumer::close`] first.
    pub async fn subscribe(&mut self, group_id: &str, topics: &[&str]) -> Result<()> {
        self.subscribe_with(group_id, topics, NoopListener).await
    }

    /// [`Consumer::subscribe`] with a listener told about assigned and revoked
    /// partitions (e.g. [`crate::RebalanceCallbacks`]).
    pub async fn subscribe_with(
        &mut self,
        group_id: &str,
        topics: &[&str],
        listener: impl RebalanceListener + 'static,
    ) -> Result<()> {
        if let Some(group) = &self.group {
            if group.group_id != group_id {
                return Err(ClientError::AlreadySubscribed {
                    group_id: group.group_id.clone(),
                });
            }
            // The same group with other topics: a subscription change. The broker
            // rebalances; partitions of dropped topics are revoked like any other move.
            let topics = topics.iter().map(|t| (*t).to_owned()).collect();
            return group
                .commands
                .send(Command::Subscribe { topics })
                .await
                .map_err(|_| ClientError::GroupMembershipLost {
                    group_id: group_id.to_owned(),
                });
        }
        let config = &self.config;
        let as_ms = |d: std::time::Duration| i32::try_from(d.as_millis()).unwrap_or(i32::MAX);
        let settings = MemberSettings {
            group_id: group_id.to_owned(),
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            session_timeout_ms: as_ms(config.session_timeout),
            rebalance_timeout_ms: as_ms(config.rebalance_timeout),
            assignor: config.group_assignor.clone(),
        };
        let slot = Arc::new(GroupLink::new(Arc::clone(&self.brokers), group_id));
        let (commands, commands_rx) = mpsc::channel(coordinator::COMMANDS_MAX);
        let (status_tx, mut status) = watch::channel(Status::Joining);
        let task = Coordinator::new(settings, Arc::clone(&slot), commands_rx, status_tx);
        let task = tokio::spawn(task.run());
        let first = tokio::time::timeout(config.connection.request_timeout, status.changed()).await;
        if let Ok(Ok(())) = first {
            if let Status::Failed(error) = &*status.borrow() {
                task.abort();
                return Err(error.clone());
            }
        }
        status.mark_changed(); // let the first poll apply the first target
        self.positions.clear();
        self.group = Some(GroupMembership {
            group_id: group_id.to_owned(),
            commands,
            status,
            slot,
            task,
            generation: 0,
            pending: None,
            listener: Mutex::new(Box::new(listener)),
            next_auto_commit: Instant::now() + config.auto_commit_interval,
        });
        Ok(())
    }

    /// The group this consumer is a member of, if it subscribed.
    pub fn group_id(&self) -> Option<&str> {
        self.group.as_ref().map(|g| g.group_id.as_str())
    }

    /// Applies the newest target the membership task published, if there is one.
    ///
    /// Cancel-safe in the sense of `poll`: a target whose application was cut short
    /// stays pending and is applied again (from the partitions still held) by the next
    /// call, so a listener may hear the same revocation twice but no step is skipped.
    pub(crate) async fn apply_group_changes(&mut self) -> Result<()> {
        let Some(group) = self.group.as_mut() else {
            return Ok(());
        };
        let changed = group
            .status
            .has_changed()
            .map_err(|_| ClientError::GroupClosed {
                group_id: group.group_id.clone(),
            })?;
        if changed {
            let status = group.status.borrow_and_update().clone();
            match status {
                Status::Joining => {}
                Status::Failed(error) => return Err(error),
                Status::Assigned(target) => group.pending = Some(target),
            }
        }
        let Some(target) = group.pending.clone() else {
            return Ok(());
        };
        self.apply_target(target).await?;
        if let Some(group) = self.group.as_mut() {
            group.pending = None;
        }
        Ok(())
    }

    async fn apply_target(&mut self, target: Target) -> Result<()> {
        let Some(group) = self.group.as_ref() else {
            return Ok(());
        };
        let lost = group.generation != 0 && target.generation != group.generation;
        let held: BTreeSet<TopicPartition> = self.positions.keys().cloned().collect();
        let revoked: Vec<TopicPartition> = held
            .iter()
            .filter(|tp| lost || !target.partitions.contains(*tp))
            .cloned()
            .collect();
        if !revoked.is_empty() {
            if let Err(error) = self.revoke(revoked, lost).await {
                tracing::warn!(%error, "commit of revoked partitions failed");
            }
        }
        if let Some(group) = self.group.as_mut() {
            group.generation = target.generation;
        }
        let added: Vec<TopicPartition> = target
            .partitions
            .iter()
            .filter(|tp| !self.positions.contains_key(*tp))
            .cloned()
            .collect();
        if !added.is_empty() {
            self.start_positions(&added).await?;
        }
        let owned: BTreeSet<TopicPartition> = self.positions.keys().cloned().collect();
        if let Some(group) = self.group.as_mut() {
            if !added.is_empty() {
                group.listener().on_assigned(&added);
            }
            let ack = Command::Owned {
                generation: target.generation,
                owned,
            };
            if group.commands.send(ack).await.is_err() {
                return Err(ClientError::GroupClosed {
                    group_id: group.group_id.clone(),
                });
            }
        }
        Ok(())
    }

    /// Runs `on_revoked`, commits what it leaves (unless lost), then stops holding
    /// `partitions`. The partitions move on even if the commit fails (its error is
    /// returned): the next owner re-reads from the last commit (at least once).
    pub(crate) async fn revoke(
        &mut self,
        partitions: Vec<TopicPartition>,
        lost: bool,
    ) -> Result<()> {
        let positions: BTreeMap<TopicPartition, i64> = partitions
            .iter()
            .filter_map(|tp| {
                self.positions
                    .get(tp)
                    .copied()
                    .flatten()
                    .map(|p| (tp.clone(), p))
            })
            .collect();
        let auto_commit = self.config.enable_auto_commit;
        let mut revocation = Revocation::new(partitions.clone(), positions, auto_commit, lost);
        let Some(group) = self.group.as_mut() else {
            return Ok(());
        };
        group.listener().on_revoked(&mut revocation);
        let offsets: Vec<(TopicPartition, i64)> = revocation.into_offsets().into_iter().collect();
        let committed = if lost {
            Ok(())
        } else {
            self.commit_offsets(&offsets).await
        };
        for tp in &partitions {
            self.positions.remove(tp);
        }
        tracing::info!(?partitions, lost, "partitions revoked");
        committed
    }

    /// Places `added` at the group's committed offsets; those without one stay
    /// unplaced, for `auto_offset_reset` to place before the next fetch.
    async fn start_positions(&mut self, added: &[TopicPartition]) -> Result<()> {
        let Some(group) = self.group.as_mut() else {
            return Ok(());
        };
        let request = OffsetFetchRequest {
            group_id: group.group_id.clone(),
            topics: Some(wire::to_wire(&added.iter().cloned().collect())),
        };
        let response = group.slot.call(&request).await?;
        group.slot.saw(response.error_code);
        if response.error_code != ErrorCode::None {
            return Err(ClientError::Broker {
                code: response.error_code,
                topic: None,
                partition: None,
                message: Some(format!("offset fetch for group {}", group.group_id)),
            });
        }
        let mut committed = BTreeMap::new();
        for topic in response.topics {
            for p in topic.partitions {
                if p.error_code == ErrorCode::None && p.offset != NO_COMMITTED_OFFSET {
                    committed.insert(
                        TopicPartition::new(topic.name.clone(), p.partition),
                        p.offset,
                    );
                }
            }
        }
        for tp in added {
            let start = committed.get(tp).copied();
            tracing::debug!(%tp, ?start, "partition assigned");
            self.positions.insert(tp.clone(), start);
        }
        Ok(())
    }
}
