//! Joining, cooperative rebalancing, expiry, leave and metadata changes.

use super::*;
use crate::group::coordinator::HeartbeatParams;
use crate::group::{GroupError, GroupState};

fn three_on_six(f: &Fixture, topics: &FakeTopics) -> Vec<Client> {
    let mut clients: Vec<Client> = (0..3)
        .map(|_| Client::join(&f.coord, "g", topics, &["t"], 0))
        .collect();
    settle(&f.coord, &mut clients, topics, 0);
    for c in &mut clients {
        c.revoked.clear();
    }
    clients
}

#[test]
fn three_members_share_six_partitions_two_each() {
    let f = Fixture::new();
    let topics = FakeTopics::with(&[("t", 6)]);
    let clients = three_on_six(&f, &topics);
    for c in &clients {
        assert_eq!(c.owned.len(), 2, "{clients:#?}");
    }
    let d = f.coord.describe_group("g", &topics).expect("describe");
    assert_eq!(d.state, GroupState::Stable);
    assert_eq!(d.assignor, "sticky");
    assert!(d.members.iter().all(|m| m.member_epoch == d.epoch));
}

#[test]
fn a_fourth_member_moves_only_what_it_receives() {
    let f = Fixture::new();
    let topics = FakeTopics::with(&[("t", 6)]);
    let mut clients = three_on_six(&f, &topics);
    let before: Vec<_> = clients.iter().map(|c| c.owned.clone()).collect();
    clients.push(Client::join(&f.coord, "g", &topics, &["t"], 10));
    assert!(
        clients[3].owned.is_empty(),
        "nothing is free until someone releases"
    );
    settle(&f.coord, &mut clients, &topics, 10);
    let revoked: usize = clients.iter().map(|c| c.revoked.len()).sum();
    assert_eq!(
        revoked, 1,
        "6 partitions over 4 members: one move (2,2,1,1)"
    );
    assert_eq!(clients[3].owned.len(), 1);
    for (c, owned_before) in clients.iter().zip(&before) {
        // A member keeps everything it was not asked to give up: no gap in consumption.
        assert_eq!(owned_before.difference(&c.owned).count(), c.revoked.len());
    }
}

#[test]
fn a_moving_partition_waits_for_its_owner_to_release_it() {
    let f = Fixture::new();
    let topics = FakeTopics::with(&[("t", 2)]);
    let mut a = Client::join(&f.coord, "g", &topics, &["t"], 0);
    assert_eq!(a.owned, tps("t", &[0, 1]));
    let a_epoch = a.epoch;
    let mut b = Client::join(&f.coord, "g", &topics, &["t"], 0);
    assert!(b.owned.is_empty());
    // A still reports owning both: it is told to keep one, and stays at its epoch.
    let update = f
        .coord
        .heartbeat(a.params(), &topics, 1)
        .expect("heartbeat");
    assert_eq!(update.member_epoch, a_epoch);
    let kept = update.assignment.clone().expect("revocation");
    assert_eq!(kept.len(), 1);
    b.heartbeat(&f.coord, &topics, 1);
    assert!(b.owned.is_empty(), "A has not released yet");
    assert_eq!(
        f.coord.describe_group("g", &topics).map(|d| d.state).ok(),
        Some(GroupState::Reconciling)
    );
    a.apply(update);
    a.heartbeat(&f.coord, &topics, 2);
    assert!(
        a.epoch > a_epoch,
        "A moved to the new epoch once it released"
    );
    b.heartbeat(&f.coord, &topics, 2);
    assert_eq!(b.owned.len(), 1);
    assert_exclusive(&[a, b]);
}

