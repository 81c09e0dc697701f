//! What a stranger could do to group state, and what one group could do to another:
//! commits for topics that do not exist, offsets that outlive their topic or their group,
//! unbounded rebalance timeouts, rejoins that leave an old incarnation unfenced, and one
//! group's lock delaying another's heartbeats.

use std::sync::mpsc;
use std::time::Duration;

use super::*;
use crate::group::commit::CommitParams;
use crate::group::slots::lock;

fn simple(group: &str, offsets: &[(&str, i32, i64)]) -> CommitParams {
    CommitParams {
        group_id: group.into(),
        member_id: String::new(),
        member_epoch: -1,
        offsets: offsets
            .iter()
            .map(|(t, p, o)| (TopicPartition::new(*t, *p), *o, None))
            .collect(),
    }
}

fn committed(f: &Fixture, group: &str, topic: &str, partition: i32) -> Option<i64> {
    let tp = TopicPartition::new(topic, partition);
    f.coord
        .fetch_offsets(group, Some(vec![tp]))
        .pop()
        .and_then(|(_, c)| c)
        .map(|c| c.offset)
}

#[test]
fn a_commit_for_a_missing_topic_or_partition_is_refused() {
    let f = Fixture::new();
    f.create_topic("t", 2);
    let results = f
        .commit(simple("g", &[("t", 1, 5), ("t", 2, 5), ("ghost", 0, 5)]), 1)
        .expect("commit");
    let outcomes: Vec<_> = results
        .iter()
        .map(|(tp, r)| (tp.to_string(), r.as_ref().err()))
        .collect();
    assert_eq!(outcomes[0].0, "t-1");
    assert!(outcomes[0].1.is_none(), "{outcomes:?}");
    for (tp, error) in &outcomes[1..] {
        assert!(
            matches!(error, Some(GroupError::UnknownTopicOrPartition { .. })),
            "{tp}: {error:?}"
        );
    }
    assert_eq!(f.coord.fetch_offsets("g", None).len(), 1, "only t-1 stored");
    // Nothing for the ghost topic: a stranger cannot fill the store with junk names.
    let junk = f
        .commit(simple("junk", &[("nope", 0, 1)]), 2)
        .expect("commit");
    assert!(junk[0].1.is_err());
    assert!(f.coord.list_groups().iter().all(|g| g.group_id != "junk"));
}

#[test]
fn deleting_a_topic_deletes_every_groups_offsets_for_it_for_good() {
    let mut f = Fixture::new();
    f.create_topic("t", 2);
    f.create_topic("kept", 1);
    f.commit(simple("a", &[("t", 0, 5), ("t", 1, 6), ("kept", 0, 7)]), 1)
        .expect("commit");
    f.commit(simple("b", &[("t", 0, 9)]), 1).expect("commit");
    f.registry.delete("t").expect("delete topic");
    assert_eq!(
        f.coord.forget_topic(&f.registry, "t", 2).expect("forget"),
        3
    );
    f.create_topic("t", 2);
    assert_eq!(committed(&f, "a", "t", 0), None);
    assert_eq!(committed(&f, "b", "t", 0), None);
    assert_eq!(committed(&f, "a", "kept", 0), Some(7), "other topics stay");
    f = f.restart();
    assert_eq!(
        committed(&f, "a", "t", 0),
        None,
        "tombstones survive a restart"
    );
    assert_eq!(committed(&f, "a", "kept", 0), Some(7));
    let groups: Vec<_> = f
        .coord
        .list_groups()
        .into_iter()
        .map(|g| g.group_id)
        .collect();
    assert_eq!(groups, vec!["a".to_string()], "b had only offsets of t");
}

#[test]
fn offsets_of_a_topic_deleted_while_the_broker_was_stopping_are_deleted_at_start() {
    let mut f = Fixture::new();
    f.create_topic("t", 1);
    f.commit(simple("g", &[("t", 0, 5)]), 1).expect("commit");
    // The topic went, its offsets did not (a stop in between).
    f.registry.delete("t").expect("delete topic");
    f = f.restart();
    assert_eq!(
        f.coord
            .forget_missing_topics(&f.registry, 2)
            .expect("forget"),
        1
    );
    f.create_topic("t", 1);
    assert_eq!(committed(&f, "g", "t", 0), None);
}

fn retention_fixture(retention_ms: i64) -> Fixture {
    let f = Fixture::with_config(GroupConfig {
        offsets_retention_ms: retention_ms,
        ..GroupConfig::default()
    });
    f.create_topic("t", 2);
    f
}

