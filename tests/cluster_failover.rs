//! The controller fails (issue #15): killed with -9, or frozen with SIGSTOP. The other
//! two brokers elect a controller within seconds (the time is printed), keep every
//! topic created before and create new ones; the failed broker, restarted or resumed,
//! rejoins, learns what changed while it was gone, and does not go on acting as
//! controller.

mod cluster_harness;

use std::collections::BTreeMap;
use std::time::Duration;

use cluster_harness::clients::{ends, produce, producer, read_back};
use cluster_harness::{check, kafka_probe, wait_until, ClusterOptions, TestCluster, DEADLINE};
use rill::client::NewTopic;

/// A generous bound on electing a new controller (election timeout 0.5-1 s here).
const ELECTION_BOUND: Duration = Duration::from_secs(10);

#[tokio::test]
async fn killed_controller_is_replaced_and_catches_up_after_restart() {
    let mut cluster = TestCluster::start(3).await;
    let old = cluster.wait_formed().await;
    let before: Vec<String> = (1..=3).map(|i| format!("before-{i}")).collect();
    for (i, name) in before.iter().enumerate() {
        let rf = if i == 0 { 3 } else { 1 };
        cluster
            .create_topic(
                i as u64 + 1,
                NewTopic::new(name, 3).with_replication_factor(rf),
            )
            .await;
    }
    let before: Vec<&str> = before.iter().map(String::as_str).collect();
    for id in cluster.ids() {
        cluster.wait_for_topics(id, &before).await;
    }

    cluster.kill9(old);
    let survivors = cluster.running();
    let (new, took) = cluster.wait_for_controller(&survivors).await;
    eprintln!("controller {old} killed: {new} elected after {took:?}");
    assert_ne!(new, old);
    assert!(took < ELECTION_BOUND, "election took {took:?}");

    for id in &survivors {
        let metadata = cluster.metadata(*id, None).await.unwrap();
        for name in &before {
            assert!(
                metadata.topics.iter().any(|t| t.name == *name),
                "node {id} lost {name} with the controller"
            );
        }
    }
    // New topics, through the new controller and through the other survivor.
    for (i, id) in survivors.iter().enumerate() {
        let took = cluster
            .create_topic(*id, NewTopic::new(format!("during-{i}"), 2))
            .await;
        eprintln!("created during-{i} through node {id} in {took:?}");
    }

    cluster.restart(old).await;
    let took = cluster
        .wait_for_topics(old, &["during-0", "during-1"])
        .await;
    eprintln!("restarted node {old} shows the topics created while it was down after {took:?}");
    let controller = cluster.wait_formed().await;
    let metadata = cluster.metadata(old, None).await.unwrap();
    for name in before.iter().chain(&["during-0", "during-1"]) {
        assert!(metadata.topics.iter().any(|t| t.name == *name), "{name}");
    }
    // And it takes part again: a topic created through it reaches everyone.
    cluster
        .create_topic(old, NewTopic::new("after-restart", 3))
        .await;
    for id in cluster.ids() {
        cluster.wait_for_topics(id, &["after-restart"]).await;
    }
    eprintln!("controller after the restart: {controller}");
}

#[tokio::test]
async fn paused_controller_is_replaced_and_steps_down_when_resumed() {
    let mut cluster = TestCluster::start(3).await;
    let old = cluster.wait_formed().await;
    cluster.create_topic(old, NewTopic::new("before", 3)).await;

    cluster.pause(old).await;
    let survivors = cluster.running();
    let (new, took) = cluster.wait_for_controller(&survivors).await;
    eprintln!("controller {old} paused: {new} elected after {took:?}");
    assert_ne!(new, old);
    assert!(took < ELECTION_BOUND, "election took {took:?}");
    cluster
        .create_topic(new, NewTopic::new("while-paused", 3))
        .await;

    cluster.resume(old);
    // Right after waking up, the old controller still believes in its term. Whatever it
    // answers, it must not make a change the majority does not have: a topic created
    // through it either fails retriably or reaches the other two.
    let admin = cluster.admin(old).await;
    let outcome = admin
        .create_topics(vec![NewTopic::new("right-after-resume", 1)])
        .await;
    eprintln!("create through the resumed node: {outcome:?}");
    match outcome {
        Ok(()) => {
            for id in &survivors {
                cluster.wait_for_topics(*id, &["right-after-resume"]).await;
            }
        }
        Err(e) => assert!(e.is_retriable(), "a clear retriable error: {e}"),
    }
    admin.close().await.unwrap();

    // It learns of the new term and of the topic created while it slept.
    let (_, took) = wait_until(
        &format!("resumed node {old} names another controller"),
        DEADLINE,
        || async {
            let d = cluster.describe(old).await?;
            match d.controller_id {
                c if c > 0 && c as u64 != old => Ok(()),
                _ => Err(format!("{d:?}")),
            }
        },
    )
    .await;
    eprintln!("resumed node {old} follows another controller after {took:?}");
    assert!(
        took < ELECTION_BOUND,
        "a resumed controller noticed its successor only after {took:?}"
    );
    cluster
        .wait_for_topics(old, &["before", "while-paused"])
        .await;
    let controller = cluster.wait_formed().await;
    eprintln!("all three agree on controller {controller}");
}

