//! Committing and fetching offsets, zombie fencing, restart, describe, delete and reset.

use std::collections::BTreeMap;

use rill_protocol::batch::{BatchBuilder, Compression, RecordInput};

use super::*;
use crate::group::admin::ResetTo;
use crate::group::commit::CommitParams;
use crate::group::{GroupError, GroupState};

fn simple_commit(group: &str, offsets: &[(&str, i32, i64)]) -> CommitParams {
    CommitParams {
        group_id: group.into(),
        member_id: String::new(),
        member_epoch: -1,
        offsets: offsets
            .iter()
            .map(|(t, p, o)| (TopicPartition::new(*t, *p), *o, Some(format!("at {o}"))))
            .collect(),
    }
}

fn member_commit(client: &Client, epoch: i32, offset: i64) -> CommitParams {
    CommitParams {
        group_id: client.group.clone(),
        member_id: client.member_id.clone(),
        member_epoch: epoch,
        offsets: vec![(TopicPartition::new("t", 0), offset, None)],
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

/// Creates `topic` with `partitions` and appends `records` records to partition 0, the
/// i-th with timestamp `1000 * (i + 1)`, one batch each.
fn topic_with_records(f: &Fixture, topic: &str, partitions: u32, records: i64) {
    f.registry
        .create(topic, Some(partitions), BTreeMap::new())
        .expect("create");
    let p = f.registry.partition(topic, 0).expect("partition");
    for i in 0..records {
        let mut builder = BatchBuilder::new(Compression::None);
        builder
            .append(&RecordInput::new(1000 * (i + 1), "v"))
            .expect("append");
        let mut batch = builder.build().expect("build").to_vec();
        p.log().unwrap().append(&mut batch).expect("log append");
    }
}

#[test]
fn offsets_survive_a_restart_and_the_newest_commit_wins() {
    let mut f = Fixture::new();
    f.create_topic("t", 4);
    assert!(
        f.registry.get(crate::group::OFFSETS_TOPIC).is_none(),
        "created on the first commit"
    );
    f.commit(simple_commit("g", &[("t", 0, 5), ("t", 1, 7)]), 1)
        .expect("commit");
    f.commit(simple_commit("g", &[("t", 0, 9)]), 2)
        .expect("commit");
    f.commit(simple_commit("other", &[("t", 0, 1)]), 3)
        .expect("commit");
    f = f.restart();
    assert_eq!(committed(&f, "g", "t", 0), Some(9));
    assert_eq!(committed(&f, "g", "t", 1), Some(7));
    assert_eq!(committed(&f, "other", "t", 0), Some(1));
    assert_eq!(committed(&f, "g", "t", 2), None);
    let all = f.coord.fetch_offsets("g", None);
    assert_eq!(all.len(), 2);
    let first = all[0].1.clone().expect("committed");
    assert_eq!(
        (first.metadata.as_deref(), first.commit_timestamp_ms),
        (Some("at 9"), 2)
    );
    let listed: Vec<_> = f
        .coord
        .list_groups()
        .into_iter()
        .map(|g| (g.group_id, g.state))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("g".into(), GroupState::Empty),
            ("other".into(), GroupState::Empty)
        ]
    );
}

#[test]
fn commits_are_fenced_by_membership_and_epoch() {
    let f = Fixture::new();
    f.create_topic("t", 4);
    let topics = FakeTopics::with(&[("t", 2)]);
    let a = Client::join(&f.coord, "g", &topics, &["t"], 0);
    f.commit(member_commit(&a, a.epoch, 3), 1)
        .expect("current epoch commits");
    let stale = f.commit(member_commit(&a, a.epoch - 1, 4), 1);
    assert!(
        matches!(stale, Err(GroupError::StaleMemberEpoch { .. })),
        "{stale:?}"
    );
    let future = f.commit(member_commit(&a, a.epoch + 1, 4), 1);
    assert!(
        matches!(future, Err(GroupError::FencedMemberEpoch { .. })),
        "{future:?}"
    );
    let mut stranger = a.clone();
    stranger.member_id = "stranger".into();
    let unknown = f.commit(member_commit(&stranger, a.epoch, 4), 1);
    assert!(
        matches!(unknown, Err(GroupError::UnknownMember { .. })),
        "{unknown:?}"
    );
    let simple = f.commit(simple_commit("g", &[("t", 0, 4)]), 1);
    assert!(
        matches!(simple, Err(GroupError::UnknownMember { .. })),
        "simple commit to a live group"
    );
    assert_eq!(committed(&f, "g", "t", 0), Some(3));
}

