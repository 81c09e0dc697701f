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

/// Longest a commit waits for its write to be replicated.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(30);

/// `None` when this broker, the coordinator of `group_id` by the image, may serve it
/// now; else the code to answer. On a replicated offsets partition that means: this
/// broker leads the group's offsets partition and has loaded it at the current term. A
/// due reload is left to [`run_reloader`], woken here.
pub fn loaded_here(ctx: &BrokerCtx, group_id: &str) -> Option<ErrorCode> {
    let index = group_partition(ctx, group_id)?;
    match serving_term(ctx, index)? {
        Some(term) if ctx.groups.offsets_loaded_term(index) == Some(term) => None,
        Some(_) => {
            RELOAD.notify_one();
            Some(ErrorCode::CoordinatorNotAvailable)
        }
        None => Some(ErrorCode::NotCoordinator),
    }
}

/// The offsets partition of `group_id` per the image (`None` without the topic).
fn group_partition(ctx: &BrokerCtx, group_id: &str) -> Option<i32> {
    let image = ctx.cluster.as_ref()?.image();
    let partitions = image.topics.get(OFFSETS_TOPIC)?.partitions.len();
    crate::cluster::routing::coordinator_partition(group_id, partitions)
}

/// `None` when offsets partition `index` is not replicated here; `Some(None)` when it
/// is but this broker does not serve it as leader; `Some(Some(term))` when it does.
fn serving_term(ctx: &BrokerCtx, index: i32) -> Option<Option<u64>> {
    let replicator = ctx.replicated(OFFSETS_TOPIC, index)?;
    if !replicator.is_serving_leader(OFFSETS_TOPIC, index) {
        return Some(None);
    }
    Some(
        replicator
            .replica_status(OFFSETS_TOPIC, index)
            .map(|s| s.term),
    )
}

/// Wakes [`run_reloader`].
static RELOAD: Notify = Notify::const_new();
/// How often the reloader looks without being woken.
const RELOAD_CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// Reloads an offsets partition's committed offsets whenever this broker serves it at
/// a term it has not loaded yet (it just became its leader), so it is ready before the
/// first group request arrives (or right after, when woken by it).
pub async fn run_reloader(ctx: Arc<BrokerCtx>, mut shutdown: crate::shutdown::ShutdownListener) {
    loop {
        tokio::select! {
            _ = RELOAD.notified() => {}
            _ = tokio::time::sleep(RELOAD_CHECK_INTERVAL) => {}
            _ = shutdown.recv() => return,
        }
        let partitions = ctx.cluster.as_ref().map_or(0, |c| {
            c.image()
                .topics
                .get(OFFSETS_TOPIC)
                .map_or(0, |t| t.partitions.len())
        });
        for index in 0..i32::try_from(partitions).unwrap_or(0) {
            let Some(Some(term)) = serving_term(&ctx, index) else {
                continue;
            };
            if ctx.groups.offsets_loaded_term(index) == Some(term) {
                continue;
            }
            let worker = ctx.clone();
            let loaded = tokio::task::spawn_blocking(move || {
                worker.groups.reload_offsets(&worker.topics, index, term)
            })
            .await;
            match loaded {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    warn!(error = %e, partition = index, term, "cannot load committed offsets as the new leader of an {OFFSETS_TOPIC} partition; retrying");
                }
                Err(e) => warn!(error = %e, "offsets reload task failed"),
            }
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
    fn append(
        &self,
        index: i32,
        partition: &Partition,
        mut batches: Vec<u8>,
    ) -> Result<(), GroupError> {
        let ctx = self
            .ctx
            .upgrade()
            .ok_or_else(|| stopped("the broker is stopping"))?;
        let Some(replicator) = ctx.replicated(OFFSETS_TOPIC, index).cloned() else {
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
            let outcome = replicator.append(OFFSETS_TOPIC, index, write).await;
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
