//! Consumer groups across a broker restart (membership is in memory: every member
//! rejoins and resumes from the committed offsets, which are durable), and two groups
//! on one topic progressing independently.

mod group_harness;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use group_harness::*;
use rill::broker::testing::TestBroker;
use rill::client::{Admin, ConnectionConfig, Consumer, ConsumerRecord};

const TOPIC: &str = "events";

fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// Polls until `want` records arrived (failing after the deadline).
async fn poll_n(consumer: &mut Consumer, want: usize) -> Vec<ConsumerRecord> {
    let start = Instant::now();
    let mut records = Vec::new();
    while records.len() < want {
        assert!(
            start.elapsed() < DEADLINE,
            "got {} of {want}: {:?}",
            records.len(),
            keys(&records)
        );
        records.extend(consumer.poll(Duration::from_millis(100)).await.unwrap());
    }
    records
}

fn keys(records: &[ConsumerRecord]) -> BTreeSet<(i32, i64)> {
    records.iter().map(|r| (r.partition, r.offset)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_rejoins_after_a_broker_restart_and_resumes_from_its_commits() {
    let broker = broker().await;
    let addr = broker.addr;
    create_topic(addr, TOPIC, 2).await;
    let first = produce(addr, TOPIC, 2, values("one", 10)).await;
    let mut consumer = Consumer::connect(member_config(addr, false)).await.unwrap();
    consumer.subscribe("g", &[TOPIC]).await.unwrap();
    let records = poll_n(&mut consumer, 10).await;
    assert_eq!(keys(&records), first.iter().copied().collect());
    consumer.commit().await.unwrap();

    // Same port, same data: the committed offsets survive, the membership does not.
    let dir = broker.stop().await;
    let broker = TestBroker::start_in(dir, |c| {
        c.listen = addr;
        group_settings(c);
    })
    .await;
    let admin = Admin::connect(ConnectionConfig::new(addr.to_string()))
        .await
        .unwrap();
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < DEADLINE, "the member never rejoined");
        let polled = consumer.poll(Duration::from_millis(100)).await.unwrap();
        assert!(polled.is_empty(), "nothing new was produced: {polled:?}");
        let rejoined = admin.describe_group("g").await.ok();
        if rejoined.is_some_and(|g| g.members.len() == 1) {
            break;
        }
    }
    let second = produce(addr, TOPIC, 2, values("two", 6)).await;
    let records = poll_n(&mut consumer, 6).await;
    assert_eq!(
        keys(&records),
        second.iter().copied().collect(),
        "resumes exactly after the last commit"
    );
    consumer.commit().await.unwrap();
    consumer.close().await.unwrap();
    let group = admin.describe_group("g").await.unwrap();
    assert_eq!(group.state, "Empty");
    assert_eq!(group.total_lag(), 0);
    drop(broker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_groups_on_one_topic_progress_independently() {
    let broker = broker().await;
    create_topic(broker.addr, TOPIC, 3).await;
    let produced: BTreeSet<(i32, i64)> = produce(broker.addr, TOPIC, 3, values("x", 30))
        .await
        .into_iter()
        .collect();
    let mut fast = Consumer::connect(member_config(broker.addr, true))
        .await
        .unwrap();
    fast.subscribe("fast", &[TOPIC]).await.unwrap();
    assert_eq!(keys(&poll_n(&mut fast, 30).await), produced);
    fast.close().await.unwrap();

    let admin = Admin::connect(ConnectionConfig::new(broker.addr.to_string()))
        .await
        .unwrap();
    let mut slow = Consumer::connect(member_config(broker.addr, true))
        .await
        .unwrap();
    slow.subscribe("slow", &[TOPIC]).await.unwrap();
    assert_eq!(keys(&poll_n(&mut slow, 30).await), produced);
    assert_eq!(admin.describe_group("fast").await.unwrap().total_lag(), 0);
    slow.close().await.unwrap();
    let groups: Vec<String> = admin
        .list_groups()
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.group_id)
        .collect();
    assert_eq!(groups, ["fast", "slow"]);
}

/// A topic deleted and created again under the same name starts with no committed
/// offsets: a group that had committed far into the old topic reads every new record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recreated_topic_starts_without_the_old_topics_committed_offsets() {
    let broker = broker().await;
    let addr = broker.addr;
    create_topic(addr, TOPIC, 2).await;
    produce(addr, TOPIC, 2, values("old", 6)).await;
    let mut consumer = Consumer::connect(member_config(addr, false)).await.unwrap();
    consumer.subscribe("g", &[TOPIC]).await.unwrap();
    poll_n(&mut consumer, 6).await;
    consumer.commit().await.unwrap();
    consumer.close().await.unwrap();

    let admin = Admin::connect(ConnectionConfig::new(addr.to_string()))
        .await
        .unwrap();
    admin.delete_topics(&[TOPIC]).await.unwrap();
    create_topic(addr, TOPIC, 2).await;
    // More records than the old commits covered (3 per partition): a consumer that
    // resumed from the old offsets would skip the first three of each partition.
    let fresh = produce(addr, TOPIC, 2, values("new", 10)).await;
    let mut consumer = Consumer::connect(member_config(addr, false)).await.unwrap();
    consumer.subscribe("g", &[TOPIC]).await.unwrap();
    let records = poll_n(&mut consumer, 10).await;
    assert_eq!(keys(&records), fresh.iter().copied().collect());
    let values: BTreeSet<String> = records
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect();
    assert_eq!(values, self::values("new", 10).into_iter().collect());
    consumer.close().await.unwrap();
}

