//! The authorizer: what each request handler asks before it acts.
//!
//! [`Authorizer::access`] is called once per request and returns an [`Access`]: with
//! authorization off it is unrestricted (one branch, no allocation); otherwise it holds
//! the ACL snapshot current at that moment (so a change applies from the next request of
//! every connection), the session's principal and host, and whether that principal is a
//! super user. A denial is logged at debug and counted per resource type
//! (`rill_authorization_denied_total{resource}`).

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tracing::debug;

use super::acl::{
    AclIndex, AclOperation, AclStore, AclStoreError, AuthorizationConfig, ResourceType,
};
use super::{Principal, Session};
use rill_protocol::api::acls::CLUSTER_RESOURCE_NAME;

/// Denials per resource type since start.
#[derive(Debug, Default)]
pub struct DeniedCounters {
    topic: AtomicU64,
    group: AtomicU64,
    cluster: AtomicU64,
}

impl DeniedCounters {
    fn bump(&self, resource_type: ResourceType) {
        let counter = match resource_type {
            ResourceType::Topic => &self.topic,
            ResourceType::Group => &self.group,
            ResourceType::Cluster | ResourceType::Any => &self.cluster,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// `(resource label, denials)` for each resource type.
    pub fn snapshot(&self) -> [(&'static str, u64); 3] {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        [
            ("topic", get(&self.topic)),
            ("group", get(&self.group)),
            ("cluster", get(&self.cluster)),
        ]
    }
}

/// ACLs, super users, and whether they are checked at all.
#[derive(Debug)]
pub struct Authorizer {
    enabled: bool,
    super_users: Vec<Principal>,
    store: AclStore,
    denied: DeniedCounters,
}

impl Authorizer {
    /// Opens the ACLs kept in `data_dir`; `enabled` says whether requests are checked.
    /// Blocks (reads the ACL file).
    pub fn open(
        config: &AuthorizationConfig,
        enabled: bool,
        data_dir: &Path,
    ) -> Result<Authorizer, AclStoreError> {
        Ok(Authorizer {
            enabled,
            super_users: config.super_users.clone(),
            store: AclStore::open(data_dir, config.acls_max)?,
            denied: DeniedCounters::default(),
        })
    }

    /// Whether requests are checked against the ACLs.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The ACLs (to list and change them).
    pub fn store(&self) -> &AclStore {
        &self.store
    }

    /// Denials so far.
    pub fn denied(&self) -> &DeniedCounters {
        &self.denied
    }

    /// What `session` may do, for one request.
    pub fn access(self: &Arc<Self>, session: &Session) -> Access {
        if !self.enabled {
            return Access(None);
        }
        let principal = session.principal().clone();
        let super_user = self.super_users.contains(&principal);
        Access(Some(Arc::new(Checked {
            authorizer: Arc::clone(self),
            acls: self.store.snapshot(),
            principal,
            // An IPv4 client on a dual-stack socket is matched by its IPv4 address.
            host: session.peer().ip().to_canonical(),
            super_user,
        })))
    }
}

/// One request's rights: cheap to clone, so it can follow the request onto the
/// blocking pool.
#[derive(Debug, Clone)]
pub struct Access(Option<Arc<Checked>>);

#[derive(Debug)]
struct Checked {
    authorizer: Arc<Authorizer>,
    acls: Arc<AclIndex>,
    principal: Principal,
    host: IpAddr,
    super_user: bool,
}

impl Access {
    /// Everything allowed (authorization off; the broker's own work).
    pub fn unrestricted() -> Access {
        Access(None)
    }

    /// Whether `operation` on the resource is allowed; a denial is logged and counted.
    pub fn allows(&self, resource_type: ResourceType, name: &str, op: AclOperation) -> bool {
        let Some(c) = &self.0 else {
            return true;
        };
        if c.super_user || c.acls.allows(&c.principal, c.host, resource_type, name, op) {
            return true;
        }
        c.authorizer.denied.bump(resource_type);
        debug!(principal = %c.principal, host = %c.host, operation = %op, resource = %resource_type, name, "authorization denied");
        false
    }

    /// Whether `operation` is allowed, without logging or counting a no (to filter
    /// listings: what a principal may not describe is left out, not refused).
    pub fn permits(&self, resource_type: ResourceType, name: &str, op: AclOperation) -> bool {
        match &self.0 {
            None => true,
            Some(c) => c.super_user || c.acls.allows(&c.principal, c.host, resource_type, name, op),
        }
    }

    /// [`Access::allows`] on a topic.
    pub fn topic(&self, name: &str, op: AclOperation) -> bool {
        self.allows(ResourceType::Topic, name, op)
    }

    /// [`Access::allows`] on a group.
    pub fn group(&self, name: &str, op: AclOperation) -> bool {
        self.allows(ResourceType::Group, name, op)
    }

    /// [`Access::allows`] on the cluster.
    pub fn cluster(&self, op: AclOperation) -> bool {
        self.allows(ResourceType::Cluster, CLUSTER_RESOURCE_NAME, op)
    }

    /// [`Access::permits`] on the cluster.
    pub fn cluster_permits(&self, op: AclOperation) -> bool {
        self.permits(ResourceType::Cluster, CLUSTER_RESOURCE_NAME, op)
    }

    /// Whether `op` is allowed on some resource of the type (Kafka's "Write on any
    /// topic"); a no is logged and counted.
    pub fn allows_some(&self, resource_type: ResourceType, op: AclOperation) -> bool {
        let Some(c) = &self.0 else {
            return true;
        };
        if c.super_user || c.acls.allows_some(&c.principal, c.host, resource_type, op) {
            return true;
        }
        c.authorizer.denied.bump(resource_type);
        debug!(principal = %c.principal, host = %c.host, operation = %op, resource = %resource_type, "authorization denied (no resource of the type allows it)");
        false
    }

    /// Whether this access is checked at all (false when authorization is off).
    pub fn is_checked(&self) -> bool {
        self.0.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::acl::{AclBinding, AclPermission, PatternType};

    fn read(principal: &str, host: &str) -> AclBinding {
        AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: "t".into(),
            pattern_type: PatternType::Literal,
            principal: principal.into(),
            host: host.into(),
            operation: AclOperation::Read,
            permission: AclPermission::Allow,
        }
    }

    fn open_authorizer(enabled: bool, acls: Vec<AclBinding>, dir: &Path) -> Arc<Authorizer> {
        let config = AuthorizationConfig {
            super_users: vec![Principal::user("root")],
            ..AuthorizationConfig::default()
        };
        let authorizer = Authorizer::open(&config, enabled, dir).unwrap();
        authorizer.store().create(acls).unwrap();
        Arc::new(authorizer)
    }

    fn session(peer: &str, user: &str) -> Session {
        let mut s = Session::new(peer.parse().unwrap());
        s.authenticated_as(Principal::user(user));
        s
    }

    #[test]
    fn hosts_principals_and_super_users() {
        let dir = tempfile::tempdir().unwrap();
        let acls = vec![read("User:alice", "127.0.0.2"), read("Group:*", "*")];
        let authorizer = open_authorizer(true, acls, dir.path());
        let can = |peer: &str, user: &str| {
            let access = authorizer.access(&session(peer, user));
            access.topic("t", AclOperation::Read)
        };
        assert!(can("127.0.0.2:5000", "alice"));
        assert!(can("[::ffff:127.0.0.2]:5000", "alice"), "IPv4-mapped peer");
        assert!(!can("127.0.0.1:5000", "alice"));
        assert!(!can("127.0.0.2:5000", "bob"), "Group:* is not everyone");
        assert!(can("10.1.1.1:5000", "root"), "super user");
        let [(_, topic_denials), _, _] = authorizer.denied().snapshot();
        assert_eq!(topic_denials, 2);
        let off_dir = tempfile::tempdir().unwrap();
        let off = open_authorizer(false, Vec::new(), off_dir.path());
        let access = off.access(&session("127.0.0.1:1", "bob"));
        assert!(!access.is_checked() && access.cluster(AclOperation::Alter));
    }
}