#[test]
fn a_zombie_cannot_commit_after_its_session_expired() {
    let f = Fixture::new();
    f.create_topic("t", 4);
    let topics = FakeTopics::with(&[("t", 2)]);
    let a = Client::join(&f.coord, "g", &topics, &["t"], 0);
    let mut b = Client::join(&f.coord, "g", &topics, &["t"], 0);
    b.heartbeat(&f.coord, &topics, 3000);
    f.coord.housekeeping(&topics, 3001);
    let zombie = f.commit(member_commit(&a, a.epoch, 50), 3002);
    assert!(
        matches!(zombie, Err(GroupError::UnknownMember { .. })),
        "{zombie:?}"
    );
    b.heartbeat(&f.coord, &topics, 3003);
    b.heartbeat(&f.coord, &topics, 3004);
    f.commit(member_commit(&b, b.epoch, 60), 3005)
        .expect("survivor commits");
    assert_eq!(committed(&f, "g", "t", 0), Some(60));
}

#[test]
fn invalid_partitions_are_rejected_one_by_one() {
    let mut f = Fixture::new();
    f.create_topic("t", 4);
    let mut params = simple_commit("g", &[("t", 0, 1), ("t", 1, -5)]);
    params
        .offsets
        .push((TopicPartition::new("t", 2), 1, Some("m".repeat(5000))));
    let results = f.commit(params, 1).expect("commit");
    let outcomes: Vec<bool> = results.iter().map(|(_, r)| r.is_ok()).collect();
    assert_eq!(outcomes, vec![true, false, false]);
    f.coord.config.offsets_per_group_max = 1;
    let over = f.commit(simple_commit("g", &[("t", 3, 1)]), 2);
    assert!(
        matches!(over, Err(GroupError::InvalidRequest(_))),
        "{over:?}"
    );
    f = f.restart();
    assert_eq!(f.coord.fetch_offsets("g", None).len(), 1);
}

#[test]
fn delete_needs_an_empty_group_and_its_tombstones_survive_a_restart() {
    let mut f = Fixture::new();
    f.create_topic("t", 1);
    let topics = FakeTopics::with(&[("t", 1)]);
    f.commit(simple_commit("g", &[("t", 0, 5)]), 1)
        .expect("commit");
    assert_eq!(committed(&f, "g", "t", 0), Some(5));
    let a = Client::join(&f.coord, "g", &topics, &["t"], 2);
    assert!(matches!(
        f.delete("g", 3),
        Err(GroupError::NonEmptyGroup(_))
    ));
    f.coord.leave("g", &a.member_id, &topics).expect("leave");
    f.delete("g", 4).expect("delete");
    assert!(matches!(
        f.delete("g", 5),
        Err(GroupError::GroupNotFound(_))
    ));
    assert!(matches!(
        f.coord.describe_group("g", &topics),
        Err(GroupError::GroupNotFound(_))
    ));
    f = f.restart();
    assert_eq!(committed(&f, "g", "t", 0), None);
    assert!(f.coord.list_groups().is_empty());
}

