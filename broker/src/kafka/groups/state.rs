//! One classic consumer group's state machine (Kafka's group protocol with client-side
//! assignment), free of I/O and clocks so it can be tested step by step.
//!
//! ```text
//! Empty --join--> PreparingRebalance --all joined or deadline--> CompletingRebalance
//!   ^                  ^                                              | leader's SyncGroup
//!   | last member      | join, leave, session expiry                  v
//!   +--- leaves -------+-------------------------------------------- Stable
//! ```
//!
//! Completing a rebalance bumps the generation, picks the protocol every member
//! supports (the leader's first choice), keeps the leader if it rejoined, and hands
//! each waiting member its JoinGroup answer (the leader's carries every member's
//! metadata). The leader's SyncGroup carries the assignment of each member.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

/// Kafka error codes the group protocol answers with.
pub mod codes {
    /// NONE.
    pub const NONE: i16 = 0;
    /// ILLEGAL_GENERATION.
    pub const ILLEGAL_GENERATION: i16 = 22;
    /// INCONSISTENT_GROUP_PROTOCOL.
    pub const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
    /// INVALID_GROUP_ID.
    pub const INVALID_GROUP_ID: i16 = 24;
    /// UNKNOWN_MEMBER_ID.
    pub const UNKNOWN_MEMBER_ID: i16 = 25;
    /// INVALID_SESSION_TIMEOUT.
    pub const INVALID_SESSION_TIMEOUT: i16 = 26;
    /// REBALANCE_IN_PROGRESS.
    pub const REBALANCE_IN_PROGRESS: i16 = 27;
    /// GROUP_MAX_SIZE_REACHED.
    pub const GROUP_MAX_SIZE_REACHED: i16 = 81;
}

/// Where a group is in its rebalance cycle (names as Kafka reports them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No members.
    Empty,
    /// Waiting for every member to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
}

impl Phase {
    /// Kafka's name for the state (DescribeGroups, ListGroups).
    pub fn name(self) -> &'static str {
        match self {
            Phase::Empty => "Empty",
            Phase::PreparingRebalance => "PreparingRebalance",
            Phase::CompletingRebalance => "CompletingRebalance",
            Phase::Stable => "Stable",
        }
    }
}

/// A JoinGroup request's content.
#[derive(Debug, Clone)]
pub struct JoinInput {
    /// Empty for a new member.
    pub member_id: String,
    /// The client's id and host, for DescribeGroups.
    pub client_id: String,
    /// The client's address.
    pub client_host: String,
    /// Session timeout.
    pub session_timeout: Duration,
    /// How long a rebalance may wait for this member to rejoin.
    pub rebalance_timeout: Duration,
    /// "consumer" for consumers.
    pub protocol_type: String,
    /// `(assignor name, metadata)` in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
}

/// A completed join, as the member's JoinGroup answer gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinOutcome {
    /// The new generation.
    pub generation: i32,
    /// The chosen protocol (assignor).
    pub protocol: String,
    /// The leader's member id.
    pub leader: String,
    /// Every member's metadata for the chosen protocol (for the leader only).
    pub members: Vec<(String, Bytes)>,
}

/// One member.
#[derive(Debug, Clone)]
pub struct Member {
    /// The JoinGroup input it last sent.
    pub join: JoinInput,
    /// Its assignment in the current generation.
    pub assignment: Bytes,
    /// When it last joined, synced or heartbeated.
    pub last_seen: Instant,
    /// Whether it has joined the rebalance in progress.
    pub joined: bool,
    /// Its JoinGroup answer, once the rebalance it joined completes.
    pub pending_join: Option<JoinOutcome>,
}

/// A classic group.
#[derive(Debug, Clone)]
pub struct ClassicGroup {
    /// Rebalance phase.
    pub phase: Phase,
    /// Generation, bumped by every completed rebalance.
    pub generation: i32,
    /// The members' protocol type ("consumer").
    pub protocol_type: Option<String>,
    /// The chosen protocol of the current generation.
    pub protocol: Option<String>,
    /// The leader's member id.
    pub leader: Option<String>,
    /// Members by id.
    pub members: BTreeMap<String, Member>,
    /// When the rebalance in progress stops waiting for members to rejoin.
    pub rebalance_deadline: Option<Instant>,
    next_member: u64,
}

