//! The classic group coordinator of the Kafka listener (JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup with client-side assignment). Live membership is the Kafka listener's own;
//! committed offsets go to the broker's one offsets store (see `handlers::offsets`), so a
//! native group of the same name resumes where a Kafka group committed, and the reverse.
//!
//! Groups sit behind one mutex held only for in-memory steps; requests that must wait
//! (a JoinGroup until the rebalance completes, a follower's SyncGroup until the leader's
//! assignment) park on one [`Notify`] that every change wakes, with a deadline. A sweep
//! ([`run_sweeper`]) expires silent members and completes overdue rebalances.

pub mod state;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::shutdown::ShutdownListener;
pub use state::{codes, ClassicGroup, JoinInput, JoinOutcome, Phase};

/// How often the sweeper looks for expired members.
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(250);

/// All classic groups.
#[derive(Debug, Default)]
pub struct ClassicGroups {
    groups: Mutex<BTreeMap<String, ClassicGroup>>,
    changed: Notify,
}

impl ClassicGroups {
    /// Locks the groups (a poisoned lock is taken over: the state is plain data).
    pub fn lock(&self) -> MutexGuard<'_, BTreeMap<String, ClassicGroup>> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes every waiting request to look again.
    pub fn notify(&self) {
        self.changed.notify_waiters();
    }

    /// Calls `check` under the lock until it answers or `deadline` passes (then `check`
    /// runs once more with `overdue` true and must answer).
    pub async fn wait_for<T>(
        &self,
        deadline: Instant,
        mut check: impl FnMut(&mut BTreeMap<String, ClassicGroup>, bool) -> Option<T>,
    ) -> T {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let overdue = Instant::now() >= deadline;
            let answer = {
                let mut groups = self.lock();
                check(&mut groups, overdue)
            };
            if let Some(answer) = answer {
                self.notify();
                return answer;
            }
            if overdue {
                // `check` must answer once overdue; wait a tick rather than spin if not.
                tokio::time::sleep(SWEEP_INTERVAL).await;
                continue;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }

    /// Expires silent members of every group and completes overdue rebalances.
    pub fn sweep(&self, now: std::time::Instant) {
        let changed = {
            let mut groups = self.lock();
            groups
                .values_mut()
                .fold(false, |changed, g| g.expire(now) | changed)
        };
        if changed {
            self.notify();
        }
    }
}

/// Sweeps every [`SWEEP_INTERVAL`] until shutdown.
pub async fn run_sweeper(groups: std::sync::Arc<ClassicGroups>, mut shutdown: ShutdownListener) {
    let mut tick = tokio::time::interval(SWEEP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.recv() => return,
            _ = tick.tick() => groups.sweep(std::time::Instant::now()),
        }
    }
}