#[test]
fn describe_reports_members_and_lag() {
    let f = Fixture::new();
    topic_with_records(&f, "orders", 2, 10);
    let a = Client::join(&f.coord, "g", &f.registry, &["orders"], 0);
    let mut commit = member_commit(&a, a.epoch, 4);
    commit.offsets = vec![(TopicPartition::new("orders", 0), 4, None)];
    f.commit(commit, 1).expect("commit");
    let d = f.coord.describe_group("g", &f.registry).expect("describe");
    assert_eq!(d.state, GroupState::Stable);
    assert_eq!(d.members.len(), 1);
    assert_eq!(d.members[0].owned, tps("orders", &[0, 1]));
    assert_eq!(d.offsets.len(), 1);
    assert_eq!((d.offsets[0].high_watermark, d.offsets[0].lag), (10, 6));
}

#[test]
fn reset_moves_offsets_of_an_empty_group_only() {
    let f = Fixture::new();
    topic_with_records(&f, "orders", 1, 10);
    let p0 = || vec![TopicPartition::new("orders", 0)];
    let reset = |to, dry_run| {
        f.coord
            .reset_offsets("g", p0(), to, dry_run, &f.registry, &f.registry, 7)
            .expect("reset")
            .pop()
            .and_then(|(_, r)| r.ok())
    };
    assert_eq!(reset(ResetTo::Latest, true), Some(10));
    assert_eq!(
        committed(&f, "g", "orders", 0),
        None,
        "dry run commits nothing"
    );
    assert_eq!(reset(ResetTo::Latest, false), Some(10));
    assert_eq!(reset(ResetTo::Earliest, false), Some(0));
    assert_eq!(
        reset(ResetTo::Offset(99), false),
        Some(10),
        "clamped to the log"
    );
    assert_eq!(reset(ResetTo::Timestamp(3500), false), Some(3));
    assert_eq!(reset(ResetTo::Timestamp(99_000), false), Some(10));
    assert_eq!(committed(&f, "g", "orders", 0), Some(10));
    let unknown = f.coord.reset_offsets(
        "g",
        vec![TopicPartition::new("nope", 0)],
        ResetTo::Earliest,
        false,
        &f.registry,
        &f.registry,
        8,
    );
    assert!(matches!(
        unknown.expect("reset")[0].1,
        Err(GroupError::UnknownTopicOrPartition { .. })
    ));
    Client::join(&f.coord, "g", &f.registry, &["orders"], 9);
    let busy = f.coord.reset_offsets(
        "g",
        p0(),
        ResetTo::Earliest,
        false,
        &f.registry,
        &f.registry,
        10,
    );
    assert!(
        matches!(busy, Err(GroupError::NonEmptyGroup(_))),
        "{busy:?}"
    );
}

#[test]
fn an_unreadable_offsets_record_is_skipped_and_the_rest_loads() {
    let mut f = Fixture::new();
    f.create_topic("t", 4);
    f.commit(simple_commit("g", &[("t", 0, 5)]), 1)
        .expect("commit");
    let p = f
        .registry
        .partition(crate::group::OFFSETS_TOPIC, 0)
        .expect("offsets partition");
    let mut builder = BatchBuilder::new(Compression::None);
    builder
        .append(&RecordInput::new(1, "junk").with_key("not a key"))
        .expect("append");
    builder
        .append(&RecordInput::new(1, "junk"))
        .expect("append");
    p.log()
        .unwrap()
        .append(&mut builder.build().expect("build").to_vec())
        .expect("log append");
    f.commit(simple_commit("g", &[("t", 1, 6)]), 2)
        .expect("commit");
    f = f.restart();
    assert_eq!(committed(&f, "g", "t", 0), Some(5));
    assert_eq!(committed(&f, "g", "t", 1), Some(6));
}

