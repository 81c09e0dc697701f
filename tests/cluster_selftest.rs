//! The cluster harness tested on its own, with independent single brokers (no cluster
//! flags): processes start on their own addresses, die on kill -9 and come back on the
//! same directory and ports with their data, freeze on SIGSTOP and answer again on
//! SIGCONT, stop cleanly on SIGTERM; the network namespaces carry traffic and a cut
//! stops it. What the cluster tests rely on, checked without a cluster.

mod cluster_harness;

use std::time::Duration;

use cluster_harness::{probe, wait_until, ClusterOptions, NodeState, TestCluster, DEADLINE};

fn standalone(brokers: usize, netns: bool) -> ClusterOptions {
    ClusterOptions {
        standalone: true,
        netns,
        ..ClusterOptions::new(brokers)
    }
}

/// Whether broker `id` answers Metadata within the probe timeout.
async fn answers(cluster: &TestCluster, id: u64) -> Result<(), String> {
    cluster.metadata(id, None).await.map(|_| ())
}

#[tokio::test]
async fn processes_die_freeze_and_come_back_with_their_data() {
    let mut cluster = TestCluster::start_with(standalone(2, false)).await;
    assert_ne!(
        cluster.addr(1),
        cluster.addr(2),
        "each broker has its own address"
    );
    assert_eq!(cluster.bootstrap().split(',').count(), 2);
    let admin = cluster.admin(1).await;
    admin.create_topic("kept", 2, &[]).await.unwrap();
    admin.close().await.unwrap();

    let pid = cluster.node(1).pid().unwrap();
    cluster.kill9(1);
    assert_eq!(cluster.node(1).state(), NodeState::Down);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "process reaped"
    );
    assert!(
        answers(&cluster, 1).await.is_err(),
        "a killed broker does not answer"
    );
    answers(&cluster, 2)
        .await
        .expect("the other broker is untouched");

    cluster.restart(1).await;
    let metadata = cluster.metadata(1, None).await.unwrap();
    let names: Vec<&str> = metadata.topics.iter().map(|t| t.name.as_str()).collect();
    assert!(
        names.contains(&"kept"),
        "restart keeps the data dir: {names:?}"
    );

    cluster.pause(1).await;
    let err = answers(&cluster, 1)
        .await
        .expect_err("a paused broker does not answer");
    eprintln!("paused broker: {err}");
    cluster.resume(1);
    wait_until("the resumed broker answers", DEADLINE, || {
        answers(&cluster, 1)
    })
    .await;

    cluster.stop(2).await;
    assert_eq!(cluster.node(2).state(), NodeState::Down);
    assert!(cluster
        .node(2)
        .log_tail(200)
        .contains("stopped with SIGTERM"));
    cluster.restart(2).await;
    answers(&cluster, 2).await.unwrap();
}

#[tokio::test]
async fn namespaces_carry_traffic_and_a_cut_stops_it() {
    let cluster = TestCluster::start_with(standalone(2, true)).await;
    assert!(cluster.node(1).netns().is_some());
    let ip = cluster.addr(1).ip().to_string();
    assert!(ip.starts_with("10."), "{ip}");
    answers(&cluster, 1).await.unwrap();
    answers(&cluster, 2).await.unwrap();

    // From broker 2's namespace, broker 1 answers until it is cut off from broker 2.
    let from_2 = || {
        let ns = cluster.node(2).netns().unwrap().to_owned();
        let target = cluster.addr(1).to_string();
        async move { reach_from(&ns, &target).await }
    };
    assert!(from_2().await, "broker 2 reaches broker 1 before the cut");
    cluster.isolate(1);
    assert!(!from_2().await, "broker 2 no longer reaches broker 1");
    answers(&cluster, 1)
        .await
        .expect("the test process still reaches an isolated broker");
    cluster.heal(1);
    assert!(from_2().await, "broker 2 reaches broker 1 after healing");
}

