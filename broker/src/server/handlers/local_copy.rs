//! A clustered broker that leads a partition of a topic created a moment ago (through
//! another broker) may not have made its local copy yet: requests for it wait a little
//! for the reconcile task instead of failing, and answer LEADER_NOT_AVAILABLE
//! (retriable) if the copy still is not there.

use std::sync::Arc;
use std::time::Duration;

use crate::cluster::routing::hosts;
use crate::server::BrokerCtx;
use crate::topics::Topic;

/// Longest a request waits for the local copy of a topic this broker hosts.
pub const LOCAL_COPY_WAIT: Duration = Duration::from_secs(2);

/// The local topic `name`; in a cluster, when this broker hosts it per the image but has
/// no copy yet, waits up to [`LOCAL_COPY_WAIT`] for the reconcile task to make it.
pub async fn local_topic(ctx: &Arc<BrokerCtx>, name: &str) -> Option<Arc<Topic>> {
    if let Some(topic) = ctx.topics.get(name) {
        return Some(topic);
    }
    let cluster = ctx.cluster.as_ref()?;
    if !hosts(&cluster.image(), name, cluster.node_id()) {
        return None;
    }
    let (local, wanted) = (ctx.clone(), name.to_string());
    ctx.reconciled
        .wait_for(LOCAL_COPY_WAIT, move |_| {
            local.topics.get(&wanted).is_some()
        })
        .await;
    ctx.topics.get(name)
}

/// Waits (as [`local_topic`]) for every topic of `names` this broker hosts but has no
/// copy of yet.
pub async fn await_local_topics<'a>(ctx: &Arc<BrokerCtx>, names: impl Iterator<Item = &'a str>) {
    if ctx.cluster.is_none() {
        return;
    }
    for name in names {
        local_topic(ctx, name).await;
    }
}
