//! A broker added to a running cluster without being one of its voters (issue #15):
//! started with `--inter-broker-listen` and a `--node-id` not in `--cluster`, it joins
//! as a learner of the metadata log, registers, takes partitions of new topics, serves
//! them, and rejoins after a restart; the quorum's voters stay the three.

mod cluster_harness;

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr};

use cluster_harness::node::Node;
use cluster_harness::ports::loopback_addrs;
use cluster_harness::{checker, clients, wait_until, TestCluster, DEADLINE, FAST_TIMEOUTS};
use rill::client::NewTopic;

/// Starts broker 4 next to the cluster's three, outside `--cluster`.
async fn add_fourth_broker(cluster: &mut TestCluster) {
    let first = cluster.node(1);
    let IpAddr::V4(ip) = first.addrs.ip else {
        panic!("loopback clusters use IPv4");
    };
    let [a, b, c, _] = ip.octets();
    let addrs = loopback_addrs(IpAddr::V4(Ipv4Addr::new(a, b, c, 4)));
    let parent = first.data_dir.parent().expect("cluster dir").to_path_buf();
    let members: Vec<String> = cluster
        .ids()
        .iter()
        .map(|id| format!("{id}@{}", cluster.node(*id).addrs.raft()))
        .collect();
    let data_dir = parent.join("node4");
    let mut args: Vec<OsString> = vec![
        "--listen".into(),
        addrs.native().to_string().into(),
        "--http-listen".into(),
        addrs.http().to_string().into(),
        "--data-dir".into(),
        data_dir.clone().into(),
        "--node-id".into(),
        "4".into(),
        "--cluster".into(),
        members.join(",").into(),
        "--inter-broker-listen".into(),
        addrs.raft().to_string().into(),
    ];
    args.extend(FAST_TIMEOUTS.iter().map(OsString::from));
    let log = parent.join("node4.log");
    cluster
        .nodes
        .push(Node::new(4, addrs, data_dir, log, args, None));
    cluster.node_mut(4).start().await;
}

/// Waits until broker `asked` describes broker 4 alive and not voting.
async fn wait_for_fourth(cluster: &TestCluster, asked: u64) {
    wait_until("broker 4 is alive and not a voter", DEADLINE, || async {
        let described = cluster.describe_cluster(asked).await?;
        let four = described.brokers.iter().find(|b| b.node_id == 4);
        match four {
            Some(b) if b.alive && !b.voter => {}
            other => return Err(format!("broker 4 as node {asked} sees it: {other:?}")),
        }
        let voters: Vec<i32> = described
            .brokers
            .iter()
            .filter(|b| b.voter)
            .map(|b| b.node_id)
            .collect();
        if voters != [1, 2, 3] {
            return Err(format!("voters {voters:?}"));
        }
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn a_fourth_broker_joins_without_voting_and_serves_partitions() {
    let mut cluster = TestCluster::start(3).await;
    add_fourth_broker(&mut cluster).await;
    wait_for_fourth(&cluster, 1).await;
    wait_for_fourth(&cluster, 4).await;

    // Four partitions with one replica each: placement spreads them over all four.
    cluster.create_topic(4, NewTopic::new("spread", 4)).await;
    cluster.wait_for_topics(4, &["spread"]).await;
    let described = cluster.describe_topic(1, "spread").await;
    let leaders: Vec<i32> = described.partitions.iter().map(|p| p.leader).collect();
    assert!(
        leaders.contains(&4),
        "broker 4 leads a partition: {leaders:?}"
    );

    let bootstrap = cluster.bootstrap_of(&[4]);
    let producer = clients::producer(&bootstrap, DEADLINE).await;
    let produced = clients::produce(&producer, "spread", &[0, 1, 2, 3], 50, "a").await;
    let _ = producer.close().await;
    assert!(produced.failed.is_empty(), "{:?}", produced.failed);
    let ends = clients::ends(&produced.acknowledged, &[0, 1, 2, 3]);
    let read = clients::read_back(&bootstrap, "spread", &ends).await;
    let report = checker::check(&produced.acknowledged, &read);
    assert!(report.is_clean(), "{}", report.summary());

    // Restarted, it rejoins with its state and serves its partition again.
    cluster.stop(4).await;
    cluster.restart(4).await;
    wait_for_fourth(&cluster, 2).await;
    let read = clients::read_back(&cluster.bootstrap(), "spread", &ends).await;
    let report = checker::check(&produced.acknowledged, &read);
    assert!(report.is_clean(), "{}", report.summary());
}
