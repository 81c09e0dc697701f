//! Cluster settings of `rilld` (issue #15): `--node-id`, `--cluster`, `--rack`, the
//! quorum's timeouts and `--default-replication-factor`, as flags, `RILL_*` variables
//! and `rill.toml` keys (the timeouts and membership under `[cluster]`).
//!
//! `--node-id` and `--cluster` come together: one without the other is an error that
//! says what to add. Without both the broker is the single broker it always was.

use std::time::Duration;

use serde::Deserialize;

use super::{invalid, parse_duration, ConfigError};
use crate::cluster::config::parse_members;
use crate::cluster::{ClusterConfig, ClusterMember};

/// Default copies of a new topic's partitions (Kafka's `default.replication.factor`).
pub const DEFAULT_REPLICATION_FACTOR_DEFAULT: u16 = 1;
/// Most copies a topic may ask for.
pub const REPLICATION_FACTOR_MAX: u16 = 16;
/// Largest node id: ids fit the wire's `i32` and the top 19 bits of a producer id (so
/// brokers never issue the same producer id).
pub const NODE_ID_MAX: u64 = (1 << 19) - 1;

/// The `--cluster` list, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Members(pub Vec<ClusterMember>);

/// Parses `--cluster` (see [`parse_members`]).
pub fn parse_cluster_members(s: &str) -> Result<Members, String> {
    parse_members(s).map(Members)
}

/// The cluster flags of `rilld`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClusterArgs {
    /// This broker's node id in the cluster (a number from 1); needs --cluster.
    #[arg(long, env = "RILL_NODE_ID")]
    pub node_id: Option<u64>,
    /// The metadata quorum's voters, `id@host:port,...`; each address is that broker's
    /// inter-broker listener (this broker's own entry is where it binds). Needs
    /// --node-id, e.g. `1@10.0.0.1:9431,2@10.0.0.2:9431,3@10.0.0.3:9431` [default: off].
    #[arg(long, env = "RILL_CLUSTER", value_parser = parse_cluster_members)]
    pub cluster: Option<Members>,
    /// This broker's own inter-broker address when it is not in --cluster: it joins the
    /// cluster as a broker that holds partitions but does not vote on metadata (add a
    /// fourth broker this way), e.g. `10.0.0.4:9431` [default: its --cluster entry].
    #[arg(long, env = "RILL_INTER_BROKER_LISTEN", value_parser = parse_listen)]
    pub inter_broker_listen: Option<String>,
    /// This broker's rack (zone) label; a topic's replicas go to different racks [default: none].
    #[arg(long, env = "RILL_RACK")]
    pub rack: Option<String>,
    /// How often the metadata quorum's leader heartbeats its followers, e.g. `250ms` [default: 250ms].
    #[arg(long, env = "RILL_RAFT_HEARTBEAT", value_parser = parse_duration)]
    pub raft_heartbeat: Option<Duration>,
    /// A follower that hears no leader for this long (randomised up to twice it)
    /// starts an election; at least three heartbeats [default: 1s].
    #[arg(long, env = "RILL_RAFT_ELECTION_TIMEOUT", value_parser = parse_duration)]
    pub raft_election_timeout: Option<Duration>,
    /// How often a broker tells the controller it is alive [default: 1s].
    #[arg(long, env = "RILL_BROKER_HEARTBEAT_INTERVAL", value_parser = parse_duration)]
    pub broker_heartbeat_interval: Option<Duration>,
    /// A broker not heard from for this long is fenced (leads nothing until it comes
    /// back); at least two heartbeat intervals [default: 6s].
    #[arg(long, env = "RILL_BROKER_SESSION_TIMEOUT", value_parser = parse_duration)]
    pub broker_session_timeout: Option<Duration>,
    /// Metadata log entries between snapshots of the metadata [default: 1000].
    #[arg(long, env = "RILL_METADATA_SNAPSHOT_EVERY")]
    pub metadata_snapshot_every: Option<u64>,
    /// Copies of each partition of a topic created without a replication factor
    /// (auto-created topics too); at most the live brokers [default: 1].
    #[arg(long, env = "RILL_DEFAULT_REPLICATION_FACTOR")]
    pub default_replication_factor: Option<u16>,
}

/// `members` in `rill.toml`: one string as the flag takes it, or a list of `id@host:port`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FileMembers {
    /// `"1@a:9431,2@b:9431"`.
    One(String),
    /// `["1@a:9431", "2@b:9431"]`.
    Many(Vec<String>),
}

/// The `[cluster]` table of `rill.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFileConfig {
    node_id: Option<u64>,
    members: Option<FileMembers>,
    listen: Option<String>,
    rack: Option<String>,
    raft_heartbeat: Option<String>,
    raft_election_timeout: Option<String>,
    broker_heartbeat_interval: Option<String>,
    broker_session_timeout: Option<String>,
    metadata_snapshot_every: Option<u64>,
}

/// The cluster settings gathered from the file and the flags, before they are checked
/// against each other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterSettings {
    node_id: Option<u64>,
    members: Option<Vec<ClusterMember>>,
    listen: Option<String>,
    rack: Option<String>,
    raft_heartbeat: Option<Duration>,
    raft_election_timeout: Option<Duration>,
    broker_heartbeat_interval: Option<Duration>,
    broker_session_timeout: Option<Duration>,
    snapshot_every: Option<u64>,
}