impl Default for ClassicGroup {
    fn default() -> Self {
        ClassicGroup {
            phase: Phase::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            rebalance_deadline: None,
            next_member: 0,
        }
    }
}

impl ClassicGroup {
    /// Adds or updates a member and starts a rebalance; returns its member id.
    pub fn join(
        &mut self,
        input: JoinInput,
        members_max: usize,
        now: Instant,
    ) -> Result<String, i16> {
        if !self.members.is_empty() {
            let same_type = self.protocol_type.as_deref() == Some(input.protocol_type.as_str());
            if !same_type || !self.supports_one_of(&input.protocols, &input.member_id) {
                return Err(codes::INCONSISTENT_GROUP_PROTOCOL);
            }
        }
        if input.protocols.is_empty() {
            return Err(codes::INCONSISTENT_GROUP_PROTOCOL);
        }
        let member_id = if input.member_id.is_empty() {
            if self.members.len() >= members_max {
                return Err(codes::GROUP_MAX_SIZE_REACHED);
            }
            self.next_member += 1;
            format!(
                "{}-{}-{}",
                input.client_id, self.generation, self.next_member
            )
        } else if self.members.contains_key(&input.member_id) {
            input.member_id.clone()
        } else {
            return Err(codes::UNKNOWN_MEMBER_ID);
        };
        self.protocol_type = Some(input.protocol_type.clone());
        let member = self
            .members
            .entry(member_id.clone())
            .or_insert_with(|| Member {
                join: input.clone(),
                assignment: Bytes::new(),
                last_seen: now,
                joined: false,
                pending_join: None,
            });
        member.join = input;
        member.join.member_id.clone_from(&member_id);
        member.last_seen = now;
        if self.phase != Phase::PreparingRebalance {
            self.start_rebalance(now);
        }
        if let Some(member) = self.members.get_mut(&member_id) {
            member.joined = true;
            member.pending_join = None;
        }
        Ok(member_id)
    }

    /// True when some protocol in `protocols` is supported by every other member.
    fn supports_one_of(&self, protocols: &[(String, Bytes)], except: &str) -> bool {
        protocols.iter().any(|(name, _)| {
            self.members
                .iter()
                .filter(|(id, _)| id.as_str() != except)
                .all(|(_, m)| m.join.protocols.iter().any(|(n, _)| n == name))
        })
    }

    /// Every member must rejoin; the rebalance waits for them up to the longest
    /// rebalance timeout among them.
    pub fn start_rebalance(&mut self, now: Instant) {
        self.phase = Phase::PreparingRebalance;
        let wait = self
            .members
            .values()
            .map(|m| m.join.rebalance_timeout)
            .max()
            .unwrap_or_default();
        self.rebalance_deadline = Some(now + wait);
        for m in self.members.values_mut() {
            m.joined = false;
        }
    }

    /// Completes the rebalance in progress once every member has joined or the deadline
    /// has passed (members that did not rejoin are removed). True when it completed.
    pub fn try_complete_join(&mut self, now: Instant) -> bool {
        if self.phase != Phase::PreparingRebalance {
            return false;
        }
        let all_joined = self.members.values().all(|m| m.joined);
        let overdue = self.rebalance_deadline.is_some_and(|d| now >= d);
        if !all_joined && !overdue {
            return false;
        }
        self.members.retain(|_, m| m.joined);
        self.generation = self.generation.wrapping_add(1).max(1);
        self.rebalance_deadline = None;
        if self.members.is_empty() {
            self.become_empty();
            return true;
        }
        let leader = match &self.leader {
            Some(l) if self.members.contains_key(l) => l.clone(),
            _ => self.members.keys().next().cloned().unwrap_or_default(),
        };
        let protocol = self.choose_protocol(&leader);
        let metadata: Vec<(String, Bytes)> = self
            .members
            .iter()
            .map(|(id, m)| {
                let meta = m
                    .join
                    .protocols
                    .iter()
                    .find(|(n, _)| *n == protocol)
                    .map(|(_, b)| b.clone())
                    .unwrap_or_default();
                (id.clone(), meta)
            })
            .collect();
        for (id, m) in self.members.iter_mut() {
            m.assignment = Bytes::new();
            m.last_seen = now;
            m.pending_join = Some(JoinOutcome {
                generation: self.generation,
                protocol: protocol.clone(),
                leader: leader.clone(),
                members: if *id == leader {
                    metadata.clone()
                } else {
                    Vec::new()
                },
            });
        }
        self.leader = Some(leader);
        self.protocol = Some(protocol);
        self.phase = Phase::CompletingRebalance;
        true
    }

