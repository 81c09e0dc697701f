//! Committed offsets that nobody may hold forever: a group without members for
//! `offsets_retention_ms` loses its offsets (and so the group disappears), as Kafka's
//! `offsets.retention.minutes`; a deleted topic takes every group's offsets for it along,
//! so a topic re-created under the same name starts with none.
//!
//! A group's last activity is the later of its newest commit, the time its last member
//! left (when this broker saw it), and the broker's start (membership is not persisted,
//! so after a restart a group is given the full retention from the start).

use tracing::info;

use super::coordinator::GroupCoordinator;
use super::{GroupError, TopicView};
use crate::topics::TopicRegistry;

/// Most groups expired in one housekeeping round, so one round holds the offsets lock
/// for a bounded time; the rest wait for the next round.
pub const EXPIRED_GROUPS_PER_ROUND_MAX: usize = 1000;

impl GroupCoordinator {
    /// Deletes the offsets of every group that has had no member for the retention
    /// period; returns the ids of the groups expired. Blocking (writes tombstones).
    pub fn expire_offsets(
        &self,
        topics: &TopicRegistry,
        now_ms: i64,
    ) -> Result<Vec<String>, GroupError> {
        let retention_ms = self.config.offsets_retention_ms;
        let mut offsets = self.lock_offsets();
        let emptied = self.emptied_snapshot();
        let expired: Vec<String> = offsets
            .group_ids()
            .filter(|id| !self.groups.contains(id))
            .filter(|id| {
                let newest_commit_ms = offsets
                    .group(id)
                    .into_iter()
                    .flatten()
                    .map(|(_, c)| c.commit_timestamp_ms)
                    .max()
                    .unwrap_or(i64::MIN);
                let last_active_ms = newest_commit_ms
                    .max(emptied.get(*id).copied().unwrap_or(i64::MIN))
                    .max(self.boot_ms);
                now_ms.saturating_sub(last_active_ms) > retention_ms
            })
            .take(EXPIRED_GROUPS_PER_ROUND_MAX)
            .cloned()
            .collect();
        for id in &expired {
            let count = offsets.delete_group(topics, id, now_ms)?;
            info!(group = %id, offsets = count, retention_ms, "group had no members for the offsets retention: its committed offsets expired");
        }
        // Forget when groups emptied once they have nothing left to expire.
        let mut emptied = self.lock_emptied();
        emptied.retain(|id, _| offsets.group(id).is_some() && !self.groups.contains(id));
        Ok(expired)
    }

    /// Deletes every group's committed offsets for `topic` (the topic was deleted);
    /// returns how many were deleted. Blocking (writes tombstones).
    pub fn forget_topic(
        &self,
        topics: &TopicRegistry,
        topic: &str,
        now_ms: i64,
    ) -> Result<usize, GroupError> {
        let mut offsets = self.lock_offsets();
        let forgotten = offsets.delete_topic(topics, topic, now_ms)?;
        if forgotten > 0 {
            info!(
                topic,
                offsets = forgotten,
                "deleted the committed offsets of a deleted topic"
            );
        }
        Ok(forgotten)
    }

    /// Deletes the committed offsets of topics that no longer exist (a broker that
    /// stopped between deleting a topic and its offsets). Blocking.
    pub fn forget_missing_topics(
        &self,
        topics: &TopicRegistry,
        now_ms: i64,
    ) -> Result<usize, GroupError> {
        let missing: Vec<String> = {
            let offsets = self.lock_offsets();
            offsets
                .topics()
                .into_iter()
                .filter(|t| topics.partition_count(t).is_none())
                .collect()
        };
        let mut forgotten = 0;
        for topic in missing {
            forgotten += self.forget_topic(topics, &topic, now_ms)?;
        }
        Ok(forgotten)
    }

    /// Drops what is known about when `group_id` emptied (it was deleted).
    pub(super) fn forget_emptied(&self, group_id: &str) {
        self.lock_emptied().remove(group_id);
    }

    fn emptied_snapshot(&self) -> std::collections::BTreeMap<String, i64> {
        self.lock_emptied().clone()
    }

    fn lock_emptied(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<String, i64>> {
        self.emptied_ms.lock().unwrap_or_else(|e| e.into_inner())
    }
}
