//! The membership task: one background task per subscribed consumer that owns the
//! group membership (member id, epoch) and is the only one to talk to the group
//! coordinator for it: join, heartbeat, commit, leave.
//!
//! Protocol (broker-side assignment, KIP-848 style): the task joins, then heartbeats
//! every `heartbeat_interval_ms` the broker asks for, one request at a time, reporting
//! in `owned` what the consumer acknowledged holding. A new target assignment from the
//! broker is published on a `watch` channel; the consumer applies it inside `poll`
//! (revoke, commit, then acknowledge with [`Command::Owned`]), and the task reports
//! the release at once with an early heartbeat so the next owner gets the partitions
//! without waiting a whole interval. Commits go through the task too, so they always
//! carry the epoch the broker last gave; a fenced or unknown member rejoins, which
//! starts a new *generation*: whatever the consumer held is lost, and commits tagged
//! with an older generation are refused instead of overwriting the new owner's.
//!
//! Cancel-safety: the task's loop `select!`s on `mpsc::Receiver::recv` and
//! `sleep_until`, both cancel-safe; each request is awaited to completion inside one
//! branch, so an answer is never half-applied. Dropping every command sender ends the
//! task at its next loop turn *without* leaving (like a crash: the broker moves the
//! partitions after the session timeout); [`Command::Leave`] leaves first.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use rill_protocol::api::heartbeat::HeartbeatRequest;
use rill_protocol::api::join_group::JoinGroupRequest;
use rill_protocol::api::leave_group::LeaveGroupRequest;
use rill_protocol::api::offset_commit::OffsetCommitRequest;
use rill_protocol::error_code::ErrorCode;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::group_link::GroupLink;
use crate::error::{ClientError, Result};
use crate::record::TopicPartition;

use super::wire::{commit_topics, from_wire, to_wire};

/// Bound on commands queued for the task (commits, acknowledgements).
pub(crate) const COMMANDS_MAX: usize = 64;
/// Delay before retrying a join or heartbeat that failed retriably.
const RETRY_BACKOFF: Duration = Duration::from_millis(100);
/// Attempts per commit when the connection fails (commits are idempotent).
const COMMIT_ATTEMPTS_MAX: u32 = 3;
/// Heartbeat interval used until the broker names one.
const HEARTBEAT_INTERVAL_DEFAULT: Duration = Duration::from_secs(3);

/// The member's target partitions in one generation (one join).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// Bumps on every (re)join; partitions of an older generation are lost.
    pub(crate) generation: u64,
    /// The partitions the member should own now.
    pub(crate) partitions: BTreeSet<TopicPartition>,
}

/// What the task publishes to the consumer.
#[derive(Debug, Clone)]
pub(crate) enum Status {
    /// Not a member yet (first join in progress).
    Joining,
    /// A member with this target.
    Assigned(Target),
    /// Joining failed for good (e.g. an invalid session timeout).
    Failed(ClientError),
}

/// What the consumer asks of the task.
#[derive(Debug)]
pub(crate) enum Command {
    /// Commit `offsets` (next offset to read) if `generation` is still current.
    Commit {
        generation: u64,
        offsets: Vec<(TopicPartition, i64)>,
        reply: Option<oneshot::Sender<Result<()>>>,
    },
    /// The consumer now holds exactly `owned` (after applying a target).
    Owned {
        generation: u64,
        owned: BTreeSet<TopicPartition>,
    },
    /// Change the subscribed topics; the broker rebalances the group.
    Subscribe { topics: Vec<String> },
    /// Leave the group and end the task.
    Leave { reply: oneshot::Sender<Result<()>> },
}

/// Fixed settings of one membership.
#[derive(Debug, Clone)]
pub(crate) struct MemberSettings {
    pub(crate) group_id: String,
    pub(crate) topics: Vec<String>,
    pub(crate) session_timeout_ms: i32,
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) assignor: Option<String>,
}

