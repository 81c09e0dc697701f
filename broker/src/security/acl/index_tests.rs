use std::collections::BTreeSet;
use std::net::IpAddr;

use proptest::prelude::*;
use proptest::sample::select;
use rill_protocol::api::acls::{
    AclBinding, AclOperation, AclPermission, PatternType, ResourceType,
};

use super::AclIndex;
use crate::security::Principal;

fn acl(
    principal: &str,
    resource_type: ResourceType,
    name: &str,
    pattern_type: PatternType,
    operation: AclOperation,
    permission: AclPermission,
) -> AclBinding {
    AclBinding {
        resource_type,
        resource_name: name.into(),
        pattern_type,
        principal: principal.into(),
        host: "*".into(),
        operation,
        permission,
    }
}

fn allow_topic(principal: &str, name: &str, pattern: PatternType, op: AclOperation) -> AclBinding {
    acl(
        principal,
        ResourceType::Topic,
        name,
        pattern,
        op,
        AclPermission::Allow,
    )
}

fn index(bindings: impl IntoIterator<Item = AclBinding>) -> AclIndex {
    AclIndex::new(bindings.into_iter().collect())
}

const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

fn alice() -> Principal {
    Principal::user("alice")
}

#[test]
fn nothing_is_allowed_without_an_acl() {
    let empty = index([]);
    assert!(!empty.allows(
        &alice(),
        LOCAL,
        ResourceType::Topic,
        "t",
        AclOperation::Read
    ));
}

#[test]
fn literal_prefixed_and_wildcard_names_match() {
    use AclOperation::Read;
    use PatternType::{Literal, Prefixed};
    let acls = index([
        allow_topic("User:alice", "orders", Literal, Read),
        allow_topic("User:alice", "eu-", Prefixed, Read),
        allow_topic("User:bob", "*", Literal, Read),
    ]);
    let bob = Principal::user("bob");
    let can = |p: &Principal, t: &str| acls.allows(p, LOCAL, ResourceType::Topic, t, Read);
    assert!(can(&alice(), "orders"));
    assert!(!can(&alice(), "orders2"));
    assert!(can(&alice(), "eu-sales"));
    assert!(can(&alice(), "eu-"));
    assert!(!can(&alice(), "e"));
    assert!(can(&bob, "anything"));
    assert!(!acls.allows(&bob, LOCAL, ResourceType::Group, "g", Read));
}

#[test]
fn deny_wins_over_allow() {
    use AclOperation::Read;
    let acls = index([
        allow_topic("User:*", "*", PatternType::Literal, AclOperation::All),
        acl(
            "User:alice",
            ResourceType::Topic,
            "secret-",
            PatternType::Prefixed,
            Read,
            AclPermission::Deny,
        ),
    ]);
    assert!(!acls.allows(&alice(), LOCAL, ResourceType::Topic, "secret-x", Read));
    assert!(acls.allows(&alice(), LOCAL, ResourceType::Topic, "public", Read));
    // Denying Read does not deny Describe, which the All allow grants.
    let describe = AclOperation::Describe;
    assert!(acls.allows(&alice(), LOCAL, ResourceType::Topic, "secret-x", describe));
}

#[test]
fn implied_operations_follow_kafka() {
    let acls = index([
        allow_topic("User:alice", "t", PatternType::Literal, AclOperation::Write),
        allow_topic(
            "User:alice",
            "t",
            PatternType::Literal,
            AclOperation::AlterConfigs,
        ),
    ]);
    let can = |op| acls.allows(&alice(), LOCAL, ResourceType::Topic, "t", op);
    assert!(can(AclOperation::Describe));
    assert!(can(AclOperation::DescribeConfigs));
    assert!(!can(AclOperation::Read));
    assert!(!can(AclOperation::Delete));
}

#[test]
fn host_must_match() {
    let mut b = allow_topic("User:alice", "t", PatternType::Literal, AclOperation::Read);
    b.host = "127.0.0.2".into();
    let acls = index([b]);
    let other: IpAddr = "127.0.0.2".parse().unwrap();
    assert!(acls.allows(
        &alice(),
        other,
        ResourceType::Topic,
        "t",
        AclOperation::Read
    ));
    assert!(!acls.allows(
        &alice(),
        LOCAL,
        ResourceType::Topic,
        "t",
        AclOperation::Read
    ));
}