#[test]
fn a_silent_member_expires_and_its_partitions_move() {
    let f = Fixture::new();
    let topics = FakeTopics::with(&[("t", 4)]);
    let mut clients = vec![
        Client::join(&f.coord, "g", &topics, &["t"], 0),
        Client::join(&f.coord, "g", &topics, &["t"], 0),
    ];
    settle(&f.coord, &mut clients, &topics, 0);
    clients[0].heartbeat(&f.coord, &topics, 2500);
    assert!(f.coord.housekeeping(&topics, 3000).expired.is_empty());
    let report = f.coord.housekeeping(&topics, 3001);
    assert_eq!(
        report.expired,
        vec![("g".to_string(), clients[1].member_id.clone())]
    );
    clients[0].heartbeat(&f.coord, &topics, 3002);
    assert_eq!(clients[0].owned.len(), 4);
    let err = f.coord.heartbeat(clients[1].params(), &topics, 3003);
    assert!(
        matches!(err, Err(GroupError::UnknownMember { .. })),
        "{err:?}"
    );
}

#[test]
fn a_member_stuck_revoking_is_removed_after_the_rebalance_timeout() {
    let f = Fixture::new();
    let topics = FakeTopics::with(&[("t", 2)]);
    let mut a = Client::join(&f.coord, "g", &topics, &["t"], 0);
    let mut b = Client::join(&f.coord, "g", &topics, &["t"], 0);
    let _ = f
        .coord
        .heartbeat(a.params(), &topics, 100)
        .expect("told to revoke");
    // A keeps heartbeating but never releases; its revocation deadline is 100 + 5000.
    for now in [2000, 4000, 5100] {
        let _ = f
            .coord
            .heartbeat(a.params(), &topics, now)
            .expect("heartbeat");
        b.heartbeat(&f.coord, &topics, now);
        assert!(b.owned.is_empty());
    }
    assert_eq!(f.coord.housekeeping(&topics, 5101).expired.len(), 1);
    b.heartbeat(&f.coord, &topics, 5102);
    assert_eq!(b.owned, tps("t", &[0, 1]));
    a.owned.clear();
}

#[test]
fn leave_frees_partitions_at_once() {
    let f = Fixture::new();
    let topics = FakeTopics::with(&[("t", 6)]);
    let mut clients = three_on_six(&f, &topics);
    let epoch = f
        .coord
        .describe_group("g", &topics)
        .map(|d| d.epoch)
        .unwrap_or(0);
    f.coord
        .leave("g", &clients[2].member_id, &topics)
        .expect("leave");
    clients.pop();
    settle(&f.coord, &mut clients, &topics, 1);
    assert_eq!(
        clients.iter().map(|c| c.owned.len()).collect::<Vec<_>>(),
        vec![3, 3]
    );
    assert!(clients.iter().all(|c| c.revoked.is_empty()));
    assert!(
        f.coord
            .describe_group("g", &topics)
            .map(|d| d.epoch)
            .unwrap_or(0)
            > epoch
    );
    assert!(f.coord.leave("g", "nobody", &topics).is_err());
}

#[test]
fn partition_count_changes_rebalance_from_housekeeping_or_heartbeat() {
    let f = Fixture::new();
    let mut topics = FakeTopics::with(&[("t", 2)]);
    let mut clients = vec![
        Client::join(&f.coord, "g", &topics, &["t", "later"], 0),
        Client::join(&f.coord, "g", &topics, &["t", "later"], 0),
    ];
    settle(&f.coord, &mut clients, &topics, 0);
    assert_eq!(f.coord.housekeeping(&topics, 1).metadata_rebalances, 0);
    topics.counts.insert("t".into(), 4);
    assert_eq!(f.coord.housekeeping(&topics, 2).metadata_rebalances, 1);
    settle(&f.coord, &mut clients, &topics, 2);
    assert_eq!(clients.iter().map(|c| c.owned.len()).sum::<usize>(), 4);
    topics.counts.insert("later".into(), 2);
    settle(&f.coord, &mut clients, &topics, 3);
    assert_eq!(clients.iter().map(|c| c.owned.len()).sum::<usize>(), 6);
}

#[test]
fn subscription_changes_rebalance() {
    let f = Fixture::new();
    let topics = FakeTopics::with(&[("t", 2), ("u", 2)]);
    let mut a = Client::join(&f.coord, "g", &topics, &["t"], 0);
    let epoch = a.epoch;
    let mut params = a.params();
    params.topics = Some(vec!["t".into(), "u".into()]);
    a.apply(f.coord.heartbeat(params, &topics, 1).expect("heartbeat"));
    assert!(a.epoch > epoch);
    assert_eq!(
        a.owned,
        tps("t", &[0, 1])
            .into_iter()
            .chain(tps("u", &[0, 1]))
            .collect()
    );
}