/// Both members of a group lose their membership in a broker restart and rejoin with
/// their own ids: whoever rejoins first is not handed the partitions the other is still
/// consuming, so at no moment do two members own one partition, and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_rejoining_after_a_broker_restart_never_share_a_partition() {
    let broker = broker().await;
    let addr = broker.addr;
    create_topic(addr, TOPIC, 4).await;
    let journal = Arc::new(Journal::default());
    let mut members = Vec::new();
    for name in ["a", "b"] {
        members.push(Member::start(addr, name, "r", TOPIC, true, journal.clone()).await);
    }
    let balanced = |journal: &Journal| {
        let owners = journal.owners();
        owners.len() == 2 && owners.values().all(|owned| owned.len() == 2)
    };
    wait_until("the members share the partitions", || balanced(&journal)).await;
    let mut produced: BTreeSet<(i32, i64)> = produce(addr, TOPIC, 4, values("one", 40))
        .await
        .into_iter()
        .collect();
    let consumed_all = |journal: &Journal, produced: &BTreeSet<(i32, i64)>| {
        let consumed: BTreeSet<(i32, i64)> = journal.offsets().into_iter().collect();
        produced.is_subset(&consumed)
    };
    wait_until("everything is consumed", || {
        consumed_all(&journal, &produced)
    })
    .await;

    let events_before = journal.ownership.lock().unwrap().len();
    let dir = broker.stop().await;
    let broker = TestBroker::start_in(dir, |c| {
        c.listen = addr;
        group_settings(c);
    })
    .await;
    // Every partition is given up (the membership was lost) and handed out again.
    let all: BTreeSet<i32> = (0..4).collect();
    wait_until(
        "both members rejoined and own their partitions again",
        || {
            let events = journal.ownership.lock().unwrap();
            let since = &events[events_before..];
            let moved = |assigned| -> BTreeSet<i32> {
                since
                    .iter()
                    .filter(|e| e.assigned == assigned)
                    .map(|e| e.partition)
                    .collect()
            };
            let (given_up, handed_out) = (moved(false), moved(true));
            drop(events);
            given_up == all && handed_out == all && balanced(&journal)
        },
    )
    .await;
    produced.extend(produce(addr, TOPIC, 4, values("two", 40)).await);
    wait_until("everything is consumed after the restart", || {
        consumed_all(&journal, &produced)
    })
    .await;
    journal.assert_single_owner();
    for member in members {
        member.close().await;
    }
    drop(broker);
}
