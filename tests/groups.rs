//! Consumer groups end to end, real broker and real clients: partitions spread over
//! members, a crashed member's partitions move within the session timeout and resume
//! from the last commit, a joining member takes only what it must while the others
//! keep consuming, and `close` commits and leaves.

mod group_harness;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use group_harness::*;
use rill::client::{Admin, ConnectionConfig, Consumer};

const TOPIC: &str = "events";
const PARTITIONS: i32 = 6;

fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// Asserts every `(partition, offset)` in `produced` was consumed exactly once.
fn assert_exactly_once(journal: &Journal, produced: &[(i32, i64)]) {
    let consumed = journal.offsets();
    let unique: BTreeSet<(i32, i64)> = consumed.iter().copied().collect();
    assert_eq!(
        unique.len(),
        consumed.len(),
        "some record was consumed twice"
    );
    let expected: BTreeSet<(i32, i64)> = produced.iter().copied().collect();
    assert_eq!(unique, expected);
}

async fn wait_consumed(journal: &Journal, produced: &[(i32, i64)]) {
    let expected: BTreeSet<(i32, i64)> = produced.iter().copied().collect();
    wait_until("every record is consumed", || {
        let consumed: BTreeSet<(i32, i64)> = journal.offsets().into_iter().collect();
        expected.is_subset(&consumed)
    })
    .await;
}

