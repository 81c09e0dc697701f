//! Three `rilld` processes form a cluster (issue #15): every broker names the same
//! controller and sees the three brokers alive; topics created from any broker, with
//! replication factor 1 and 3, appear identically in every broker's Metadata (same
//! partitions, leaders, replicas, ISR) and with the same topic ids in every broker's
//! Kafka Metadata, with leaders spread over the three brokers.

mod cluster_harness;

use std::collections::{BTreeMap, BTreeSet};

use cluster_harness::{kafka_probe, wait_until, ClusterOptions, TestCluster, DEADLINE};
use rill::client::NewTopic;
use rill_protocol::api::metadata::MetadataResponse;
use rill_protocol::error_code::ErrorCode;

/// One partition as a broker's Metadata shows it: (leader, replicas, ISR).
type Layout = BTreeMap<(String, i32), (i32, Vec<i32>, Vec<i32>)>;

/// The non-internal topics' layout in `metadata`.
fn layout(metadata: &MetadataResponse) -> Layout {
    let mut out = Layout::new();
    for topic in metadata.topics.iter().filter(|t| !t.is_internal) {
        for p in &topic.partitions {
            out.insert(
                (topic.name.clone(), p.partition),
                (p.leader, p.replicas.clone(), p.isr.clone()),
            );
        }
    }
    out
}

/// Waits until every broker's own Metadata shows the same layout holding `topics`;
/// returns it.
async fn agreed_layout(cluster: &TestCluster, topics: &[&str]) -> Layout {
    let (layout, took) = wait_until("every broker shows the same topics", DEADLINE, || async {
        let mut layouts = Vec::new();
        for id in cluster.running() {
            let metadata = cluster.metadata(id, None).await?;
            let l = layout(&metadata);
            let names: BTreeSet<&str> = l.keys().map(|(t, _)| t.as_str()).collect();
            if let Some(missing) = topics.iter().find(|t| !names.contains(**t)) {
                return Err(format!("node {id} does not show {missing} yet: {names:?}"));
            }
            // A replicated partition has a leader once its Raft group elected one.
            if let Some((tp, _)) = l.iter().find(|(_, (leader, _, _))| *leader < 0) {
                return Err(format!("node {id}: {tp:?} has no leader yet"));
            }
            layouts.push((id, l));
        }
        let (first_id, first) = &layouts[0];
        for (id, l) in &layouts[1..] {
            if l != first {
                return Err(format!("node {id} shows {l:?}, node {first_id} {first:?}"));
            }
        }
        Ok(first.clone())
    })
    .await;
    eprintln!(
        "all brokers agree on {} partitions after {took:?}",
        layout.len()
    );
    layout
}

