//! The metadata image: the state the metadata log builds, the same on every broker
//! that applied the same entries.
//!
//! Partition leadership follows Kafka's rules without unclean election: a partition's
//! leader is always one of its in-sync replicas (ISR) that is not fenced. When the
//! leader is fenced, the next live ISR member leads (the epoch grows); when none is
//! left, the partition is offline (`leader: None`) and the fenced leader stays in the
//! ISR, so it takes the partition back when it returns and nothing acknowledged is lost.
//! A partition with one replica has an ISR of its leader alone.
//!
//! A partition with several replicas is replicated by its own Raft group (issue #16):
//! the group elects its leader, and the leader reports itself and its in-sync replicas
//! with [`MetadataCommand::ReplicaLeader`]. The image never picks such a leader itself:
//! it starts leaderless, and fencing the leader only clears it (clients then see
//! `LEADER_NOT_AVAILABLE` until the group's new leader reports).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::command::{
    AclRecord, ApplyError, BrokerRegistration, CredentialRecord, MetadataCommand,
};
use super::NodeId;

/// A registered broker and whether the controller hears from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRecord {
    /// Where it is reached.
    pub registration: BrokerRegistration,
    /// Missed its session: leads nothing until it heartbeats again.
    pub fenced: bool,
}

/// One partition's placement and leadership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionRecord {
    /// Brokers holding a copy, the preferred leader first.
    pub replicas: Vec<NodeId>,
    /// Replicas holding every committed record.
    pub isr: Vec<NodeId>,
    /// The leader, `None` while no in-sync replica is alive (offline).
    pub leader: Option<NodeId>,
    /// Grows by one at every leader change (offline included).
    pub leader_epoch: i32,
    /// Raft term of the last [`MetadataCommand::ReplicaLeader`] applied (replicated
    /// partitions only; 0 before the first report).
    #[serde(default)]
    pub raft_term: u64,
    /// Where a reassignment moves the partition (replicated partitions), until its
    /// group reports the move done.
    #[serde(default)]
    pub target_replicas: Option<Vec<NodeId>>,
}

impl PartitionRecord {
    /// Whether the partition has several replicas, so its own Raft group replicates it
    /// and elects its leader.
    pub fn is_replicated(&self) -> bool {
        self.replicas.len() > 1
    }

    /// Whether `node_id` holds (or is about to hold, during a reassignment) a copy.
    pub fn hosted_by(&self, node_id: NodeId) -> bool {
        self.replicas.contains(&node_id)
            || self
                .target_replicas
                .as_ref()
                .is_some_and(|t| t.contains(&node_id))
    }

    /// The voters the partition's group should have now: the target while a
    /// reassignment is under way, else the replicas.
    pub fn wanted_voters(&self) -> &[NodeId] {
        self.target_replicas.as_deref().unwrap_or(&self.replicas)
    }
}

/// A topic as the cluster knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRecord {
    /// Stable id (Kafka's topic id).
    pub id: u128,
    /// Rill's own topic (e.g. `__consumer_offsets`).
    pub internal: bool,
    /// Settings overriding the broker defaults.
    pub configs: BTreeMap<String, String>,
    /// Partitions in index order.
    pub partitions: Vec<PartitionRecord>,
}

/// Everything the metadata log says, after applying it in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataImage {
    /// The cluster's id; empty until the first controller names it.
    pub cluster_id: String,
    /// Registered brokers by node id.
    pub brokers: BTreeMap<NodeId, BrokerRecord>,
    /// Topics by name.
    pub topics: BTreeMap<String, TopicRecord>,
    /// The cluster's ACLs (absent from images written before ACLs were replicated).
    #[serde(default)]
    pub acls: std::collections::BTreeSet<AclRecord>,
    /// Users' SCRAM credentials: user, then mechanism.
    #[serde(default)]
    pub credentials: BTreeMap<String, BTreeMap<String, CredentialRecord>>,
    /// Credentials were seeded or changed once: a later seed is ignored.
    #[serde(default)]
    pub credentials_seeded: bool,
}

