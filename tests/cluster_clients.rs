//! Clients against a three-broker cluster, replication factor 1 (issue #15; data
//! replication is issue #16): the Rust producer (idempotent, acks=all) and consumer
//! route each partition to its leader from one bootstrap list, and every acknowledged
//! record is read back once, in order. When the broker leading some partitions is
//! killed, those partitions fail with a clear retriable error while the others keep
//! working; once it restarts, everything acknowledged is readable and nothing is
//! duplicated. The `rill` command line does the same through the bootstrap list.

mod cluster_harness;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cluster_harness::clients::{ends, produce, producer, read_back};
use cluster_harness::{check, cli, wait_until, TestCluster, DEADLINE};
use rill::client::{ClientError, NewTopic};
use rill_protocol::error_code::ErrorCode;

const PARTITIONS: [i32; 6] = [0, 1, 2, 3, 4, 5];

/// Records per partition per round (more with `RILL_SOAK=1`).
fn per_partition() -> usize {
    if cluster_harness::soak() {
        20_000
    } else {
        300
    }
}

/// Creates a 6-partition topic with replication factor 1, waits until every broker
/// shows it, and returns each partition's leader.
async fn spread_topic(cluster: &TestCluster, topic: &str) -> BTreeMap<i32, i32> {
    cluster
        .create_topic(1, NewTopic::new(topic, 6).with_replication_factor(1))
        .await;
    for id in cluster.ids() {
        cluster.wait_for_topics(id, &[topic]).await;
    }
    leaders(cluster, 1, topic).await.expect("leaders")
}

/// Each partition's leader as node `id` sees it.
async fn leaders(
    cluster: &TestCluster,
    id: u64,
    topic: &str,
) -> Result<BTreeMap<i32, i32>, String> {
    let metadata = cluster.metadata(id, Some(vec![topic.to_owned()])).await?;
    let t = metadata
        .topics
        .iter()
        .find(|t| t.name == topic)
        .ok_or("no topic")?;
    Ok(t.partitions
        .iter()
        .map(|p| (p.partition, p.leader))
        .collect())
}

#[tokio::test]
async fn producer_and_consumer_see_every_record_once_across_three_leaders() {
    let cluster = TestCluster::start(3).await;
    let leaders = spread_topic(&cluster, "spread").await;
    let distinct: BTreeSet<i32> = leaders.values().copied().collect();
    assert_eq!(
        distinct.len(),
        3,
        "partitions led by all three brokers: {leaders:?}"
    );

    let producer = producer(&cluster.bootstrap(), Duration::from_secs(20)).await;
    let produced = produce(&producer, "spread", &PARTITIONS, per_partition(), "a").await;
    producer.close().await.unwrap();
    assert!(
        produced.failed.is_empty(),
        "failed: {:?}",
        &produced.failed[..produced.failed.len().min(5)]
    );

    let ends = ends(&produced.acknowledged, &PARTITIONS);
    let read = read_back(&cluster.bootstrap(), "spread", &ends).await;
    let report = check(&produced.acknowledged, &read);
    eprintln!("leaders {leaders:?}: {}", report.summary());
    assert!(report.is_clean(), "{}", report.summary());
    assert_eq!(report.unacknowledged, 0);
    for (p, end) in &ends {
        assert_eq!(
            *end,
            per_partition() as i64,
            "partition {p}: one offset per record"
        );
    }
}