async fn wait_balanced(journal: &Journal, sizes: &[usize]) {
    let mut want = sizes.to_vec();
    want.sort_unstable();
    wait_until(&format!("the partitions are split {want:?}"), || {
        let mut got: Vec<usize> = journal.owners().values().map(BTreeSet::len).collect();
        got.retain(|n| *n > 0);
        got.sort_unstable();
        got == want
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_share_six_partitions_and_consume_each_record_once() {
    let broker = broker().await;
    create_topic(broker.addr, TOPIC, PARTITIONS).await;
    let journal = Arc::new(Journal::default());
    let mut produced = produce(broker.addr, TOPIC, PARTITIONS, values("before", 300)).await;
    let mut members = Vec::new();
    for name in ["a", "b", "c"] {
        let member = Member::start(broker.addr, name, "g1", TOPIC, true, journal.clone()).await;
        members.push(member);
    }
    wait_balanced(&journal, &[2, 2, 2]).await;
    produced.extend(produce(broker.addr, TOPIC, PARTITIONS, values("after", 600)).await);
    wait_consumed(&journal, &produced).await;
    assert_exactly_once(&journal, &produced);
    journal.assert_single_owner();
    // Each member's records after the split came from its own two partitions.
    let owners = journal.owners();
    assert_eq!(owners.len(), 3);
    for member in members {
        member.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_member_is_replaced_and_the_group_resumes_from_its_commits() {
    let broker = broker().await;
    create_topic(broker.addr, TOPIC, PARTITIONS).await;
    let journal = Arc::new(Journal::default());
    let mut members = Vec::new();
    for name in ["a", "b", "c"] {
        let member = Member::start(broker.addr, name, "g2", TOPIC, false, journal.clone()).await;
        members.push(member);
    }
    wait_balanced(&journal, &[2, 2, 2]).await;
    let mut produced = produce(broker.addr, TOPIC, PARTITIONS, values("one", 120)).await;
    wait_consumed(&journal, &produced).await;

    // `c` consumes more without committing, then crashes (no commit, no leave).
    let crashed = members.pop().unwrap();
    let crashed_partitions = journal.owners()[&crashed.name].clone();
    crashed
        .commit
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let uncommitted = produce(broker.addr, TOPIC, PARTITIONS, values("two", 120)).await;
    produced.extend(&uncommitted);
    wait_consumed(&journal, &produced).await;
    let committed = crashed.committed.lock().unwrap().clone();
    let before_crash = produced.clone();
    let crashed_name = crashed.name.clone();
    let crashed_at = Instant::now();
    crashed.crash().await;

    // The survivors take its partitions within the session timeout (plus one
    // heartbeat and the broker's expiry check).
    wait_until("the survivors own every partition", || {
        let owners = journal.owners();
        let survivors: BTreeSet<i32> = owners
            .iter()
            .filter(|(name, _)| **name != crashed_name)
            .flat_map(|(_, ps)| ps.iter().copied())
            .collect();
        survivors.len() == PARTITIONS as usize
    })
    .await;
    // They move because `c`'s session lapsed: not long before (its last heartbeat was
    // shortly before the crash; the margin allows a heartbeat stalled by a loaded
    // machine), and not at some unrelated later moment.
    let moved_after = crashed_at.elapsed();
    assert!(
        moved_after >= SESSION_TIMEOUT / 2,
        "partitions moved after {moved_after:?}, before the session timeout"
    );
    assert!(
        moved_after < 3 * SESSION_TIMEOUT,
        "partitions moved after {moved_after:?}"
    );
    produced.extend(produce(broker.addr, TOPIC, PARTITIONS, values("three", 120)).await);
    wait_consumed(&journal, &produced).await;

    // Nothing lost; the only duplicates are `c`'s records after its last commit.
    let consumed = journal.offsets();
    let expected: BTreeSet<(i32, i64)> = produced.iter().copied().collect();
    assert_eq!(consumed.iter().copied().collect::<BTreeSet<_>>(), expected);
    let mut counts: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    for key in &consumed {
        *counts.entry(*key).or_default() += 1;
    }
    let duplicates: BTreeSet<(i32, i64)> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(k, _)| *k)
        .collect();
    let expected_duplicates: BTreeSet<(i32, i64)> = before_crash
        .iter()
        .filter(|(p, o)| crashed_partitions.contains(p) && *o >= committed[p])
        .copied()
        .collect();
    assert!(!expected_duplicates.is_empty());
    assert_eq!(duplicates, expected_duplicates);
    assert!(counts.values().all(|n| *n <= 2));
    for member in members {
        member.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fourth_member_takes_only_what_it_must_while_the_others_keep_consuming() {
    let broker = broker().await;
    create_topic(broker.addr, TOPIC, PARTITIONS).await;
    let journal = Arc::new(Journal::default());
    let mut members = Vec::new();
    for name in ["a", "b", "c"] {
        let member = Member::start(broker.addr, name, "g3", TOPIC, true, journal.clone()).await;
        members.push(member);
    }
    wait_balanced(&journal, &[2, 2, 2]).await;
    let before = journal.owners();
    let events_before = journal.ownership.lock().unwrap().len();

    // Produce continuously while the fourth member joins.
    let addr = broker.addr;
    let producing = tokio::spawn(async move {
        let mut produced = Vec::new();
        for round in 0..20 {
            let batch = values(&format!("r{round}"), 30);
            produced.extend(produce(addr, TOPIC, PARTITIONS, batch).await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        produced
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    members.push(Member::start(broker.addr, "d", "g3", TOPIC, true, journal.clone()).await);
    wait_balanced(&journal, &[1, 1, 2, 2]).await;
    let produced = producing.await.unwrap();
    wait_consumed(&journal, &produced).await;

    // 6 partitions over 4 members is 2+2+1+1: exactly one partition moves, to `d`.
    let after = journal.owners();
    let moves: Vec<_> = journal.ownership.lock().unwrap()[events_before..].to_vec();
    let revoked: Vec<i32> = moves
        .iter()
        .filter(|e| !e.assigned)
        .map(|e| e.partition)
        .collect();
    assert_eq!(revoked.len(), 1, "{moves:?}");
    assert_eq!(after["d"], revoked.iter().copied().collect::<BTreeSet<_>>());
    for name in ["a", "b", "c"] {
        assert!(
            after[name].is_subset(&before[name]),
            "{name} gained a partition"
        );
    }
    journal.assert_single_owner();
    assert_exactly_once(&journal, &produced);

    // Partitions that stayed were consumed during the rebalance, with no gap.
    let kept: BTreeSet<i32> = (0..PARTITIONS).filter(|p| !revoked.contains(p)).collect();
    let consumed = journal.consumed.lock().unwrap().clone();
    for p in kept {
        let offsets: Vec<i64> = consumed
            .iter()
            .filter(|c| c.partition == p)
            .map(|c| c.offset)
            .collect();
        let contiguous = offsets.windows(2).all(|w| w[1] == w[0] + 1);
        assert!(contiguous, "partition {p} has a gap: {offsets:?}");
    }
    for member in members {
        member.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_commits_and_leaves_and_the_next_member_starts_after_the_last_record() {
    let broker = broker().await;
    create_topic(broker.addr, TOPIC, 2).await;
    produce(broker.addr, TOPIC, 2, values("first", 10)).await;
    let mut consumer = Consumer::connect(member_config(broker.addr, true))
        .await
        .unwrap();
    consumer.subscribe("g4", &[TOPIC]).await.unwrap();
    let mut seen = 0;
    let start = Instant::now();
    while seen < 10 {
        assert!(start.elapsed() < DEADLINE);
        seen += consumer
            .poll(Duration::from_millis(100))
            .await
            .unwrap()
            .len();
    }
    assert_eq!(seen, 10);
    consumer.close().await.unwrap();

    let admin = Admin::connect(ConnectionConfig::new(broker.addr.to_string()))
        .await
        .unwrap();
    let group = admin.describe_group("g4").await.unwrap();
    assert_eq!(group.state, "Empty");
    assert!(group.members.is_empty());
    let committed: Vec<(i32, Option<i64>, Option<i64>)> = group
        .offsets
        .iter()
        .map(|o| (o.partition, o.committed_offset, o.lag))
        .collect();
    assert_eq!(
        committed,
        vec![(0, Some(5), Some(0)), (1, Some(5), Some(0))]
    );

    let more = produce(broker.addr, TOPIC, 2, values("second", 4)).await;
    let group = admin.describe_group("g4").await.unwrap();
    assert_eq!(group.total_lag(), 4, "lag is end minus committed");
    let mut next = Consumer::connect(member_config(broker.addr, true))
        .await
        .unwrap();
    next.subscribe("g4", &[TOPIC]).await.unwrap();
    let mut records = Vec::new();
    let start = Instant::now();
    while records.len() < 4 {
        assert!(start.elapsed() < DEADLINE);
        records.extend(next.poll(Duration::from_millis(100)).await.unwrap());
    }
    let mut got: Vec<(i32, i64)> = records.iter().map(|r| (r.partition, r.offset)).collect();
    got.sort_unstable();
    let mut want = more.clone();
    want.sort_unstable();
    assert_eq!(got, want, "starts exactly after the last consumed record");
    next.close().await.unwrap();
    assert_eq!(admin.list_groups().await.unwrap()[0].state, "Empty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_again_changes_the_topics_and_rebalances() {
    let broker = broker().await;
    create_topic(broker.addr, "first", 2).await;
    create_topic(broker.addr, "second", 2).await;
    produce(broker.addr, "first", 2, values("a", 4)).await;
    produce(broker.addr, "second", 2, values("b", 4)).await;
    let mut consumer = Consumer::connect(member_config(broker.addr, true))
        .await
        .unwrap();
    consumer.subscribe("g-sub", &["first"]).await.unwrap();
    let mut topics = BTreeSet::new();
    let mut read = 0;
    let start = Instant::now();
    while read < 4 {
        assert!(start.elapsed() < DEADLINE, "first topic consumed");
        for r in consumer.poll(Duration::from_millis(100)).await.unwrap() {
            topics.insert(r.topic.to_string());
            read += 1;
        }
    }
    assert_eq!(topics, BTreeSet::from(["first".to_string()]));
    // The same group, other topics: the broker reassigns, dropping `first`.
    consumer.subscribe("g-sub", &["second"]).await.unwrap();
    let mut second = 0;
    let start = Instant::now();
    while second < 4 {
        assert!(
            start.elapsed() < DEADLINE,
            "second topic consumed after resubscribing"
        );
        for r in consumer.poll(Duration::from_millis(100)).await.unwrap() {
            assert_eq!(&*r.topic, "second", "only the new subscription is consumed");
            second += 1;
        }
    }
    // Another group id while subscribed is an error: close first.
    assert!(consumer.subscribe("other", &["second"]).await.is_err());
    consumer.close().await.unwrap();
}
