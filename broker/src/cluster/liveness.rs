//! Broker liveness: every broker heartbeats the controller with its registration every
//! `broker_heartbeat_interval`; the controller registers new or changed brokers,
//! unfences returning ones, and fences a broker silent for `broker_session_timeout`.
//!
//! The controller keeps last-heard times in memory only. A newly elected controller
//! starts every known broker's clock at its election (a grace period), so a change of
//! controller never fences brokers that were heartbeating the old one. The first
//! controller also names the cluster (`InitCluster` with a random UUID).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::raft::network::PeerConnection;
use super::raft::node::Core;
use super::raft::rpc::{ForwardError, Request, Response};
use super::{BrokerRegistration, MetadataCommand, NodeId};

/// The controller's view of heartbeats.
#[derive(Debug, Default)]
pub struct Tracker {
    state: Mutex<TrackerState>,
}

#[derive(Debug, Default)]
struct TrackerState {
    /// The term this member leads, once its duties started for it.
    leading_term: Option<u64>,
    last_heard: HashMap<NodeId, Instant>,
}

impl Tracker {
    fn state(&self) -> std::sync::MutexGuard<'_, TrackerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes a heartbeat from `node_id` now.
    pub fn heard(&self, node_id: NodeId) {
        self.state().last_heard.insert(node_id, Instant::now());
    }

    /// Starts leading `term`: every broker's clock starts now. `false` if already
    /// leading it.
    fn start_term(&self, term: u64, brokers: impl Iterator<Item = NodeId>) -> bool {
        let mut state = self.state();
        if state.leading_term == Some(term) {
            return false;
        }
        let now = Instant::now();
        state.leading_term = Some(term);
        state.last_heard = brokers.map(|id| (id, now)).collect();
        true
    }

    fn stop_leading(&self) {
        self.state().leading_term = None;
    }

    /// Brokers of `live` (unfenced ones) not heard from within `session`. A broker
    /// with no clock yet (registered through the log) starts one now.
    fn expired(&self, live: impl Iterator<Item = NodeId>, session: Duration) -> Vec<NodeId> {
        let mut state = self.state();
        let now = Instant::now();
        live.filter(|id| {
            let heard = *state.last_heard.entry(*id).or_insert(now);
            now.duration_since(heard) > session
        })
        .collect()
    }
}

/// The controller's answer to a heartbeat: registers, unfences or just notes it.
pub(crate) async fn on_heartbeat(
    core: &Core,
    registration: BrokerRegistration,
) -> Result<(), ForwardError> {
    if !core.is_controller() {
        return Err(ForwardError::NotController {
            leader: core.controller(),
        });
    }
    core.liveness.heard(registration.node_id);
    add_learner_if_new(core, &registration).await?;
    let command = {
        let image = core.image.borrow();
        match image.brokers.get(&registration.node_id) {
            Some(known) if known.registration == registration && !known.fenced => None,
            Some(known) if known.registration == registration => {
                Some(MetadataCommand::UnfenceBroker {
                    node_id: registration.node_id,
                })
            }
            _ => Some(MetadataCommand::RegisterBroker(registration)),
        }
    };
    let Some(command) = command else {
        return Ok(());
    };
    tracing::info!(
        ?command,
        "controller: broker heartbeat changes the metadata"
    );
    let timeout = core.config.broker_session_timeout;
    match tokio::time::timeout(timeout, core.propose_local(command)).await {
        Ok(result) => result.map(|_| ()),
        Err(_) => Err(ForwardError::Failed("not committed in time".into())),
    }
}

/// A broker outside the quorum's membership (started with `--inter-broker-listen`
/// instead of an entry in `--cluster`) becomes a learner: openraft replicates the
/// metadata log to it, without a vote. Returns once the change is committed.
async fn add_learner_if_new(
    core: &Core,
    registration: &BrokerRegistration,
) -> Result<(), ForwardError> {
    let known = {
        let metrics = core.raft.metrics();
        let m = metrics.borrow();
        let membership = m.membership_config.membership();
        membership
            .get_node(&registration.node_id)
            .map(|node| node.addr == registration.inter_broker)
    };
    match known {
        Some(true) => return Ok(()),
        Some(false) if core.is_voter(registration.node_id) => {
            return Err(ForwardError::Failed(format!(
                "broker {} registers inter-broker address {}, which differs from its --cluster entry",
                registration.node_id, registration.inter_broker
            )))
        }
        _ => {}
    }
    tracing::info!(
        node_id = registration.node_id,
        addr = %registration.inter_broker,
        "controller: a broker outside the quorum joins as a learner of the metadata log"
    );
    let node = openraft::BasicNode::new(&registration.inter_broker);
    let timeout = core.config.broker_session_timeout;
    match tokio::time::timeout(
        timeout,
        core.raft.add_learner(registration.node_id, node, false),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(ForwardError::Failed(format!("adding learner: {e}"))),
        Err(_) => Err(ForwardError::Failed("adding the learner timed out".into())),
    }
}