impl MetadataImage {
    /// Applies one committed command. An error leaves the image unchanged.
    pub fn apply(&mut self, command: &MetadataCommand) -> Result<(), ApplyError> {
        match command {
            MetadataCommand::InitCluster { cluster_id } => self.init(cluster_id),
            MetadataCommand::RegisterBroker(registration) => {
                self.brokers.insert(
                    registration.node_id,
                    BrokerRecord {
                        registration: registration.clone(),
                        fenced: false,
                    },
                );
                self.elect_returning(registration.node_id);
                Ok(())
            }
            MetadataCommand::FenceBroker { node_id } => self.fence(*node_id),
            MetadataCommand::UnfenceBroker { node_id } => {
                let broker = self
                    .brokers
                    .get_mut(node_id)
                    .ok_or(ApplyError::UnknownBroker(*node_id))?;
                broker.fenced = false;
                self.elect_returning(*node_id);
                Ok(())
            }
            MetadataCommand::CreateTopic {
                name,
                id,
                internal,
                configs,
                assignments,
            } => self.create_topic(name, *id, *internal, configs, assignments),
            MetadataCommand::AddPartitions { name, assignments } => {
                self.add_partitions(name, assignments)
            }
            MetadataCommand::DeleteTopic { name } => self
                .topics
                .remove(name)
                .map(|_| ())
                .ok_or_else(|| ApplyError::UnknownTopic(name.clone())),
            MetadataCommand::AlterTopicConfigs { name, set, remove } => {
                let topic = self
                    .topics
                    .get_mut(name)
                    .ok_or_else(|| ApplyError::UnknownTopic(name.clone()))?;
                for key in remove {
                    topic.configs.remove(key);
                }
                topic
                    .configs
                    .extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
                Ok(())
            }
            MetadataCommand::ReplicaLeader {
                topic,
                topic_id,
                partition,
                leader,
                term,
                isr,
            } => self.replica_leader(topic, *topic_id, *partition, *leader, *term, isr),
            MetadataCommand::ReassignPartitions {
                topic,
                topic_id,
                moves,
            } => self.reassign(topic, *topic_id, moves),
            MetadataCommand::CompleteReassignment {
                topic,
                topic_id,
                partition,
                replicas,
            } => self.complete_reassignment(topic, *topic_id, *partition, replicas),
            MetadataCommand::AlterCredentials { upsert, delete } => {
                for record in upsert {
                    self.credentials
                        .entry(record.user.clone())
                        .or_default()
                        .insert(record.mechanism.clone(), record.clone());
                }
                for (user, mechanism) in delete {
                    if let Some(user_credentials) = self.credentials.get_mut(user) {
                        user_credentials.remove(mechanism);
                        if user_credentials.is_empty() {
                            self.credentials.remove(user);
                        }
                    }
                }
                self.credentials_seeded = true;
                Ok(())
            }
            MetadataCommand::SeedCredentials { credentials } => {
                if self.credentials_seeded {
                    return Err(ApplyError::Invalid(
                        "the cluster's credentials are already seeded".into(),
                    ));
                }
                for record in credentials {
                    self.credentials
                        .entry(record.user.clone())
                        .or_default()
                        .insert(record.mechanism.clone(), record.clone());
                }
                self.credentials_seeded = true;
                Ok(())
            }
            MetadataCommand::CreateAcls { acls } => {
                self.acls.extend(acls.iter().cloned());
                Ok(())
            }
            MetadataCommand::DeleteAcls { acls } => {
                for acl in acls {
                    self.acls.remove(acl);
                }
                Ok(())
            }
        }
    }

    /// Whether `node_id` is registered and not fenced.
    pub fn is_alive(&self, node_id: NodeId) -> bool {
        self.brokers.get(&node_id).is_some_and(|b| !b.fenced)
    }

