//! The `rill` command line against a three-broker cluster, through the bootstrap list:
//! `rill cluster status` names the controller and the brokers (and notices a killed
//! one), `rill topic create --replication-factor 3` spreads replicas over the three,
//! and `rill topic describe` shows leader, replicas and ISR per partition.

mod cluster_harness;

use std::collections::{BTreeMap, BTreeSet};

use cluster_harness::{cli, wait_until, TestCluster, DEADLINE};
use serde_json::Value;

/// Runs `rill` and parses its JSON output; `Err` with what it printed otherwise.
async fn rill_json(bootstrap: &str, args: &[&str]) -> Result<Value, String> {
    let out = cli::rill(bootstrap, args, "").await;
    if !out.success() {
        return Err(format!("rill {}: {out:?}", args.join(" ")));
    }
    serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {}", out.stdout))
}

/// `(node_id, alive, controller)` of each broker in `rill cluster status` JSON.
fn brokers(status: &Value) -> Vec<(i64, bool, bool)> {
    status["brokers"]
        .as_array()
        .map(|brokers| {
            brokers
                .iter()
                .map(|b| {
                    (
                        b["node_id"].as_i64().unwrap_or(-1),
                        b["alive"].as_bool().unwrap_or(false),
                        b["controller"].as_bool().unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_cli_shows_the_cluster_and_spreads_replicas() {
    let mut cluster = TestCluster::start(3).await;
    let controller = cluster.wait_formed().await;
    let bootstrap = cluster.bootstrap();

    let status = rill_json(&bootstrap, &["cluster", "status", "--output", "json"])
        .await
        .unwrap();
    assert_eq!(
        status["controller_id"].as_i64(),
        Some(controller as i64),
        "{status}"
    );
    assert_eq!(status["metadata_stale"].as_bool(), Some(false), "{status}");
    let expected: Vec<(i64, bool, bool)> = (1..=3)
        .map(|id| (id, true, id == controller as i64))
        .collect();
    assert_eq!(brokers(&status), expected, "{status}");
    let text = cli::rill(&bootstrap, &["cluster", "status"], "").await;
    assert!(text.success(), "{text:?}");
    eprintln!("rill cluster status:\n{}", text.stdout);

    let create = cli::rill(
        &bootstrap,
        &[
            "topic",
            "create",
            "orders",
            "--partitions",
            "12",
            "--replication-factor",
            "3",
        ],
        "",
    )
    .await;
    assert!(create.success(), "{create:?}");
    let too_many = cli::rill(
        &bootstrap,
        &["topic", "create", "four", "--replication-factor", "4"],
        "",
    )
    .await;
    assert!(!too_many.success(), "{too_many:?}");
    eprintln!(
        "rill topic create --replication-factor 4: {}",
        too_many.stderr.trim()
    );
    assert!(
        too_many.stderr.contains("INVALID_REPLICATION_FACTOR")
            || too_many.stderr.contains("replication"),
        "says what is wrong: {too_many:?}"
    );

    let (described, _) = wait_until(
        "rill topic describe shows every leader",
        DEADLINE,
        || async {
            let d = rill_json(
                &bootstrap,
                &["topic", "describe", "orders", "--output", "json"],
            )
            .await?;
            let partitions = d["partitions"].as_array().cloned().unwrap_or_default();
            if partitions.len() == 12 && partitions.iter().all(|p| p["leader"].as_i64() > Some(0)) {
                Ok(partitions)
            } else {
                Err(d.to_string())
            }
        },
    )
    .await;
    let mut leaders = BTreeSet::new();
    for p in &described {
        let replicas: Vec<i64> = p["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_i64)
            .collect();
        let isr: Vec<i64> = p["isr"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_i64)
            .collect();
        let leader = p["leader"].as_i64().unwrap();
        let distinct: BTreeSet<i64> = replicas.iter().copied().collect();
        assert_eq!(distinct, BTreeSet::from([1, 2, 3]), "{p}");
        // Replicated: the partition's Raft group elected one of them, all in sync.
        assert!(distinct.contains(&leader), "{p}");
        let in_sync: BTreeSet<i64> = isr.iter().copied().collect();
        assert_eq!(in_sync, distinct, "every replica in sync: {p}");
        // Placement spreads the preferred leaders (the first replica).
        leaders.insert(replicas[0]);
    }
    assert_eq!(
        leaders,
        BTreeSet::from([1, 2, 3]),
        "preferred leaders spread"
    );
    let text = cli::rill(&bootstrap, &["topic", "describe", "orders"], "").await;
    assert!(text.success(), "{text:?}");
    eprintln!("rill topic describe orders:\n{}", text.stdout);

    // A broker killed: status notices it within the session timeout (1.5 s here).
    let victim = if controller == 3 { 2 } else { 3 };
    cluster.kill9(victim);
    let (status, took) = wait_until(
        "rill cluster status shows the killed broker dead",
        DEADLINE,
        || async {
            let status = rill_json(&bootstrap, &["cluster", "status", "--output", "json"]).await?;
            let dead = brokers(&status)
                .iter()
                .any(|(id, alive, _)| *id == victim as i64 && !alive);
            if dead {
                Ok(status)
            } else {
                Err(status.to_string())
            }
        },
    )
    .await;
    eprintln!("node {victim} killed: rill cluster status shows it dead after {took:?}: {status}");
    let alive: Vec<i64> = brokers(&status)
        .iter()
        .filter(|b| b.1)
        .map(|b| b.0)
        .collect();
    assert_eq!(alive.len(), 2, "{status}");
}

/// `rill tail --no-follow` right after a broker restarts, bootstrapping from that
/// broker first (its metadata may still be catching up): it may skip a partition it
/// cannot read now, saying so on stderr, but every partition it does not warn about
/// must be printed whole.
#[tokio::test]
async fn tail_right_after_a_restart_prints_every_partition_it_does_not_warn_about() {
    let mut cluster = TestCluster::start(3).await;
    let controller = cluster.wait_formed().await;
    cluster
        .create_topic(
            1,
            rill::client::NewTopic::new("restarted", 6).with_replication_factor(1),
        )
        .await;
    for id in cluster.ids() {
        cluster.wait_for_topics(id, &["restarted"]).await;
    }
    let victim = if controller == 1 { 2 } else { 1 };
    let bootstrap = format!(
        "{},{}",
        cluster.addr(victim),
        cluster.bootstrap_of(&[controller])
    );
    // Keyed, so the records spread over the six partitions (three leaders).
    let lines: Vec<String> = (0..600).map(|i| format!("line-{i:04}")).collect();
    let input: Vec<String> = lines.iter().map(|l| format!("k-{l}:{l}")).collect();
    let out = cli::rill(
        &bootstrap,
        &[
            "produce",
            "restarted",
            "--print-offsets",
            "--key-separator",
            ":",
        ],
        &(input.join("\n") + "\n"),
    )
    .await;
    assert!(out.success(), "{out:?}");
    let mut per_partition: BTreeMap<i32, BTreeSet<String>> = BTreeMap::new();
    for (at, line) in out.stdout.lines().zip(&lines) {
        let partition: i32 = at.split(':').next().unwrap().parse().unwrap();
        per_partition
            .entry(partition)
            .or_default()
            .insert(line.clone());
    }

    cluster.kill9(victim);
    cluster.restart(victim).await;
    cluster.wait_for_topics(controller, &["restarted"]).await;
    let tail = cli::rill(
        &bootstrap,
        &[
            "tail",
            "restarted",
            "--from-beginning",
            "--no-follow",
            "--print-offset",
        ],
        "",
    )
    .await;
    eprintln!(
        "tail right after the restart: exit {:?}, {} lines, stderr: {}",
        tail.code,
        tail.stdout.lines().count(),
        tail.stderr.trim()
    );
    if !tail.success() {
        return; // failing is an honest answer
    }
    let warned: BTreeSet<i32> = tail
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("warning: partition "))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    let mut printed: BTreeMap<i32, BTreeSet<String>> = BTreeMap::new();
    for line in tail.stdout.lines() {
        let (at, value) = line.split_once('\t').expect("P:O<tab>value");
        let partition: i32 = at.split(':').next().unwrap().parse().unwrap();
        printed
            .entry(partition)
            .or_default()
            .insert(value.to_owned());
    }
    for (partition, values) in &per_partition {
        if warned.contains(partition) {
            continue;
        }
        let got = printed.get(partition).map_or(0, BTreeSet::len);
        assert_eq!(
            got,
            values.len(),
            "partition {partition}: printed {got} of {} records without a warning \
             (warned about {warned:?}); stderr: {}",
            values.len(),
            tail.stderr
        );
    }
}
