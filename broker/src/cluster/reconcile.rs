//! Local topics follow the metadata image: a task watches [`Cluster::subscribe`] and,
//! for each new image, creates the local topic (with the image's partition count and
//! settings) of every topic with a replica on this broker, applies changed settings and
//! added partitions, and deletes the local topic the image dropped.
//!
//! A hosted topic is created with **all** its partitions, not only this broker's: the
//! local registry addresses partitions by index, and a partition this broker does not
//! lead costs an empty directory, an empty active segment and its three open files (no
//! data, no memory beyond the sparse index mapping). Requests for partitions this broker
//! does not lead are refused by [`super::routing`] before they reach the log.
//!
//! Deletion follows a change this task saw: a topic present in one image and absent
//! (or present with another id) in a later one. A local topic the image does not name
//! is kept and logged while the image may be old (images published while the state
//! machine replays its log after a restart lag behind what this broker already
//! created); once the image holds this run's own broker registration
//! ([`super::Cluster::image_caught_up`]) it is newer than anything done while the
//! broker was down, and a local copy recorded for a topic id the image no longer has
//! (a topic deleted meanwhile) is deleted then, once. A local topic without a recorded
//! id (data from before the broker joined a cluster) is never deleted on a guess.
//! Broker-internal topics (`__consumer_offsets`) are never deleted here.
//!
//! The local ACLs and user credentials follow the image's too ([`super::acls`],
//! [`super::credentials`]).
//!
//! Each local copy's topic id is recorded ([`super::topic_ids`]): after a restart, a
//! local copy whose topic was deleted and created again meanwhile (another id in the
//! image) is dropped and made afresh instead of serving the old records.
//!
//! File work runs on the blocking pool. After each pass the image is published on
//! [`Reconciled`], so an admin request can wait until its topic exists here (checking
//! the local registry, since one failing topic must not hold up the others) before it
//! answers success.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

use super::acls::AclSync;
use super::credentials::CredentialSync;
use super::image::{MetadataImage, TopicRecord};
use super::routing::hosts;
use super::topic_ids::LocalTopicIds;
use super::NodeId;
use crate::server::BrokerCtx;
use crate::shutdown::ShutdownListener;
use crate::storage::now_ms;
use crate::topics::{is_internal_name, TopicError};

/// How long a failed pass waits before trying again without a new image.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// The last image the local topics were made to follow.
#[derive(Debug)]
pub struct Reconciled {
    sender: watch::Sender<Arc<MetadataImage>>,
}

impl Default for Reconciled {
    fn default() -> Self {
        Reconciled {
            sender: watch::channel(Arc::new(MetadataImage::default())).0,
        }
    }
}

impl Reconciled {
    /// A receiver that wakes after each reconcile pass.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.sender.subscribe()
    }

    /// Waits until a pass reconciled an image for which `done` holds, or `timeout`
    /// passes; `true` when it held.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&MetadataImage) -> bool,
    ) -> bool {
        let mut receiver = self.subscribe();
        let waited = tokio::time::timeout(timeout, receiver.wait_for(|image| done(image))).await;
        matches!(waited, Ok(Ok(_)))
    }

    fn publish(&self, image: Arc<MetadataImage>) {
        self.sender.send_replace(image);
    }
}