#[tokio::test]
async fn a_killed_leader_fails_only_its_partitions_and_loses_nothing_on_restart() {
    let mut cluster = TestCluster::start(3).await;
    let controller = cluster.wait_formed().await;
    let leaders = spread_topic(&cluster, "failover").await;
    // A broker other than the controller, so the test watches one thing at a time.
    let victim = cluster
        .ids()
        .into_iter()
        .find(|id| *id != controller)
        .unwrap();
    let lost: Vec<i32> = leaders
        .iter()
        .filter(|(_, l)| **l as u64 == victim)
        .map(|(p, _)| *p)
        .collect();
    let kept: Vec<i32> = PARTITIONS
        .iter()
        .copied()
        .filter(|p| !lost.contains(p))
        .collect();
    assert!(!lost.is_empty() && !kept.is_empty(), "leaders {leaders:?}");
    let n = per_partition();

    // One producer throughout, as an application would have: it sees the leader die,
    // gives up on that leader's records after its delivery timeout, and goes on.
    let bootstrap = cluster.bootstrap();
    let producer = producer(&bootstrap, Duration::from_secs(5)).await;
    let round1 = produce(&producer, "failover", &PARTITIONS, n, "r1").await;
    assert!(round1.failed.is_empty(), "{:?}", round1.failed.first());

    cluster.kill9(victim);
    let survivor = controller;
    let (_, took) = wait_until(
        &format!("node {survivor} reports the victim's partitions without a leader"),
        DEADLINE,
        || async {
            let metadata = cluster
                .metadata(survivor, Some(vec!["failover".into()]))
                .await?;
            let t = &metadata.topics[0];
            let offline: Vec<i32> = t
                .partitions
                .iter()
                .filter(|p| p.leader == -1 && p.error_code == ErrorCode::LeaderNotAvailable)
                .map(|p| p.partition)
                .collect();
            if offline == lost {
                Ok(())
            } else {
                Err(format!("{:?}", t.partitions))
            }
        },
    )
    .await;
    eprintln!(
        "node {victim} killed: partitions {lost:?} reported LEADER_NOT_AVAILABLE after {took:?}"
    );

    let round2 = produce(&producer, "failover", &PARTITIONS, 20, "r2").await;
    for (partition, value, e) in &round2.failed {
        assert!(
            lost.contains(partition),
            "{value} failed on live partition {partition}: {e}"
        );
        let retriable_cause = match e {
            ClientError::DeliveryTimeout {
                last_error: Some(last),
                ..
            } => last.is_retriable(),
            ClientError::DeliveryTimeout {
                last_error: None, ..
            } => true,
            other => other.is_retriable(),
        };
        assert!(retriable_cause, "{value} on {partition}: {e}");
    }
    let failed_partitions: BTreeSet<i32> = round2.failed.iter().map(|(p, _, _)| *p).collect();
    assert_eq!(
        failed_partitions,
        lost.iter().copied().collect::<BTreeSet<_>>()
    );
    assert_eq!(
        round2.failed.len(),
        20 * lost.len(),
        "every record of a dead partition fails"
    );
    eprintln!(
        "a record for a dead partition fails with: {}",
        round2.failed[0].2
    );

    cluster.restart(victim).await;
    let took = cluster.wait_for_topics(survivor, &["failover"]).await;
    cluster.wait_for_topics(victim, &["failover"]).await;
    eprintln!("node {victim} restarted: its partitions lead again after {took:?}");
    let round3 = produce(&producer, "failover", &PARTITIONS, n, "r3").await;
    assert!(round3.failed.is_empty(), "{:?}", round3.failed.first());
    // Close reports the records that failed on the way (and only those).
    match producer.close().await {
        Err(ClientError::DeliveryFailed { failed_records, .. }) => {
            assert_eq!(failed_records, round2.failed.len() as u64)
        }
        other => panic!("close reports the failed records: {other:?}"),
    }

    let mut acknowledged = round1.acknowledged;
    acknowledged.extend(round2.acknowledged);
    acknowledged.extend(round3.acknowledged);
    let ends = ends(&acknowledged, &PARTITIONS);
    let read = read_back(&bootstrap, "failover", &ends).await;
    let report = check(&acknowledged, &read);
    eprintln!("{}", report.summary());
    assert!(report.is_clean(), "{}", report.summary());
}

#[tokio::test]
async fn the_cli_produces_and_tails_through_the_bootstrap_list() {
    let mut cluster = TestCluster::start(3).await;
    let controller = cluster.wait_formed().await;
    let leaders = spread_topic(&cluster, "cli").await;
    let bootstrap = cluster.bootstrap();

    let lines: Vec<String> = (0..600).map(|i| format!("line-{i:04}")).collect();
    let input = lines.join("\n") + "\n";
    let out = cli::rill(&bootstrap, &["produce", "cli", "--print-offsets"], &input).await;
    assert!(out.success(), "rill produce: {out:?}");
    let placed: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        placed.len(),
        lines.len(),
        "one PARTITION:OFFSET per line: {out:?}"
    );
    assert!(!placed.contains(&"-"), "every line delivered: {out:?}");

    let tail = cli::rill(
        &bootstrap,
        &[
            "tail",
            "cli",
            "--from-beginning",
            "--no-follow",
            "--print-offset",
        ],
        "",
    )
    .await;
    assert!(tail.success(), "rill tail: {tail:?}");
    let mut got: Vec<(String, String)> = tail
        .stdout
        .lines()
        .filter_map(|l| {
            l.split_once('\t')
                .map(|(at, v)| (at.to_owned(), v.to_owned()))
        })
        .collect();
    assert_eq!(got.len(), lines.len(), "{}", tail.stdout);
    got.sort_by(|a, b| a.1.cmp(&b.1));
    let expected: Vec<(String, String)> = placed
        .iter()
        .zip(&lines)
        .map(|(at, v)| (at.to_string(), v.clone()))
        .collect();
    assert_eq!(
        got, expected,
        "every line once, where produce said it landed"
    );

    // The first broker of the list dead: the CLI still bootstraps from the others; a
    // partition it led answers with a clear error instead of hanging.
    let victim = if controller == 1 { 2 } else { 1 };
    let dead: Vec<i32> = leaders
        .iter()
        .filter(|(_, l)| **l as u64 == victim)
        .map(|(p, _)| *p)
        .collect();
    assert!(!dead.is_empty(), "{leaders:?}");
    cluster.kill9(victim);
    let dead_partition = dead[0].to_string();
    let out = cli::rill(
        &format!("{},{}", cluster.addr(victim), bootstrap),
        &[
            "--timeout",
            "5s",
            "produce",
            "cli",
            "--partition",
            &dead_partition,
        ],
        "to a dead leader\n",
    )
    .await;
    eprintln!("rill produce to a dead leader's partition: {out:?}");
    assert!(!out.success(), "{out:?}");
    assert!(!out.stderr.trim().is_empty(), "says why: {out:?}");

    cluster.restart(victim).await;
    // `rill tail` stops at the first LEADER_NOT_AVAILABLE (even though it is retriable):
    // wait until every broker, the restarted one included, shows the leaders again.
    for id in cluster.ids() {
        cluster.wait_for_topics(id, &["cli"]).await;
    }
    let tail = cli::rill(
        &bootstrap,
        &["tail", "cli", "--from-beginning", "--no-follow"],
        "",
    )
    .await;
    assert!(tail.success(), "{tail:?}");
    let mut values: Vec<&str> = tail.stdout.lines().collect();
    values.sort();
    let mut all: Vec<&str> = lines.iter().map(String::as_str).collect();
    // The failed record may have been written before its answer was lost.
    values.retain(|v| *v != "to a dead leader");
    all.sort();
    assert_eq!(
        values, all,
        "everything produced is there once after the restart"
    );
}

