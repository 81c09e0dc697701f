//! A group's reporter: watches the group's Raft metrics (and a tick, since a follower
//! falls out of sync by time alone), keeps its in-sync tracking up to date, triggers a
//! snapshot once [`super::group::SNAPSHOT_EVERY_BYTES`] were applied since the last and, while
//! this broker is the group's serving leader, makes the metadata image say so: when
//! the image's leader, term or ISR for the partition differ from the group's, it
//! proposes [`MetadataCommand::ReplicaLeader`], again after a pause that doubles up to
//! [`REPORT_RETRY_MAX`] while proposing fails. It stops proposing as soon as this
//! broker no longer leads.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::group::{serving_leader, Group};
use crate::cluster::{Cluster, MetadataCommand, MetadataImage, NodeId};

/// How often a group's ISR is looked at without a metrics change.
pub const REPORT_TICK: Duration = Duration::from_millis(500);
/// A leader report may take this long to commit before it counts as failed (short: a
/// report forwarded to a controller that was just cut off must be retried soon, through
/// the next controller, or clients wait for the new leader that long).
pub const REPORT_TIMEOUT: Duration = Duration::from_secs(2);
/// First pause after a failed report.
const REPORT_RETRY_FIRST: Duration = Duration::from_millis(100);
/// Longest pause between failed reports.
pub const REPORT_RETRY_MAX: Duration = Duration::from_secs(1);

/// Starts `group`'s reporter; it ends when the group's `stop` token is cancelled.
pub fn spawn(group: Arc<Group>, cluster: Cluster, elections: Arc<AtomicU64>) -> JoinHandle<()> {
    tokio::spawn(run(group, cluster, elections))
}

async fn run(group: Arc<Group>, cluster: Cluster, elections: Arc<AtomicU64>) {
    let mut metrics = group.raft.metrics();
    let mut tick = tokio::time::interval(REPORT_TICK);
    let mut retry = Retry::default();
    loop {
        tokio::select! {
            changed = metrics.changed() => if changed.is_err() { return },
            _ = tick.tick() => {}
            _ = group.stop.cancelled() => return,
        }
        let m = metrics.borrow_and_update().clone();
        elections.fetch_add(group.observe(&m), Ordering::Relaxed);
        if group.snapshot_due(&m) {
            if let Err(e) = group.raft.trigger().snapshot().await {
                tracing::warn!(group = %group.spec.id, error = %e, "cannot trigger a snapshot");
            }
        }
        if !serving_leader(&m, cluster.node_id()) {
            retry = Retry::default();
            continue;
        }
        let report = leader_report(&group, m.current_term);
        if image_agrees(&cluster.image(), &report) || !retry.due() {
            continue;
        }
        let proposed = tokio::select! {
            proposed = tokio::time::timeout(REPORT_TIMEOUT, cluster.propose(report)) => proposed,
            _ = group.stop.cancelled() => return,
        };
        match proposed {
            Ok(Ok(())) => retry = Retry::default(),
            Ok(Err(e)) => retry.failed(&group, &e.to_string()),
            Err(_) => retry.failed(&group, "not committed in time"),
        }
    }
}

/// The report this broker makes as the group's leader in `term`.
fn leader_report(group: &Group, term: u64) -> MetadataCommand {
    MetadataCommand::ReplicaLeader {
        topic: group.spec.topic.clone(),
        topic_id: group.spec.id.topic_id,
        partition: group.spec.id.partition,
        leader: group.raft.metrics().borrow().id,
        term,
        isr: group.in_sync(),
    }
}

/// Whether `image` already says what `report` would.
pub fn image_agrees(image: &MetadataImage, report: &MetadataCommand) -> bool {
    let MetadataCommand::ReplicaLeader {
        topic,
        topic_id,
        partition,
        leader,
        term,
        isr,
    } = report
    else {
        return false;
    };
    let Some(record) = image.topics.get(topic).filter(|t| t.id == *topic_id) else {
        // The topic is gone (or another incarnation): nothing to report to.
        return true;
    };
    let Some(p) = record.partitions.get(*partition as usize) else {
        return true;
    };
    let reported: BTreeSet<NodeId> = isr
        .iter()
        .copied()
        .filter(|r| p.replicas.contains(r))
        .chain(std::iter::once(*leader))
        .collect();
    let current: BTreeSet<NodeId> = p.isr.iter().copied().collect();
    p.leader == Some(*leader) && p.raft_term == *term && current == reported
}