/// The membership task's state. See the module docs.
pub(crate) struct Coordinator {
    settings: MemberSettings,
    slot: Arc<GroupLink>,
    commands: mpsc::Receiver<Command>,
    status: watch::Sender<Status>,
    /// Empty until the broker names the member.
    member_id: String,
    epoch: i32,
    /// False while (re)joining.
    joined: bool,
    generation: u64,
    /// What the consumer acknowledged holding in this generation.
    owned: BTreeSet<TopicPartition>,
    /// The last target published and not yet acknowledged: the consumer may be taking
    /// these partitions up right now, so heartbeats report them as held too. Otherwise
    /// the broker could count one of them as released, hand it to another member, and
    /// both would read it until this consumer caught up.
    unacknowledged: Option<BTreeSet<TopicPartition>>,
    /// The last target published: an acknowledgement of exactly it ends `unacknowledged`
    /// (the consumer applied it, dropping what older targets gave).
    latest_target: Option<BTreeSet<TopicPartition>>,
    /// Offsets committed in this generation for partitions still held, so commits that
    /// change nothing are not sent.
    committed: BTreeMap<TopicPartition, i64>,
    interval: Duration,
    /// When the next join or heartbeat is due; far away after a fatal join error.
    next_request: Instant,
    /// A subscription change not yet acknowledged by a heartbeat.
    pending_topics: Option<Vec<String>>,
}

impl Coordinator {
    /// A task state that joins as soon as it runs.
    pub(crate) fn new(
        settings: MemberSettings,
        slot: Arc<GroupLink>,
        commands: mpsc::Receiver<Command>,
        status: watch::Sender<Status>,
    ) -> Self {
        Coordinator {
            settings,
            slot,
            commands,
            status,
            member_id: new_member_id(),
            epoch: 0,
            joined: false,
            generation: 0,
            owned: BTreeSet::new(),
            unacknowledged: None,
            latest_target: None,
            committed: BTreeMap::new(),
            interval: HEARTBEAT_INTERVAL_DEFAULT,
            next_request: Instant::now(),
            pending_topics: None,
        }
    }

