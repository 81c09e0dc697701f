//! The multi-process cluster harness (issue #15): N `rilld` processes forming one
//! cluster, each with its own data directory, addresses and log file, and the failures
//! to inflict on them: kill -9, SIGSTOP/SIGCONT, SIGTERM, restart on the same directory
//! and ports, and (with [`ClusterOptions::netns`]) network partitions between them.
//!
//! Brokers run with short timeouts ([`FAST_TIMEOUTS`]) so elections and fencing happen
//! within a second or two. Every wait has a deadline. When a test panics, the drop
//! prints each broker's log tail and keeps the directory; the processes are killed and
//! the namespaces deleted either way.
//!
//! Run the cluster tests with `cargo test -p rill --test 'cluster*'` (part of `cargo
//! test --workspace`); `RILL_SOAK=1` makes the repeated-failure and client tests longer.
//! The partition tests need root, iproute2 and nftables (`.ci/run` installs them).
//!
//! | file | what |
//! |---|---|
//! | [`binaries`] | finds (builds) `rilld` and `rill` |
//! | [`ports`] | loopback addresses and free ports |
//! | [`node`] | one broker process and its signals |
//! | [`netns`] | namespaces, bridge, nftables cuts |
//! | [`probe`] | raw DescribeCluster / Metadata of one broker |
//! | [`kafka_probe`] | topic ids from a broker's Kafka Metadata |
//! | [`wait`] | [`wait_until`] |
//! | [`checker`] | lost / duplicated / reordered / diverged / vanished records |
//! | [`cli`] | running the `rill` command line |
//! | [`clients`] | producing numbered records and reading them back |
//! | [`workload`] | producers and consumers running while faults happen |
//! | [`replicas`] | every replica's copy, read from the stopped brokers' directories |

#![allow(dead_code)]

pub mod binaries;
pub mod checker;
pub mod cli;
pub mod clients;
pub mod kafka_probe;
pub mod netns;
pub mod node;
pub mod ports;
pub mod probe;
pub mod replicas;
pub mod wait;
pub mod workload;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::time::Duration;

use rill::client::{Admin, ClusterDescription, ConnectionConfig, NewTopic, TopicDescription};
use rill_protocol::api::describe_cluster::DescribeClusterResponse;
use rill_protocol::api::metadata::MetadataResponse;
use rill_protocol::error_code::ErrorCode;

// Each test file uses a different part of the harness.
#[allow(unused_imports)]
pub use checker::{check, Seen};
#[allow(unused_imports)]
pub use netns::Network;
#[allow(unused_imports)]
pub use node::{Node, NodeState};
#[allow(unused_imports)]
pub use ports::NodeAddrs;
pub use wait::wait_until;

/// Short Raft and broker timeouts, so failures are noticed within seconds.
pub const FAST_TIMEOUTS: [&str; 8] = [
    "--raft-heartbeat",
    "100ms",
    "--raft-election-timeout",
    "500ms",
    "--broker-heartbeat-interval",
    "200ms",
    "--broker-session-timeout",
    "1500ms",
];

/// Longest any cluster-level condition may take (forming, electing, agreeing).
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Whether the long variants run (`RILL_SOAK=1`).
pub fn soak() -> bool {
    std::env::var("RILL_SOAK").is_ok_and(|v| v == "1")
}

/// How to start a cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Number of brokers (all voters).
    pub brokers: usize,
    /// Rack label per broker (by index), none when shorter.
    pub racks: Vec<String>,
    /// Each broker in a network namespace of its own (for partitions; needs root).
    pub netns: bool,
    /// Extra `rilld` flags for every broker.
    pub extra_args: Vec<String>,
    /// Each broker also serves the Kafka protocol (`--kafka-listen`).
    pub kafka: bool,
    /// Without cluster flags: independent single brokers (to test the harness itself
    /// against a broker that predates clustering).
    pub standalone: bool,
}

impl ClusterOptions {
    /// `brokers` brokers on loopback, no racks, no extra flags.
    pub fn new(brokers: usize) -> Self {
        Self {
            brokers,
            racks: Vec::new(),
            netns: false,
            extra_args: Vec::new(),
            kafka: false,
            standalone: false,
        }
    }
}

/// A running cluster of `rilld` processes, node ids 1..=N.
#[derive(Debug)]
pub struct TestCluster {
    /// The brokers; node `id` is `nodes[id - 1]`. Dropped first: killed before the
    /// network goes.
    pub nodes: Vec<Node>,
    network: Option<Network>,
    dir: Option<tempfile::TempDir>,
}

