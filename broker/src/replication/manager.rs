//! [`ReplicaManager`]: the partition groups of one broker. It follows the metadata image
//! the local topics were reconciled with: every partition with several replicas, this
//! broker among them, gets a running group once its local partition exists (a group
//! that cannot start yet is tried again on the next image or tick); a group whose
//! topic was deleted or that is no longer assigned here is stopped and its directory
//! removed. Groups open concurrently, at most [`GROUPS_OPENING_MAX`] at a time, so a
//! broker with many partitions starts without stalling.
//!
//! It is the [`Replicator`] the request handlers call, the [`GroupDispatch`] the
//! replication server calls, and each group's reporter ([`super::report`]) tells the
//! controller who leads and which replicas are in sync.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;

use super::group::{group_dir, Group, GroupSettings, GroupSpec};
use super::network::Peers;
use super::rpc::{Refusal, RequestBody, ResponseBody};
use super::server::GroupDispatch;
use super::types::{Appended, GroupId, ReplicaWrite};
use super::{ReplicaStatus, ReplicationError, Replicator};
use crate::cluster::handle::BoxFuture;
use crate::cluster::{Cluster, MetadataImage, NodeId};
use crate::topics::Partition;

/// Groups being opened at once.
pub const GROUPS_OPENING_MAX: usize = 4;
/// How often the manager looks again without a new image (groups that could not start).
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// Finds the local partition a group applies to (`None`: not created here yet).
pub type LocalPartitions = Arc<dyn Fn(&str, i32) -> Option<Arc<Partition>> + Send + Sync>;

/// The running groups, by id and by topic name and partition.
#[derive(Default)]
struct Groups {
    by_id: HashMap<GroupId, Arc<Group>>,
    /// Topic name, then partition (looked up by `&str`, no allocation per request).
    by_name: HashMap<String, HashMap<i32, GroupId>>,
}

/// One broker's partition groups.
pub struct ReplicaManager {
    settings: GroupSettings,
    cluster: Cluster,
    peers: Arc<Peers>,
    data_dir: PathBuf,
    groups: RwLock<Groups>,
    elections_total: Arc<AtomicU64>,
}

impl std::fmt::Debug for ReplicaManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaManager")
            .field("node_id", &self.settings.node_id)
            .field("groups", &self.read().by_id.len())
            .finish()
    }
}

/// What `/metrics` shows of replication.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicationMetrics {
    /// Groups running on this broker.
    pub groups: u64,
    /// Leader elections the groups here have seen.
    pub leader_elections_total: u64,
    /// For each partition this broker leads: each follower's lag in log entries, as
    /// `(topic, partition, replica, lag)`.
    pub replica_lag: Vec<(String, i32, NodeId, u64)>,
}