impl ClusterSettings {
    /// Takes the `[cluster]` table's values.
    pub fn apply_file(&mut self, file: Option<&ClusterFileConfig>) -> Result<(), ConfigError> {
        let Some(file) = file else {
            return Ok(());
        };
        replace(&mut self.node_id, file.node_id);
        if let Some(members) = &file.members {
            let text = match members {
                FileMembers::One(s) => s.clone(),
                FileMembers::Many(list) => list.join(","),
            };
            let parsed = parse_members(&text).map_err(|e| invalid("cluster.members", &text, e))?;
            self.members = Some(parsed);
        }
        if let Some(listen) = &file.listen {
            parse_listen(listen).map_err(|e| invalid("cluster.listen", listen, e))?;
            self.listen = Some(listen.clone());
        }
        replace(&mut self.rack, file.rack.clone());
        let duration =
            |key: &str, value: &Option<String>| -> Result<Option<Duration>, ConfigError> {
                value
                    .as_deref()
                    .map(|s| parse_duration(s).map_err(|e| invalid(key, s, e)))
                    .transpose()
            };
        replace(
            &mut self.raft_heartbeat,
            duration("cluster.raft_heartbeat", &file.raft_heartbeat)?,
        );
        replace(
            &mut self.raft_election_timeout,
            duration("cluster.raft_election_timeout", &file.raft_election_timeout)?,
        );
        replace(
            &mut self.broker_heartbeat_interval,
            duration(
                "cluster.broker_heartbeat_interval",
                &file.broker_heartbeat_interval,
            )?,
        );
        replace(
            &mut self.broker_session_timeout,
            duration(
                "cluster.broker_session_timeout",
                &file.broker_session_timeout,
            )?,
        );
        replace(&mut self.snapshot_every, file.metadata_snapshot_every);
        Ok(())
    }

    /// Takes the flags' (and `RILL_*` variables') values over the file's.
    pub fn apply_args(&mut self, args: &ClusterArgs) {
        replace(&mut self.node_id, args.node_id);
        replace(
            &mut self.members,
            args.cluster.as_ref().map(|Members(m)| m.clone()),
        );
        replace(&mut self.listen, args.inter_broker_listen.clone());
        replace(&mut self.rack, args.rack.clone());
        replace(&mut self.raft_heartbeat, args.raft_heartbeat);
        replace(&mut self.raft_election_timeout, args.raft_election_timeout);
        replace(
            &mut self.broker_heartbeat_interval,
            args.broker_heartbeat_interval,
        );
        replace(
            &mut self.broker_session_timeout,
            args.broker_session_timeout,
        );
        replace(&mut self.snapshot_every, args.metadata_snapshot_every);
    }

    /// The cluster configuration: `None` without `--node-id` and `--cluster`, an error
    /// naming what is missing or inconsistent otherwise.
    pub fn build(&self) -> Result<Option<ClusterConfig>, ConfigError> {
        let (node_id, members) = match (self.node_id, &self.members) {
            (None, None) => {
                if let Some(rack) = &self.rack {
                    return Err(invalid(
                        "rack",
                        rack,
                        "a rack only applies in a cluster: add --node-id and --cluster",
                    ));
                }
                return Ok(None);
            }
            (Some(id), None) => {
                return Err(invalid(
                    "node_id",
                    &id.to_string(),
                    "--node-id needs --cluster (e.g. --cluster 1@127.0.0.1:9431,2@127.0.0.1:9432,3@127.0.0.1:9433), or drop it to run a single broker",
                ))
            }
            (None, Some(members)) => {
                let ids: Vec<String> = members.iter().map(|m| m.node_id.to_string()).collect();
                return Err(invalid(
                    "cluster",
                    &describe(members),
                    format!(
                        "--cluster needs --node-id: say which of {} this broker is",
                        ids.join(", ")
                    ),
                ));
            }
            (Some(id), Some(members)) => (id, members.clone()),
        };
        if node_id == 0 {
            return Err(invalid("node_id", "0", "node ids start at 1"));
        }
        if let Some(big) = members.iter().find(|m| m.node_id > NODE_ID_MAX) {
            return Err(invalid(
                "cluster",
                &describe(&members),
                format!(
                    "node id {} is above the largest, {NODE_ID_MAX}",
                    big.node_id
                ),
            ));
        }
        let mut config = ClusterConfig::new(node_id, members);
        config.listen = self.listen.clone();
        config.rack = self.rack.clone().filter(|r| !r.trim().is_empty());
        replace_plain(&mut config.raft_heartbeat, self.raft_heartbeat);
        replace_plain(
            &mut config.raft_election_timeout,
            self.raft_election_timeout,
        );
        replace_plain(
            &mut config.broker_heartbeat_interval,
            self.broker_heartbeat_interval,
        );
        replace_plain(
            &mut config.broker_session_timeout,
            self.broker_session_timeout,
        );
        replace_plain(&mut config.snapshot_every, self.snapshot_every);
        config
            .validate()
            .map_err(|reason| invalid("cluster", &describe(&config.members), reason))?;
        Ok(Some(config))
    }
}

/// `members` written back as `--cluster` takes them.
fn describe(members: &[ClusterMember]) -> String {
    members
        .iter()
        .map(|m| format!("{}@{}", m.node_id, m.addr))
        .collect::<Vec<_>>()
        .join(",")
}

fn replace<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}

fn replace_plain<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// Checks `--inter-broker-listen` is `host:port`.
fn parse_listen(s: &str) -> Result<String, String> {
    crate::config::parse_host_port(s)?;
    Ok(s.to_string())
}
