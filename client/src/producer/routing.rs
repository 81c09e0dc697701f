//! Routing sealed batches to their partition's leader, and refreshing the metadata
//! that says who leads.
//!
//! The sender task groups each drain's batches by leader and hands each group to that
//! leader's *lane*: a task per broker that queues Produce requests on the broker's
//! connection one after another (so a partition's batches stay in order) and spawns
//! the settlement of each. A broker that is slow to connect or answer holds up only its
//! own lane, never the sender or the other leaders. Lanes hold batches, whose records
//! hold buffer memory, so what waits in a lane is bounded by `buffer_memory_bytes`.
//!
//! Leadership changes reach the producer as `NOT_LEADER_OR_FOLLOWER`,
//! `LEADER_NOT_AVAILABLE`, `UNKNOWN_TOPIC_OR_PARTITION` or a broken connection:
//! [`request_refresh`] asks for the topic's metadata again in a background task that
//! runs at most one Metadata request per `retry_backoff` (backing off further while no
//! broker answers), and the batch is retried unchanged to whoever leads next.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rill_protocol::error_code::ErrorCode;
use tokio::sync::mpsc;

use super::batch::ProducerBatch;
use super::sender::{send_group, settle_all, settle_failure};
use super::ProducerShared;
use crate::error::ClientError;

/// Longest pause between metadata refreshes while no broker answers.
const REFRESH_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Batches sealed for one Produce request, sorted by topic and partition.
pub(super) type Group = Vec<(ProducerBatch, Bytes)>;

/// Topics waiting for a metadata refresh, and whether the refresh task runs.
#[derive(Debug, Default)]
pub(super) struct RefreshState {
    topics: BTreeSet<String>,
    running: bool,
}

/// The sender's lanes, one per leader it sent to (bounded by the brokers metadata
/// names). Owned by the sender task; dropping it ends the lanes once they are idle.
#[derive(Debug, Default)]
pub(super) struct Lanes {
    lanes: HashMap<i32, mpsc::UnboundedSender<Group>>,
}

impl Lanes {
    /// Groups sealed batches by leader and hands each group to its lane; batches whose
    /// partition has no known leader go back for a retry after a metadata refresh.
    pub(super) fn route(&mut self, shared: &Arc<ProducerShared>, sealed: Group) {
        let mut by_leader: Vec<(i32, Group)> = Vec::new();
        for (batch, bytes) in sealed {
            let tp = &batch.tp;
            let leader = shared.metadata.with_topic(&tp.topic, |info| {
                info.leader(tp.partition)
                    .ok_or_else(|| info.leaderless_code(tp.partition))
            });
            // A single broker answers for its leaderless partitions itself (with the
            // reason, e.g. KAFKA_STORAGE_ERROR for offline storage).
            let leader = match (leader, shared.brokers.single_broker()) {
                (Some(Err(_)), Some(node)) => Some(Ok(node)),
                (leader, _) => leader,
            };
            let Some(Ok(node)) = leader else {
                let error = no_leader(shared, &batch.tp.topic, batch.tp.partition, leader);
                request_refresh(shared, &batch.tp.topic);
                settle_failure(shared, batch, error);
                continue;
            };
            match by_leader.iter_mut().find(|(n, _)| *n == node) {
                Some((_, group)) => group.push((batch, bytes)),
                None => by_leader.push((node, vec![(batch, bytes)])),
            }
        }
        for (node, group) in by_leader {
            self.send(shared, node, group);
        }
    }

    /// Queues `group` on `node`'s lane, starting the lane if needed.
    fn send(&mut self, shared: &Arc<ProducerShared>, node: i32, group: Group) {
        let lane = self.lanes.entry(node).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(run_lane(Arc::clone(shared), node, rx));
            tx
        });
        if let Err(mpsc::error::SendError(group)) = lane.send(group) {
            // The lane ended (it never does while its sender lives); settle here.
            self.lanes.remove(&node);
            let batches = group.into_iter().map(|(batch, _)| batch).collect();
            let error = ClientError::Closed {
                handle: super::HANDLE,
            };
            settle_all(shared, batches, &error);
        }
    }
}