    /// Runs until [`Command::Leave`] or until every sender is dropped.
    pub(crate) async fn run(mut self) {
        loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Leave { reply }) => {
                        let _ = reply.send(self.leave().await);
                        return;
                    }
                    Some(command) => self.handle(command).await,
                    None => return,
                },
                () = tokio::time::sleep_until(self.next_request) => {
                    if self.joined {
                        self.heartbeat().await;
                    } else {
                        self.join().await;
                    }
                }
            }
        }
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::Commit {
                generation,
                offsets,
                reply,
            } => {
                let outcome = self.commit(generation, offsets).await;
                match reply {
                    Some(reply) => {
                        let _ = reply.send(outcome);
                    }
                    None => {
                        if let Err(error) = outcome {
                            tracing::warn!(group = %self.settings.group_id, %error, "commit failed");
                        }
                    }
                }
            }
            Command::Owned { generation, owned } => {
                if self.joined
                    && generation == self.generation
                    && self.latest_target.as_ref() == Some(&owned)
                {
                    self.unacknowledged = None;
                }
                if self.joined && generation == self.generation && owned != self.owned {
                    self.committed.retain(|tp, _| owned.contains(tp));
                    self.owned = owned;
                    self.next_request = Instant::now(); // report the release at once
                }
            }
            Command::Subscribe { topics } => {
                self.settings.topics = topics.clone();
                // A member sends it with its next heartbeat; a (re)join carries it anyway.
                self.pending_topics = Some(topics);
                self.next_request = Instant::now();
            }
            Command::Leave { .. } => {} // handled in `run`
        }
    }

    async fn join(&mut self) {
        let request = JoinGroupRequest {
            group_id: self.settings.group_id.clone(),
            member_id: self.member_id.clone(),
            session_timeout_ms: self.settings.session_timeout_ms,
            rebalance_timeout_ms: self.settings.rebalance_timeout_ms,
            topics: self.settings.topics.clone(),
            assignor: self.settings.assignor.clone(),
        };
        let response = match self.slot.call(&request).await {
            Ok(response) => response,
            Err(error) => return self.join_failed(error),
        };
        if response.error_code != ErrorCode::None {
            if response.error_code == ErrorCode::UnknownMemberId {
                self.member_id = new_member_id();
            }
            let error = self.group_error(response.error_code, "join");
            return self.join_failed(error);
        }
        self.member_id = response.member_id;
        self.epoch = response.member_epoch;
        self.joined = true;
        self.generation += 1;
        self.owned.clear();
        self.committed.clear();
        self.interval = interval(response.heartbeat_interval_ms);
        self.next_request = Instant::now() + self.interval;
        tracing::info!(group = %self.settings.group_id, member = %self.member_id, epoch = self.epoch, "joined group");
        self.publish(from_wire(response.assignment));
    }

    fn join_failed(&mut self, error: ClientError) {
        if error.is_retriable() || error.error_code() == Some(ErrorCode::UnknownMemberId) {
            tracing::debug!(group = %self.settings.group_id, %error, "join failed; retrying");
            self.next_request = Instant::now() + RETRY_BACKOFF;
        } else {
            tracing::warn!(group = %self.settings.group_id, %error, "cannot join group");
            self.status.send_replace(Status::Failed(error));
            self.next_request = Instant::now() + Duration::from_secs(3600);
        }
    }

    async fn heartbeat(&mut self) {
        let request = HeartbeatRequest {
            group_id: self.settings.group_id.clone(),
            member_id: self.member_id.clone(),
            member_epoch: self.epoch,
            topics: self.pending_topics.clone(),
            owned: to_wire(&self.reported()),
        };
        let outcome = match self.slot.call(&request).await {
            Ok(r) if r.error_code == ErrorCode::None => Ok(r),
            Ok(r) => Err(self.group_error(r.error_code, "heartbeat")),
            Err(error) => Err(error),
        };
        match outcome {
            Ok(response) => {
                self.pending_topics = None;
                self.epoch = response.member_epoch;
                self.interval = interval(response.heartbeat_interval_ms);
                self.next_request = Instant::now() + self.interval;
                if let Some(assignment) = response.assignment {
                    let target = from_wire(assignment);
                    // The broker repeats an answer while this member reports something
                    // else (e.g. during a revocation): the consumer has it already.
                    if self.latest_target.as_ref() != Some(&target) {
                        self.publish(target);
                    }
                }
            }
            Err(error) if is_membership_lost(&error) => self.lose_membership(&error),
            Err(error) => {
                // Keep the session alive: try again shortly (at the interval if the broker
                // refused the request itself, so a bad answer does not become a busy loop).
                tracing::debug!(group = %self.settings.group_id, %error, "heartbeat failed; retrying");
                let delay = if error.is_retriable() {
                    RETRY_BACKOFF.min(self.interval)
                } else {
                    self.interval
                };
                self.next_request = Instant::now() + delay;
            }
        }
    }

    /// Sends the commit if `generation` is current; a fenced answer rejoins.
    async fn commit(&mut self, generation: u64, offsets: Vec<(TopicPartition, i64)>) -> Result<()> {
        if !self.joined || generation != self.generation {
            return Err(ClientError::GroupMembershipLost {
                group_id: self.settings.group_id.clone(),
            });
        }
        let offsets: Vec<(TopicPartition, i64)> = offsets
            .into_iter()
            .filter(|(tp, offset)| self.committed.get(tp) != Some(offset))
            .collect();
        if offsets.is_empty() {
            return Ok(());
        }
        let request = OffsetCommitRequest {
            group_id: self.settings.group_id.clone(),
            member_id: self.member_id.clone(),
            member_epoch: self.epoch,
            topics: commit_topics(offsets.clone()),
        };
        let mut attempt = 1;
        let response = loop {
            let error = match self.slot.call(&request).await {
                Ok(response) => match coordinator_moved(&response) {
                    Some(code) => {
                        self.slot.saw(code);
                        self.group_error(code, "commit offsets of")
                    }
                    None => break response,
                },
                Err(error) => error,
            };
            if !error.is_retriable() || attempt >= COMMIT_ATTEMPTS_MAX {
                return Err(error);
            }
            attempt += 1;
            tokio::time::sleep(RETRY_BACKOFF).await;
        };
        for topic in response.topics {
            for p in topic.partitions {
                if p.error_code == ErrorCode::None {
                    continue;
                }
                let error = ClientError::broker(p.error_code, topic.name, Some(p.partition), None);
                if is_membership_lost(&error) {
                    self.lose_membership(&error);
                    return Err(ClientError::GroupMembershipLost {
                        group_id: self.settings.group_id.clone(),
                    });
                }
                return Err(error);
            }
        }
        self.committed.extend(offsets);
        Ok(())
    }

    async fn leave(&mut self) -> Result<()> {
        if !self.joined {
            return Ok(());
        }
        self.joined = false;
        let request = LeaveGroupRequest {
            group_id: self.settings.group_id.clone(),
            member_id: self.member_id.clone(),
        };
        let response = self.slot.call(&request).await?;
        match response.error_code {
            ErrorCode::None | ErrorCode::UnknownMemberId => {
                tracing::info!(group = %self.settings.group_id, member = %self.member_id, "left group");
                Ok(())
            }
            code => Err(self.group_error(code, "leave")),
        }
    }

    /// The broker no longer knows this member at its epoch: rejoin at once, in a new
    /// generation (the consumer treats what it held as lost).
    fn lose_membership(&mut self, error: &ClientError) {
        tracing::warn!(group = %self.settings.group_id, member = %self.member_id, %error, "membership lost; rejoining");
        self.joined = false;
        self.owned.clear();
        self.unacknowledged = None;
        self.latest_target = None;
        self.committed.clear();
        self.next_request = Instant::now();
    }

    /// What heartbeats report as held: the acknowledged partitions and those of a target
    /// the consumer may still be applying.
    fn reported(&self) -> BTreeSet<TopicPartition> {
        match &self.unacknowledged {
            Some(target) => self.owned.union(target).cloned().collect(),
            None => self.owned.clone(),
        }
    }

    fn publish(&mut self, partitions: BTreeSet<TopicPartition>) {
        // Every target published since the last acknowledgement may be half applied:
        // report all of their partitions until the consumer says what it holds.
        let mut pending = self.unacknowledged.take().unwrap_or_default();
        pending.extend(partitions.iter().cloned());
        self.unacknowledged = (pending != self.owned).then_some(pending);
        self.latest_target = Some(partitions.clone());
        self.status.send_replace(Status::Assigned(Target {
            generation: self.generation,
            partitions,
        }));
    }

    fn group_error(&self, code: ErrorCode, what: &str) -> ClientError {
        self.slot.saw(code);
        ClientError::Broker {
            code,
            topic: None,
            partition: None,
            message: Some(format!("{what} group {}", self.settings.group_id)),
        }
    }
}