    /// Registered, unfenced brokers with their racks, by node id.
    pub fn live_brokers(&self) -> Vec<(NodeId, Option<&str>)> {
        self.brokers
            .iter()
            .filter(|(_, b)| !b.fenced)
            .map(|(id, b)| (*id, b.registration.rack.as_deref()))
            .collect()
    }

    /// The partition `partition` of `topic`, if both exist.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionRecord> {
        let index = usize::try_from(partition).ok()?;
        self.topics.get(topic)?.partitions.get(index)
    }

    /// The leader of `topic`/`partition`, `None` if offline or unknown.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<NodeId> {
        self.partition(topic, partition)?.leader
    }

    fn init(&mut self, cluster_id: &str) -> Result<(), ApplyError> {
        if cluster_id.is_empty() {
            return Err(ApplyError::Invalid("empty cluster id".into()));
        }
        if self.cluster_id.is_empty() {
            self.cluster_id = cluster_id.to_string();
            Ok(())
        } else if self.cluster_id == cluster_id {
            Ok(())
        } else {
            Err(ApplyError::ClusterIdMismatch(self.cluster_id.clone()))
        }
    }

    fn fence(&mut self, node_id: NodeId) -> Result<(), ApplyError> {
        let broker = self
            .brokers
            .get_mut(&node_id)
            .ok_or(ApplyError::UnknownBroker(node_id))?;
        broker.fenced = true;
        let alive: Vec<NodeId> = self.live_brokers().into_iter().map(|(id, _)| id).collect();
        for partition in self
            .topics
            .values_mut()
            .flat_map(|t| t.partitions.iter_mut())
        {
            // A fenced follower leaves the ISR, unless it is the last member (which
            // keeps the partition's claim to come back without losing records).
            if partition.isr.len() > 1 {
                partition.isr.retain(|r| *r != node_id);
            }
            if partition.is_replicated() {
                // The partition's Raft group elects the next leader, which reports.
                if partition.leader == Some(node_id) {
                    partition.leader = None;
                    partition.leader_epoch = partition.leader_epoch.saturating_add(1);
                }
                continue;
            }
            if partition.leader == Some(node_id) {
                partition.leader = partition.isr.iter().copied().find(|r| alive.contains(r));
                partition.leader_epoch = partition.leader_epoch.saturating_add(1);
            }
        }
        Ok(())
    }

    /// A broker came back: offline partitions whose ISR names it are led by it again.
    fn elect_returning(&mut self, node_id: NodeId) {
        for partition in self
            .topics
            .values_mut()
            .flat_map(|t| t.partitions.iter_mut())
        {
            if !partition.is_replicated()
                && partition.leader.is_none()
                && partition.isr.contains(&node_id)
            {
                partition.leader = Some(node_id);
                partition.leader_epoch = partition.leader_epoch.saturating_add(1);
            }
        }
    }

    fn replica_leader(
        &mut self,
        topic: &str,
        topic_id: u128,
        partition: u32,
        leader: NodeId,
        term: u64,
        isr: &[NodeId],
    ) -> Result<(), ApplyError> {
        let record = self
            .topics
            .get_mut(topic)
            .filter(|t| t.id == topic_id)
            .ok_or_else(|| ApplyError::UnknownTopic(topic.to_string()))?;
        let part = record
            .partitions
            .get_mut(partition as usize)
            .ok_or_else(|| {
                ApplyError::Invalid(format!("`{topic}` has no partition {partition}"))
            })?;
        if !part.is_replicated() {
            return Err(ApplyError::Invalid(format!(
                "partition {partition} of `{topic}` has one replica: it is not led by a Raft group"
            )));
        }
        if !part.hosted_by(leader) {
            return Err(ApplyError::Invalid(format!(
                "broker {leader} is not a replica of partition {partition} of `{topic}`"
            )));
        }
        if term < part.raft_term {
            return Err(ApplyError::Invalid(format!(
                "leader report for partition {partition} of `{topic}` from term {term}, older than {}",
                part.raft_term
            )));
        }
        let mut in_sync: Vec<NodeId> = part
            .replicas
            .iter()
            .chain(part.target_replicas.iter().flatten())
            .copied()
            .filter(|r| *r == leader || isr.contains(r))
            .fold(Vec::new(), |mut all, r| {
                if !all.contains(&r) {
                    all.push(r);
                }
                all
            });
        // The leader first, as Kafka lists it.
        in_sync.sort_by_key(|r| *r != leader);
        if part.leader != Some(leader) || term > part.raft_term {
            part.leader_epoch = part.leader_epoch.saturating_add(1);
        }
        part.leader = Some(leader);
        part.raft_term = term;
        part.isr = in_sync;
        Ok(())
    }

    /// Records reassignment targets, all or none.
    fn reassign(
        &mut self,
        topic: &str,
        topic_id: u128,
        moves: &[(u32, Option<Vec<NodeId>>)],
    ) -> Result<(), ApplyError> {
        let record = self
            .topics
            .get(topic)
            .filter(|t| t.id == topic_id)
            .ok_or_else(|| ApplyError::UnknownTopic(topic.to_string()))?;
        for (partition, target) in moves {
            let part = record.partitions.get(*partition as usize).ok_or_else(|| {
                ApplyError::Invalid(format!("`{topic}` has no partition {partition}"))
            })?;
            self.check_target(topic, *partition, part, target.as_deref())?;
        }
        if let Some(record) = self.topics.get_mut(topic) {
            for (partition, target) in moves {
                if let Some(part) = record.partitions.get_mut(*partition as usize) {
                    part.target_replicas = target.clone().filter(|t| *t != part.replicas);
                }
            }
        }
        Ok(())
    }

    /// Why `target` cannot be `partition`'s new replicas, if it cannot.
    fn check_target(
        &self,
        topic: &str,
        partition: u32,
        part: &PartitionRecord,
        target: Option<&[NodeId]>,
    ) -> Result<(), ApplyError> {
        let Some(target) = target else {
            return Ok(());
        };
        let name = format!("partition {partition} of `{topic}`");
        if !part.is_replicated() {
            return Err(ApplyError::Invalid(format!(
                "{name} has one replica and no Raft group to move its data: create the topic with --replication-factor 2 or more to move it"
            )));
        }
        if target.len() < 2 {
            return Err(ApplyError::Invalid(format!(
                "{name} needs at least two target replicas (its data moves through its Raft group)"
            )));
        }
        for (at, replica) in target.iter().enumerate() {
            if !self.brokers.contains_key(replica) {
                return Err(ApplyError::UnknownBroker(*replica));
            }
            if target[..at].contains(replica) {
                return Err(ApplyError::Invalid(format!(
                    "{name}: broker {replica} is listed twice"
                )));
            }
        }
        Ok(())
    }

    fn complete_reassignment(
        &mut self,
        topic: &str,
        topic_id: u128,
        partition: u32,
        replicas: &[NodeId],
    ) -> Result<(), ApplyError> {
        let part = self
            .topics
            .get_mut(topic)
            .filter(|t| t.id == topic_id)
            .ok_or_else(|| ApplyError::UnknownTopic(topic.to_string()))?
            .partitions
            .get_mut(partition as usize)
            .ok_or_else(|| {
                ApplyError::Invalid(format!("`{topic}` has no partition {partition}"))
            })?;
        if part.target_replicas.as_deref() != Some(replicas) {
            return Err(ApplyError::Invalid(format!(
                "partition {partition} of `{topic}` is not being moved to {replicas:?}"
            )));
        }
        part.replicas = replicas.to_vec();
        part.target_replicas = None;
        part.isr.retain(|r| replicas.contains(r));
        if part.leader.is_some_and(|l| !replicas.contains(&l)) {
            part.leader = None;
            part.leader_epoch = part.leader_epoch.saturating_add(1);
        }
        Ok(())
    }

    fn create_topic(
        &mut self,
        name: &str,
        id: u128,
        internal: bool,
        configs: &BTreeMap<String, String>,
        assignments: &[Vec<NodeId>],
    ) -> Result<(), ApplyError> {
        if self.topics.contains_key(name) {
            return Err(ApplyError::TopicExists(name.to_string()));
        }
        let partitions = self.new_partitions(name, 0, assignments)?;
        self.topics.insert(
            name.to_string(),
            TopicRecord {
                id,
                internal,
                configs: configs.clone(),
                partitions,
            },
        );
        Ok(())
    }

    /// Appends partitions with `assignments` to `name`.
    fn add_partitions(
        &mut self,
        name: &str,
        assignments: &[Vec<NodeId>],
    ) -> Result<(), ApplyError> {
        let first = self
            .topics
            .get(name)
            .ok_or_else(|| ApplyError::UnknownTopic(name.to_string()))?
            .partitions
            .len();
        let added = self.new_partitions(name, first, assignments)?;
        if let Some(topic) = self.topics.get_mut(name) {
            topic.partitions.extend(added);
        }
        Ok(())
    }

    /// Checked partition records for `assignments`, numbered from `first`.
    fn new_partitions(
        &self,
        name: &str,
        first: usize,
        assignments: &[Vec<NodeId>],
    ) -> Result<Vec<PartitionRecord>, ApplyError> {
        if assignments.is_empty() {
            return Err(ApplyError::Invalid(format!(
                "no partitions to add to `{name}`"
            )));
        }
        for (index, replicas) in assignments.iter().enumerate() {
            let index = first + index;
            if replicas.is_empty() {
                return Err(ApplyError::Invalid(format!(
                    "partition {index} of `{name}` has no replicas"
                )));
            }
            for (at, replica) in replicas.iter().enumerate() {
                if !self.brokers.contains_key(replica) {
                    return Err(ApplyError::UnknownBroker(*replica));
                }
                if replicas[..at].contains(replica) {
                    return Err(ApplyError::Invalid(format!(
                        "partition {index} of `{name}` lists broker {replica} twice"
                    )));
                }
            }
        }
        let partitions = assignments
            .iter()
            .map(|replicas| {
                if replicas.len() > 1 {
                    // Replicated: every replica starts empty, so in sync; the
                    // partition's Raft group elects the leader, which reports.
                    return PartitionRecord {
                        replicas: replicas.clone(),
                        isr: replicas.clone(),
                        leader: None,
                        leader_epoch: 0,
                        raft_term: 0,
                        target_replicas: None,
                    };
                }
                // One replica: it leads when alive.
                let leader = replicas[0];
                PartitionRecord {
                    replicas: replicas.clone(),
                    isr: vec![leader],
                    leader: self.is_alive(leader).then_some(leader),
                    leader_epoch: 0,
                    raft_term: 0,
                    target_replicas: None,
                }
            })
            .collect();
        Ok(partitions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(image: &mut MetadataImage, node_id: NodeId) {
        image
            .apply(&MetadataCommand::RegisterBroker(BrokerRegistration {
                node_id,
                host: "127.0.0.1".into(),
                port: 9420 + node_id as u16,
                kafka: None,
                inter_broker: format!("127.0.0.1:{}", 9430 + node_id),
                rack: None,
                incarnation: 0,
            }))
            .unwrap();
    }

    fn create(image: &mut MetadataImage, name: &str, assignments: Vec<Vec<NodeId>>) {
        image
            .apply(&MetadataCommand::CreateTopic {
                name: name.into(),
                id: 7,
                internal: false,
                configs: BTreeMap::new(),
                assignments,
            })
            .unwrap();
    }

    #[test]
    fn fencing_the_only_in_sync_replica_takes_the_partition_offline_until_it_returns() {
        let mut image = MetadataImage::default();
        (1..=3).for_each(|n| register(&mut image, n));
        create(&mut image, "t", vec![vec![1], vec![2]]);
        assert_eq!(image.leader("t", 0), Some(1));
        image
            .apply(&MetadataCommand::FenceBroker { node_id: 1 })
            .unwrap();
        // No other broker holds partition 0: offline.
        assert_eq!(image.leader("t", 0), None);
        assert_eq!(image.partition("t", 0).unwrap().leader_epoch, 1);
        assert_eq!(image.leader("t", 1), Some(2));
        image
            .apply(&MetadataCommand::UnfenceBroker { node_id: 1 })
            .unwrap();
        assert_eq!(image.leader("t", 0), Some(1));
        assert_eq!(image.partition("t", 0).unwrap().leader_epoch, 2);
    }

    fn report(leader: NodeId, term: u64, isr: Vec<NodeId>) -> MetadataCommand {
        MetadataCommand::ReplicaLeader {
            topic: "t".into(),
            topic_id: 7,
            partition: 0,
            leader,
            term,
            isr,
        }
    }

    #[test]
    fn a_replicated_partition_is_led_by_whoever_its_raft_group_reports() {
        let mut image = MetadataImage::default();
        (1..=3).for_each(|n| register(&mut image, n));
        create(&mut image, "t", vec![vec![1, 2, 3]]);
        let p = image.partition("t", 0).unwrap();
        assert_eq!((p.leader, p.isr.clone()), (None, vec![1, 2, 3]));
        image.apply(&report(2, 1, vec![1, 2, 3])).unwrap();
        let p = image.partition("t", 0).unwrap();
        assert_eq!(
            (p.leader, p.isr.clone(), p.leader_epoch, p.raft_term),
            (Some(2), vec![2, 1, 3], 1, 1)
        );
        // ISR shrinks in the same term: the epoch stays.
        image.apply(&report(2, 1, vec![2, 3])).unwrap();
        let p = image.partition("t", 0).unwrap();
        assert_eq!((p.isr.clone(), p.leader_epoch), (vec![2, 3], 1));
        // Fencing the leader clears it; the image elects no one itself.
        image
            .apply(&MetadataCommand::FenceBroker { node_id: 2 })
            .unwrap();
        let p = image.partition("t", 0).unwrap();
        assert_eq!(
            (p.leader, p.isr.clone(), p.leader_epoch),
            (None, vec![3], 2)
        );
        // A deposed leader's late report is refused; the new one is taken.
        let before = image.clone();
        for bad in [
            report(3, 0, vec![3]),
            report(9, 5, vec![9]),
            MetadataCommand::ReplicaLeader {
                topic: "t".into(),
                topic_id: 8,
                partition: 0,
                leader: 3,
                term: 5,
                isr: vec![3],
            },
        ] {
            assert!(image.apply(&bad).is_err(), "{bad:?} accepted");
            assert_eq!(image, before);
        }
        image.apply(&report(3, 4, vec![3, 1, 7])).unwrap();
        let p = image.partition("t", 0).unwrap();
        assert_eq!(
            (p.leader, p.isr.clone(), p.leader_epoch),
            (Some(3), vec![3, 1], 3)
        );
        // Returning brokers do not take a replicated partition back.
        image
            .apply(&MetadataCommand::UnfenceBroker { node_id: 2 })
            .unwrap();
        assert_eq!(image.leader("t", 0), Some(3));
    }

    #[test]
    fn a_reassignment_records_its_target_until_the_group_reports_it_done() {
        let mut image = MetadataImage::default();
        (1..=4).for_each(|n| register(&mut image, n));
        create(&mut image, "t", vec![vec![1, 2, 3], vec![4]]);
        image.apply(&report(1, 1, vec![1, 2, 3])).unwrap();
        let before = image.clone();
        let reassign =
            |moves: Vec<(u32, Option<Vec<NodeId>>)>| MetadataCommand::ReassignPartitions {
                topic: "t".into(),
                topic_id: 7,
                moves,
            };
        for bad in [
            reassign(vec![(0, Some(vec![2, 4, 9]))]),
            reassign(vec![(0, Some(vec![2, 2]))]),
            reassign(vec![(0, Some(vec![4]))]),
            reassign(vec![(1, Some(vec![1, 4]))]),
            reassign(vec![(0, Some(vec![2, 3, 4])), (5, Some(vec![1, 2]))]),
        ] {
            assert!(image.apply(&bad).is_err(), "{bad:?} accepted");
            assert_eq!(image, before);
        }
        image
            .apply(&reassign(vec![(0, Some(vec![2, 3, 4]))]))
            .unwrap();
        let p = image.partition("t", 0).unwrap();
        assert_eq!(p.wanted_voters(), [2, 3, 4]);
        assert!(p.hosted_by(4) && p.hosted_by(1));
        // The new replica can lead (and report) before the move completes.
        image.apply(&report(4, 2, vec![2, 3, 4])).unwrap();
        let complete = |replicas: Vec<NodeId>| MetadataCommand::CompleteReassignment {
            topic: "t".into(),
            topic_id: 7,
            partition: 0,
            replicas,
        };
        assert!(image.apply(&complete(vec![1, 2, 3])).is_err());
        image.apply(&complete(vec![2, 3, 4])).unwrap();
        let p = image.partition("t", 0).unwrap();
        assert_eq!(
            (p.replicas.clone(), p.target_replicas.clone(), p.leader),
            (vec![2, 3, 4], None, Some(4))
        );
        assert!(!p.hosted_by(1));
        // A cancel of nothing under way changes nothing; a move back is a new move.
        image.apply(&reassign(vec![(0, None)])).unwrap();
        assert_eq!(image.partition("t", 0).unwrap().target_replicas, None);
    }

    #[test]
    fn partitions_are_appended_with_their_leaders() {
        let mut image = MetadataImage::default();
        (1..=2).for_each(|n| register(&mut image, n));
        create(&mut image, "t", vec![vec![1]]);
        image
            .apply(&MetadataCommand::AddPartitions {
                name: "t".into(),
                assignments: vec![vec![2], vec![1]],
            })
            .unwrap();
        assert_eq!(image.topics["t"].partitions.len(), 3);
        assert_eq!(
            (image.leader("t", 1), image.leader("t", 2)),
            (Some(2), Some(1))
        );
        let before = image.clone();
        for bad in [
            MetadataCommand::AddPartitions {
                name: "nope".into(),
                assignments: vec![vec![1]],
            },
            MetadataCommand::AddPartitions {
                name: "t".into(),
                assignments: vec![vec![9]],
            },
            MetadataCommand::AddPartitions {
                name: "t".into(),
                assignments: Vec::new(),
            },
        ] {
            assert!(image.apply(&bad).is_err(), "{bad:?} accepted");
            assert_eq!(image, before);
        }
    }

    #[test]
    fn refused_commands_change_nothing() {
        let mut image = MetadataImage::default();
        register(&mut image, 1);
        create(&mut image, "t", vec![vec![1]]);
        let before = image.clone();
        let cases = [
            MetadataCommand::CreateTopic {
                name: "t".into(),
                id: 1,
                internal: false,
                configs: BTreeMap::new(),
                assignments: vec![vec![1]],
            },
            MetadataCommand::CreateTopic {
                name: "u".into(),
                id: 1,
                internal: false,
                configs: BTreeMap::new(),
                assignments: vec![vec![1, 9]],
            },
            MetadataCommand::CreateTopic {
                name: "u".into(),
                id: 1,
                internal: false,
                configs: BTreeMap::new(),
                assignments: vec![vec![1, 1]],
            },
            MetadataCommand::DeleteTopic { name: "v".into() },
            MetadataCommand::FenceBroker { node_id: 5 },
        ];
        for command in cases {
            assert!(image.apply(&command).is_err(), "{command:?} accepted");
            assert_eq!(image, before);
        }
        image
            .apply(&MetadataCommand::InitCluster {
                cluster_id: "a".into(),
            })
            .unwrap();
        assert_eq!(
            image.apply(&MetadataCommand::InitCluster {
                cluster_id: "b".into()
            }),
            Err(ApplyError::ClusterIdMismatch("a".into()))
        );
    }
}