/// Heartbeats the controller with `registration` every interval until `shutdown`.
pub(crate) async fn run_heartbeats(
    core: std::sync::Arc<Core>,
    registration: BrokerRegistration,
    mut shutdown: watch::Receiver<bool>,
) {
    let interval = core.config.broker_heartbeat_interval;
    let mut connections: HashMap<NodeId, PeerConnection> = HashMap::new();
    let mut asked: usize = 0;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        // A broker outside the quorum knows no controller until the controller adds
        // it as a learner, which its heartbeat asks for: try the voters in turn.
        let Some(controller) = core.controller().or_else(|| {
            let voters = &core.config.members;
            (!core.config.is_voter() && !voters.is_empty()).then(|| {
                asked = asked.wrapping_add(1);
                voters[asked % voters.len()].node_id
            })
        }) else {
            continue;
        };
        let beat = async {
            if controller == core.node_id() {
                on_heartbeat(&core, registration.clone()).await
            } else {
                send_heartbeat(&core, &mut connections, controller, &registration).await
            }
        };
        // Cancel-safe: an interrupted call drops its connection or proposal.
        let result = tokio::select! {
            result = beat => result,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        if let Err(e) = result {
            tracing::debug!(controller, error = %e, "broker heartbeat not taken");
        }
    }
}

async fn send_heartbeat(
    core: &Core,
    connections: &mut HashMap<NodeId, PeerConnection>,
    controller: NodeId,
    registration: &BrokerRegistration,
) -> Result<(), ForwardError> {
    let Some(member) = core.config.members.iter().find(|m| m.node_id == controller) else {
        return Err(ForwardError::Failed(format!(
            "controller {controller} is not in --cluster"
        )));
    };
    let connection = connections
        .entry(controller)
        .or_insert_with(|| PeerConnection::new(member.addr.clone()));
    let request = Request::BrokerHeartbeat(registration.clone());
    let timeout = core.config.broker_session_timeout / 2;
    match connection.call(&request, timeout).await {
        Ok(Response::BrokerHeartbeat(result)) => result,
        Ok(_) => Err(ForwardError::Failed(
            "the controller answered another request".into(),
        )),
        Err(e) => Err(ForwardError::Failed(e.to_string())),
    }
}

/// While this member is the controller: names the cluster and fences brokers that
/// missed their session. Runs until `shutdown`.
pub(crate) async fn run_controller_duties(
    core: std::sync::Arc<Core>,
    mut shutdown: watch::Receiver<bool>,
) {
    let check_every = (core.config.broker_heartbeat_interval / 2).max(Duration::from_millis(10));
    let mut ticker = tokio::time::interval(check_every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        if !core.is_controller() {
            core.liveness.stop_leading();
            continue;
        }
        tokio::select! {
            () = controller_round(&core) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

async fn controller_round(core: &Core) {
    let term = core.raft.metrics().borrow().current_term;
    let image = core.image.borrow().clone();
    if core
        .liveness
        .start_term(term, image.brokers.keys().copied())
    {
        tracing::info!(
            term,
            node = core.node_id(),
            "controller: elected; broker clocks start now"
        );
    }
    let timeout = core.config.broker_session_timeout;
    if image.cluster_id.is_empty() {
        let cluster_id = uuid::Uuid::new_v4().to_string();
        tracing::info!(%cluster_id, "controller: naming the cluster");
        let command = MetadataCommand::InitCluster { cluster_id };
        if let Ok(Err(e)) = tokio::time::timeout(timeout, core.propose_local(command)).await {
            tracing::warn!(error = %e, "controller: naming the cluster failed");
        }
    }
    let live = image
        .brokers
        .iter()
        .filter(|(_, b)| !b.fenced)
        .map(|(id, _)| *id);
    for node_id in core
        .liveness
        .expired(live, core.config.broker_session_timeout)
    {
        tracing::warn!(node_id, "controller: broker missed its session; fencing it");
        let command = MetadataCommand::FenceBroker { node_id };
        match tokio::time::timeout(timeout, core.propose_local(command)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(node_id, error = %e, "controller: fencing failed"),
            Err(_) => tracing::warn!(node_id, "controller: fencing not committed in time"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_term_restarts_every_clock_and_silence_expires() {
        let tracker = Tracker::default();
        assert!(tracker.start_term(3, [1, 2].into_iter()));
        assert!(!tracker.start_term(3, [1, 2].into_iter()));
        let session = Duration::from_millis(30);
        assert!(tracker.expired([1, 2].into_iter(), session).is_empty());
        std::thread::sleep(Duration::from_millis(40));
        tracker.heard(2);
        assert_eq!(tracker.expired([1, 2].into_iter(), session), vec![1]);
        tracker.stop_leading();
        assert!(tracker.start_term(4, [1, 2].into_iter()));
        assert!(tracker.expired([1, 2].into_iter(), session).is_empty());
    }
}
