//! One group member and its side of the cooperative rebalance protocol (KIP-848 style).
//!
//! A member *owns* the partitions in [`Member::owned`]: those it was given and has not yet
//! reported releasing. When its target shrinks it is told to keep `owned ∩ target`; the
//! partitions it must give up stay in `owned` until a heartbeat's `owned` list no longer
//! holds them. Only with nothing left to revoke does the member move to the group's epoch
//! and receive new partitions, and only those no other member owns.

use std::collections::BTreeSet;

use super::TopicPartition;

/// Who a member is and how the coordinator reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberIdentity {
    /// The member id.
    pub member_id: String,
    /// The client id from its request header.
    pub client_id: Option<String>,
    /// Its address as the broker saw it.
    pub client_host: String,
}

/// One member of a group.
#[derive(Debug, Clone)]
pub struct Member {
    /// Id and client details.
    pub identity: MemberIdentity,
    /// Subscribed topics.
    pub subscription: BTreeSet<String>,
    /// Removed when no heartbeat arrives for this long.
    pub session_timeout_ms: i32,
    /// Removed when a revocation takes longer than this.
    pub rebalance_timeout_ms: i32,
    /// The member's preferred assignor, if it named one.
    pub assignor: Option<String>,
    /// Time of the last join or heartbeat, in ms.
    pub last_seen_ms: i64,
    /// The member's epoch: the group epoch it last reconciled to (0 before the first).
    pub epoch: i32,
    /// The epoch before the last bump (a member whose response was lost may still use it).
    pub previous_epoch: i32,
    /// Partitions the member may be consuming: given and not reported released.
    pub owned: BTreeSet<TopicPartition>,
    /// The assignment last sent to the member, to send only changes.
    pub sent: Option<BTreeSet<TopicPartition>>,
    /// When a pending revocation must be done by, in ms.
    pub revoke_deadline_ms: Option<i64>,
}

impl Member {
    /// A member that has not reconciled yet (epoch 0, owns nothing).
    pub fn new(identity: MemberIdentity, subscription: BTreeSet<String>, now_ms: i64) -> Member {
        Member {
            identity,
            subscription,
            session_timeout_ms: 0,
            rebalance_timeout_ms: 0,
            assignor: None,
            last_seen_ms: now_ms,
            epoch: 0,
            previous_epoch: 0,
            owned: BTreeSet::new(),
            sent: None,
            revoke_deadline_ms: None,
        }
    }

    /// Forgets partitions the member must revoke and reports it no longer owns.
    pub fn record_released(
        &mut self,
        target: &BTreeSet<TopicPartition>,
        reported: &BTreeSet<TopicPartition>,
    ) {
        self.owned
            .retain(|tp| target.contains(tp) || reported.contains(tp));
    }

    /// Partitions the member owns but must give up.
    pub fn pending_revocation<'a>(
        &'a self,
        target: &'a BTreeSet<TopicPartition>,
    ) -> impl Iterator<Item = &'a TopicPartition> + 'a {
        self.owned.difference(target)
    }

    /// Moves the member towards `target` at `group_epoch`: while it still owns partitions
    /// outside its target it keeps its epoch and is asked to revoke them (by
    /// `now + rebalance_timeout`); otherwise it joins the group epoch and takes every target
    /// partition that `taken_by_others` does not hold.
    pub fn reconcile(
        &mut self,
        target: &BTreeSet<TopicPartition>,
        group_epoch: i32,
        taken_by_others: &BTreeSet<TopicPartition>,
        now_ms: i64,
    ) {
        if self.pending_revocation(target).next().is_some() {
            self.revoke_deadline_ms
                .get_or_insert(now_ms.saturating_add(i64::from(self.rebalance_timeout_ms)));
            return;
        }
        self.revoke_deadline_ms = None;
        if self.epoch != group_epoch {
            self.previous_epoch = self.epoch;
            self.epoch = group_epoch;
        }
        for tp in target.difference(taken_by_others) {
            self.owned.insert(tp.clone());
        }
    }

    /// The assignment to tell the member: what it may keep or newly consume.
    pub fn desired(&self, target: &BTreeSet<TopicPartition>) -> BTreeSet<TopicPartition> {
        self.owned.intersection(target).cloned().collect()
    }

    /// The assignment to send now, `None` when the member already has it.
    pub fn take_update(
        &mut self,
        target: &BTreeSet<TopicPartition>,
    ) -> Option<BTreeSet<TopicPartition>> {
        let desired = self.desired(target);
        if self.sent.as_ref() == Some(&desired) {
            return None;
        }
        self.sent = Some(desired.clone());
        Some(desired)
    }

    /// True when the member's session or revocation deadline has passed at `now_ms`.
    pub fn is_expired(&self, now_ms: i64) -> bool {
        let session_end = self
            .last_seen_ms
            .saturating_add(i64::from(self.session_timeout_ms));
        now_ms > session_end || self.revoke_deadline_ms.is_some_and(|d| now_ms > d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ps: &[i32]) -> BTreeSet<TopicPartition> {
        ps.iter().map(|p| TopicPartition::new("t", *p)).collect()
    }

    fn member() -> Member {
        let identity = MemberIdentity {
            member_id: "m".into(),
            client_id: None,
            client_host: "127.0.0.1".into(),
        };
        let mut m = Member::new(identity, BTreeSet::new(), 0);
        m.session_timeout_ms = 100;
        m.rebalance_timeout_ms = 50;
        m
    }

    #[test]
    fn takes_only_free_partitions_and_bumps_epoch() {
        let mut m = member();
        m.reconcile(&set(&[0, 1, 2]), 3, &set(&[1]), 0);
        assert_eq!(m.epoch, 3);
        assert_eq!(m.owned, set(&[0, 2]));
        assert_eq!(m.take_update(&set(&[0, 1, 2])), Some(set(&[0, 2])));
        assert_eq!(m.take_update(&set(&[0, 1, 2])), None);
    }

    #[test]
    fn revokes_before_bumping() {
        let mut m = member();
        m.reconcile(&set(&[0, 1]), 1, &BTreeSet::new(), 0);
        m.reconcile(&set(&[0]), 2, &BTreeSet::new(), 10);
        assert_eq!(m.epoch, 1, "still revoking");
        assert_eq!(m.revoke_deadline_ms, Some(60));
        assert_eq!(m.desired(&set(&[0])), set(&[0]));
        m.record_released(&set(&[0]), &set(&[0, 1]));
        assert_eq!(m.owned, set(&[0, 1]), "still reports owning 1");
        m.record_released(&set(&[0]), &set(&[0]));
        m.reconcile(&set(&[0]), 2, &BTreeSet::new(), 20);
        assert_eq!((m.epoch, m.previous_epoch), (2, 1));
        assert_eq!(m.revoke_deadline_ms, None);
    }

    #[test]
    fn expires_on_session_or_revocation_deadline() {
        let mut m = member();
        assert!(!m.is_expired(100));
        assert!(m.is_expired(101));
        m.last_seen_ms = 1000;
        m.revoke_deadline_ms = Some(1010);
        assert!(!m.is_expired(1010));
        assert!(m.is_expired(1011));
    }
}
