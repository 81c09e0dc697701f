//! Consumer group offsets on a replicated `__consumer_offsets` (issue #16): the group
//! coordinator's writes go through the partition's Raft group, and a broker that becomes
//! the partition's leader reloads the offsets from its copy (which holds every committed
//! record) before it coordinates any group. Until then it answers
//! `COORDINATOR_NOT_AVAILABLE`, which clients retry.

use std::sync::{Arc, Weak};
use std::time::Duration;

use rill_protocol::error_code::ErrorCode;
use tokio::sync::Notify;
use tracing::warn;

use super::{ReplicaWrite, ReplicationError};
use crate::group::offsets::OffsetsWriter;
use crate::group::{GroupError, OFFSETS_TOPIC};
use crate::server::BrokerCtx;
use crate::topics::Partition;

/// The offsets partition every group's commits go to.
const OFFSETS_PARTITION: i32 = 0;
/// Longest a commit waits for its write to be replicated.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(30);

/// `None` when this broker, the coordinator by the image, may serve groups now; else
/// the code to answer. On a replicated offsets partition that means: this broker leads
/// the partition's group and has loaded the offsets at the current term. A due reload
/// is left to [`run_reloader`], woken here.
pub fn loaded_here(ctx: &BrokerCtx) -> Option<ErrorCode> {
    let term = serving_term(ctx)?;
    match term {
        Some(term) if ctx.groups.offsets_loaded_term() == Some(term) => None,
        Some(_) => {
            RELOAD.notify_one();
            Some(ErrorCode::CoordinatorNotAvailable)
        }
        None => Some(ErrorCode::NotCoordinator),
    }
}

/// `None` when the offsets partition is not replicated here; `Some(None)` when it is
/// but this broker does not serve it as leader; `Some(Some(term))` when it does.
fn serving_term(ctx: &BrokerCtx) -> Option<Option<u64>> {
    let replicator = ctx.replicated(OFFSETS_TOPIC, OFFSETS_PARTITION)?;
    if !replicator.is_serving_leader(OFFSETS_TOPIC, OFFSETS_PARTITION) {
        return Some(None);
    }
    Some(
        replicator
            .replica_status(OFFSETS_TOPIC, OFFSETS_PARTITION)
            .map(|s| s.term),
    )
}

/// Wakes [`run_reloader`].
static RELOAD: Notify = Notify::const_new();
/// How often the reloader looks without being woken.
const RELOAD_CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// Reloads the committed offsets whenever this broker serves the replicated offsets
/// partition at a term it has not loaded yet (it just became its leader), so it is
/// ready before the first group request arrives (or right after, when woken by it).
pub async fn run_reloader(ctx: Arc<BrokerCtx>, mut shutdown: crate::shutdown::ShutdownListener) {
    loop {
        tokio::select! {
            _ = RELOAD.notified() => {}
            _ = tokio::time::sleep(RELOAD_CHECK_INTERVAL) => {}
            _ = shutdown.recv() => return,
        }
        let Some(Some(term)) = serving_term(&ctx) else {
            continue;
        };
        if ctx.groups.offsets_loaded_term() == Some(term) {
            continue;
        }
        let worker = ctx.clone();
        let loaded =
            tokio::task::spawn_blocking(move || worker.groups.reload_offsets(&worker.topics, term))
                .await;
        match loaded {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                warn!(error = %e, term, "cannot load committed offsets as the new leader of {OFFSETS_TOPIC}; retrying");
            }
            Err(e) => warn!(error = %e, "offsets reload task failed"),
        }
    }
}

/// Writes the coordinator's batches through the offsets partition's Raft group when it
/// is replicated here, else straight to the local log.
#[derive(Debug)]
pub struct ReplicatedOffsets {
    ctx: Weak<BrokerCtx>,
    runtime: tokio::runtime::Handle,
}

impl ReplicatedOffsets {
    /// The writer for `ctx`'s coordinator; installs itself.
    pub fn install(ctx: &Arc<BrokerCtx>) {
        let writer = Arc::new(ReplicatedOffsets {
            ctx: Arc::downgrade(ctx),
            runtime: tokio::runtime::Handle::current(),
        });
        ctx.groups.set_offsets_writer(writer);
    }
}

impl OffsetsWriter for ReplicatedOffsets {
    fn append(&self, partition: &Partition, mut batches: Vec<u8>) -> Result<(), GroupError> {
        let ctx = self
            .ctx
            .upgrade()
            .ok_or_else(|| stopped("the broker is stopping"))?;
        let Some(replicator) = ctx.replicated(OFFSETS_TOPIC, OFFSETS_PARTITION).cloned() else {
            partition.log()?.append(&mut batches)?;
            return Ok(());
        };
        let write = ReplicaWrite {
            batches: batches.into(),
            timestamp_ms: crate::storage::now_ms(),
        };
        // Called on the blocking pool: run the replication on the runtime and wait for
        // it here, bounded.
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime.spawn(async move {
            let outcome = replicator
                .append(OFFSETS_TOPIC, OFFSETS_PARTITION, write)
                .await;
            let _ = tx.send(outcome);
        });
        match rx.recv_timeout(COMMIT_TIMEOUT) {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(ReplicationError::NotLeader { .. })) => Err(GroupError::NotCoordinator),
            Ok(Err(e)) => Err(stopped(&e.to_string())),
            Err(_) => Err(stopped("the offsets write was not replicated in time")),
        }
    }
}

fn stopped(why: &str) -> GroupError {
    GroupError::Replication(why.to_string())
}
