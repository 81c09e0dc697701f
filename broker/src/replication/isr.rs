//! Which replicas of a group are in sync, as its leader tracks them from openraft's
//! metrics, with Kafka's rule: a follower is in sync while it caught up with the
//! leader's committed log (its matched index reached the leader's applied index)
//! within the last `replica.lag.time.max.ms`. A new leader starts with every voter in
//! sync, as Kafka's does; a follower that stays behind drops out after the lag time.
//!
//! It also counts the leader elections the group's copy here has seen (terms started
//! after the first one it observed).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use openraft::{BasicNode, RaftMetrics, ServerState};

use crate::cluster::NodeId;

/// Kafka's `replica.lag.time.max.ms` default.
pub const REPLICA_LAG_TIME_MAX_DEFAULT: Duration = Duration::from_secs(10);

/// One group's in-sync tracking.
#[derive(Debug, Clone)]
pub struct IsrTracker {
    lag_max: Duration,
    term: Option<u64>,
    leading: bool,
    caught_up_at: BTreeMap<NodeId, Instant>,
    elections: u64,
}

impl IsrTracker {
    /// A tracker that drops a follower behind for longer than `lag_max`.
    pub fn new(lag_max: Duration) -> Self {
        IsrTracker {
            lag_max,
            term: None,
            leading: false,
            caught_up_at: BTreeMap::new(),
            elections: 0,
        }
    }

    /// Takes in the group's metrics as of `now` (this broker is `me`).
    pub fn observe(&mut self, m: &RaftMetrics<NodeId, BasicNode>, me: NodeId, now: Instant) {
        if self.term != Some(m.current_term) {
            if self.term.is_some() {
                self.elections += 1;
            }
            self.term = Some(m.current_term);
            self.leading = false;
            self.caught_up_at.clear();
        }
        let leading = m.state == ServerState::Leader && m.current_leader == Some(me);
        if !leading {
            self.leading = false;
            self.caught_up_at.clear();
            return;
        }
        if !self.leading {
            self.leading = true;
            for voter in m.membership_config.membership().voter_ids() {
                self.caught_up_at.insert(voter, now);
            }
        }
        self.caught_up_at.insert(me, now);
        let committed = m.last_applied.map(|l| l.index);
        let Some(replication) = &m.replication else {
            return;
        };
        for (follower, matched) in replication {
            if matched.map(|l| l.index) >= committed {
                self.caught_up_at.insert(*follower, now);
            }
        }
    }

    /// The replicas in sync as of `now`, sorted (empty unless this broker leads).
    pub fn in_sync(&self, now: Instant) -> Vec<NodeId> {
        if !self.leading {
            return Vec::new();
        }
        self.caught_up_at
            .iter()
            .filter(|(_, at)| now.saturating_duration_since(**at) <= self.lag_max)
            .map(|(node, _)| *node)
            .collect()
    }

    /// Leader elections seen (terms started after the first one observed).
    pub fn elections(&self) -> u64 {
        self.elections
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Arc;

    use openraft::{CommittedLeaderId, LogId, Membership, StoredMembership};

    use super::*;

    fn log_id(index: u64) -> LogId<NodeId> {
        LogId::new(CommittedLeaderId::new(1, 1), index)
    }

    fn metrics(
        term: u64,
        leader: NodeId,
        applied: u64,
        matched: &[(NodeId, u64)],
    ) -> RaftMetrics<NodeId, BasicNode> {
        let mut m = RaftMetrics::new_initial(1);
        let voters: BTreeSet<NodeId> = [1, 2, 3].into();
        let membership = Membership::new(vec![voters], BTreeMap::<NodeId, BasicNode>::new());
        m.membership_config = Arc::new(StoredMembership::new(None, membership));
        m.current_term = term;
        m.current_leader = Some(leader);
        m.state = if leader == 1 {
            ServerState::Leader
        } else {
            ServerState::Follower
        };
        m.last_applied = Some(log_id(applied));
        m.replication = (leader == 1).then(|| {
            matched
                .iter()
                .map(|(n, i)| (*n, Some(log_id(*i))))
                .collect()
        });
        m
    }

    #[test]
    fn a_follower_behind_longer_than_the_lag_time_leaves_the_isr_and_returns_when_caught_up() {
        let lag = Duration::from_secs(10);
        let mut isr = IsrTracker::new(lag);
        let t0 = Instant::now();
        isr.observe(&metrics(2, 1, 10, &[(1, 10), (2, 10), (3, 4)]), 1, t0);
        assert_eq!(
            isr.in_sync(t0),
            vec![1, 2, 3],
            "a new leader starts with all in sync"
        );
        let t1 = t0 + Duration::from_secs(11);
        isr.observe(&metrics(2, 1, 50, &[(1, 50), (2, 50), (3, 9)]), 1, t1);
        assert_eq!(isr.in_sync(t1), vec![1, 2]);
        let t2 = t1 + Duration::from_secs(1);
        isr.observe(&metrics(2, 1, 60, &[(1, 60), (2, 55), (3, 60)]), 1, t2);
        assert_eq!(isr.in_sync(t2), vec![1, 2, 3]);
        assert_eq!(isr.elections(), 0);
    }

    #[test]
    fn a_follower_tracks_nothing_and_new_terms_count_as_elections() {
        let mut isr = IsrTracker::new(Duration::from_secs(10));
        let now = Instant::now();
        isr.observe(&metrics(3, 2, 10, &[]), 1, now);
        assert!(isr.in_sync(now).is_empty());
        isr.observe(&metrics(4, 1, 10, &[(1, 10), (2, 10), (3, 10)]), 1, now);
        assert_eq!(isr.in_sync(now), vec![1, 2, 3]);
        isr.observe(&metrics(5, 3, 10, &[]), 1, now);
        assert!(isr.in_sync(now).is_empty());
        assert_eq!(isr.elections(), 2);
    }
}
