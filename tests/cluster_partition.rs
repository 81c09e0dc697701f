//! Network partitions (issue #15), with each broker in a network namespace of its own
//! and nftables rules cutting one broker off from the other two (the test process still
//! reaches every broker, to ask what it thinks). The cut-off minority cannot change the
//! metadata and says its view is stale; the majority keeps or elects a controller and
//! creates topics; after healing all three agree on the same topics and layout.
//!
//! Needs root (network namespaces) and nftables: without them the tests fail, saying so.

mod cluster_harness;

use std::collections::BTreeMap;
use std::time::Duration;

use cluster_harness::clients::{ends, produce, producer, read_back};
use cluster_harness::{check, kafka_probe, wait_until, ClusterOptions, TestCluster, DEADLINE};
use rill::client::{Admin, ClientError, ConnectionConfig, NewTopic};
use rill_protocol::error_code::ErrorCode;

/// A generous bound on electing a new controller (election timeout 0.5-1 s here).
const ELECTION_BOUND: Duration = Duration::from_secs(10);

async fn partitioned_cluster() -> TestCluster {
    TestCluster::start_with(ClusterOptions {
        netns: true,
        kafka: true,
        ..ClusterOptions::new(3)
    })
    .await
}

/// One topic as a broker shows it: its id (from the Kafka listener) and each
/// partition's (leader, replicas).
#[derive(Debug, Clone, PartialEq, Eq)]
struct TopicView {
    id: Option<String>,
    partitions: Vec<(i32, Vec<i32>)>,
}

/// Every topic as node `id` shows it.
async fn topics_of(cluster: &TestCluster, id: u64) -> Result<BTreeMap<String, TopicView>, String> {
    let metadata = cluster.metadata(id, None).await?;
    let ids = kafka_probe::topic_ids(cluster.node(id).addrs.kafka()).await?;
    Ok(metadata
        .topics
        .iter()
        .map(|t| {
            let mut parts: Vec<_> = t
                .partitions
                .iter()
                .map(|p| (p.partition, p.leader, p.replicas.clone()))
                .collect();
            parts.sort();
            let view = TopicView {
                id: ids.get(&t.name).cloned(),
                partitions: parts.into_iter().map(|(_, l, r)| (l, r)).collect(),
            };
            (t.name.clone(), view)
        })
        .collect())
}

/// The cut-off node `id` cannot create a topic: it fails (or times out) instead of
/// creating it, and the node reports its metadata as stale.
async fn minority_cannot_change_metadata(cluster: &TestCluster, id: u64) {
    let (_, took) = wait_until(
        &format!("cut-off node {id} says it is stale"),
        DEADLINE,
        || async {
            let d = cluster.describe(id).await?;
            if d.metadata_stale {
                Ok(())
            } else {
                Err(format!("{d:?}"))
            }
        },
    )
    .await;
    eprintln!("cut-off node {id} reports stale metadata after {took:?}");
    // And it does not answer stale leadership: no partition is given a leader.
    let metadata = cluster.metadata(id, None).await.unwrap();
    for t in &metadata.topics {
        for p in &t.partitions {
            assert!(
                p.leader == -1 && p.error_code == ErrorCode::LeaderNotAvailable,
                "stale node {id} answers {}-{}: {p:?}",
                t.name,
                p.partition
            );
        }
    }
    let mut config = ConnectionConfig::new(cluster.addr(id).to_string());
    config.request_timeout = Duration::from_secs(5);
    let admin = Admin::connect(config).await.unwrap();
    let attempt = admin.create_topics(vec![NewTopic::new("from-minority", 1)]);
    let outcome = tokio::time::timeout(Duration::from_secs(15), attempt).await;
    eprintln!("create through cut-off node {id}: {outcome:?}");
    match outcome {
        Err(_) => {}
        Ok(Err(e)) => assert!(e.is_retriable(), "a retriable refusal: {e}"),
        Ok(Ok(())) => panic!("cut-off node {id} created a topic without a majority"),
    }
    let _ = admin.close().await;
}