/// Whether a TCP connection from namespace `ns` to `target` succeeds within 2 s (bash's
/// /dev/tcp, run in the namespace).
async fn reach_from(ns: &str, target: &str) -> bool {
    let (host, port) = target.rsplit_once(':').unwrap();
    let script = format!("exec 3<>/dev/tcp/{host}/{port}");
    let probe = tokio::process::Command::new("ip")
        .args(["netns", "exec", ns, "timeout", "2", "bash", "-c", &script])
        .kill_on_drop(true)
        .status();
    match tokio::time::timeout(Duration::from_secs(5), probe).await {
        Ok(Ok(status)) => status.success(),
        other => panic!("cannot run a probe in {ns}: {other:?}"),
    }
}

#[tokio::test]
async fn checker_finds_a_lost_record() {
    use cluster_harness::{check, Seen};
    let acked = vec![Seen {
        partition: 0,
        offset: 0,
        value: "v".into(),
    }];
    let report = check(&acked, &[]);
    assert_eq!(report.lost, ["v"]);
    let _ = probe::PROBE_TIMEOUT;
}

/// The replicated-run pipeline on single copies (replication factor 1, no Raft): the
/// workload produces and consumes through a kill -9 and restart, every broker's copy is
/// read from its directory after a clean stop, and the history checker finds the run
/// clean; a copy with a record taken out makes it report the record lost and vanished.
#[tokio::test]
async fn workload_replica_reader_and_history_checker_end_to_end() {
    use cluster_harness::checker::history::{check_history, History};
    use cluster_harness::replicas;
    use cluster_harness::workload::{Workload, WorkloadOptions};
    use rill::client::NewTopic;

    let mut cluster = TestCluster::start(3).await;
    let partitions = [0, 1, 2];
    cluster
        .create_topic(1, NewTopic::new("single", 3).with_replication_factor(1))
        .await;
    for id in cluster.ids() {
        cluster.wait_for_topics(id, &["single"]).await;
    }
    let layout = replicas::layout(&cluster, 1, "single").await;
    let workload = Workload::start(WorkloadOptions::new(
        cluster.bootstrap(),
        "single",
        &partitions,
    ))
    .await;
    let progress = std::sync::Arc::clone(&workload.progress);
    let enough = |n: u64| {
        let progress = std::sync::Arc::clone(&progress);
        move || {
            let progress = std::sync::Arc::clone(&progress);
            async move {
                let done = partitions.iter().all(|p| progress.acknowledged(*p) >= n);
                done.then_some(()).ok_or_else(|| format!("{progress:?}"))
            }
        }
    };
    wait_until("100 records per partition", DEADLINE, enough(100)).await;
    cluster.kill9(2);
    cluster.restart(2).await;
    wait_until("200 records per partition", DEADLINE, enough(200)).await;
    let mut run = workload.stop().await;
    // A raw acks=all produce to the partition's leader alone is acknowledged and stored.
    let metadata = cluster
        .metadata(1, Some(vec!["single".into()]))
        .await
        .unwrap();
    let leader = metadata.topics[0].partitions[0].leader as u64;
    let answer = probe::produce_one(cluster.addr(leader), "single", 0, "raw-0", 5000)
        .await
        .unwrap();
    assert_eq!(
        answer.error_code,
        rill_protocol::error_code::ErrorCode::None
    );
    run.acknowledged.push(cluster_harness::Seen {
        partition: 0,
        offset: answer.base_offset,
        value: "raw-0".into(),
    });

    let mut copies = replicas::stop_and_read(&mut cluster, "single", &layout).await;
    assert_eq!(copies.len(), 3, "one copy per partition");
    let report = check_history(History {
        acknowledged: &run.acknowledged,
        observed: &run.observed,
        replicas: &copies,
    });
    eprintln!("{}", report.summary());
    assert!(report.is_clean(), "{}", report.summary());
    assert!(report.stored >= 600 && !run.observed.is_empty());

    // Take an acknowledged record, that a consumer read, out of its copy.
    let gone = run
        .observed
        .iter()
        .find(|s| run.acknowledged.contains(s))
        .expect("a consumer read an acknowledged record")
        .clone();
    let copy = copies.iter_mut().find(|c| c.partition == gone.partition);
    copy.unwrap().records.retain(|r| r.value != gone.value);
    let report = check_history(History {
        acknowledged: &run.acknowledged,
        observed: &run.observed,
        replicas: &copies,
    });
    assert_eq!(report.lost.len(), 1, "{}", report.summary());
    assert!(!report.vanished.is_empty(), "{}", report.summary());
}