/// A lane: sends each group to `node` in order, until the sender drops its end.
async fn run_lane(
    shared: Arc<ProducerShared>,
    node: i32,
    mut groups: mpsc::UnboundedReceiver<Group>,
) {
    while let Some(group) = groups.recv().await {
        match shared.brokers.slot_for(node) {
            Some(slot) => send_group(&shared, &slot, group).await,
            None => {
                // Metadata no longer names the broker: look again, retry the batches.
                for (batch, _) in group {
                    request_refresh(&shared, &batch.tp.topic);
                    let error = no_leader(&shared, &batch.tp.topic, batch.tp.partition, None);
                    settle_failure(&shared, batch, error);
                }
            }
        }
    }
}

/// The retriable error of a batch whose partition has no leader the producer knows:
/// the broker's reason (`cached`, from metadata) or `LEADER_NOT_AVAILABLE`.
fn no_leader(
    shared: &ProducerShared,
    topic: &str,
    partition: i32,
    cached: Option<Result<i32, ErrorCode>>,
) -> ClientError {
    let (code, why) = match cached {
        Some(Err(code)) => (
            code,
            format!(
                "partition {partition} of {topic} has no leader now ({}: {}); waiting for one \
                 within delivery_timeout ({:?})",
                code.name(),
                code.description(),
                shared.config.delivery_timeout
            ),
        ),
        _ => (
            ErrorCode::LeaderNotAvailable,
            format!("looking up the leader of partition {partition} of {topic}"),
        ),
    };
    ClientError::broker(code, topic, Some(partition), Some(why))
}

/// Whether `error` means the partition's leader moved or cannot be reached, so the
/// topic's metadata must be asked again before the retry.
pub(super) fn leader_may_have_moved(error: &ClientError) -> bool {
    crate::brokers::is_connection_error(error)
        || matches!(error, ClientError::Timeout { .. })
        || matches!(
            error.error_code(),
            Some(
                ErrorCode::NotLeaderOrFollower
                    | ErrorCode::LeaderNotAvailable
                    | ErrorCode::UnknownTopicOrPartition
                    | ErrorCode::KafkaStorageError
                    | ErrorCode::BrokerNotAvailable
            )
        )
}

/// Asks for `topic`'s metadata again in the background (one refresh task per
/// producer, at most one Metadata request per `retry_backoff`).
pub(super) fn request_refresh(shared: &Arc<ProducerShared>, topic: &str) {
    let mut state = shared.refresh.lock().unwrap_or_else(|p| p.into_inner());
    if !state.topics.contains(topic) {
        state.topics.insert(topic.to_owned());
    }
    if state.running {
        return;
    }
    state.running = true;
    tokio::spawn(refresh_task(Arc::clone(shared)));
}

/// Refreshes the requested topics until none is left, pausing `retry_backoff` after
/// each refresh (doubling, up to [`REFRESH_BACKOFF_MAX`], while they fail).
async fn refresh_task(shared: Arc<ProducerShared>) {
    let backoff = shared.config.retry_backoff;
    let mut failures = 0u32;
    loop {
        let topics: Vec<String> = {
            let mut state = shared.refresh.lock().unwrap_or_else(|p| p.into_inner());
            if state.topics.is_empty() {
                state.running = false;
                return;
            }
            std::mem::take(&mut state.topics).into_iter().collect()
        };
        let delay = match shared
            .metadata
            .refresh(&shared.brokers, topics.clone(), Duration::ZERO)
            .await
        {
            Ok(()) => {
                failures = 0;
                backoff
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                tracing::warn!(?topics, %error, "cannot refresh metadata; retrying");
                let mut state = shared.refresh.lock().unwrap_or_else(|p| p.into_inner());
                state.topics.extend(topics);
                let exponent = failures.min(8);
                backoff
                    .saturating_mul(1 << exponent)
                    .min(REFRESH_BACKOFF_MAX.max(backoff))
            }
        };
        shared.accumulator.wake_sender();
        tokio::time::sleep(delay).await;
    }
}