/// After healing, every node shows the same topics with the same layout and the same
/// topic ids, holding `topics`.
async fn all_agree(cluster: &TestCluster, topics: &[&str]) {
    let (agreed, took) = wait_until("all three agree after healing", DEADLINE, || async {
        let mut views = Vec::new();
        for id in cluster.ids() {
            views.push((id, topics_of(cluster, id).await?));
        }
        for name in topics {
            let has =
                |v: &BTreeMap<String, TopicView>| v.get(*name).is_some_and(|t| t.id.is_some());
            if let Some((id, _)) = views.iter().find(|(_, v)| !has(v)) {
                return Err(format!("node {id} lacks {name} or its id"));
            }
        }
        if views.iter().any(|(_, v)| *v != views[0].1) {
            return Err(format!("views differ: {views:?}"));
        }
        Ok(views[0].1.clone())
    })
    .await;
    eprintln!(
        "all agree on {:?} after {took:?}",
        agreed.keys().collect::<Vec<_>>()
    );
    cluster.wait_formed().await;
}

#[tokio::test]
async fn cut_off_follower_cannot_change_metadata_and_catches_up_when_healed() {
    let cluster = partitioned_cluster().await;
    let controller = cluster.wait_formed().await;
    cluster
        .create_topic(controller, NewTopic::new("before", 3))
        .await;
    let follower = cluster
        .ids()
        .into_iter()
        .find(|id| *id != controller)
        .unwrap();
    let majority: Vec<u64> = cluster
        .ids()
        .into_iter()
        .filter(|id| *id != follower)
        .collect();

    cluster.isolate(follower);
    minority_cannot_change_metadata(&cluster, follower).await;
    // Losing a follower need not move the controller (a loaded machine may still see
    // an election); the majority must have one either way.
    let (kept, _) = cluster.wait_for_controller(&majority).await;
    eprintln!("majority {majority:?} has controller {kept} (was {controller})");
    for id in &majority {
        cluster
            .create_topic(*id, NewTopic::new(format!("majority-{id}"), 2))
            .await;
    }

    cluster.heal(follower);
    let names: Vec<String> = majority.iter().map(|id| format!("majority-{id}")).collect();
    let mut expected: Vec<&str> = names.iter().map(String::as_str).collect();
    expected.push("before");
    all_agree(&cluster, &expected).await;
}

#[tokio::test]
async fn cut_off_controller_is_replaced_and_follows_when_healed() {
    let cluster = partitioned_cluster().await;
    let old = cluster.wait_formed().await;
    cluster.create_topic(old, NewTopic::new("before", 3)).await;
    let majority: Vec<u64> = cluster.ids().into_iter().filter(|id| *id != old).collect();

    cluster.isolate(old);
    let (new, took) = cluster.wait_for_controller(&majority).await;
    eprintln!("controller {old} cut off: {new} elected after {took:?}");
    assert_ne!(new, old);
    assert!(took < ELECTION_BOUND, "election took {took:?}");
    minority_cannot_change_metadata(&cluster, old).await;
    cluster
        .create_topic(new, NewTopic::new("majority", 3))
        .await;

    cluster.heal(old);
    all_agree(&cluster, &["before", "majority"]).await;
    let d = cluster.describe(old).await.unwrap();
    assert_ne!(d.controller_id, -1, "{d:?}");
    eprintln!("healed node {old} names controller {}", d.controller_id);
}

