//! Proposing a metadata command from any broker: written through Raft on the
//! controller, forwarded to it from any other broker, retried across a leader change
//! until [`PROPOSE_TIMEOUT`]; resolves once the command is applied to this broker's
//! image.
//!
//! A retried proposal may be applied twice (the first attempt committed but its answer
//! was lost); commands are decisions that the image checks (a second CreateTopic of the
//! same name is refused), so the caller sees a clear outcome either way.

use std::time::{Duration, Instant};

use super::log_file::MAX_ENTRY_BYTES;
use super::node::Core;
use super::rpc::{ForwardError, Request, Response};
use crate::cluster::{ApplyError, ClusterError, MetadataCommand, NodeId};

/// How long a proposal may take, leader changes included.
pub const PROPOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest command accepted for the log (its JSON): an entry alone must replicate
/// within one Raft heartbeat interval (openraft's AppendEntries timeout).
pub const MAX_COMMAND_BYTES: usize = 1024 * 1024;

const _: () = assert!(MAX_COMMAND_BYTES < MAX_ENTRY_BYTES / 2);

/// Pause before asking again when no controller is known or a call failed.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Refuses a command too large for the metadata log.
pub fn check_size(command: &MetadataCommand) -> Result<(), ApplyError> {
    let bytes = serde_json::to_vec(command)
        .map_err(|e| ApplyError::Invalid(e.to_string()))?
        .len();
    if bytes > MAX_COMMAND_BYTES {
        return Err(ApplyError::Invalid(format!(
            "the command is {bytes} bytes, over the metadata log's {MAX_COMMAND_BYTES} byte limit"
        )));
    }
    Ok(())
}

/// See the module docs.
pub async fn propose(core: &Core, command: MetadataCommand) -> Result<(), ClusterError> {
    check_size(&command)?;
    let deadline = Instant::now() + PROPOSE_TIMEOUT;
    let mut last_controller = None;
    loop {
        if core.raft.metrics().borrow().running_state.is_err() {
            return Err(ClusterError::Shutdown);
        }
        let controller = core.controller();
        last_controller = controller.or(last_controller);
        let remaining = deadline.saturating_duration_since(Instant::now());
        if let Some(controller) = controller {
            match attempt(core, controller, &command, remaining).await {
                Ok(index) => return wait_applied(core, index, controller, deadline).await,
                Err(ForwardError::Rejected(e)) => return Err(ClusterError::Rejected(e)),
                Err(e) => tracing::debug!(controller, error = %e, "proposal: retrying"),
            }
        }
        if Instant::now() >= deadline {
            return Err(match last_controller {
                None => ClusterError::NoController,
                controller => ClusterError::Timeout {
                    controller,
                    timeout_ms: PROPOSE_TIMEOUT.as_millis() as u64,
                },
            });
        }
        let pause = RETRY_PAUSE.min(deadline.saturating_duration_since(Instant::now()));
        let mut metrics = core.raft.metrics();
        let _ = tokio::time::timeout(pause, metrics.changed()).await;
    }
}

/// One try: through Raft here if this broker is the controller, else over the wire.
async fn attempt(
    core: &Core,
    controller: NodeId,
    command: &MetadataCommand,
    timeout: Duration,
) -> Result<u64, ForwardError> {
    if controller == core.node_id() {
        return tokio::time::timeout(timeout, core.propose_local(command.clone()))
            .await
            .unwrap_or_else(|_| Err(ForwardError::Failed("not committed in time".into())));
    }
    let request = Request::Propose(command.clone());
    match core.call_peer(controller, &request, timeout).await {
        Ok(Response::Propose(result)) => result,
        Ok(_) => Err(ForwardError::Failed(
            "the controller answered another request".into(),
        )),
        Err(e) => Err(ForwardError::Failed(e.to_string())),
    }
}

/// Waits until this broker's state machine applied log index `index`.
async fn wait_applied(
    core: &Core,
    index: u64,
    controller: NodeId,
    deadline: Instant,
) -> Result<(), ClusterError> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    // A committed entry reaches every live member within a few heartbeats: give the
    // local apply at least that long even if the proposal used up its deadline.
    let wait_for = remaining.max(core.config.raft_election_timeout * 2);
    core.raft
        .wait(Some(wait_for))
        .applied_index_at_least(Some(index), "proposal applied here")
        .await
        .map(|_| ())
        .map_err(|_| ClusterError::Timeout {
            controller: Some(controller),
            timeout_ms: PROPOSE_TIMEOUT.as_millis() as u64,
        })
}
