//! Which broker answers what, read from the metadata image: the leader of a partition
//! (Produce, Fetch, ListOffsets go there) and the coordinator of a consumer group (the
//! leader of one `__consumer_offsets` partition, picked by hash of the group id, as
//! Kafka does).
//!
//! A [`Leadership`] is one request's view: the image and the staleness flag together,
//! then each partition is a map lookup. The hot paths (Produce, Fetch, ListOffsets) read
//! it from a [`RoutingCache`]: one watch borrow per request (an `Arc` clone under a read
//! lock), refreshed by a task on every new image and whenever staleness flips, so they
//! never ask the quorum for its status.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::image::MetadataImage;
use super::{Cluster, NodeId};

/// Why this broker does not serve a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotServed {
    /// The image has no such topic or partition.
    Unknown,
    /// Another broker leads it: the client refreshes its metadata and goes there.
    OtherLeader(NodeId),
    /// No broker leads it now (its in-sync replicas are fenced), or this broker's
    /// metadata may be stale: retry later.
    NoLeader,
}

/// One request's view of partition leadership.
#[derive(Debug, Clone)]
pub struct Leadership {
    image: Arc<MetadataImage>,
    node_id: NodeId,
    stale: bool,
}

impl Leadership {
    /// The view of `cluster` now.
    pub fn of(cluster: &Cluster) -> Leadership {
        Leadership {
            image: cluster.image(),
            node_id: cluster.node_id(),
            stale: cluster.status().stale,
        }
    }

    /// The image this view reads.
    pub fn image(&self) -> &MetadataImage {
        &self.image
    }

    /// Whether this broker's metadata may be old (no controller heard from lately).
    pub fn is_stale(&self) -> bool {
        self.stale
    }

    /// `Ok` when this broker leads `topic`/`partition` and knows it is current.
    pub fn check(&self, topic: &str, partition: i32) -> Result<(), NotServed> {
        let record = self
            .image
            .partition(topic, partition)
            .ok_or(NotServed::Unknown)?;
        if self.stale {
            return Err(NotServed::NoLeader);
        }
        match record.leader {
            Some(leader) if leader == self.node_id => Ok(()),
            Some(leader) => Err(NotServed::OtherLeader(leader)),
            None => Err(NotServed::NoLeader),
        }
    }

    /// Whether any partition of `topic` has a replica on this broker.
    pub fn hosts(&self, topic: &str) -> bool {
        hosts(&self.image, topic, self.node_id)
    }
}

/// How often the cache checks whether the broker's metadata turned stale (or fresh).
pub const STALE_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// The current [`Leadership`], kept up to date by [`RoutingCache::run`].
#[derive(Debug)]
pub struct RoutingCache {
    sender: watch::Sender<Arc<Leadership>>,
}

impl RoutingCache {
    /// A cache holding the view of `cluster` now.
    pub fn new(cluster: &Cluster) -> RoutingCache {
        RoutingCache {
            sender: watch::channel(Arc::new(Leadership::of(cluster))).0,
        }
    }

    /// The view as of the last refresh.
    pub fn current(&self) -> Arc<Leadership> {
        self.sender.borrow().clone()
    }

    /// Refreshes the view on every new image and every [`STALE_CHECK_INTERVAL`] (when
    /// staleness flipped), until `shutdown`.
    pub async fn run(&self, cluster: Cluster, mut shutdown: crate::shutdown::ShutdownListener) {
        let mut images = cluster.subscribe();
        let mut tick = tokio::time::interval(STALE_CHECK_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                changed = images.changed() => if changed.is_err() { return },
                _ = tick.tick() => {}
                _ = shutdown.recv() => return,
            }
            let next = Leadership::of(&cluster);
            let current = self.current();
            if !Arc::ptr_eq(&next.image, &current.image) || next.stale != current.stale {
                self.sender.send_replace(Arc::new(next));
            }
        }
    }
}

/// Whether any partition of `topic` in `image` has a replica on `node_id`.
pub fn hosts(image: &MetadataImage, topic: &str, node_id: NodeId) -> bool {
    image
        .topics
        .get(topic)
        .is_some_and(|t| t.partitions.iter().any(|p| p.hosted_by(node_id)))
}