/// Producer ids must be unique in the cluster, not per broker: two idempotent producers
/// that bootstrap from different brokers both write to one partition.
#[tokio::test]
async fn producers_bootstrapping_from_different_brokers_do_not_collide() {
    let cluster = TestCluster::start(3).await;
    spread_topic(&cluster, "ids").await;
    let mut produced = Vec::new();
    for id in cluster.ids() {
        // This broker first in the list: it answers the producer's InitProducerId.
        let others: Vec<u64> = cluster.ids().into_iter().filter(|o| *o != id).collect();
        let bootstrap = format!("{},{}", cluster.addr(id), cluster.bootstrap_of(&others));
        let producer = producer(&bootstrap, Duration::from_secs(10)).await;
        let round = produce(&producer, "ids", &PARTITIONS, 10, &format!("via-{id}")).await;
        producer.close().await.ok();
        assert!(
            round.failed.is_empty(),
            "producer bootstrapped from node {id}: {} records failed, e.g. {:?}",
            round.failed.len(),
            round.failed.first()
        );
        produced.extend(round.acknowledged);
    }
    let read = read_back(&cluster.bootstrap(), "ids", &ends(&produced, &PARTITIONS)).await;
    let report = check(&produced, &read);
    assert!(report.is_clean(), "{}", report.summary());
}

/// A leader frozen (SIGSTOP) past its session timeout is fenced; records for its
/// partitions fail retriably while the rest go on; resumed, it leads again and every
/// acknowledged record is read back once (records it wrote from requests it found in
/// its socket on waking may appear unacknowledged, which the checker allows).
#[tokio::test]
async fn a_frozen_leader_is_fenced_and_resumes_without_duplicates() {
    let mut cluster = TestCluster::start(3).await;
    let controller = cluster.wait_formed().await;
    let placed = spread_topic(&cluster, "frozen").await;
    let victim = cluster
        .ids()
        .into_iter()
        .find(|id| *id != controller)
        .unwrap();
    let frozen: Vec<i32> = placed
        .iter()
        .filter(|(_, l)| **l as u64 == victim)
        .map(|(p, _)| *p)
        .collect();
    let bootstrap = cluster.bootstrap();
    let producer = producer(&bootstrap, Duration::from_secs(3)).await;
    let before = produce(&producer, "frozen", &PARTITIONS, 100, "before").await;
    assert!(before.failed.is_empty(), "{:?}", before.failed.first());

    cluster.pause(victim).await;
    let (_, took) = wait_until("the frozen leader is fenced", DEADLINE, || async {
        let now = leaders(&cluster, controller, "frozen").await?;
        let leaderless: Vec<i32> = now
            .iter()
            .filter(|(_, l)| **l == -1)
            .map(|(p, _)| *p)
            .collect();
        if leaderless == frozen {
            Ok(())
        } else {
            Err(format!("{now:?}"))
        }
    })
    .await;
    eprintln!("node {victim} frozen: partitions {frozen:?} leaderless after {took:?}");
    let during = produce(&producer, "frozen", &PARTITIONS, 20, "during").await;
    for (partition, value, e) in &during.failed {
        assert!(
            frozen.contains(partition),
            "{value} failed on {partition}: {e}"
        );
    }
    assert_eq!(
        during.failed.len(),
        20 * frozen.len(),
        "{:?}",
        during.failed.first()
    );

    cluster.resume(victim);
    for id in cluster.ids() {
        cluster.wait_for_topics(id, &["frozen"]).await;
    }
    let after = produce(&producer, "frozen", &PARTITIONS, 100, "after").await;
    assert!(after.failed.is_empty(), "{:?}", after.failed.first());
    let _ = producer.close().await;

    let mut acknowledged = before.acknowledged;
    acknowledged.extend(during.acknowledged);
    acknowledged.extend(after.acknowledged);
    let read = read_back(&bootstrap, "frozen", &ends(&acknowledged, &PARTITIONS)).await;
    let report = check(&acknowledged, &read);
    eprintln!("{}", report.summary());
    assert!(report.is_clean(), "{}", report.summary());
}