/// The "find the coordinator again" code a commit answer carries, if any.
fn coordinator_moved(
    response: &rill_protocol::api::offset_commit::OffsetCommitResponse,
) -> Option<ErrorCode> {
    response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| p.error_code)
        .find(|code| {
            matches!(
                code,
                ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable
            )
        })
}

/// A member id chosen by the client (as KIP-848 clients do), sent with the first join:
/// a join whose answer is lost and is sent again names the same member instead of
/// creating a second one that would hold partitions until its session expired.
fn new_member_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut id = String::from("rill-");
    for part in 0..2u64 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(part);
        if let Ok(since) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            hasher.write_u128(since.as_nanos());
        }
        id.push_str(&format!("{:016x}", hasher.finish()));
    }
    id
}

/// True for the answers that mean "this member (at this epoch) is gone".
fn is_membership_lost(error: &ClientError) -> bool {
    matches!(
        error.error_code(),
        Some(
            ErrorCode::UnknownMemberId
                | ErrorCode::FencedMemberEpoch
                | ErrorCode::IllegalGeneration
        )
    )
}

/// The broker's interval, at least 1 ms.
fn interval(heartbeat_interval_ms: i32) -> Duration {
    if heartbeat_interval_ms <= 0 {
        return HEARTBEAT_INTERVAL_DEFAULT;
    }
    Duration::from_millis(u64::try_from(heartbeat_interval_ms).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fencing_codes_mean_membership_lost() {
        for code in [
            ErrorCode::UnknownMemberId,
            ErrorCode::FencedMemberEpoch,
            ErrorCode::IllegalGeneration,
        ] {
            assert!(is_membership_lost(&ClientError::broker(
                code, "t", None, None
            )));
        }
        let other = ClientError::broker(ErrorCode::InvalidRequest, "t", None, None);
        assert!(!is_membership_lost(&other));
        assert_eq!(interval(0), HEARTBEAT_INTERVAL_DEFAULT);
        assert_eq!(interval(250), Duration::from_millis(250));
    }

    /// The consumer's acknowledgement that it holds `owned` (generation 1).
    async fn ack(c: &mut Coordinator, owned: BTreeSet<TopicPartition>) {
        c.handle(Command::Owned {
            generation: 1,
            owned,
        })
        .await;
    }

    /// Between publishing a target and the consumer's acknowledgement, heartbeats report
    /// the target's partitions as held too, so the broker cannot count one of them as
    /// released (and give it to another member) while this consumer takes it up.
    #[tokio::test]
    async fn a_target_counts_as_held_until_acknowledged() {
        let (_commands_tx, commands) = mpsc::channel(4);
        let (status, _status_rx) = watch::channel(Status::Joining);
        let brokers =
            crate::brokers::Brokers::new(crate::ConnectionConfig::new("127.0.0.1:1"), "consumer");
        let slot = Arc::new(GroupLink::new(Arc::new(brokers), "g"));
        let settings = MemberSettings {
            group_id: "g".into(),
            topics: vec!["t".into()],
            session_timeout_ms: 3000,
            rebalance_timeout_ms: 3000,
            assignor: None,
        };
        let mut c = Coordinator::new(settings, slot, commands, status);
        c.joined = true;
        c.generation = 1;
        let tp = |p| TopicPartition::new("t", p);
        c.owned = BTreeSet::from([tp(0)]);
        c.publish(BTreeSet::from([tp(0), tp(1)]));
        assert_eq!(c.reported(), BTreeSet::from([tp(0), tp(1)]));
        // The consumer acknowledges an older view first: still reported.
        ack(&mut c, BTreeSet::from([tp(0)])).await;
        assert_eq!(c.reported(), BTreeSet::from([tp(0), tp(1)]));
        ack(&mut c, BTreeSet::from([tp(0), tp(1)])).await;
        assert_eq!(c.reported(), BTreeSet::from([tp(0), tp(1)]));
        // A revocation: the consumer still holds tp(1) until it says otherwise.
        c.publish(BTreeSet::from([tp(0)]));
        assert_eq!(c.reported(), BTreeSet::from([tp(0), tp(1)]));
        ack(&mut c, BTreeSet::from([tp(0)])).await;
        assert_eq!(c.reported(), BTreeSet::from([tp(0)]));
        // Two targets before any acknowledgement: the first gave tp(2), the second takes
        // it away again; until the consumer says it applied the second, tp(2) may be read.
        c.publish(BTreeSet::from([tp(0), tp(2)]));
        c.publish(BTreeSet::from([tp(0)]));
        assert_eq!(c.reported(), BTreeSet::from([tp(0), tp(2)]));
        ack(&mut c, BTreeSet::from([tp(0)])).await;
        assert_eq!(c.reported(), BTreeSet::from([tp(0)]));
    }
}
