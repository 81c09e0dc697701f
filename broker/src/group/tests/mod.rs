//! Tests of the coordinator on a fake clock: membership and cooperative rebalancing against
//! fake topics, and offsets, fencing, restart, delete and reset against a real registry.

mod hardening_tests;
mod membership_tests;
mod offsets_tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use tempfile::TempDir;

use super::commit::{CommitParams, CommitResults};
use super::coordinator::{HeartbeatParams, JoinParams, MemberUpdate};
use super::{GroupConfig, GroupCoordinator, GroupError, TopicPartition, TopicView};
use crate::config::TopicDefaults;
use crate::storage::StorageError;
use crate::topics::TopicRegistry;

/// Topics whose partition counts a test sets by hand.
#[derive(Debug, Default)]
pub struct FakeTopics {
    pub counts: BTreeMap<String, u32>,
}

impl FakeTopics {
    pub fn with(topics: &[(&str, u32)]) -> FakeTopics {
        FakeTopics {
            counts: topics.iter().map(|(t, n)| (t.to_string(), *n)).collect(),
        }
    }
}

impl TopicView for FakeTopics {
    fn partition_count(&self, topic: &str) -> Option<u32> {
        self.counts.get(topic).copied()
    }

    fn offset_range(&self, tp: &TopicPartition) -> Option<(i64, i64)> {
        let n = self.counts.get(&tp.topic)?;
        (0..*n as i32).contains(&tp.partition).then_some((0, 100))
    }

    fn offset_for_timestamp(
        &self,
        _: &TopicPartition,
        _: i64,
    ) -> Result<Option<i64>, StorageError> {
        Ok(None)
    }
}

/// A data directory with a registry and a coordinator over it.
pub struct Fixture {
    pub dir: TempDir,
    pub registry: TopicRegistry,
    pub coord: GroupCoordinator,
}

impl Fixture {
    pub fn new() -> Fixture {
        Self::with_config(GroupConfig::default())
    }

    /// A fixture whose coordinator has `config`.
    pub fn with_config(config: GroupConfig) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let registry =
            TopicRegistry::open(dir.path(), TopicDefaults::default(), 1 << 20).expect("registry");
        let coord = GroupCoordinator::open(&registry, config, 0).expect("coordinator");
        Fixture {
            dir,
            registry,
            coord,
        }
    }

    /// Commits through the coordinator, writing to this fixture's registry.
    pub fn commit(&self, p: CommitParams, now_ms: i64) -> Result<CommitResults, GroupError> {
        self.coord.commit_offsets(p, &self.registry, now_ms)
    }

    /// Creates `topic` in the registry (commits are refused for topics that do not exist).
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        self.registry
            .create(topic, Some(partitions), BTreeMap::new())
            .expect("create topic");
    }

    /// Deletes a group through the coordinator.
    pub fn delete(&self, group_id: &str, now_ms: i64) -> Result<(), GroupError> {
        self.coord.delete_group(group_id, &self.registry, now_ms)
    }

    /// Closes everything and opens the same directory again (a broker restart).
    pub fn restart(self) -> Fixture {
        self.registry.close().expect("close");
        let Fixture {
            dir,
            registry,
            coord,
        } = self;
        drop((registry, coord));
        let (registry, coord) = open(dir.path());
        Fixture {
            dir,
            registry,
            coord,
        }
    }
}

fn open(dir: &Path) -> (TopicRegistry, GroupCoordinator) {
    let registry = TopicRegistry::open(dir, TopicDefaults::default(), 1 << 20).expect("registry");
    let coord = GroupCoordinator::open(&registry, GroupConfig::default(), 0).expect("coordinator");
    (registry, coord)
}

pub fn join_params(group: &str, topics: &[&str]) -> JoinParams {
    JoinParams {
        group_id: group.into(),
        member_id: String::new(),
        session_timeout_ms: 3000,
        rebalance_timeout_ms: 5000,
        topics: topics.iter().map(|t| t.to_string()).collect(),
        assignor: None,
        client_id: Some("test".into()),
        client_host: "127.0.0.1".into(),
    }
}

/// A simulated consumer: what it owns and its epoch, as a well-behaved client keeps them.
#[derive(Debug, Clone)]
pub struct Client {
    pub group: String,
    pub member_id: String,
    pub epoch: i32,
    pub owned: BTreeSet<TopicPartition>,
    /// Every partition this client ever had revoked.
    pub revoked: BTreeSet<TopicPartition>,
}

impl Client {
    pub fn join(
        coord: &GroupCoordinator,
        group: &str,
        topics: &dyn TopicView,
        subscribed: &[&str],
        now_ms: i64,
    ) -> Client {
        let update = coord
            .join(join_params(group, subscribed), topics, now_ms)
            .expect("join");
        let mut client = Client {
            group: group.into(),
            member_id: update.member_id.clone(),
            epoch: 0,
            owned: BTreeSet::new(),
            revoked: BTreeSet::new(),
        };
        client.apply(update);
        client
    }

    /// Applies an answer: revokes what is no longer assigned, takes what is new.
    pub fn apply(&mut self, update: MemberUpdate) {
        self.epoch = update.member_epoch;
        if let Some(assignment) = update.assignment {
            for tp in self.owned.difference(&assignment) {
                self.revoked.insert(tp.clone());
            }
            self.owned = assignment;
        }
    }

    pub fn heartbeat(&mut self, coord: &GroupCoordinator, topics: &dyn TopicView, now_ms: i64) {
        let update = coord
            .heartbeat(self.params(), topics, now_ms)
            .expect("heartbeat");
        self.apply(update);
    }

    pub fn params(&self) -> HeartbeatParams {
        HeartbeatParams {
            group_id: self.group.clone(),
            member_id: self.member_id.clone(),
            member_epoch: self.epoch,
            topics: None,
            owned: self.owned.iter().cloned().collect(),
        }
    }
}

/// No partition is owned by two clients.
pub fn assert_exclusive(clients: &[Client]) {
    let mut seen = BTreeSet::new();
    for c in clients {
        for tp in &c.owned {
            assert!(seen.insert(tp.clone()), "{tp} owned twice: {clients:#?}");
        }
    }
}

/// Heartbeats every client in turn until the group is stable, checking exclusivity after
/// every heartbeat; returns the rounds it took.
pub fn settle(
    coord: &GroupCoordinator,
    clients: &mut [Client],
    topics: &dyn TopicView,
    now_ms: i64,
) -> usize {
    for round in 0..10 {
        for i in 0..clients.len() {
            clients[i].heartbeat(coord, topics, now_ms);
            assert_exclusive(clients);
        }
        let group = clients[0].group.clone();
        let stable = coord
            .describe_group(&group, topics)
            .is_ok_and(|d| d.state == super::GroupState::Stable);
        if stable
            && clients
                .iter()
                .all(|c| c.owned == owned_at_coordinator(coord, &group, &c.member_id, topics))
        {
            return round;
        }
    }
    panic!("group did not settle: {clients:#?}");
}

fn owned_at_coordinator(
    coord: &GroupCoordinator,
    group: &str,
    member: &str,
    topics: &dyn TopicView,
) -> BTreeSet<TopicPartition> {
    coord
        .describe_group(group, topics)
        .ok()
        .and_then(|d| {
            d.members
                .into_iter()
                .find(|m| m.identity.member_id == member)
        })
        .map(|m| m.owned)
        .unwrap_or_default()
}

pub fn tps(topic: &str, partitions: &[i32]) -> BTreeSet<TopicPartition> {
    partitions
        .iter()
        .map(|p| TopicPartition::new(topic, *p))
        .collect()
}