/// A broker cut off from the others while leading partitions (replication factor 1): the
/// controller fences it and the majority reports its partitions leaderless; the
/// producer, which still reaches it, gets retriable errors for them (or, if the cut-off
/// broker still acknowledged something, that data is there after healing) and keeps
/// writing the rest; after healing the broker leads again and every acknowledged record
/// is read back once, in order.
#[tokio::test]
async fn a_cut_off_leader_is_fenced_and_loses_nothing() {
    let cluster = partitioned_cluster().await;
    let controller = cluster.wait_formed().await;
    cluster
        .create_topic(
            controller,
            NewTopic::new("cut", 6).with_replication_factor(1),
        )
        .await;
    for id in cluster.ids() {
        cluster.wait_for_topics(id, &["cut"]).await;
    }
    let partitions: Vec<i32> = (0..6).collect();
    let leaders: BTreeMap<i32, i32> = {
        let m = cluster
            .metadata(controller, Some(vec!["cut".into()]))
            .await
            .unwrap();
        m.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition, p.leader))
            .collect()
    };
    let victim = cluster
        .ids()
        .into_iter()
        .find(|id| *id != controller)
        .unwrap();
    let cut: Vec<i32> = partitions
        .iter()
        .copied()
        .filter(|p| leaders[p] as u64 == victim)
        .collect();
    assert!(!cut.is_empty(), "{leaders:?}");

    let bootstrap = cluster.bootstrap();
    let producer = producer(&bootstrap, Duration::from_secs(3)).await;
    let before = produce(&producer, "cut", &partitions, 100, "before").await;
    assert!(before.failed.is_empty(), "{:?}", before.failed.first());

    cluster.isolate(victim);
    let (_, took) = wait_until(
        "the majority fences the cut-off leader",
        DEADLINE,
        || async {
            let m = cluster
                .metadata(controller, Some(vec!["cut".into()]))
                .await?;
            let leaderless: Vec<i32> = m.topics[0]
                .partitions
                .iter()
                .filter(|p| p.leader == -1)
                .map(|p| p.partition)
                .collect();
            if leaderless == cut {
                Ok(())
            } else {
                Err(format!("{:?}", m.topics[0].partitions))
            }
        },
    )
    .await;
    eprintln!(
        "node {victim} cut off: partitions {cut:?} leaderless on the majority after {took:?}"
    );

    let during = produce(&producer, "cut", &partitions, 20, "during").await;
    for (partition, value, e) in &during.failed {
        assert!(
            cut.contains(partition),
            "{value} failed on {partition}: {e}"
        );
        let retriable = match e {
            ClientError::DeliveryTimeout {
                last_error: Some(last),
                ..
            } => last.is_retriable(),
            other => other.is_retriable(),
        };
        assert!(retriable, "{value}: {e}");
    }
    let acked_on_cut = during
        .acknowledged
        .iter()
        .filter(|s| cut.contains(&s.partition))
        .count();
    eprintln!(
        "while cut off: {} records failed ({}), {acked_on_cut} acknowledged on the cut-off leader",
        during.failed.len(),
        during
            .failed
            .first()
            .map(|f| f.2.to_string())
            .unwrap_or_default()
    );

    cluster.heal(victim);
    for id in cluster.ids() {
        cluster.wait_for_topics(id, &["cut"]).await;
    }
    let after = produce(&producer, "cut", &partitions, 100, "after").await;
    assert!(after.failed.is_empty(), "{:?}", after.failed.first());
    let _ = producer.close().await;

    let mut acknowledged = before.acknowledged;
    acknowledged.extend(during.acknowledged);
    acknowledged.extend(after.acknowledged);
    let read = read_back(&bootstrap, "cut", &ends(&acknowledged, &partitions)).await;
    let report = check(&acknowledged, &read);
    eprintln!("{}", report.summary());
    assert!(report.is_clean(), "{}", report.summary());
}

/// Partitions come and go: each round cuts a different broker off (the controller every
/// other round), creates a topic on the majority, heals, and checks all three agree.
/// 2 rounds, 20 with `RILL_SOAK=1`.
#[tokio::test]
async fn flapping_partitions_never_split_the_metadata() {
    let rounds = if cluster_harness::soak() { 20 } else { 2 };
    let cluster = partitioned_cluster().await;
    let mut created: Vec<String> = Vec::new();
    for round in 0..rounds {
        let controller = cluster.wait_formed().await;
        let victim = if round % 2 == 0 {
            controller
        } else {
            cluster
                .ids()
                .into_iter()
                .find(|id| *id != controller)
                .unwrap()
        };
        let majority: Vec<u64> = cluster
            .ids()
            .into_iter()
            .filter(|id| *id != victim)
            .collect();
        cluster.isolate(victim);
        let (new, _) = cluster.wait_for_controller(&majority).await;
        let name = format!("round-{round}");
        cluster.create_topic(new, NewTopic::new(&name, 2)).await;
        created.push(name);
        cluster.heal(victim);
        let names: Vec<&str> = created.iter().map(String::as_str).collect();
        all_agree(&cluster, &names).await;
    }
}