impl TestCluster {
    /// Starts `brokers` brokers on loopback and waits until they form a cluster.
    pub async fn start(brokers: usize) -> TestCluster {
        Self::start_with(ClusterOptions::new(brokers)).await
    }

    /// Starts brokers as `options` say and waits until every broker names the same
    /// controller and sees every broker alive.
    pub async fn start_with(options: ClusterOptions) -> TestCluster {
        let standalone = options.standalone;
        let cluster = Self::launch(options).await;
        if !standalone {
            cluster.wait_formed().await;
        }
        cluster
    }

    /// Starts the processes without waiting for the cluster to form.
    pub async fn launch(options: ClusterOptions) -> TestCluster {
        let number = ports::next_cluster_number();
        let dir = tempfile::Builder::new()
            .prefix("rill-cluster-")
            .tempdir()
            .expect("temp dir");
        let network = options.netns.then(|| {
            Network::create(number, options.brokers).unwrap_or_else(|e| {
                panic!(
                    "cannot build the network namespaces for the partition tests \
                     (they need root, iproute2 and nftables): {e}"
                )
            })
        });
        let addrs: Vec<NodeAddrs> = (1..=options.brokers)
            .map(|i| match &network {
                Some(net) => ports::namespace_addrs(net.ip(i)),
                None => ports::loopback_addrs(ports::loopback_ip(number, i)),
            })
            .collect();
        let members: Vec<String> = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{}@{}", i + 1, a.raft()))
            .collect();
        let members = members.join(",");
        let mut nodes = Vec::new();
        for (i, a) in addrs.iter().enumerate() {
            let id = i as u64 + 1;
            let data_dir = dir.path().join(format!("node{id}"));
            let mut args: Vec<OsString> = vec![
                "--listen".into(),
                a.native().to_string().into(),
                "--http-listen".into(),
                a.http().to_string().into(),
                "--data-dir".into(),
                data_dir.clone().into(),
            ];
            if !options.standalone {
                args.extend([
                    "--node-id".into(),
                    id.to_string().into(),
                    "--cluster".into(),
                    members.clone().into(),
                ]);
                args.extend(FAST_TIMEOUTS.iter().map(OsString::from));
            }
            if options.kafka {
                args.extend(["--kafka-listen".into(), a.kafka().to_string().into()]);
            }
            if let Some(rack) = options.racks.get(i) {
                args.extend(["--rack".into(), rack.into()]);
            }
            args.extend(options.extra_args.iter().map(OsString::from));
            let netns = network.as_ref().map(|n| n.namespace(i + 1));
            let log = dir.path().join(format!("node{id}.log"));
            nodes.push(Node::new(id, *a, data_dir, log, args, netns));
        }
        let mut cluster = TestCluster {
            nodes,
            network,
            dir: Some(dir),
        };
        // All processes first, then wait for each: a broker may wait for a quorum
        // before it listens.
        for node in &mut cluster.nodes {
            node.spawn();
        }
        for node in &mut cluster.nodes {
            node.wait_listening().await;
        }
        cluster
    }

