//! The metadata log's records: every change to the cluster's metadata is one
//! [`MetadataCommand`], proposed to the quorum, committed by a majority and applied by
//! every broker in the same order ([`super::image::MetadataImage::apply`]).
//!
//! Commands carry decisions, not requests: the proposer computes a new topic's id and
//! replica placement, so applying a command never depends on a clock or a random
//! number and every broker's image ends up the same. Applying checks the command
//! against the image (a topic created twice, a replica on an unknown broker) and
//! answers [`ApplyError`] without changing anything.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::NodeId;

/// How a broker is reached, as it registers with the controller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    /// The broker's node id.
    pub node_id: NodeId,
    /// Host clients of the native protocol dial (its advertised address).
    pub host: String,
    /// Port of the native listener.
    pub port: u16,
    /// The Kafka listener's advertised `host:port`, if the broker serves Kafka clients.
    pub kafka: Option<(String, u16)>,
    /// Inter-broker (cluster) address, `host:port`.
    pub inter_broker: String,
    /// Rack (zone) label, if any.
    pub rack: Option<String>,
    /// Random per process start: once the image holds this broker's registration with
    /// its current incarnation, the image is newer than anything that happened while
    /// the broker was down (0 in records written before incarnations existed).
    #[serde(default)]
    pub incarnation: u64,
}

/// One record of the metadata log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetadataCommand {
    /// Names the cluster; the first record the first controller writes. Later ones
    /// with another id are refused.
    InitCluster {
        /// A UUID, as text.
        cluster_id: String,
    },
    /// A broker announces itself (at start, and whenever its addresses change). A
    /// registered broker is alive (unfenced) and takes back the partitions it was the
    /// last in-sync replica of.
    RegisterBroker(BrokerRegistration),
    /// The controller stopped hearing from a broker: it leads nothing until it
    /// heartbeats again; its partitions move to other in-sync replicas, or go offline.
    FenceBroker {
        /// The broker fenced.
        node_id: NodeId,
    },
    /// A fenced broker heartbeats again.
    UnfenceBroker {
        /// The broker.
        node_id: NodeId,
    },
    /// A new topic with its id and placement.
    CreateTopic {
        /// Topic name.
        name: String,
        /// Stable id (Kafka's topic id), chosen by the proposer.
        id: u128,
        /// Rill's own topic (e.g. `__consumer_offsets`).
        internal: bool,
        /// Topic settings overriding the broker defaults.
        configs: BTreeMap<String, String>,
        /// Replicas of each partition, preferred leader first.
        assignments: Vec<Vec<NodeId>>,
    },
    /// A topic and all its partitions removed.
    DeleteTopic {
        /// Topic name.
        name: String,
    },
    /// Topic settings changed: `set` added or replaced, `remove` back to the default.
    AlterTopicConfigs {
        /// Topic name.
        name: String,
        /// Keys set.
        set: BTreeMap<String, String>,
        /// Keys removed.
        remove: Vec<String>,
    },
    /// Partitions appended to a topic (Kafka's CreatePartitions; topics never shrink).
    AddPartitions {
        /// Topic name.
        name: String,
        /// Replicas of each new partition, preferred leader first.
        assignments: Vec<Vec<NodeId>>,
    },
    /// The leader of a replicated partition's Raft group (issue #16) reports itself
    /// and the replicas it considers in sync. Applied when `term` is not older than the
    /// last report's; a report from an older term is refused (a deposed leader's).
    ReplicaLeader {
        /// Topic name.
        topic: String,
        /// The topic's id (a report about a deleted and re-created topic is refused).
        topic_id: u128,
        /// Partition index.
        partition: u32,
        /// The reporting leader.
        leader: NodeId,
        /// Its Raft term.
        term: u64,
        /// Replicas holding every committed record, the leader included.
        isr: Vec<NodeId>,
    },
    /// Replicated partitions move to other brokers: each partition's Raft group adds
    /// the target's new replicas, switches its voters to the target and then reports
    /// [`MetadataCommand::CompleteReassignment`]. `None` cancels a move under way.
    ReassignPartitions {
        /// Topic name.
        topic: String,
        /// The topic's id.
        topic_id: u128,
        /// `(partition, target replicas)`, preferred leader first.
        moves: Vec<(u32, Option<Vec<NodeId>>)>,
    },
    /// A partition's group now has exactly `replicas` as voters: the move is done.
    CompleteReassignment {
        /// Topic name.
        topic: String,
        /// The topic's id.
        topic_id: u128,
        /// Partition index.
        partition: u32,
        /// The replicas now (the target recorded by ReassignPartitions).
        replicas: Vec<NodeId>,
    },
    /// Users' SCRAM credentials added or replaced, and removed (a user goes with its
    /// last credential).
    AlterCredentials {
        /// Credentials set.
        upsert: Vec<CredentialRecord>,
        /// `(user, mechanism)` removed (ones already gone are ignored).
        delete: Vec<(String, String)>,
    },
    /// The credentials a broker had before the cluster replicated them, adopted only
    /// when the cluster has never held any (its first broker to start seeds them).
    SeedCredentials {
        /// The credentials.
        credentials: Vec<CredentialRecord>,
    },
    /// ACLs added (ones already there stay as they are).
    CreateAcls {
        /// The ACLs.
        acls: Vec<AclRecord>,
    },
    /// ACLs removed (the proposer resolved the filters; ones already gone are ignored).
    DeleteAcls {
        /// The ACLs.
        acls: Vec<AclRecord>,
    },
}

/// One ACL as the metadata log carries it, in Kafka's names (as `rill acl list` shows).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AclRecord {
    /// `Topic`, `Group` or `Cluster`.
    pub resource_type: String,
    /// The resource's name or prefix.
    pub resource_name: String,
    /// `Literal` or `Prefixed`.
    pub pattern_type: String,
    /// `User:alice`, or `User:*`.
    pub principal: String,
    /// A client IP address, or `*`.
    pub host: String,
    /// The operation (`Read`, `Write`, ...).
    pub operation: String,
    /// `Allow` or `Deny`.
    pub permission: String,
}

/// One user's SCRAM credential as the metadata log carries it: salted and hashed
/// (RFC 5802's StoredKey and ServerKey), never a password. Binary fields as hex.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CredentialRecord {
    /// The user.
    pub user: String,
    /// `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub mechanism: String,
    /// The salt, hex.
    pub salt: String,
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// StoredKey, hex.
    pub stored_key: String,
    /// ServerKey, hex.
    pub server_key: String,
}

impl std::fmt::Debug for CredentialRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keys are secrets (StoredKey and a sniffed exchange recover ClientKey).
        f.debug_struct("CredentialRecord")
            .field("user", &self.user)
            .field("mechanism", &self.mechanism)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// Why applying a command changed nothing. Carried back to the proposer as the
/// command's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ApplyError {
    /// CreateTopic for a name that exists.
    #[error("topic `{0}` already exists")]
    TopicExists(String),
    /// A command naming a topic that does not exist.
    #[error("topic `{0}` does not exist")]
    UnknownTopic(String),
    /// A command naming a broker that never registered.
    #[error("broker {0} is not registered")]
    UnknownBroker(NodeId),
    /// The cluster already has another id.
    #[error("the cluster is already named `{0}`")]
    ClusterIdMismatch(String),
    /// A malformed command (no partitions, a replica listed twice, ...).
    #[error("invalid metadata command: {0}")]
    Invalid(String),
}