/// Runs until `shutdown`: one reconcile pass per new image (and a retry after a failed
/// one). Returns at once on a broker without a cluster.
pub async fn run(ctx: Arc<BrokerCtx>, mut shutdown: ShutdownListener) {
    let Some(cluster) = ctx.cluster.clone() else {
        return;
    };
    let mut images = cluster.subscribe();
    let mut previous: Option<Arc<MetadataImage>> = None;
    let mut held: Option<(LocalTopicIds, AclSync, CredentialSync)> = None;
    let mut swept = false;
    loop {
        // Read before the image: the image is then at least as new as this index.
        let applied_index = cluster.status().applied_index;
        let image = images.borrow_and_update().clone();
        let (work_ctx, prev, next) = (ctx.clone(), previous.clone(), image.clone());
        let node_id = cluster.node_id();
        let sweep = !swept && cluster.image_caught_up(&image);
        let state = held.take();
        let pass = tokio::task::spawn_blocking(move || {
            let (mut ids, mut acls, mut credentials) = match state {
                Some(state) => state,
                None => {
                    let dir = work_ctx.topics.data_dir();
                    let ids = LocalTopicIds::load(dir).map_err(|e| vec![e])?;
                    let credentials = CredentialSync::load(dir).map_err(|e| vec![e])?;
                    (ids, AclSync::load(dir).map_err(|e| vec![e])?, credentials)
                }
            };
            let mut failures = reconcile(&work_ctx, node_id, prev.as_deref(), &next, &mut ids);
            if sweep {
                failures.extend(sweep_deleted(&work_ctx, &next, &mut ids));
            }
            if let Err(e) = acls.follow(&work_ctx, &next, applied_index) {
                failures.push(e);
            }
            if let Err(e) = credentials.follow(&work_ctx, &next, applied_index) {
                failures.push(e);
            }
            Ok::<_, Vec<String>>(((ids, acls, credentials), failures))
        })
        .await
        .unwrap_or_else(|e| Err(vec![format!("reconcile task failed: {e}")]));
        let failures = match pass {
            Ok((kept, failures)) => {
                held = Some(kept);
                failures
            }
            Err(failures) => failures,
        };
        for failure in &failures {
            warn!(error = %failure, "cannot make the local topics follow the cluster metadata; retrying");
        }
        // Published even after a failure (waiters check the local topic they need); the
        // previous image moves on only after a clean pass, so a failed deletion is
        // seen again by the retry.
        ctx.reconciled.publish(image.clone());
        if failures.is_empty() {
            previous = Some(image);
            swept |= sweep;
        }
        let wait = async {
            if failures.is_empty() {
                images.changed().await.is_ok()
            } else {
                // A failed pass retries the same image later (or the next one sooner).
                let _ = tokio::time::timeout(RETRY_INTERVAL, images.changed()).await;
                true
            }
        };
        tokio::select! {
            more = wait => if !more { return },
            _ = shutdown.recv() => return,
        }
    }
}

/// One pass: makes the local registry follow `image`, given the `previous` image this
/// task reconciled. Blocking. Returns what failed (the pass is retried).
pub fn reconcile(
    ctx: &BrokerCtx,
    node_id: NodeId,
    previous: Option<&MetadataImage>,
    image: &MetadataImage,
    ids: &mut LocalTopicIds,
) -> Vec<String> {
    let mut failures = Vec::new();
    if let Some(previous) = previous {
        for (name, old) in &previous.topics {
            let gone = image.topics.get(name).is_none_or(|now| now.id != old.id);
            if gone && !is_internal_name(name) {
                match delete_local(ctx, name) {
                    Ok(()) => ids.remove(name),
                    Err(e) => failures.push(format!("deleting topic `{name}`: {e}")),
                }
            }
        }
    } else {
        warn_about_strays(ctx, image);
    }
    for (name, topic) in &image.topics {
        if !hosts(image, name, node_id) {
            continue;
        }
        if let Err(e) = follow(ctx, name, topic, ids) {
            failures.push(format!("topic `{name}`: {e}"));
        }
    }
    if let Err(e) = ids.save() {
        failures.push(e);
    }
    failures
}

/// Deletes the local copies recorded for a topic id `image` (which is newer than this
/// broker's restart) no longer has: topics deleted while this broker was down.
/// Blocking. Returns what failed.
fn sweep_deleted(ctx: &BrokerCtx, image: &MetadataImage, ids: &mut LocalTopicIds) -> Vec<String> {
    let mut failures = Vec::new();
    for topic in ctx.topics.list() {
        let name = &*topic.name;
        let Some(recorded) = ids.get(name) else {
            continue;
        };
        let current = image.topics.get(name).map(|t| t.id);
        if topic.is_internal() || current == Some(recorded) {
            continue;
        }
        warn!(
            topic = name,
            "the cluster deleted this topic while this broker was down; deleting the local copy"
        );
        match delete_local(ctx, name) {
            Ok(()) => ids.remove(name),
            Err(e) => failures.push(format!("deleting topic `{name}`: {e}")),
        }
    }
    if let Err(e) = ids.save() {
        failures.push(e);
    }
    failures
}