/// When the next report may be proposed after failures.
#[derive(Default)]
struct Retry {
    failures: u32,
    at: Option<Instant>,
}

impl Retry {
    fn due(&self) -> bool {
        self.at.is_none_or(|at| Instant::now() >= at)
    }

    fn failed(&mut self, group: &Group, error: &str) {
        self.failures = self.failures.saturating_add(1);
        let pause = REPORT_RETRY_FIRST
            .saturating_mul(1 << self.failures.min(16))
            .min(REPORT_RETRY_MAX);
        self.at = Some(Instant::now() + pause);
        tracing::warn!(group = %group.spec.id, topic = %group.spec.topic, partition = group.spec.partition, error, "cannot report partition leadership to the controller yet; retrying");
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::cluster::BrokerRegistration;

    fn image() -> MetadataImage {
        let mut image = MetadataImage::default();
        for node_id in 1..=3 {
            image
                .apply(&MetadataCommand::RegisterBroker(BrokerRegistration {
                    node_id,
                    host: "h".into(),
                    port: 1,
                    kafka: None,
                    inter_broker: format!("h:{node_id}"),
                    rack: None,
                    incarnation: 1,
                }))
                .unwrap();
        }
        image
            .apply(&MetadataCommand::CreateTopic {
                name: "t".into(),
                id: 9,
                internal: false,
                configs: BTreeMap::new(),
                assignments: vec![vec![1, 2, 3], vec![2]],
            })
            .unwrap();
        image
    }

    fn report(leader: NodeId, term: u64, isr: Vec<NodeId>) -> MetadataCommand {
        MetadataCommand::ReplicaLeader {
            topic: "t".into(),
            topic_id: 9,
            partition: 0,
            leader,
            term,
            isr,
        }
    }

    #[test]
    fn a_report_is_due_until_the_image_says_the_same() {
        let mut image = image();
        let mine = report(2, 3, vec![1, 2, 3]);
        assert!(
            !image_agrees(&image, &mine),
            "the partition starts leaderless"
        );
        image.apply(&mine).unwrap();
        assert!(image_agrees(&image, &mine));
        assert!(
            image_agrees(&image, &report(2, 3, vec![3, 2, 1])),
            "order does not matter"
        );
        assert!(
            !image_agrees(&image, &report(2, 3, vec![2, 3])),
            "ISR shrank"
        );
        assert!(
            !image_agrees(&image, &report(2, 4, vec![1, 2, 3])),
            "new term"
        );
        image
            .apply(&MetadataCommand::FenceBroker { node_id: 2 })
            .unwrap();
        assert!(!image_agrees(&image, &mine), "fencing cleared the leader");
        // Nothing to report about a topic that is gone or was re-created.
        let other = MetadataCommand::ReplicaLeader {
            topic: "t".into(),
            topic_id: 10,
            partition: 0,
            leader: 2,
            term: 3,
            isr: vec![2],
        };
        assert!(image_agrees(&image, &other));
    }

    #[test]
    fn only_replicated_partitions_with_this_broker_among_their_replicas_get_a_group() {
        let image = image();
        let wanted = crate::replication::manager::wanted_groups(&image, 2);
        let specs: Vec<_> = wanted.values().cloned().collect();
        assert_eq!(specs.len(), 1, "{specs:?}");
        assert_eq!(
            (
                specs[0].id.topic_id,
                specs[0].id.partition,
                specs[0].partition
            ),
            (9, 0, 0)
        );
        assert_eq!(
            specs[0].replicas,
            vec![(1, "h:1".into()), (2, "h:2".into()), (3, "h:3".into())]
        );
        assert!(crate::replication::manager::wanted_groups(&image, 4).is_empty());
    }
}