    /// The leader's first protocol that every member supports.
    fn choose_protocol(&self, leader: &str) -> String {
        let prefs = self
            .members
            .get(leader)
            .map(|m| m.join.protocols.clone())
            .unwrap_or_default();
        prefs
            .iter()
            .map(|(n, _)| n.clone())
            .find(|name| {
                self.members
                    .values()
                    .all(|m| m.join.protocols.iter().any(|(n, _)| n == name))
            })
            .or_else(|| prefs.first().map(|(n, _)| n.clone()))
            .unwrap_or_default()
    }

    fn become_empty(&mut self) {
        self.phase = Phase::Empty;
        self.leader = None;
        self.protocol = None;
        self.rebalance_deadline = None;
    }

    /// Checks that `member_id` is in the group at `generation`.
    pub fn check_member(&self, member_id: &str, generation: i32) -> Result<(), i16> {
        if !self.members.contains_key(member_id) {
            return Err(codes::UNKNOWN_MEMBER_ID);
        }
        if generation != self.generation {
            return Err(codes::ILLEGAL_GENERATION);
        }
        Ok(())
    }

    /// A SyncGroup: the leader's carries the assignments, which make the group Stable.
    /// `Ok(Some(assignment))` once the member's assignment is known, `Ok(None)` while
    /// the leader's has not arrived.
    pub fn sync(
        &mut self,
        member_id: &str,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
        now: Instant,
    ) -> Result<Option<Bytes>, i16> {
        self.check_member(member_id, generation)?;
        if self.phase == Phase::PreparingRebalance {
            return Err(codes::REBALANCE_IN_PROGRESS);
        }
        if let Some(m) = self.members.get_mut(member_id) {
            m.last_seen = now;
        }
        let is_leader = self.leader.as_deref() == Some(member_id);
        if self.phase == Phase::CompletingRebalance && is_leader {
            let mut given: BTreeMap<String, Bytes> = assignments.into_iter().collect();
            for (id, m) in self.members.iter_mut() {
                m.assignment = given.remove(id).unwrap_or_default();
            }
            self.phase = Phase::Stable;
        }
        Ok(self.assignment_of(member_id, generation))
    }

    /// The member's assignment once the group is Stable at `generation`.
    pub fn assignment_of(&self, member_id: &str, generation: i32) -> Option<Bytes> {
        (self.phase == Phase::Stable && self.generation == generation)
            .then(|| self.members.get(member_id).map(|m| m.assignment.clone()))
            .flatten()
    }

    /// A heartbeat: keeps the member alive and tells it when to rejoin.
    pub fn heartbeat(&mut self, member_id: &str, generation: i32, now: Instant) -> i16 {
        if let Err(code) = self.check_member(member_id, generation) {
            // During a rebalance an old generation just needs to rejoin.
            if code == codes::ILLEGAL_GENERATION && self.phase == Phase::PreparingRebalance {
                return codes::REBALANCE_IN_PROGRESS;
            }
            return code;
        }
        if let Some(m) = self.members.get_mut(member_id) {
            m.last_seen = now;
        }
        match self.phase {
            Phase::PreparingRebalance => codes::REBALANCE_IN_PROGRESS,
            _ => codes::NONE,
        }
    }

    /// Removes a member (LeaveGroup or expiry); the others rebalance.
    pub fn remove(&mut self, member_id: &str, now: Instant) -> i16 {
        if self.members.remove(member_id).is_none() {
            return codes::UNKNOWN_MEMBER_ID;
        }
        if self.members.is_empty() {
            self.generation = self.generation.wrapping_add(1).max(1);
            self.become_empty();
        } else if self.phase == Phase::PreparingRebalance {
            // The rebalance may now have everyone it waits for.
            self.try_complete_join(now);
        } else {
            self.start_rebalance(now);
        }
        codes::NONE
    }