#[test]
fn offsets_of_a_group_without_members_expire_after_the_retention() {
    let mut f = retention_fixture(1_000);
    let topics = FakeTopics::with(&[("t", 2)]);
    // `simple` committed at 10 and never had a member.
    f.commit(simple("simple", &[("t", 0, 1)]), 10)
        .expect("commit");
    // `left` committed at 10 through a member that was last seen at 500, then left.
    let a = Client::join(&f.coord, "left", &topics, &["t"], 0);
    let commit = CommitParams {
        member_id: a.member_id.clone(),
        member_epoch: a.epoch,
        ..simple("left", &[("t", 1, 2)])
    };
    f.commit(commit, 10).expect("member commit");
    let mut a = a;
    a.heartbeat(&f.coord, &topics, 500);
    f.coord.leave("left", &a.member_id, &topics).expect("leave");
    // `live` has a member that keeps heartbeating, and an old commit.
    f.commit(simple("live", &[("t", 0, 3)]), 10)
        .expect("commit");
    let mut live = Client::join(&f.coord, "live", &topics, &["t"], 11);

    assert!(f
        .coord
        .expire_offsets(&f.registry, 1_010)
        .expect("expire")
        .is_empty());
    live.heartbeat(&f.coord, &topics, 1_011);
    let expired = f.coord.expire_offsets(&f.registry, 1_011).expect("expire");
    assert_eq!(expired, vec!["simple".to_string()]);
    live.heartbeat(&f.coord, &topics, 1_500);
    let expired = f.coord.expire_offsets(&f.registry, 1_501).expect("expire");
    assert_eq!(
        expired,
        vec!["left".to_string()],
        "counted from when it emptied"
    );
    live.heartbeat(&f.coord, &topics, 5_000);
    assert!(f
        .coord
        .expire_offsets(&f.registry, 5_001)
        .expect("expire")
        .is_empty());
    assert_eq!(
        committed(&f, "live", "t", 0),
        Some(3),
        "a group with members keeps all"
    );
    let listed: Vec<_> = f
        .coord
        .list_groups()
        .into_iter()
        .map(|g| g.group_id)
        .collect();
    assert_eq!(
        listed,
        vec!["live".to_string()],
        "the expired groups are gone"
    );
    f = f.restart();
    assert_eq!(committed(&f, "simple", "t", 0), None);
    assert_eq!(committed(&f, "left", "t", 1), None);
    assert_eq!(committed(&f, "live", "t", 0), Some(3));
}

#[test]
fn the_retention_restarts_with_the_broker() {
    let mut f = retention_fixture(1_000);
    f.commit(simple("g", &[("t", 0, 1)]), 10).expect("commit");
    f = f.restart(); // the fixture's coordinator starts at 0
    let coord = GroupCoordinator::open(
        &f.registry,
        GroupConfig {
            offsets_retention_ms: 1_000,
            ..GroupConfig::default()
        },
        5_000,
    )
    .expect("coordinator");
    // Started at 5000: when the group last had members is unknown, so it gets the full
    // retention from the start.
    assert!(coord
        .expire_offsets(&f.registry, 5_500)
        .expect("expire")
        .is_empty());
    assert_eq!(
        coord.expire_offsets(&f.registry, 6_001).expect("expire"),
        vec!["g".to_string()]
    );
}

#[test]
fn the_rebalance_timeout_is_bounded() {
    let f = Fixture::new();
    let topics = FakeTopics::with(&[("t", 1)]);
    for timeout_ms in [
        i32::MAX,
        crate::group::REBALANCE_TIMEOUT_MS_MAX_DEFAULT + 1,
        -1,
    ] {
        let mut p = join_params("g", &["t"]);
        p.rebalance_timeout_ms = timeout_ms;
        let refused = f.coord.join(p, &topics, 0);
        assert!(
            matches!(refused, Err(GroupError::InvalidRequest(_))),
            "{timeout_ms}: {refused:?}"
        );
    }
    let mut p = join_params("g", &["t"]);
    p.rebalance_timeout_ms = crate::group::REBALANCE_TIMEOUT_MS_MAX_DEFAULT;
    f.coord
        .join(p, &topics, 0)
        .expect("the bound itself is allowed");
}

