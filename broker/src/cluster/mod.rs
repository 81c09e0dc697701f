//! The cluster's control plane (issue #15): brokers that agree on the metadata.
//!
//! A broker started with `--node-id` and `--cluster` joins a metadata quorum, one Raft
//! group replicated by `openraft` (never our own consensus), the way Kafka's KRaft
//! controllers work. Its log holds every metadata change as a [`MetadataCommand`];
//! every broker applies the committed log to a [`MetadataImage`] (brokers and their
//! liveness, topics with their ids, replica placement, leaders and epochs, configs) and
//! serves Metadata from that image. The quorum's Raft leader is the cluster's
//! controller: it tracks broker heartbeats and fences brokers that miss their session.
//!
//! A broker without cluster settings never touches this module: it stays the single
//! broker it always was, at no extra cost.
//!
//! | file | what |
//! |---|---|
//! | [`config`] | `--node-id`, `--cluster`, `--rack` and the quorum's timeouts |
//! | [`command`] | the metadata log's records and their outcomes |
//! | [`image`] | the state the log builds, and how each record changes it |
//! | [`placement`] | spreading a new topic's replicas over brokers and racks |
//! | [`handle`] | [`Cluster`]: what the servers ask (image, propose, status) |
//! | [`error`] | [`ClusterError`] |
//! | [`raft`] | the quorum on openraft: log, state machine, snapshots, inter-broker RPC |
//! | [`liveness`] | broker heartbeats to the controller; fencing the silent |
//! | [`routing`] | who leads a partition, who coordinates a group |
//! | [`reconcile`] | local topics follow the image |
//! | [`acls`] | ACL changes through the controller; local ACLs follow the image |
//! | [`admin`] | topic changes proposed to the controller |
//! | [`topic_ids`] | which topic id each local copy was made for |
//! | [`topic_view`] | partition counts for group assignment from the image |
//! | [`tasks`] | the reconcile task; the controller creates `__consumer_offsets` |

pub mod acls;
pub mod admin;
pub mod command;
pub mod config;
pub mod credentials;
pub mod error;
pub mod handle;
pub mod image;
pub mod liveness;
pub mod placement;
pub mod raft;
pub mod reconcile;
pub mod routing;
pub mod synced_index;
pub mod tasks;
pub mod topic_ids;
pub mod topic_view;

pub use command::{AclRecord, ApplyError, BrokerRegistration, MetadataCommand};
pub use config::{ClusterConfig, ClusterMember};
pub use error::ClusterError;
pub use handle::{Cluster, Quorum, QuorumStatus};
pub use image::{BrokerRecord, MetadataImage, PartitionRecord, TopicRecord};

/// A broker's node id (`--node-id`), also its id in the metadata quorum.
pub type NodeId = u64;