#[test]
fn heartbeats_with_unknown_epochs_are_fenced_and_lost_answers_resent() {
    let f = Fixture::new();
    let topics = FakeTopics::with(&[("t", 2)]);
    let mut a = Client::join(&f.coord, "g", &topics, &["t"], 0);
    let fenced = HeartbeatParams {
        member_epoch: a.epoch + 5,
        ..a.params()
    };
    let err = f.coord.heartbeat(fenced, &topics, 1);
    assert!(
        matches!(err, Err(GroupError::FencedMemberEpoch { .. })),
        "{err:?}"
    );
    // B joins; A releases one partition and is bumped, but pretends the answer was lost.
    let _b = Client::join(&f.coord, "g", &topics, &["t"], 1);
    let told = f
        .coord
        .heartbeat(a.params(), &topics, 2)
        .expect("heartbeat");
    a.apply(told);
    let old_epoch = a.epoch;
    let bumped = f
        .coord
        .heartbeat(a.params(), &topics, 3)
        .expect("heartbeat");
    assert!(bumped.member_epoch > old_epoch);
    let again = f
        .coord
        .heartbeat(a.params(), &topics, 4)
        .expect("previous epoch accepted");
    assert_eq!(again.member_epoch, bumped.member_epoch);
    assert_eq!(
        again.assignment,
        Some(a.owned.clone()),
        "assignment sent again"
    );
}

#[test]
fn joins_are_validated_and_bounded() {
    let f = Fixture::new();
    let topics = FakeTopics::with(&[("t", 1)]);
    let mut p = join_params("g", &["t"]);
    p.session_timeout_ms = 10;
    assert!(matches!(
        f.coord.join(p, &topics, 0),
        Err(GroupError::InvalidSessionTimeout { .. })
    ));
    let mut p = join_params("g", &["t"]);
    p.assignor = Some("magic".into());
    assert!(matches!(
        f.coord.join(p, &topics, 0),
        Err(GroupError::UnknownAssignor(_))
    ));
    assert!(matches!(
        f.coord.join(join_params("", &["t"]), &topics, 0),
        Err(GroupError::InvalidGroupId { .. })
    ));
    let long = "x".repeat(300);
    assert!(matches!(
        f.coord.join(join_params("g", &[long.as_str()]), &topics, 0),
        Err(GroupError::InvalidRequest(_))
    ));
    let mut small = Fixture::new();
    small.coord.config.members_per_group_max = 1;
    Client::join(&small.coord, "g", &topics, &["t"], 0);
    assert!(matches!(
        small.coord.join(join_params("g", &["t"]), &topics, 0),
        Err(GroupError::GroupFull { .. })
    ));
}

#[test]
fn range_assignor_is_used_when_members_ask_for_it() {
    let f = Fixture::new();
    let topics = FakeTopics::with(&[("t", 4)]);
    let mut p = join_params("g", &["t"]);
    p.assignor = Some("range".into());
    let update = f.coord.join(p, &topics, 0).expect("join");
    assert_eq!(update.assignment, Some(tps("t", &[0, 1, 2, 3])));
    assert_eq!(
        f.coord
            .describe_group("g", &topics)
            .map(|d| d.assignor)
            .ok(),
        Some("range")
    );
    assert_eq!(update.heartbeat_interval_ms, 1000);
}

#[test]
fn rejoining_owns_nothing_and_gets_its_target_back() {
    let f = Fixture::new();
    let topics = FakeTopics::with(&[("t", 2)]);
    let a = Client::join(&f.coord, "g", &topics, &["t"], 0);
    let mut p = join_params("g", &["t"]);
    p.member_id = a.member_id.clone();
    let update = f.coord.join(p, &topics, 1).expect("rejoin");
    assert_eq!(update.member_id, a.member_id);
    assert_eq!(update.assignment, Some(tps("t", &[0, 1])));
    assert_eq!(f.coord.list_groups().len(), 1);
}

