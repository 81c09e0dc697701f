//! Access control lists in Kafka's model: who (principal, host) may or may not do which
//! operation on which topics, groups or the cluster.
//!
//! - [`index`]: the matcher every request asks (deny wins; no matching ACL means no).
//! - [`store`]: the ACLs kept durably in the data directory, published as snapshots.
//! - [`config`]: `--authorization` and `--super-users`.
//!
//! The model types themselves ([`AclBinding`], [`AclFilter`], the enums) are the wire
//! types of `rill_protocol::api::acls`, shared with the client.

pub mod config;
pub mod index;
pub mod store;

pub use config::{AuthorizationArgs, AuthorizationConfig, AuthorizationFile, AuthorizationMode};
pub use index::AclIndex;
pub use rill_protocol::api::acls::{
    AclBinding, AclFilter, AclOperation, AclPermission, PatternType, ResourceType,
};
pub use store::{AclStore, AclStoreError};