impl ReplicaManager {
    /// The manager of the broker `cluster` belongs to, its groups' files under
    /// `data_dir`, with `settings`; peers are dialled at the addresses in the image.
    pub fn new(cluster: Cluster, settings: GroupSettings, data_dir: &Path) -> Arc<ReplicaManager> {
        let retry_max = Duration::from_millis(settings.raft.election_timeout_min / 2);
        let peers = Peers::from_image(settings.node_id, cluster.subscribe(), retry_max);
        Arc::new(ReplicaManager {
            settings,
            cluster,
            peers,
            data_dir: data_dir.to_path_buf(),
            groups: RwLock::new(Groups::default()),
            elections_total: Arc::new(AtomicU64::new(0)),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Groups> {
        self.groups.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Groups> {
        self.groups.write().unwrap_or_else(|p| p.into_inner())
    }

    fn group(&self, topic: &str, partition: i32) -> Option<Arc<Group>> {
        let groups = self.read();
        let id = groups.by_name.get(topic)?.get(&partition)?;
        groups.by_id.get(id).cloned()
    }

    /// The group `id`, if it runs here.
    pub fn group_by_id(&self, id: GroupId) -> Option<Arc<Group>> {
        self.read().by_id.get(&id).cloned()
    }

    /// Follows `images` (the images the local topics were reconciled with) until
    /// `shutdown` resolves, then stops every group.
    pub async fn run(
        self: Arc<Self>,
        local: LocalPartitions,
        mut images: watch::Receiver<Arc<MetadataImage>>,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut retry = tokio::time::interval(RETRY_INTERVAL);
        loop {
            let image = images.borrow_and_update().clone();
            let pass = self.follow(&image, &local);
            tokio::select! {
                _ = pass => {}
                _ = &mut shutdown => break,
            }
            tokio::select! {
                changed = images.changed() => if changed.is_err() { break },
                _ = retry.tick() => {}
                _ = &mut shutdown => break,
            }
        }
        self.shut_down().await;
    }

    /// One pass: stops the groups `image` no longer assigns here, starts the missing ones.
    pub async fn follow(&self, image: &MetadataImage, local: &LocalPartitions) {
        let wanted = wanted_groups(image, self.settings.node_id);
        let gone: Vec<Arc<Group>> = {
            let mut groups = self.write();
            let ids: Vec<GroupId> = groups
                .by_id
                .keys()
                .filter(|id| !wanted.contains_key(id))
                .copied()
                .collect();
            ids.iter()
                .filter_map(|id| {
                    let group = groups.by_id.remove(id)?;
                    if let Some(partitions) = groups.by_name.get_mut(&group.spec.topic) {
                        partitions.remove(&group.spec.partition);
                        if partitions.is_empty() {
                            groups.by_name.remove(&group.spec.topic);
                        }
                    }
                    Some(group)
                })
                .collect()
        };
        for group in gone {
            self.remove(group).await;
        }
        let missing: Vec<(GroupSpec, Arc<Partition>)> = {
            let groups = self.read();
            wanted
                .into_values()
                .filter(|spec| !groups.by_id.contains_key(&spec.id))
                .filter_map(|spec| {
                    let partition = local(&spec.topic, spec.partition)?;
                    Some((spec, partition))
                })
                .collect()
        };
        futures::stream::iter(missing)
            .map(|(spec, partition)| self.start(spec, partition))
            .buffer_unordered(GROUPS_OPENING_MAX)
            .collect::<Vec<()>>()
            .await;
    }

    /// Opens and registers one group; a failure is logged (the next pass tries again).
    async fn start(&self, spec: GroupSpec, partition: Arc<Partition>) {
        let id = spec.id;
        let opened = Group::open(
            spec,
            partition,
            &self.data_dir,
            &self.settings,
            self.peers.clone(),
        )
        .await;
        let group = match opened {
            Ok(group) => group,
            Err(e) => {
                tracing::warn!(group = %id, error = %e, "cannot start a partition group yet; retrying");
                return;
            }
        };
        let reporter = super::report::spawn(
            group.clone(),
            self.cluster.clone(),
            self.elections_total.clone(),
        );
        *group.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(reporter);
        tracing::info!(group = %id, topic = %group.spec.topic, partition = group.spec.partition, "partition group started");
        let mut groups = self.write();
        groups
            .by_name
            .entry(group.spec.topic.clone())
            .or_default()
            .insert(group.spec.partition, id);
        groups.by_id.insert(id, group);
    }

    /// Stops `group` and deletes its directory (its topic is gone or it moved away).
    async fn remove(&self, group: Arc<Group>) {
        group.shut_down().await;
        let dir = group.dir.clone();
        let removed = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(&dir)).await;
        match removed {
            Ok(Ok(())) => {
                tracing::info!(group = %group.spec.id, "partition group removed")
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
            Ok(Err(e)) => {
                tracing::warn!(group = %group.spec.id, dir = %group.dir.display(), error = %e, "cannot remove a stopped group's files")
            }
            Err(e) => tracing::warn!(error = %e, "removing a group's files failed"),
        }
    }

    /// Stops every group (their files stay) and closes the connections to peers.
    pub async fn shut_down(&self) {
        let groups: Vec<Arc<Group>> = {
            let mut groups = self.write();
            groups.by_name.clear();
            groups.by_id.drain().map(|(_, g)| g).collect()
        };
        futures::future::join_all(groups.iter().map(|g| g.shut_down())).await;
        self.peers.close_all();
    }

    /// The figures `/metrics` shows.
    pub fn metrics(&self) -> ReplicationMetrics {
        let groups: Vec<Arc<Group>> = self.read().by_id.values().cloned().collect();
        let mut replica_lag = Vec::new();
        for group in &groups {
            for (replica, lag) in group.follower_lag() {
                replica_lag.push((group.spec.topic.clone(), group.spec.partition, replica, lag));
            }
        }
        replica_lag.sort();
        ReplicationMetrics {
            groups: groups.len() as u64,
            leader_elections_total: self.elections_total.load(Ordering::Relaxed),
            replica_lag,
        }
    }

    /// The directory of `group`'s files on this broker.
    pub fn group_dir(&self, group: GroupId) -> PathBuf {
        group_dir(&self.data_dir, group)
    }

    /// The connections to peers (also the [`super::SegmentSource`] of the groups).
    pub fn peers(&self) -> Arc<Peers> {
        self.peers.clone()
    }

    /// Whether the image makes this broker a replica of a replicated `topic`/`partition`.
    fn assigned_here(&self, topic: &str, partition: i32) -> bool {
        self.cluster
            .image()
            .partition(topic, partition)
            .is_some_and(|p| p.is_replicated() && p.replicas.contains(&self.settings.node_id))
    }
}

/// The groups `image` asks broker `me` to run, with their replicas' addresses.
pub fn wanted_groups(image: &MetadataImage, me: NodeId) -> BTreeMap<GroupId, GroupSpec> {
    let address = |node: &NodeId| {
        image
            .brokers
            .get(node)
            .map(|b| b.registration.inter_broker.clone())
            .unwrap_or_default()
    };
    let mut wanted = BTreeMap::new();
    for (name, topic) in &image.topics {
        for (index, partition) in topic.partitions.iter().enumerate() {
            if !partition.is_replicated() || !partition.replicas.contains(&me) {
                continue;
            }
            let (Ok(index32), Ok(index_i32)) = (u32::try_from(index), i32::try_from(index)) else {
                continue;
            };
            let id = GroupId {
                topic_id: topic.id,
                partition: index32,
            };
            let replicas = partition
                .replicas
                .iter()
                .map(|n| (*n, address(n)))
                .collect();
            wanted.insert(
                id,
                GroupSpec {
                    id,
                    topic: name.clone(),
                    partition: index_i32,
                    replicas,
                },
            );
        }
    }
    wanted
}

impl Replicator for ReplicaManager {
    fn is_replicated(&self, topic: &str, partition: i32) -> bool {
        self.group(topic, partition).is_some() || self.assigned_here(topic, partition)
    }

    fn append(
        &self,
        topic: &str,
        partition: i32,
        write: ReplicaWrite,
    ) -> BoxFuture<'_, Result<Appended, ReplicationError>> {
        let group = self.group(topic, partition);
        let (topic, timeout) = (topic.to_string(), self.settings.request_timeout);
        Box::pin(async move {
            match group {
                Some(group) => group.append(write, timeout).await,
                None if self.assigned_here(&topic, partition) => {
                    // Assigned here, its group not started yet.
                    Err(ReplicationError::NotLeader {
                        leader: self.cluster.image().leader(&topic, partition),
                    })
                }
                None => Err(ReplicationError::UnknownPartition { topic, partition }),
            }
        })
    }

    fn is_serving_leader(&self, topic: &str, partition: i32) -> bool {
        self.group(topic, partition)
            .is_some_and(|g| g.is_serving_leader())
    }

    fn replica_status(&self, topic: &str, partition: i32) -> Option<ReplicaStatus> {
        self.group(topic, partition).map(|g| g.status())
    }
}

impl GroupDispatch for ReplicaManager {
    fn node_id(&self) -> NodeId {
        self.settings.node_id
    }

    fn dispatch(&self, group: GroupId, body: RequestBody) -> BoxFuture<'_, ResponseBody> {
        let found = self.group_by_id(group);
        Box::pin(async move {
            match found {
                Some(g) => g.serve(body).await,
                None => ResponseBody::Refused(Refusal::UnknownGroup(group)),
            }
        })
    }
}
