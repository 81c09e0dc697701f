//! An unmodified Kafka client (kcat) against a three-broker cluster's Kafka listeners:
//! it bootstraps from the list, learns every broker's Kafka address and each
//! partition's leader from Metadata, produces to partitions led by all three brokers
//! and reads every record back once.

mod cluster_harness;
mod kafka_tools;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::Duration;

use cluster_harness::{ClusterOptions, TestCluster};
use rill::client::NewTopic;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Runs kcat with `args` and `stdin`, within 60 s; returns stdout.
async fn kcat(args: &[&str], stdin: &str) -> String {
    let Some(kcat) = kafka_tools::kcat() else {
        return String::new();
    };
    let mut child = Command::new(kcat)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kcat starts");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("kcat finishes within 60 s")
        .unwrap();
    assert!(
        out.status.success(),
        "kcat {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn kcat_produces_and_consumes_across_three_leaders() {
    if kafka_tools::kcat().is_none() {
        return; // opted out with RILL_KAFKA_CLIENTS_OPTIONAL=1 (kcat() fails otherwise)
    }
    let cluster = TestCluster::start_with(ClusterOptions {
        kafka: true,
        ..ClusterOptions::new(3)
    })
    .await;
    cluster
        .create_topic(1, NewTopic::new("k", 6).with_replication_factor(1))
        .await;
    for id in cluster.ids() {
        cluster.wait_for_topics(id, &["k"]).await;
    }
    let kafka: Vec<String> = cluster
        .nodes
        .iter()
        .map(|n| n.addrs.kafka().to_string())
        .collect();
    let bootstrap = kafka.join(",");

    let metadata = kcat(&["-b", &bootstrap, "-L", "-t", "k"], "").await;
    eprintln!("kcat -L:\n{metadata}");
    for address in &kafka {
        assert!(
            metadata.contains(address.as_str()),
            "kcat learns {address}: {metadata}"
        );
    }

    // Keys spread the records over the six partitions (librdkafka's hash).
    let lines: Vec<String> = (0..600).map(|i| format!("key-{i}:value-{i:04}")).collect();
    kcat(
        &[
            "-b",
            &bootstrap,
            "-t",
            "k",
            "-P",
            "-K",
            ":",
            "-X",
            "message.timeout.ms=20000",
        ],
        &(lines.join("\n") + "\n"),
    )
    .await;
    let consumed = kcat(
        &[
            "-b",
            &bootstrap,
            "-t",
            "k",
            "-C",
            "-o",
            "beginning",
            "-e",
            "-f",
            "%p %s\\n",
        ],
        "",
    )
    .await;
    let mut per_partition: BTreeMap<i32, usize> = BTreeMap::new();
    let mut values = BTreeSet::new();
    let mut count = 0;
    for line in consumed.lines() {
        let (partition, value) = line.split_once(' ').expect("%p %s");
        *per_partition.entry(partition.parse().unwrap()).or_default() += 1;
        values.insert(value.to_owned());
        count += 1;
    }
    eprintln!("kcat read {count} records, per partition {per_partition:?}");
    assert_eq!(count, 600, "every record once");
    assert_eq!(values.len(), 600, "no duplicates");
    assert_eq!(
        per_partition.len(),
        6,
        "all partitions (all three leaders) used"
    );
}