#[tokio::test]
async fn three_brokers_agree_and_create_topics_from_any_broker() {
    let cluster = TestCluster::start_with(ClusterOptions {
        kafka: true,
        ..ClusterOptions::new(3)
    })
    .await;
    let controller = cluster.wait_formed().await;
    assert_eq!(
        cluster.controller().await,
        Ok(controller),
        "the client library agrees"
    );

    // The client library's view, asked of each broker.
    let mut cluster_ids = BTreeSet::new();
    for id in cluster.ids() {
        let admin = cluster.admin(id).await;
        let d = admin.describe_cluster().await.unwrap();
        assert_eq!(d.node_id, id as i32, "the answering broker names itself");
        assert_eq!(d.controller_id, Some(controller as i32), "node {id}: {d:?}");
        assert!(!d.metadata_stale, "node {id}: {d:?}");
        let ids: Vec<i32> = d.brokers.iter().map(|b| b.node_id).collect();
        assert_eq!(ids, [1, 2, 3], "node {id}: {d:?}");
        for b in &d.brokers {
            let node = cluster.node(b.node_id as u64);
            assert!(b.alive && b.voter, "node {id} says {b:?}");
            assert_eq!(b.host, node.addrs.ip.to_string(), "{b:?}");
            assert_eq!(b.port, i32::from(node.addrs.native_port), "{b:?}");
            assert_eq!(b.inter_broker, node.addrs.raft().to_string(), "{b:?}");
        }
        cluster_ids.insert(d.cluster_id);
        admin.close().await.unwrap();
    }
    assert_eq!(cluster_ids.len(), 1, "one cluster id: {cluster_ids:?}");

    // A topic with replication factor 1 and one with 3, created through each broker.
    let mut names = Vec::new();
    for id in cluster.ids() {
        let admin = cluster.admin(id).await;
        let (rf1, rf3) = (format!("rf1-from-{id}"), format!("rf3-from-{id}"));
        admin
            .create_topics(vec![
                NewTopic::new(&rf1, 6).with_replication_factor(1),
                NewTopic::new(&rf3, 3).with_replication_factor(3),
            ])
            .await
            .unwrap_or_else(|e| panic!("create through node {id}: {e}"));
        let err = admin
            .create_topics(vec![NewTopic::new(rf1.clone(), 1)])
            .await
            .expect_err("a second create of the same name fails");
        assert_eq!(
            err.error_code(),
            Some(ErrorCode::TopicAlreadyExists),
            "{err}"
        );
        admin.close().await.unwrap();
        names.extend([rf1, rf3]);
    }
    let admin = cluster.admin(1).await;
    let err = admin
        .create_topics(vec![NewTopic::new("rf4", 1).with_replication_factor(4)])
        .await
        .expect_err("three brokers cannot hold four copies");
    assert_eq!(
        err.error_code(),
        Some(ErrorCode::InvalidReplicationFactor),
        "{err}"
    );

    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let layout = agreed_layout(&cluster, &names).await;
    assert!(
        !layout.keys().any(|(t, _)| t == "rf4"),
        "the refused topic does not exist"
    );
    let mut leaders: BTreeMap<i32, usize> = BTreeMap::new();
    for ((topic, partition), (leader, replicas, isr)) in &layout {
        let rf = if topic.starts_with("rf1") { 1 } else { 3 };
        let distinct: BTreeSet<i32> = replicas.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            rf,
            "{topic}-{partition}: replicas {replicas:?}"
        );
        assert!(distinct.iter().all(|r| (1..=3).contains(r)), "{replicas:?}");
        if rf == 1 {
            assert_eq!(replicas.first(), Some(leader), "{topic}-{partition}: leads");
            assert_eq!(isr, &vec![*leader], "{topic}-{partition}: ISR");
        } else {
            // Replicated: its Raft group elected one of the replicas; all in sync.
            assert!(
                distinct.contains(leader),
                "{topic}-{partition}: leader {leader}"
            );
            let in_sync: BTreeSet<i32> = isr.iter().copied().collect();
            assert_eq!(in_sync, distinct, "{topic}-{partition}: ISR");
        }
        // Placement spreads the preferred leaders (the first replica).
        *leaders.entry(replicas[0]).or_default() += 1;
    }
    eprintln!("partitions led per broker: {leaders:?}");
    assert_eq!(
        leaders.keys().copied().collect::<Vec<_>>(),
        [1, 2, 3],
        "leaders spread over the three brokers: {leaders:?}"
    );
    assert!(
        leaders.values().all(|n| *n >= 3),
        "27 partitions spread evenly: {leaders:?}"
    );

    // Topic ids: chosen once by the controller, the same on every broker.
    let mut ids_per_node = Vec::new();
    for id in cluster.ids() {
        let ids = kafka_probe::topic_ids(cluster.node(id).addrs.kafka())
            .await
            .unwrap();
        for name in &names {
            assert!(
                ids.contains_key(*name),
                "node {id}'s Kafka Metadata lacks {name}: {ids:?}"
            );
        }
        ids_per_node.push(ids);
    }
    assert!(
        ids_per_node.iter().all(|ids| *ids == ids_per_node[0]),
        "topic ids differ between brokers: {ids_per_node:?}"
    );
    let distinct: BTreeSet<&String> = ids_per_node[0].values().collect();
    assert_eq!(
        distinct.len(),
        ids_per_node[0].len(),
        "one id per topic: {:?}",
        ids_per_node[0]
    );
    assert!(
        !distinct.contains(&"0".repeat(32)),
        "no zero id: {:?}",
        ids_per_node[0]
    );
    eprintln!("topic ids agree on all brokers: {:?}", ids_per_node[0]);

    // The client's describe_topic, through a broker that leads only some partitions.
    // (describe_topic retries while a leader has not opened a just-created partition.)
    for name in &names {
        let d = cluster.describe_topic(1, name).await;
        for p in &d.partitions {
            let (leader, replicas, isr) = &layout[&(name.to_string(), p.partition)];
            assert_eq!(
                (&p.leader, &p.replicas, &p.isr),
                (leader, replicas, isr),
                "{name}: {p:?}"
            );
            assert_eq!(p.error, None, "{name}: {p:?}");
            assert_eq!(
                (p.earliest_offset, p.latest_offset),
                (0, 0),
                "{name}: {p:?}"
            );
        }
    }
    admin.close().await.unwrap();
}

/// Rack labels (`--rack`) reach every broker's view, and placement honours them: with
/// four brokers in two racks, each partition's two replicas sit in different racks.
#[tokio::test]
async fn replicas_of_a_partition_sit_in_different_racks() {
    let racks = ["east", "east", "west", "west"];
    let cluster = TestCluster::start_with(ClusterOptions {
        racks: racks.iter().map(|r| r.to_string()).collect(),
        ..ClusterOptions::new(4)
    })
    .await;
    let d = cluster.describe_cluster(4).await.unwrap();
    let seen: Vec<Option<&str>> = d.brokers.iter().map(|b| b.rack.as_deref()).collect();
    let expected: Vec<Option<&str>> = racks.iter().map(|r| Some(*r)).collect();
    assert_eq!(seen, expected, "{d:?}");

    cluster
        .create_topic(1, NewTopic::new("racked", 8).with_replication_factor(2))
        .await;
    let layout = agreed_layout(&cluster, &["racked"]).await;
    let rack_of = |node: i32| racks[usize::try_from(node - 1).unwrap()];
    let mut leaders = BTreeSet::new();
    for ((_, partition), (leader, replicas, _)) in &layout {
        let used: BTreeSet<&str> = replicas.iter().map(|r| rack_of(*r)).collect();
        assert_eq!(
            used.len(),
            2,
            "partition {partition}: replicas {replicas:?} in {used:?}"
        );
        assert!(replicas.contains(leader), "{replicas:?} led by {leader}");
        leaders.insert(replicas[0]);
    }
    assert_eq!(
        leaders.len(),
        4,
        "preferred leaders on all four brokers: {layout:?}"
    );
}