    /// Removes members silent for longer than their session timeout (members waiting in
    /// a rebalance count as alive) and completes an overdue rebalance. True when
    /// anything changed.
    pub fn expire(&mut self, now: Instant) -> bool {
        let preparing = self.phase == Phase::PreparingRebalance;
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| !(preparing && m.joined))
            .filter(|(_, m)| now.duration_since(m.last_seen) > m.join.session_timeout)
            .map(|(id, _)| id.clone())
            .collect();
        let mut changed = false;
        for id in expired {
            self.remove(&id, now);
            changed = true;
        }
        changed | self.try_complete_join(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(member_id: &str, protocols: &[&str]) -> JoinInput {
        JoinInput {
            member_id: member_id.to_string(),
            client_id: "c".into(),
            client_host: "h".into(),
            session_timeout: Duration::from_secs(10),
            rebalance_timeout: Duration::from_secs(30),
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|p| (p.to_string(), Bytes::from(format!("meta-{p}"))))
                .collect(),
        }
    }

    #[test]
    fn two_members_join_sync_and_one_leaves() {
        let now = Instant::now();
        let mut g = ClassicGroup::default();
        let a = g
            .join(input("", &["range", "roundrobin"]), 10, now)
            .unwrap();
        assert!(g.try_complete_join(now));
        let joined = g.members[&a].pending_join.clone().unwrap();
        assert_eq!((joined.generation, joined.leader.as_str()), (1, a.as_str()));
        assert_eq!(
            g.sync(&a, 1, vec![(a.clone(), Bytes::from("all"))], now),
            Ok(Some(Bytes::from("all")))
        );
        // A second member: the first must rejoin before the rebalance completes.
        let b = g.join(input("", &["roundrobin"]), 10, now).unwrap();
        assert_eq!(g.heartbeat(&a, 1, now), codes::REBALANCE_IN_PROGRESS);
        assert!(!g.try_complete_join(now));
        g.join(input(&a, &["range", "roundrobin"]), 10, now)
            .unwrap();
        assert!(g.try_complete_join(now));
        assert_eq!(g.protocol.as_deref(), Some("roundrobin"));
        let leader_view = g.members[&a].pending_join.clone().unwrap();
        assert_eq!(leader_view.members.len(), 2);
        assert!(g.members[&b]
            .pending_join
            .clone()
            .unwrap()
            .members
            .is_empty());
        assert_eq!(g.sync(&b, 2, vec![], now), Ok(None));
        let given = vec![
            (a.clone(), Bytes::from("p0")),
            (b.clone(), Bytes::from("p1")),
        ];
        assert_eq!(g.sync(&a, 2, given, now), Ok(Some(Bytes::from("p0"))));
        assert_eq!(g.assignment_of(&b, 2), Some(Bytes::from("p1")));
        // b leaves: a rebalances alone into generation 3.
        assert_eq!(g.remove(&b, now), codes::NONE);
        assert_eq!(g.phase, Phase::PreparingRebalance);
        g.join(input(&a, &["range"]), 10, now).unwrap();
        assert!(g.try_complete_join(now));
        assert_eq!(g.generation, 3);
        assert_eq!(g.heartbeat(&a, 2, now), codes::ILLEGAL_GENERATION);
    }

    #[test]
    fn silent_members_expire_and_stragglers_are_dropped_at_the_deadline() {
        let now = Instant::now();
        let mut g = ClassicGroup::default();
        let a = g.join(input("", &["range"]), 10, now).unwrap();
        g.try_complete_join(now);
        let b = g.join(input("", &["range"]), 10, now).unwrap();
        // a never rejoins: at the rebalance deadline it is dropped.
        assert!(!g.try_complete_join(now + Duration::from_secs(29)));
        assert!(g.try_complete_join(now + Duration::from_secs(31)));
        assert!(!g.members.contains_key(&a));
        assert_eq!(g.leader.as_deref(), Some(b.as_str()));
        // b stops heartbeating: expired after its session timeout, the group is empty.
        assert!(g.expire(now + Duration::from_secs(45)));
        assert_eq!(g.phase, Phase::Empty);
    }

    #[test]
    fn unknown_members_full_groups_and_foreign_protocols_are_refused() {
        let now = Instant::now();
        let mut g = ClassicGroup::default();
        assert_eq!(
            g.join(input("ghost", &["range"]), 10, now),
            Err(codes::UNKNOWN_MEMBER_ID)
        );
        g.join(input("", &["range"]), 1, now).unwrap();
        assert_eq!(
            g.join(input("", &["range"]), 1, now),
            Err(codes::GROUP_MAX_SIZE_REACHED)
        );
        assert_eq!(
            g.join(input("", &["sticky"]), 10, now),
            Err(codes::INCONSISTENT_GROUP_PROTOCOL)
        );
    }
}