/// Java's `String.hashCode` (over UTF-16 code units, wrapping), which Kafka uses to
/// place a group on an offsets partition.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// The `__consumer_offsets` partition whose leader coordinates `group_id`:
/// `abs(hash) % partitions`, with Kafka's `Utils.abs` (`i32::MIN` counts as 0).
/// `None` when there are no partitions.
pub fn coordinator_partition(group_id: &str, partitions: usize) -> Option<i32> {
    let partitions = i64::try_from(partitions).ok().filter(|n| *n > 0)?;
    let hash = java_string_hash(group_id);
    let abs = if hash == i32::MIN {
        0
    } else {
        i64::from(hash.abs())
    };
    i32::try_from(abs % partitions).ok()
}

/// Where a group's coordinator is, per the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coordinator {
    /// This node leads the group's offsets partition.
    Here,
    /// Another node does.
    There(NodeId),
    /// Nobody now (the offsets topic is missing or its partition offline).
    Unavailable,
}

/// The coordinator of `group_id` as `node_id` sees `image`.
pub fn coordinator(image: &MetadataImage, group_id: &str, node_id: NodeId) -> Coordinator {
    let Some(topic) = image.topics.get(crate::group::OFFSETS_TOPIC) else {
        return Coordinator::Unavailable;
    };
    let leader = coordinator_partition(group_id, topic.partitions.len())
        .and_then(|p| usize::try_from(p).ok())
        .and_then(|p| topic.partitions.get(p))
        .and_then(|p| p.leader);
    match leader {
        Some(leader) if leader == node_id => Coordinator::Here,
        Some(leader) => Coordinator::There(leader),
        None => Coordinator::Unavailable,
    }
}

/// A node id as the wire's `i32` (ids above `i32::MAX` cannot be configured usefully;
/// they saturate rather than wrap).
pub fn wire_id(node_id: NodeId) -> i32 {
    i32::try_from(node_id).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::cluster::command::{BrokerRegistration, MetadataCommand};

    #[test]
    fn java_hash_matches_known_values() {
        assert_eq!(java_string_hash("hello"), 99162322);
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        // Overflows wrap as in Java: "polygenelubricants".hashCode() == i32::MIN.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        // Non-BMP characters hash as their two UTF-16 units ("😀" = D83D DE00).
        assert_eq!(java_string_hash("😀"), 0xD83D * 31 + 0xDE00);
    }

    #[test]
    fn coordinator_partition_follows_kafka() {
        assert_eq!(coordinator_partition("hello", 50), Some(99162322 % 50));
        assert_eq!(coordinator_partition("polygenelubricants", 7), Some(0));
        // Negative hashes use their absolute value (many group ids hash below 0).
        let mut negatives = 0;
        for i in 0..1000 {
            let id = format!("consumer-group-{i}");
            let h = java_string_hash(&id);
            negatives += usize::from(h < 0);
            let expected = (i64::from(h).abs() % 13) as i32;
            assert_eq!(coordinator_partition(&id, 13), Some(expected), "{id}");
        }
        assert!(negatives > 0);
        assert_eq!(coordinator_partition("g", 0), None);
    }

    fn image_with_offsets(leaders: &[NodeId]) -> MetadataImage {
        let mut image = MetadataImage::default();
        for id in 1..=3 {
            image
                .apply(&MetadataCommand::RegisterBroker(BrokerRegistration {
                    node_id: id,
                    host: "127.0.0.1".into(),
                    port: 9420,
                    kafka: None,
                    inter_broker: "127.0.0.1:9430".into(),
                    rack: None,
                    incarnation: 0,
                }))
                .unwrap();
        }
        image
            .apply(&MetadataCommand::CreateTopic {
                name: crate::group::OFFSETS_TOPIC.into(),
                id: 1,
                internal: true,
                configs: BTreeMap::new(),
                assignments: leaders.iter().map(|l| vec![*l]).collect(),
            })
            .unwrap();
        image
    }

    #[test]
    fn the_coordinator_leads_the_hashed_partition() {
        let image = image_with_offsets(&[1, 2, 3]);
        // "hello" → 99162322 % 3 = 1 → partition 1, led by node 2.
        assert_eq!(coordinator(&image, "hello", 2), Coordinator::Here);
        assert_eq!(coordinator(&image, "hello", 1), Coordinator::There(2));
        let mut image = image;
        image
            .apply(&MetadataCommand::FenceBroker { node_id: 2 })
            .unwrap();
        assert_eq!(coordinator(&image, "hello", 1), Coordinator::Unavailable);
        assert_eq!(
            coordinator(&MetadataImage::default(), "hello", 1),
            Coordinator::Unavailable
        );
    }
}