    /// Node `id`.
    pub fn node(&self, id: u64) -> &Node {
        self.nodes
            .get(usize::try_from(id).expect("id") - 1)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    /// Node `id`, to signal it.
    pub fn node_mut(&mut self, id: u64) -> &mut Node {
        self.nodes
            .get_mut(usize::try_from(id).expect("id") - 1)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    /// Every node id.
    pub fn ids(&self) -> Vec<u64> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    /// Ids of the nodes whose process runs (not paused, not down).
    pub fn running(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .filter(|n| n.is_running())
            .map(|n| n.id)
            .collect()
    }

    /// Node `id`'s native address.
    pub fn addr(&self, id: u64) -> SocketAddr {
        self.node(id).addrs.native()
    }

    /// Every broker's native address, comma-separated: the bootstrap list.
    pub fn bootstrap(&self) -> String {
        let addrs: Vec<String> = self
            .nodes
            .iter()
            .map(|n| n.addrs.native().to_string())
            .collect();
        addrs.join(",")
    }

    /// A bootstrap list of the nodes in `ids` only.
    pub fn bootstrap_of(&self, ids: &[u64]) -> String {
        let addrs: Vec<String> = ids.iter().map(|id| self.addr(*id).to_string()).collect();
        addrs.join(",")
    }

    /// An `Admin` connected to node `id` alone.
    pub async fn admin(&self, id: u64) -> Admin {
        Admin::connect(ConnectionConfig::new(self.addr(id).to_string()))
            .await
            .unwrap_or_else(|e| panic!("admin client for node {id}: {e}"))
    }

    /// An `Admin` bootstrapping from every broker.
    pub async fn admin_any(&self) -> Admin {
        Admin::connect(ConnectionConfig::new(self.bootstrap()))
            .await
            .unwrap_or_else(|e| panic!("admin client for {}: {e}", self.bootstrap()))
    }

    /// SIGKILL node `id`.
    pub fn kill9(&mut self, id: u64) {
        self.node_mut(id).kill9();
    }

    /// SIGSTOP node `id`; returns once all its threads are stopped.
    pub async fn pause(&mut self, id: u64) {
        self.node_mut(id).pause().await;
    }

    /// SIGCONT node `id`.
    pub fn resume(&mut self, id: u64) {
        self.node_mut(id).resume();
    }

    /// SIGTERM node `id` and wait for it to exit; fails unless it exits cleanly.
    pub async fn stop(&mut self, id: u64) {
        let status = self.node_mut(id).stop().await;
        assert!(
            status.success(),
            "node {id} exited with {status} on SIGTERM"
        );
    }

    /// Restarts node `id` on the same data directory and ports.
    pub async fn restart(&mut self, id: u64) {
        self.node_mut(id).restart().await;
    }

    /// What node `id` itself answers to DescribeCluster (raw, no client routing).
    pub async fn describe(&self, id: u64) -> Result<DescribeClusterResponse, String> {
        probe::describe_cluster(self.addr(id)).await
    }

    /// What node `id` itself answers to Metadata for `topics` (all when `None`).
    pub async fn metadata(
        &self,
        id: u64,
        topics: Option<Vec<String>>,
    ) -> Result<MetadataResponse, String> {
        probe::metadata(self.addr(id), topics).await
    }

    /// What node `id` answers to the client library's `Admin::describe_cluster`.
    pub async fn describe_cluster(&self, id: u64) -> Result<ClusterDescription, String> {
        let mut config = ConnectionConfig::new(self.addr(id).to_string());
        config.connect_timeout = probe::PROBE_TIMEOUT;
        config.request_timeout = probe::PROBE_TIMEOUT;
        let admin = Admin::connect(config)
            .await
            .map_err(|e| format!("node {id}: {e}"))?;
        let description = admin.describe_cluster().await;
        let _ = admin.close().await;
        description.map_err(|e| format!("node {id}: {e}"))
    }

    /// The controller, as `Admin::describe_cluster` on every running node names it,
    /// once they agree and none says its metadata is stale.
    pub async fn controller(&self) -> Result<u64, String> {
        let mut named = BTreeMap::new();
        for id in self.running() {
            let d = self.describe_cluster(id).await?;
            if d.metadata_stale {
                return Err(format!("node {id} says its metadata is stale: {d:?}"));
            }
            named.insert(id, d.controller_id);
        }
        let first = named.values().next().copied().flatten();
        match first {
            Some(c) if named.values().all(|n| *n == Some(c)) => Ok(c as u64),
            _ => Err(format!("controller per node: {named:?}")),
        }
    }

    /// `Admin::describe_topic` of `topic` through node `id`, retrying retriable errors
    /// (a partition whose leader has not opened it yet) until [`DEADLINE`].
    pub async fn describe_topic(&self, id: u64, topic: &str) -> TopicDescription {
        let admin = self.admin(id).await;
        let what = format!("node {id} describes {topic}");
        let (description, _) = wait_until(&what, DEADLINE, || {
            let (admin, what) = (&admin, &what);
            async move {
                match admin.describe_topic(topic).await {
                    Ok(d) => Ok(d),
                    Err(e) if e.is_retriable() => Err(e.to_string()),
                    Err(e) => panic!("{what}: {e}"),
                }
            }
        })
        .await;
        let _ = admin.close().await;
        description
    }

    /// The controller every node in `among` names, once they all name the same one,
    /// it is one of them, and none of them says its view is stale.
    pub async fn agreed_controller(&self, among: &[u64]) -> Result<u64, String> {
        let mut views = BTreeMap::new();
        for id in among {
            let d = self
                .describe(*id)
                .await
                .map_err(|e| format!("node {id}: {e}"))?;
            if d.metadata_stale {
                return Err(format!("node {id} says its metadata is stale: {d:?}"));
            }
            views.insert(*id, d.controller_id);
        }
        let controllers: std::collections::BTreeSet<i32> = views.values().copied().collect();
        match controllers.into_iter().collect::<Vec<_>>()[..] {
            [c] if c > 0 && among.contains(&(c as u64)) => Ok(c as u64),
            _ => Err(format!("controller per node: {views:?}")),
        }
    }

    /// Waits until every node in `among` names the same controller, one of them;
    /// returns it and how long that took.
    pub async fn wait_for_controller(&self, among: &[u64]) -> (u64, Duration) {
        wait_until(
            &format!("nodes {among:?} agree on a controller among them"),
            DEADLINE,
            || self.agreed_controller(among),
        )
        .await
    }

    /// Waits until every running node names the same controller and lists every
    /// running broker alive; returns the controller.
    pub async fn wait_formed(&self) -> u64 {
        let running = self.running();
        let (controller, took) = wait_until("the cluster forms", DEADLINE, || async {
            let controller = self.agreed_controller(&running).await?;
            for id in &running {
                let d = self.describe(*id).await?;
                let alive: Vec<i32> = d
                    .brokers
                    .iter()
                    .filter(|b| b.alive)
                    .map(|b| b.node_id)
                    .collect();
                if running.iter().any(|r| !alive.contains(&(*r as i32))) {
                    return Err(format!(
                        "node {id} sees alive {alive:?}, running {running:?}"
                    ));
                }
            }
            Ok(controller)
        })
        .await;
        eprintln!("cluster of {running:?} formed in {took:?}, controller {controller}");
        controller
    }

    /// Creates `topic` through node `id`, retrying what a controller change makes
    /// retriable (NOT_CONTROLLER, timeouts, a lost connection) until [`DEADLINE`]; a
    /// retry that finds the topic already there counts (an earlier try committed).
    /// Returns how long it took.
    pub async fn create_topic(&self, id: u64, topic: NewTopic) -> Duration {
        let admin = Admin::connect(ConnectionConfig::new(self.addr(id).to_string()));
        let admin = admin
            .await
            .unwrap_or_else(|e| panic!("admin for node {id}: {e}"));
        let mut tries = 0;
        let what = format!("node {id} creates topic {}", topic.name);
        let (_, took) = wait_until(&what, DEADLINE, || {
            tries += 1;
            let (admin, topic, retry) = (&admin, topic.clone(), tries > 1);
            async move {
                match admin.create_topics(vec![topic]).await {
                    Ok(()) => Ok(()),
                    Err(e) if retry && e.error_code() == Some(ErrorCode::TopicAlreadyExists) => {
                        Ok(())
                    }
                    Err(e) if e.is_retriable() => Err(format!("retriable: {e}")),
                    Err(e) => panic!("{id} refused the topic: {e}"),
                }
            }
        })
        .await;
        let _ = admin.close().await;
        took
    }

    /// Waits until node `id`'s own Metadata lists every topic in `topics`, each
    /// partition with a leader.
    pub async fn wait_for_topics(&self, id: u64, topics: &[&str]) -> Duration {
        let what = format!("node {id} shows topics {topics:?} with leaders");
        let (_, took) = wait_until(&what, DEADLINE, || async {
            let metadata = self.metadata(id, None).await?;
            for name in topics {
                let topic = metadata.topics.iter().find(|t| t.name == *name);
                let Some(topic) = topic.filter(|t| t.error_code == ErrorCode::None) else {
                    return Err(format!("{name} missing: {:?}", metadata.topics));
                };
                if topic.partitions.is_empty() || topic.partitions.iter().any(|p| p.leader < 0) {
                    return Err(format!("{name} without leaders: {topic:?}"));
                }
            }
            Ok(())
        })
        .await;
        took
    }

    /// Cuts node `id` off from every other broker (netns clusters only).
    pub fn isolate(&self, id: u64) {
        let others: Vec<usize> = self
            .ids()
            .into_iter()
            .filter(|o| *o != id)
            .map(|o| o as usize)
            .collect();
        self.network()
            .cut(id as usize, &others)
            .unwrap_or_else(|e| panic!("cannot cut node {id} off: {e}"));
        eprintln!("node {id} cut off from {others:?}");
    }

    /// Undoes [`TestCluster::isolate`].
    pub fn heal(&self, id: u64) {
        self.network()
            .heal(id as usize)
            .unwrap_or_else(|e| panic!("cannot heal node {id}: {e}"));
        eprintln!("node {id} healed");
    }

    fn network(&self) -> &Network {
        self.network
            .as_ref()
            .expect("network partitions need ClusterOptions::netns")
    }

    /// Every node's log tail, for failure messages.
    pub fn logs(&self, lines: usize) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            out.push_str(&format!(
                "---- node {} ({:?}, {}) ----\n{}\n",
                node.id,
                node.state(),
                node.log_path.display(),
                node.log_tail(lines)
            ));
        }
        out
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("==== broker logs (test failed) ====\n{}", self.logs(80));
            if let Some(dir) = self.dir.take() {
                eprintln!("kept the cluster's directory: {}", dir.keep().display());
            }
        }
        // The nodes' drops kill the processes, then the network's drop deletes the
        // namespaces (fields drop in order).
    }
}
