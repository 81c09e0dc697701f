//! Cluster settings: who this broker is, who the quorum's voters are, and the timeouts
//! that decide how fast a lost controller or broker is noticed.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::NodeId;

/// One voter of the metadata quorum, as written in `--cluster`: `id@host:port`, where
/// `host:port` is the broker's inter-broker address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterMember {
    /// The member's node id.
    pub node_id: NodeId,
    /// Its inter-broker address, `host:port`.
    pub addr: String,
}

/// Parses `--cluster`: `1@10.0.0.1:9431,2@10.0.0.2:9431,3@10.0.0.3:9431`.
///
/// Ids must be unique and positive, addresses `host:port`; at least one member.
pub fn parse_members(s: &str) -> Result<Vec<ClusterMember>, String> {
    let mut members: Vec<ClusterMember> = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (id, addr) = item
            .split_once('@')
            .ok_or_else(|| format!("`{item}` is not id@host:port (e.g. 1@10.0.0.1:9431)"))?;
        let node_id: NodeId = id
            .parse()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| format!("`{id}` in `{item}` is not a node id (a number from 1)"))?;
        crate::config::parse_host_port(addr)?;
        if members.iter().any(|m| m.node_id == node_id) {
            return Err(format!(
                "node id {node_id} appears twice in the cluster list"
            ));
        }
        members.push(ClusterMember {
            node_id,
            addr: addr.to_string(),
        });
    }
    if members.is_empty() {
        return Err("the cluster list is empty (e.g. 1@10.0.0.1:9431,2@10.0.0.2:9431)".into());
    }
    Ok(members)
}

/// Everything the cluster layer needs to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// This broker's id: one of `members` (a voter), or any other id with `listen`
    /// set (a broker that joins the cluster without voting: an openraft learner).
    pub node_id: NodeId,
    /// This broker's inter-broker address when it is not one of `members`.
    pub listen: Option<String>,
    /// The quorum's voters with their inter-broker addresses.
    pub members: Vec<ClusterMember>,
    /// This broker's rack (zone) label, for placement.
    pub rack: Option<String>,
    /// How often the Raft leader sends heartbeats to followers.
    pub raft_heartbeat: Duration,
    /// Followers start an election after this long without a leader (randomised
    /// between this and twice this).
    pub raft_election_timeout: Duration,
    /// How often a broker tells the controller it is alive.
    pub broker_heartbeat_interval: Duration,
    /// A broker not heard from for this long is fenced: it leads nothing until it
    /// heartbeats again.
    pub broker_session_timeout: Duration,
    /// Metadata log entries between snapshots.
    pub snapshot_every: u64,
}

impl ClusterConfig {
    /// Defaults: Raft heartbeat 250 ms, election timeout 1–2 s, broker heartbeat 1 s,
    /// session timeout 6 s, a snapshot every 1,000 entries.
    pub fn new(node_id: NodeId, members: Vec<ClusterMember>) -> Self {
        Self {
            node_id,
            members,
            listen: None,
            rack: None,
            raft_heartbeat: Duration::from_millis(250),
            raft_election_timeout: Duration::from_millis(1000),
            broker_heartbeat_interval: Duration::from_secs(1),
            broker_session_timeout: Duration::from_secs(6),
            snapshot_every: 1000,
        }
    }

    /// This broker's own entry in `members`, or its `listen` address as a non-voter.
    pub fn me(&self) -> Option<ClusterMember> {
        match self.members.iter().find(|m| m.node_id == self.node_id) {
            Some(member) => Some(member.clone()),
            None => self.listen.as_ref().map(|addr| ClusterMember {
                node_id: self.node_id,
                addr: addr.clone(),
            }),
        }
    }

    /// Whether this broker votes in the metadata quorum (it is named in `members`).
    pub fn is_voter(&self) -> bool {
        self.members.iter().any(|m| m.node_id == self.node_id)
    }

    /// Checks the settings agree with each other; the message says what to change.
    pub fn validate(&self) -> Result<(), String> {
        if self.me().is_none() {
            let ids: Vec<String> = self.members.iter().map(|m| m.node_id.to_string()).collect();
            return Err(format!(
                "--node-id {} is not in --cluster (its ids are {}): name this broker in the list to make it a voter, or give its own inter-broker address with --inter-broker-listen to join without voting",
                self.node_id,
                ids.join(", ")
            ));
        }
        if let (true, Some(listen)) = (self.is_voter(), &self.listen) {
            let mine = self.me().map(|m| m.addr).unwrap_or_default();
            if *listen != mine {
                return Err(format!(
                    "--inter-broker-listen {listen} differs from this broker's --cluster entry {mine}: a voter listens at its --cluster address; drop --inter-broker-listen"
                ));
            }
        }
        if self.raft_heartbeat.is_zero() || self.raft_heartbeat * 3 > self.raft_election_timeout {
            return Err(format!(
                "the Raft election timeout ({:?}) must be at least three heartbeats ({:?})",
                self.raft_election_timeout, self.raft_heartbeat
            ));
        }
        if self.broker_heartbeat_interval.is_zero()
            || self.broker_heartbeat_interval * 2 > self.broker_session_timeout
        {
            return Err(format!(
                "the broker session timeout ({:?}) must be at least two heartbeat intervals ({:?})",
                self.broker_session_timeout, self.broker_heartbeat_interval
            ));
        }
        if self.snapshot_every == 0 {
            return Err("snapshot_every must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_members() {
        let members = parse_members("1@127.0.0.1:9431, 2@[::1]:9432,3@node3:9433").unwrap();
        assert_eq!(members.len(), 3);
        assert_eq!(members[1].node_id, 2);
        assert_eq!(members[1].addr, "[::1]:9432");
        assert_eq!(members[2].addr, "node3:9433");
    }

    #[test]
    fn refuses_bad_members() {
        for bad in ["", "1", "x@a:1", "0@a:1", "1@a", "1@a:99999", "1@a:1,1@b:2"] {
            assert!(parse_members(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn validates() {
        let members = parse_members("1@a:1,2@b:2").unwrap();
        assert!(ClusterConfig::new(1, members.clone()).validate().is_ok());
        let err = ClusterConfig::new(3, members.clone())
            .validate()
            .unwrap_err();
        assert!(err.contains("not in --cluster"), "{err}");
        let mut c = ClusterConfig::new(1, members);
        c.broker_session_timeout = Duration::from_millis(1500);
        assert!(c.validate().is_err());
    }
}
