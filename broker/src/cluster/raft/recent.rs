//! The outcomes of the last [`RECENT_PROPOSALS_MAX`] proposals by id, part of the
//! replicated state (and of snapshots) so every member answers a retried proposal the
//! same way: with its first outcome, without applying it again.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::types::CommandOutcome;

/// Proposals remembered; a retry comes within seconds, thousands of proposals later
/// at the very most.
pub const RECENT_PROPOSALS_MAX: usize = 4096;

/// Recent proposals' outcomes, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    from = "Vec<(u128, CommandOutcome)>",
    into = "Vec<(u128, CommandOutcome)>"
)]
pub struct RecentProposals {
    order: VecDeque<u128>,
    outcomes: HashMap<u128, CommandOutcome>,
}

impl RecentProposals {
    /// The outcome of proposal `id`, if it was applied recently.
    pub fn get(&self, id: u128) -> Option<&CommandOutcome> {
        self.outcomes.get(&id)
    }

    /// Remembers `id`'s outcome, forgetting the oldest past the limit.
    pub fn insert(&mut self, id: u128, outcome: CommandOutcome) {
        if self.outcomes.insert(id, outcome).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > RECENT_PROPOSALS_MAX {
            if let Some(oldest) = self.order.pop_front() {
                self.outcomes.remove(&oldest);
            }
        }
    }
}

impl From<Vec<(u128, CommandOutcome)>> for RecentProposals {
    fn from(list: Vec<(u128, CommandOutcome)>) -> Self {
        let mut recent = RecentProposals::default();
        for (id, outcome) in list {
            recent.insert(id, outcome);
        }
        recent
    }
}

impl From<RecentProposals> for Vec<(u128, CommandOutcome)> {
    fn from(mut recent: RecentProposals) -> Self {
        recent
            .order
            .iter()
            .filter_map(|id| recent.outcomes.remove(id).map(|o| (*id, o)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::ApplyError;

    #[test]
    fn remembers_the_latest_and_round_trips() {
        let mut recent = RecentProposals::default();
        for id in 0..(RECENT_PROPOSALS_MAX as u128 + 10) {
            recent.insert(id, Ok(()));
        }
        recent.insert(7_000_000, Err(ApplyError::TopicExists("t".into())));
        assert_eq!(recent.get(3), None);
        assert_eq!(recent.get(RECENT_PROPOSALS_MAX as u128 + 9), Some(&Ok(())));
        let json = serde_json::to_string(&recent).unwrap();
        let back: RecentProposals = serde_json::from_str(&json).unwrap();
        assert_eq!(back, recent);
        assert_eq!(
            back.get(7_000_000),
            Some(&Err(ApplyError::TopicExists("t".into())))
        );
    }
}