/// `__consumer_offsets` is a compacted topic: the log cleaner keeps one record per
/// group/topic/partition, and a restart replays the cleaned log to the same offsets.
#[test]
fn the_offsets_topic_is_compacted_by_the_cleaner() {
    use crate::group::offsets::{CommittedOffset, OffsetStore};
    let dir = tempfile::tempdir().expect("tempdir");
    let open_registry = || {
        crate::topics::TopicRegistry::open(
            dir.path(),
            crate::config::TopicDefaults::default(),
            1 << 20,
        )
        .expect("registry")
    };
    let registry = open_registry();
    let mut store = OffsetStore::open(&registry).expect("store");
    let commit = |offset: i64| CommittedOffset {
        offset,
        metadata: None,
        commit_timestamp_ms: 1,
    };
    let tp0 = TopicPartition::new("t", 0);
    let tp1 = TopicPartition::new("t", 1);
    store
        .commit(&registry, "g", vec![(tp1.clone(), commit(42))], 1)
        .expect("commit");
    let topic = registry.get(crate::group::OFFSETS_TOPIC).expect("topic");
    assert!(topic.log_config.compaction.policy.compacts());
    // Small segments so the cleaner has closed segments to compact.
    registry
        .alter(
            crate::group::OFFSETS_TOPIC,
            vec![("segment.bytes".into(), Some("4096".into()))],
        )
        .expect("alter");
    for i in 0..1_000 {
        store
            .commit(&registry, "g", vec![(tp0.clone(), commit(i))], 1)
            .expect("commit");
    }
    let partition = registry
        .partition(crate::group::OFFSETS_TOPIC, 0)
        .expect("partition");
    let log = partition.log().expect("log");
    let before = log.size_bytes();
    let report = log
        .clean_now(&crate::storage::cleaner::CleanerConfig::default(), 10)
        .expect("clean");
    assert!(report.records_removed > 900, "{report:?}");
    assert!(
        log.size_bytes() < before / 2,
        "{} of {before}",
        log.size_bytes()
    );
    drop(store);
    registry.close().expect("close");
    drop(registry);

    let registry = open_registry();
    let store = OffsetStore::open(&registry).expect("reopen");
    assert_eq!(store.get("g", &tp0).map(|c| c.offset), Some(999));
    assert_eq!(store.get("g", &tp1).map(|c| c.offset), Some(42));
}

/// The offsets log's high watermark: records written so far.
fn offsets_written(f: &Fixture) -> i64 {
    f.registry
        .partition(crate::group::OFFSETS_TOPIC, 0)
        .ok()
        .and_then(|p| p.log().ok().map(|log| log.high_watermark()))
        .unwrap_or(0)
}

/// A partition repeated in one commit is written once, with its last offset; resets are
/// bound by the same group and per-group limits as commits.
#[test]
fn repeated_commits_write_once_and_resets_respect_the_limits() {
    let f = Fixture::with_config(crate::group::GroupConfig {
        groups_max: 2,
        offsets_per_group_max: 3,
        ..crate::group::GroupConfig::default()
    });
    topic_with_records(&f, "t", 4, 5);
    let before = offsets_written(&f);
    let repeated: Vec<(&str, i32, i64)> = (0..1000).map(|i| ("t", 0, i)).collect();
    f.commit(simple_commit("g", &repeated), 1).expect("commit");
    assert_eq!(
        offsets_written(&f) - before,
        1,
        "one record for one partition"
    );
    assert_eq!(committed(&f, "g", "t", 0), Some(999));

    let all = || {
        (0..4)
            .map(|p| TopicPartition::new("t", p))
            .collect::<Vec<_>>()
    };
    let err = f
        .coord
        .reset_offsets(
            "g",
            all(),
            ResetTo::Earliest,
            false,
            &f.registry,
            &f.registry,
            2,
        )
        .unwrap_err();
    assert!(matches!(err, GroupError::InvalidRequest(_)), "{err:?}");
    f.coord
        .reset_offsets(
            "h",
            all()[..3].to_vec(),
            ResetTo::Earliest,
            false,
            &f.registry,
            &f.registry,
            3,
        )
        .expect("a second group within the limit");
    let err = f
        .coord
        .reset_offsets(
            "i",
            all()[..1].to_vec(),
            ResetTo::Earliest,
            false,
            &f.registry,
            &f.registry,
            4,
        )
        .unwrap_err();
    assert!(
        matches!(err, GroupError::TooManyGroups { max: 2 }),
        "{err:?}"
    );
}