/// A member's process restarts and joins again with the id it had: the new incarnation
/// gets a new epoch, so the old one (still running somewhere, or a delayed request of
/// it) can neither heartbeat nor commit, and no partition is owned twice.
#[test]
fn a_rejoin_with_a_known_id_fences_the_old_incarnation() {
    let f = Fixture::new();
    f.create_topic("t", 4);
    let topics = FakeTopics::with(&[("t", 4)]);
    let a = Client::join(&f.coord, "g", &topics, &["t"], 0);
    let b = Client::join(&f.coord, "g", &topics, &["t"], 0);
    let mut clients = vec![a, b];
    settle(&f.coord, &mut clients, &topics, 1);
    let old = clients[0].clone();
    assert_eq!(old.owned.len(), 2);

    let mut p = join_params("g", &["t"]);
    p.member_id = old.member_id.clone();
    let update = f.coord.join(p, &topics, 2).expect("rejoin");
    assert!(
        update.member_epoch > old.epoch,
        "{} > {}",
        update.member_epoch,
        old.epoch
    );
    let mut new = old.clone();
    new.owned.clear();
    new.apply(update);

    let fenced = f.coord.heartbeat(old.params(), &topics, 3);
    assert!(
        matches!(fenced, Err(GroupError::FencedMemberEpoch { .. })),
        "{fenced:?}"
    );
    let commit = CommitParams {
        member_id: old.member_id.clone(),
        member_epoch: old.epoch,
        ..simple("g", &[("t", 0, 1)])
    };
    let stale = f.commit(commit, 3);
    assert!(
        matches!(stale, Err(GroupError::StaleMemberEpoch { .. })),
        "{stale:?}"
    );
    clients[0] = new;
    settle(&f.coord, &mut clients, &topics, 4);
    let d = f.coord.describe_group("g", &topics).expect("describe");
    let owned: usize = d.members.iter().map(|m| m.owned.len()).sum();
    assert_eq!(owned, 4, "every partition owned exactly once: {d:#?}");
}

/// One group's lock (a rebalance, or a commit writing the offsets log) does not delay
/// another group's join and heartbeats. With one mutex for all groups this deadlocks
/// the test until the deadline.
#[test]
fn a_busy_group_does_not_delay_another_groups_heartbeats() {
    let f = Fixture::new();
    let topics = FakeTopics::with(&[("t", 2)]);
    let _busy_member = Client::join(&f.coord, "busy", &topics, &["t"], 0);
    let mut other = Client::join(&f.coord, "other", &topics, &["t"], 0);
    let busy = f.coord.groups.get("busy").expect("busy group");
    let held = lock(&busy);
    let offsets = f.coord.lock_offsets(); // as during a slow offsets write
    std::thread::scope(|s| {
        let (done, finished) = mpsc::channel();
        let other = &mut other;
        let coord = &f.coord;
        let topics = &topics;
        s.spawn(move || {
            other.heartbeat(coord, topics, 1);
            let joined = Client::join(coord, "third", topics, &["t"], 1);
            done.send(joined.owned.len()).expect("send");
        });
        let outcome = finished.recv_timeout(Duration::from_secs(10));
        drop(offsets);
        drop(held);
        assert_eq!(outcome, Ok(2), "the other groups were held up");
    });
}

/// After a broker restart the membership is gone but the members are not: one that
/// rejoins first must not be handed partitions that another member from before the
/// restart is still consuming. A group that existed before the start (it has committed
/// offsets) gets no partition until every old member has had to heartbeat, be told it is
/// unknown and drop what it held.
#[test]
fn after_a_restart_old_groups_get_partitions_once_old_members_must_have_noticed() {
    let mut f = Fixture::new();
    f.create_topic("t", 2);
    let topics = FakeTopics::with(&[("t", 2)]);
    f.commit(simple("g", &[("t", 0, 1)]), 1).expect("commit");
    f = f.restart(); // the coordinator starts at 0
    let hold_ms = crate::group::coordinator::restart_hold_ms(&GroupConfig::default());
    let mut a = Client::join(&f.coord, "g", &topics, &["t"], 10);
    assert!(a.owned.is_empty(), "{a:?}");
    let fresh = Client::join(&f.coord, "new", &topics, &["t"], 10);
    assert_eq!(
        fresh.owned.len(),
        2,
        "a group unknown before the start waits for no one"
    );
    a.heartbeat(&f.coord, &topics, hold_ms - 1);
    assert!(a.owned.is_empty());
    a.heartbeat(&f.coord, &topics, hold_ms);
    assert_eq!(a.owned, tps("t", &[0, 1]));
}
