//! Consumer groups on a three-broker cluster (replication factor 1): every broker names
//! the same coordinator for a group, the leader of `__consumer_offsets` partition
//! `abs(javaHashCode(group)) % partitions` as in Kafka; a member commits through it;
//! when the coordinator's broker is killed and restarted the member carries on from its
//! committed offsets: every acknowledged record is consumed, none before the last
//! commit twice.

mod cluster_harness;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use cluster_harness::clients::{produce, producer};
use cluster_harness::{probe, wait_until, TestCluster, DEADLINE};
use rill::client::{AutoOffsetReset, ClientError, Consumer, ConsumerConfig, NewTopic};
use rill_protocol::error_code::ErrorCode;

const PARTITIONS: [i32; 6] = [0, 1, 2, 3, 4, 5];

/// Java's `String.hashCode` (over UTF-16 code units, wrapping).
fn java_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// Kafka's `partitionFor(groupId)`: `Utils.abs(hashCode) % partitions`.
fn offsets_partition(group: &str, partitions: i32) -> i32 {
    let hash = java_hash(group);
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions
}

/// Consumes until `want` distinct values were seen (committing after every poll), or
/// the deadline; returns every value in the order consumed (duplicates included).
async fn consume(consumer: &mut Consumer, want: &BTreeSet<String>, seen: &mut Vec<String>) {
    let started = Instant::now();
    loop {
        let distinct: BTreeSet<&String> = seen.iter().collect();
        if want.iter().all(|w| distinct.contains(w)) {
            return;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "consumed {} of {} distinct values",
            distinct.len(),
            want.len()
        );
        let records = match consumer.poll(Duration::from_millis(200)).await {
            Ok(records) => records,
            Err(e) if e.is_retriable() => continue,
            Err(e) => panic!("poll: {e}"),
        };
        for r in &records {
            let value = String::from_utf8_lossy(r.value.as_deref().unwrap_or_default());
            seen.push(value.into_owned());
        }
        if !records.is_empty() {
            // A commit may fail while the coordinator is down: the records since the
            // last commit are then read again, which is allowed.
            let _ = consumer.commit().await;
        }
    }
}

/// Commits what was consumed, retrying until it sticks: a coordinator that restarted
/// forgot the member (GROUP_MEMBERSHIP_LOST, as Kafka's CommitFailedException), which
/// then rejoins on its next poll and reads again from the last commit.
async fn commit_eventually(consumer: &mut Consumer, seen: &mut Vec<String>) {
    let started = Instant::now();
    loop {
        match consumer.commit().await {
            Ok(()) => return,
            Err(e) => {
                assert!(
                    e.is_retriable() || matches!(e, ClientError::GroupMembershipLost { .. }),
                    "commit: {e}"
                );
                assert!(started.elapsed() < DEADLINE, "commit still failing: {e}");
                eprintln!("commit failed ({e}); polling to rejoin");
            }
        }
        if let Ok(records) = consumer.poll(Duration::from_millis(200)).await {
            for r in &records {
                let value = String::from_utf8_lossy(r.value.as_deref().unwrap_or_default());
                seen.push(value.into_owned());
            }
        }
    }
}