/// Creates, grows or re-configures the local copy of `topic`; a local copy made for
/// another id (a topic deleted and re-created while this broker was away) is dropped
/// and made again.
fn follow(
    ctx: &BrokerCtx,
    name: &str,
    topic: &TopicRecord,
    ids: &mut LocalTopicIds,
) -> Result<(), TopicError> {
    let recorded = ids.get(name);
    if !topic.internal && recorded.is_some_and(|id| id != topic.id) {
        warn!(
            topic = name,
            "the local copy belongs to an earlier topic of this name; deleting it"
        );
        delete_local(ctx, name)?;
        ids.remove(name);
    }
    // A local copy without a record (its record lost to a crash before the save, or
    // data from before the broker joined a cluster) is adopted as this id's.
    ids.set(name, topic.id);
    follow_settings(ctx, name, topic)
}

fn follow_settings(ctx: &BrokerCtx, name: &str, topic: &TopicRecord) -> Result<(), TopicError> {
    let partitions = u32::try_from(topic.partitions.len()).unwrap_or(u32::MAX);
    let Some(local) = ctx.topics.get(name) else {
        return match ctx
            .topics
            .create(name, Some(partitions), topic.configs.clone())
        {
            Ok(_) => {
                info!(
                    topic = name,
                    partitions, "created local topic from the cluster metadata"
                );
                Ok(())
            }
            Err(TopicError::AlreadyExists(_)) => Ok(()),
            Err(e) => Err(e),
        };
    };
    if (local.partitions.len() as u64) < u64::from(partitions) {
        ctx.topics.add_partitions(name, partitions)?;
    }
    // The broker tunes its internal topics itself (compaction of the offsets log).
    if !topic.internal && local.overrides != topic.configs {
        ctx.topics
            .alter(name, config_changes(&local.overrides, &topic.configs))?;
    }
    Ok(())
}

/// The changes that turn `local` settings into `wanted` ones (`None` removes a key).
fn config_changes(
    local: &BTreeMap<String, String>,
    wanted: &BTreeMap<String, String>,
) -> Vec<(String, Option<String>)> {
    let removed = local
        .keys()
        .filter(|k| !wanted.contains_key(*k))
        .map(|k| (k.clone(), None));
    let set = wanted
        .iter()
        .filter(|(k, v)| local.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), Some(v.clone())));
    removed.chain(set).collect()
}

/// Deletes the local topic and the committed offsets of it, if it is here.
fn delete_local(ctx: &BrokerCtx, name: &str) -> Result<(), TopicError> {
    match ctx.topics.delete(name) {
        Ok(()) => info!(topic = name, "deleted local topic: the cluster deleted it"),
        Err(TopicError::UnknownTopic(_)) => return Ok(()),
        Err(e) => return Err(e),
    }
    if let Err(e) = ctx.groups.forget_topic(&ctx.topics, name, now_ms()) {
        warn!(topic = name, error = %e, "could not delete the committed offsets of a deleted topic; they are deleted at the next start");
    }
    Ok(())
}

/// Logs the local topics the first image does not name (kept, see the module docs).
fn warn_about_strays(ctx: &BrokerCtx, image: &MetadataImage) {
    for topic in ctx.topics.list() {
        if !topic.is_internal() && !image.topics.contains_key(&*topic.name) {
            warn!(topic = %topic.name, "local topic not in the cluster metadata (yet); keeping its data");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_changes_set_and_remove() {
        let local: BTreeMap<String, String> = [("a", "1"), ("b", "2")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let wanted: BTreeMap<String, String> = [("b", "3"), ("c", "4")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut changes = config_changes(&local, &wanted);
        changes.sort();
        assert_eq!(
            changes,
            vec![
                ("a".to_string(), None),
                ("b".to_string(), Some("3".to_string())),
                ("c".to_string(), Some("4".to_string())),
            ]
        );
        assert!(config_changes(&wanted, &wanted).is_empty());
    }
}
