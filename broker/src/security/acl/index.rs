//! The matcher: every ACL indexed for the question asked on every request, "may this
//! principal, from this host, do this operation on this resource?".
//!
//! Per resource type, literal names sit in a hash map (the `*` wildcard is one of its
//! keys) and prefixed names in another, with the distinct prefix lengths kept sorted: a
//! lookup costs two hash probes plus one per distinct prefix length not longer than the
//! name, whatever the number of ACLs. An index is immutable; a change builds a new one.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use rill_protocol::api::acls::{
    AclBinding, AclOperation, AclPermission, PatternType, ResourceType, WILDCARD,
};

use crate::security::principal::USER_TYPE;
use crate::security::Principal;

/// Who an ACL applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PrincipalMatch {
    /// `User:*`.
    Any,
    /// One principal.
    Exact(Principal),
}

/// Which client addresses an ACL applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostMatch {
    /// `*`.
    Any,
    /// One address.
    Ip(IpAddr),
}

/// One ACL, as the matcher needs it.
#[derive(Debug, Clone)]
struct Entry {
    principal: PrincipalMatch,
    host: HostMatch,
    operation: AclOperation,
    permission: AclPermission,
}

impl Entry {
    /// The entry for a validated binding; `None` if its principal or host is malformed
    /// (validation refuses those, so they never reach an index).
    fn from_binding(b: &AclBinding) -> Option<Entry> {
        let principal = match b.principal.parse::<Principal>().ok()? {
            p if p.kind() == USER_TYPE && p.name() == WILDCARD => PrincipalMatch::Any,
            p => PrincipalMatch::Exact(p),
        };
        let host = match b.host.as_str() {
            WILDCARD => HostMatch::Any,
            ip => HostMatch::Ip(ip.parse().ok()?),
        };
        Some(Entry {
            principal,
            host,
            operation: b.operation,
            permission: b.permission,
        })
    }

    fn applies_to(&self, principal: &Principal, host: IpAddr) -> bool {
        (match &self.principal {
            PrincipalMatch::Any => true,
            PrincipalMatch::Exact(p) => p == principal,
        }) && (match self.host {
            HostMatch::Any => true,
            HostMatch::Ip(ip) => ip == host,
        })
    }
}

/// The ACLs of one resource type.
#[derive(Debug, Default)]
struct TypeAcls {
    literal: HashMap<String, Vec<Entry>>,
    prefixed: HashMap<String, Vec<Entry>>,
    prefix_lengths: BTreeSet<usize>,
}

impl TypeAcls {
    fn insert(&mut self, binding: &AclBinding, entry: Entry) {
        let map = match binding.pattern_type {
            PatternType::Prefixed => {
                self.prefix_lengths.insert(binding.resource_name.len());
                &mut self.prefixed
            }
            _ => &mut self.literal,
        };
        map.entry(binding.resource_name.clone())
            .or_default()
            .push(entry);
    }

    /// Calls `visit` with every group of entries whose pattern matches `name`.
    fn each_matching(&self, name: &str, mut visit: impl FnMut(&[Entry])) {
        if let Some(entries) = self.literal.get(name) {
            visit(entries);
        }
        if name != WILDCARD {
            if let Some(entries) = self.literal.get(WILDCARD) {
                visit(entries);
            }
        }
        for &len in self.prefix_lengths.range(..=name.len()) {
            let Some(prefix) = name.get(..len) else {
                continue; // not a character boundary: no prefix of this length
            };
            if let Some(entries) = self.prefixed.get(prefix) {
                visit(entries);
            }
        }
    }

    /// Every entry, whatever its pattern.
    fn each_entry(&self) -> impl Iterator<Item = &Entry> {
        self.literal
            .values()
            .chain(self.prefixed.values())
            .flatten()
    }
}

/// An immutable, indexed set of ACLs.
#[derive(Debug, Default)]
pub struct AclIndex {
    topic: TypeAcls,
    group: TypeAcls,
    cluster: TypeAcls,
    bindings: BTreeSet<AclBinding>,
}

impl AclIndex {
    /// Indexes `bindings` (each already validated; malformed ones are skipped).
    pub fn new(bindings: BTreeSet<AclBinding>) -> Self {
        let mut index = AclIndex::default();
        for binding in &bindings {
            let Some(entry) = Entry::from_binding(binding) else {
                continue;
            };
            if let Some(acls) = index.type_acls_mut(binding.resource_type) {
                acls.insert(binding, entry);
            }
        }
        index.bindings = bindings;
        index
    }

    /// Every ACL, sorted.
    pub fn bindings(&self) -> &BTreeSet<AclBinding> {
        &self.bindings
    }

    /// How many ACLs there are.
    pub fn len(&self) -> usize {
        self.bindings.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }

    fn type_acls(&self, resource_type: ResourceType) -> Option<&TypeAcls> {
        match resource_type {
            ResourceType::Topic => Some(&self.topic),
            ResourceType::Group => Some(&self.group),
            ResourceType::Cluster => Some(&self.cluster),
            ResourceType::Any => None,
        }
    }

    fn type_acls_mut(&mut self, resource_type: ResourceType) -> Option<&mut TypeAcls> {
        match resource_type {
            ResourceType::Topic => Some(&mut self.topic),
            ResourceType::Group => Some(&mut self.group),
            ResourceType::Cluster => Some(&mut self.cluster),
            ResourceType::Any => None,
        }
    }

    /// Whether an ACL allows `principal` at `host` to do `operation` on the resource and
    /// none denies it (deny wins; no matching ACL means no).
    pub fn allows(
        &self,
        principal: &Principal,
        host: IpAddr,
        resource_type: ResourceType,
        name: &str,
        operation: AclOperation,
    ) -> bool {
        let Some(acls) = self.type_acls(resource_type) else {
            return false;
        };
        let granted = operation.granted_by();
        let (mut allowed, mut denied) = (false, false);
        acls.each_matching(name, |entries| {
            for e in entries.iter().filter(|e| e.applies_to(principal, host)) {
                match e.permission {
                    AclPermission::Deny
                        if e.operation == operation || e.operation == AclOperation::All =>
                    {
                        denied = true
                    }
                    AclPermission::Allow if granted.contains(&e.operation) => allowed = true,
                    _ => {}
                }
            }
        });
        allowed && !denied
    }

    /// Whether `principal` at `host` may do `operation` on some resource of the type:
    /// an ACL of any pattern allows it and no deny on every name (`*`) takes it away
    /// (Kafka's check for "Write on any topic" of an idempotent producer).
    pub fn allows_some(
        &self,
        principal: &Principal,
        host: IpAddr,
        resource_type: ResourceType,
        operation: AclOperation,
    ) -> bool {
        let Some(acls) = self.type_acls(resource_type) else {
            return false;
        };
        let granted = operation.granted_by();
        let applies = |e: &&Entry| e.applies_to(principal, host);
        let allowed = acls
            .each_entry()
            .filter(applies)
            .any(|e| e.permission == AclPermission::Allow && granted.contains(&e.operation));
        let denied_everywhere = acls.literal.get(WILDCARD).is_some_and(|entries| {
            entries.iter().filter(applies).any(|e| {
                e.permission == AclPermission::Deny
                    && (e.operation == operation || e.operation == AclOperation::All)
            })
        });
        allowed && !denied_everywhere
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