#[tokio::test]
async fn a_group_follows_its_coordinator_through_a_restart() {
    let mut cluster = TestCluster::start(3).await;
    let controller = cluster.wait_formed().await;
    cluster
        .create_topic(1, NewTopic::new("grouped", 6).with_replication_factor(1))
        .await;
    for id in cluster.ids() {
        cluster
            .wait_for_topics(id, &["grouped", "__consumer_offsets"])
            .await;
    }
    let metadata = cluster
        .metadata(1, Some(vec!["__consumer_offsets".into()]))
        .await
        .unwrap();
    let offsets = &metadata.topics[0].partitions;
    let count = i32::try_from(offsets.len()).unwrap();
    let leader_of = |p: i32| offsets.iter().find(|x| x.partition == p).unwrap().leader;

    // A group whose coordinator is not the controller, so killing it moves nothing else.
    let group = (0..)
        .map(|i| format!("orders-{i}"))
        .find(|g| leader_of(offsets_partition(g, count)) as u64 != controller)
        .unwrap();
    let coordinator = leader_of(offsets_partition(&group, count));
    for id in cluster.ids() {
        let answer = probe::find_coordinator(cluster.addr(id), &group)
            .await
            .unwrap();
        assert_eq!(
            answer.node_id, coordinator,
            "node {id} for {group}: {answer:?}"
        );
    }
    eprintln!(
        "group {group}: __consumer_offsets has {count} partitions, coordinator {coordinator}"
    );

    let bootstrap = cluster.bootstrap();
    let producer = producer(&bootstrap, Duration::from_secs(20)).await;
    let first = produce(&producer, "grouped", &PARTITIONS, 50, "before").await;
    assert!(first.failed.is_empty(), "{:?}", first.failed.first());

    let config = ConsumerConfig::builder(bootstrap.as_str())
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .enable_auto_commit(false)
        .session_timeout(Duration::from_secs(10))
        .fetch_max_wait(Duration::from_millis(100))
        .build()
        .unwrap();
    let mut consumer = Consumer::connect(config.clone()).await.unwrap();
    consumer.subscribe(&group, &["grouped"]).await.unwrap();
    let mut seen = Vec::new();
    let want: BTreeSet<String> = first.acknowledged.iter().map(|s| s.value.clone()).collect();
    consume(&mut consumer, &want, &mut seen).await;
    consumer.commit().await.unwrap();
    let committed_before = seen.len();

    cluster.kill9(coordinator as u64);
    let live: Vec<i32> = {
        let data = cluster
            .metadata(controller, Some(vec!["grouped".into()]))
            .await
            .unwrap();
        data.topics[0]
            .partitions
            .iter()
            .filter(|p| p.leader != coordinator)
            .map(|p| p.partition)
            .collect()
    };
    // While the coordinator is down, the member still reads the partitions whose
    // leaders live (its commits fail and are retried later).
    let during = produce(&producer, "grouped", &live, 20, "during").await;
    assert!(during.failed.is_empty(), "{:?}", during.failed.first());
    let want: BTreeSet<String> = during
        .acknowledged
        .iter()
        .map(|s| s.value.clone())
        .collect();
    consume(&mut consumer, &want, &mut seen).await;

    cluster.restart(coordinator as u64).await;
    let (_, took) = wait_until("the coordinator answers again", DEADLINE, || async {
        let answer = probe::find_coordinator(cluster.addr(controller), &group).await?;
        if answer.node_id == coordinator && answer.error_code == ErrorCode::None {
            Ok(())
        } else {
            Err(format!("{answer:?}"))
        }
    })
    .await;
    eprintln!("coordinator {coordinator} restarted, found again after {took:?}");
    let after = produce(&producer, "grouped", &PARTITIONS, 20, "after").await;
    assert!(after.failed.is_empty(), "{:?}", after.failed.first());
    producer.close().await.unwrap();
    let want: BTreeSet<String> = after.acknowledged.iter().map(|s| s.value.clone()).collect();
    consume(&mut consumer, &want, &mut seen).await;
    commit_eventually(&mut consumer, &mut seen).await;
    consumer.close().await.unwrap();

    // Nothing consumed before the first commit came back again.
    let mut times: BTreeMap<&str, usize> = BTreeMap::new();
    for v in &seen {
        *times.entry(v.as_str()).or_default() += 1;
    }
    let again: Vec<&&str> = times
        .iter()
        .filter(|(v, n)| **n > 1 && v.starts_with("before"))
        .map(|(v, _)| v)
        .collect();
    assert!(again.is_empty(), "committed records read again: {again:?}");
    let total = first.acknowledged.len() + during.acknowledged.len() + after.acknowledged.len();
    eprintln!(
        "consumed {} records ({} distinct of {total} acknowledged; {committed_before} before the kill)",
        seen.len(),
        times.len()
    );
    assert_eq!(times.len(), total, "every acknowledged record consumed");

    // A new member of the group starts at the committed end: nothing left to read.
    let mut next = Consumer::connect(config).await.unwrap();
    next.subscribe(&group, &["grouped"]).await.unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        let records = next
            .poll(Duration::from_millis(200))
            .await
            .unwrap_or_default();
        assert!(
            records.is_empty(),
            "read again after the final commit: {:?}",
            records.first()
        );
    }
    next.close().await.unwrap();
}