/// Controller after controller killed (-9) and restarted, a topic created between
/// failures: every topic created survives every failover. 3 rounds, 30 with
/// `RILL_SOAK=1`.
#[tokio::test]
async fn every_topic_survives_repeated_controller_failures() {
    let rounds = if cluster_harness::soak() { 30 } else { 3 };
    let mut cluster = TestCluster::start(3).await;
    let mut created: Vec<String> = Vec::new();
    let mut elections = Vec::new();
    for round in 0..rounds {
        let controller = cluster.wait_formed().await;
        let name = format!("round-{round}");
        cluster
            .create_topic(controller, NewTopic::new(&name, 2))
            .await;
        created.push(name);
        cluster.kill9(controller);
        let (_, took) = cluster.wait_for_controller(&cluster.running()).await;
        assert!(
            took < ELECTION_BOUND,
            "round {round}: election took {took:?}"
        );
        elections.push(took);
        cluster.restart(controller).await;
        let names: Vec<&str> = created.iter().map(String::as_str).collect();
        for id in cluster.ids() {
            cluster.wait_for_topics(id, &names).await;
        }
    }
    elections.sort();
    eprintln!(
        "{rounds} controller failovers: election median {:?}, max {:?}",
        elections[elections.len() / 2],
        elections[elections.len() - 1]
    );
}

/// Every broker killed at once (a power cut) and started again: the cluster forms
/// again with the same topics, ids and layout, and every acknowledged record is there.
#[tokio::test]
async fn the_whole_cluster_comes_back_after_every_broker_is_killed() {
    let mut cluster = TestCluster::start_with(ClusterOptions {
        kafka: true,
        ..ClusterOptions::new(3)
    })
    .await;
    cluster.wait_formed().await;
    cluster
        .create_topic(2, NewTopic::new("durable", 6).with_replication_factor(1))
        .await;
    cluster.create_topic(3, NewTopic::new("also", 2)).await;
    for id in cluster.ids() {
        cluster.wait_for_topics(id, &["durable", "also"]).await;
    }
    let ids_before = kafka_probe::topic_ids(cluster.node(1).addrs.kafka())
        .await
        .unwrap();
    let layout_before = layout(&cluster, 1).await.unwrap();
    let partitions: Vec<i32> = (0..6).collect();
    let producer = producer(&cluster.bootstrap(), Duration::from_secs(20)).await;
    let produced = produce(&producer, "durable", &partitions, 200, "kept").await;
    producer.close().await.unwrap();
    assert!(produced.failed.is_empty(), "{:?}", produced.failed.first());

    for id in cluster.ids() {
        cluster.kill9(id);
    }
    for id in cluster.ids() {
        cluster.restart(id).await;
    }
    let controller = cluster.wait_formed().await;
    eprintln!("cluster back after a full kill, controller {controller}");
    for id in cluster.ids() {
        cluster.wait_for_topics(id, &["durable", "also"]).await;
        let ids = kafka_probe::topic_ids(cluster.node(id).addrs.kafka())
            .await
            .unwrap();
        assert_eq!(ids, ids_before, "node {id}: topic ids after the restart");
        assert_eq!(
            layout(&cluster, id).await.unwrap(),
            layout_before,
            "node {id}"
        );
    }
    let read = read_back(
        &cluster.bootstrap(),
        "durable",
        &ends(&produced.acknowledged, &partitions),
    )
    .await;
    let report = check(&produced.acknowledged, &read);
    eprintln!("{}", report.summary());
    assert!(report.is_clean(), "{}", report.summary());
}

/// Each topic's partitions as (leader, replicas), as node `id` shows them.
async fn layout(
    cluster: &TestCluster,
    id: u64,
) -> Result<BTreeMap<String, Vec<(i32, i32, Vec<i32>)>>, String> {
    let metadata = cluster.metadata(id, None).await?;
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
            (t.name.clone(), parts)
        })
        .collect())
}

/// A follower whose disk was lost (killed, data directory wiped, started again with the
/// same node id) catches up on the whole metadata from the others, and the cluster goes
/// on creating topics.
#[tokio::test]
async fn a_follower_with_a_wiped_disk_catches_up() {
    let mut cluster = TestCluster::start(3).await;
    let controller = cluster.wait_formed().await;
    for i in 0..3 {
        let name = format!("kept-{i}");
        cluster
            .create_topic(controller, NewTopic::new(name, 2))
            .await;
    }
    let follower = cluster
        .ids()
        .into_iter()
        .find(|id| *id != controller)
        .unwrap();
    cluster.kill9(follower);
    let dir = cluster.node(follower).data_dir.clone();
    std::fs::remove_dir_all(&dir).unwrap();
    cluster.restart(follower).await;
    let took = cluster
        .wait_for_topics(follower, &["kept-0", "kept-1", "kept-2"])
        .await;
    eprintln!("node {follower} with a wiped disk shows the topics after {took:?}");
    cluster.wait_formed().await;
    cluster
        .create_topic(follower, NewTopic::new("after-wipe", 3))
        .await;
    for id in cluster.ids() {
        cluster.wait_for_topics(id, &["after-wipe"]).await;
    }
}
