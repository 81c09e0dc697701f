//! The ACL matcher on the request path: one `allows` check against 100,000 ACLs (the
//! store's cap), for a principal with a literal grant, one matched by a prefix, and one
//! no ACL allows (the full lookup, then no).
//!
//! The ACLs: 90,000 literal topic grants (900 users x 100 topics each), 9,000 prefixed
//! grants (900 users x 10 prefixes), 1,000 denies, all on the topic resource type, so the
//! maps hold 100,000 entries under ~91,000 names.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, Criterion};
use rill_broker::security::acl::{
    AclBinding, AclIndex, AclOperation, AclPermission, PatternType, ResourceType,
};
use rill_broker::security::Principal;

const USERS: usize = 900;

fn binding(user: usize, name: String, pattern_type: PatternType, deny: bool) -> AclBinding {
    AclBinding {
        resource_type: ResourceType::Topic,
        resource_name: name,
        pattern_type,
        principal: format!("User:user-{user}"),
        host: "*".into(),
        operation: AclOperation::Read,
        permission: if deny {
            AclPermission::Deny
        } else {
            AclPermission::Allow
        },
    }
}

fn index() -> AclIndex {
    let mut acls = BTreeSet::new();
    for user in 0..USERS {
        for t in 0..100 {
            acls.insert(binding(
                user,
                format!("topic-{user}-{t}"),
                PatternType::Literal,
                false,
            ));
        }
        for p in 0..10 {
            acls.insert(binding(
                user,
                format!("team-{user}-{p}-"),
                PatternType::Prefixed,
                false,
            ));
        }
    }
    for d in 0..1_000 {
        acls.insert(binding(
            d % USERS,
            format!("secret-{d}"),
            PatternType::Literal,
            true,
        ));
    }
    assert_eq!(acls.len(), 100_000);
    AclIndex::new(acls)
}

fn matcher(c: &mut Criterion) {
    let index = index();
    let host = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let user = Principal::user("user-450");
    let stranger = Principal::user("nobody");
    let check = |p: &Principal, name: &str| {
        index.allows(p, host, ResourceType::Topic, name, AclOperation::Read)
    };
    assert!(check(&user, "topic-450-7"));
    assert!(check(&user, "team-450-3-orders"));
    assert!(!check(&stranger, "topic-450-7"));
    let mut group = c.benchmark_group("acl_matcher_100k");
    group.bench_function("literal_allowed", |b| {
        b.iter(|| {
            check(
                std::hint::black_box(&user),
                std::hint::black_box("topic-450-7"),
            )
        })
    });
    group.bench_function("prefixed_allowed", |b| {
        b.iter(|| {
            check(
                std::hint::black_box(&user),
                std::hint::black_box("team-450-3-orders"),
            )
        })
    });
    group.bench_function("denied_no_acl", |b| {
        b.iter(|| {
            check(
                std::hint::black_box(&stranger),
                std::hint::black_box("topic-450-7"),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, matcher);
criterion_main!(benches);