#[test]
fn some_topic_allows_writes_unless_denied_everywhere() {
    let write = AclOperation::Write;
    let acls = index([allow_topic(
        "User:alice",
        "logs-",
        PatternType::Prefixed,
        write,
    )]);
    assert!(acls.allows_some(&alice(), LOCAL, ResourceType::Topic, write));
    assert!(!acls.allows_some(&Principal::user("bob"), LOCAL, ResourceType::Topic, write));
    let deny_all = acl(
        "User:alice",
        ResourceType::Topic,
        "*",
        PatternType::Literal,
        write,
        AclPermission::Deny,
    );
    let acls = index([
        allow_topic("User:alice", "logs-", PatternType::Prefixed, write),
        deny_all,
    ]);
    assert!(!acls.allows_some(&alice(), LOCAL, ResourceType::Topic, write));
}

/// The obvious matcher: every ACL checked one by one.
fn reference(
    bindings: &BTreeSet<AclBinding>,
    principal: &Principal,
    host: IpAddr,
    resource_type: ResourceType,
    name: &str,
    op: AclOperation,
) -> bool {
    let applies = |b: &&AclBinding| {
        b.resource_type == resource_type
            && match b.pattern_type {
                PatternType::Literal => b.resource_name == name || b.resource_name == "*",
                PatternType::Prefixed => name.starts_with(&b.resource_name),
                _ => false,
            }
            && (b.principal == principal.to_string() || b.principal == "User:*")
            && (b.host == host.to_string() || b.host == "*")
    };
    let denied = bindings.iter().filter(applies).any(|b| {
        b.permission == AclPermission::Deny
            && (b.operation == op || b.operation == AclOperation::All)
    });
    let implied: &[AclOperation] = match op {
        AclOperation::Describe => &[
            AclOperation::Read,
            AclOperation::Write,
            AclOperation::Delete,
            AclOperation::Alter,
        ],
        AclOperation::DescribeConfigs => &[AclOperation::AlterConfigs],
        _ => &[],
    };
    let allowed = bindings.iter().filter(applies).any(|b| {
        b.permission == AclPermission::Allow
            && (b.operation == op
                || b.operation == AclOperation::All
                || implied.contains(&b.operation))
    });
    allowed && !denied
}

const NAMES: &[&str] = &["", "a", "ab", "abc", "b", "ba", "*", "é", "éa"];
const TYPES: &[ResourceType] = &[ResourceType::Topic, ResourceType::Group];
const PRINCIPALS: &[&str] = &["User:alice", "User:bob", "User:*"];
const HOSTS: &[&str] = &["*", "127.0.0.1", "127.0.0.2"];

fn operation() -> impl Strategy<Value = AclOperation> {
    select(&AclOperation::ALL[1..])
}

fn binding() -> impl Strategy<Value = AclBinding> {
    (
        select(TYPES),
        select(&NAMES[1..]),
        select(&[PatternType::Literal, PatternType::Prefixed][..]),
        select(PRINCIPALS),
        select(HOSTS),
        operation(),
        select(&[AclPermission::Allow, AclPermission::Deny][..]),
    )
        .prop_map(
            |(resource_type, name, pattern_type, principal, host, operation, permission)| {
                AclBinding {
                    resource_type,
                    resource_name: name.to_string(),
                    pattern_type,
                    principal: principal.to_string(),
                    host: host.to_string(),
                    operation,
                    permission,
                }
            },
        )
}

proptest! {
    #[test]
    fn index_agrees_with_the_reference_matcher(
        bindings in proptest::collection::btree_set(binding(), 0..24),
        who in select(&["alice", "bob", "carol"][..]),
        host in select(&["127.0.0.1", "127.0.0.2"][..]),
        resource_type in select(TYPES),
        name in select(NAMES),
        op in operation(),
    ) {
        let principal = Principal::user(who);
        let host: IpAddr = host.parse().unwrap();
        let expected = reference(&bindings, &principal, host, resource_type, name, op);
        let index = AclIndex::new(bindings);
        prop_assert_eq!(index.allows(&principal, host, resource_type, name, op), expected);
    }
}