/// The answer that hands a member a partition is lost at an unchanged epoch (a timeout
/// or reset): its next heartbeat, still reporting the old assignment, gets the answer
/// again instead of nothing, so the partition does not sit assigned and unread.
#[test]
fn a_lost_assignment_at_the_same_epoch_is_sent_again() {
    let f = Fixture::new();
    let topics = FakeTopics::with(&[("t", 2)]);
    let mut a = Client::join(&f.coord, "g", &topics, &["t"], 0);
    let mut b = Client::join(&f.coord, "g", &topics, &["t"], 0);
    // A is told to give one partition up and does.
    let update = f
        .coord
        .heartbeat(a.params(), &topics, 1)
        .expect("heartbeat");
    a.apply(update);
    a.heartbeat(&f.coord, &topics, 2);
    // B's answer carrying the released partition is lost.
    let lost = f
        .coord
        .heartbeat(b.params(), &topics, 3)
        .expect("heartbeat");
    let handed = lost.assignment.clone().expect("B is handed a partition");
    assert_eq!(handed.len(), 1);
    let again = f
        .coord
        .heartbeat(b.params(), &topics, 4)
        .expect("heartbeat");
    assert_eq!(again.member_epoch, lost.member_epoch);
    assert_eq!(
        again.assignment,
        Some(handed),
        "the lost answer comes again"
    );
    b.apply(again);
    assert_exclusive(&[a.clone(), b.clone()]);
    // Once B reports it, the answer is not repeated.
    let quiet = f
        .coord
        .heartbeat(b.params(), &topics, 5)
        .expect("heartbeat");
    assert_eq!(quiet.assignment, None);
}

/// A group whose members all left or expired is forgotten by the membership side (its
/// committed offsets stay listed), so `groups_max` counts live groups, not every group
/// id ever used.
#[test]
fn groups_without_members_do_not_count_against_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = crate::topics::TopicRegistry::open(
        dir.path(),
        crate::config::TopicDefaults::default(),
        1 << 20,
    )
    .expect("registry");
    let config = crate::group::GroupConfig {
        groups_max: 2,
        ..crate::group::GroupConfig::default()
    };
    let coord = crate::group::GroupCoordinator::open(&registry, config, 0).expect("coordinator");
    let topics = FakeTopics::with(&[("t", 1)]);
    for round in 0..5 {
        let left = Client::join(&coord, &format!("left-{round}"), &topics, &["t"], 0);
        coord
            .leave(&left.group, &left.member_id, &topics)
            .expect("leave");
        let expired = Client::join(&coord, &format!("expired-{round}"), &topics, &["t"], 0);
        assert_eq!(
            coord.housekeeping(&topics, 60_000).expired,
            vec![(expired.group.clone(), expired.member_id.clone())]
        );
    }
    let a = Client::join(&coord, "a", &topics, &["t"], 0);
    let _b = Client::join(&coord, "b", &topics, &["t"], 0);
    let err = coord.join(join_params("c", &["t"]), &topics, 0);
    assert!(
        matches!(err, Err(GroupError::TooManyGroups { max: 2 })),
        "live groups still count: {err:?}"
    );
    coord.leave("a", &a.member_id, &topics).expect("leave");
    assert!(coord.join(join_params("c", &["t"]), &topics, 0).is_ok());
}

/// A join sent again with the member id the client chose (its first answer was lost)
/// names the same member: the group does not grow a ghost holding partitions.
#[test]
fn a_repeated_join_with_a_client_chosen_id_is_one_member() {
    let f = Fixture::new();
    let topics = FakeTopics::with(&[("t", 2)]);
    let params = || JoinParams {
        member_id: "rill-chosen-by-the-client".into(),
        ..join_params("g", &["t"])
    };
    let first = f.coord.join(params(), &topics, 0).expect("join");
    let again = f.coord.join(params(), &topics, 1).expect("join again");
    assert_eq!(first.member_id, "rill-chosen-by-the-client");
    assert_eq!(again.member_id, first.member_id);
    let described = f.coord.describe_group("g", &topics).expect("describe");
    assert_eq!(described.members.len(), 1);
}
