//! The topics a group coordinator sees in a cluster: partition counts from the metadata
//! image (a group may consume topics whose partitions all live on other brokers), offset
//! ranges from the local logs where this broker has a copy worth reading: a partition it
//! leads, or a replicated partition it is a replica of (a replica's segments hold
//! committed records only, at most a moment behind the leader's). Lag and offset resets
//! of other partitions are unknown here, answered as such.

use std::sync::Arc;

use super::image::MetadataImage;
use super::NodeId;
use crate::group::{TopicPartition, TopicView};
use crate::storage::StorageError;
use crate::topics::TopicRegistry;

/// Partition counts from the image (when clustered), offsets from the local registry.
#[derive(Debug)]
pub struct GroupTopics<'a> {
    image: Option<Arc<MetadataImage>>,
    node_id: Option<NodeId>,
    local: &'a TopicRegistry,
}

impl<'a> GroupTopics<'a> {
    /// The view over `image` as broker `node_id` sees it (`None`: a single broker, the
    /// local registry alone).
    pub fn new(
        image: Option<Arc<MetadataImage>>,
        node_id: Option<NodeId>,
        local: &'a TopicRegistry,
    ) -> Self {
        GroupTopics {
            image,
            node_id,
            local,
        }
    }
}

impl TopicView for GroupTopics<'_> {
    fn partition_count(&self, topic: &str) -> Option<u32> {
        match &self.image {
            Some(image) => image
                .topics
                .get(topic)
                .map(|t| u32::try_from(t.partitions.len()).unwrap_or(u32::MAX)),
            None => self.local.partition_count(topic),
        }
    }

    fn offset_range(&self, tp: &TopicPartition) -> Option<(i64, i64)> {
        if self.led_elsewhere(tp) {
            return None;
        }
        self.local.offset_range(tp)
    }

    fn led_elsewhere(&self, tp: &TopicPartition) -> bool {
        let (Some(image), Some(node_id)) = (&self.image, self.node_id) else {
            return false;
        };
        match image.partition(&tp.topic, tp.partition) {
            Some(p) if p.is_replicated() => !p.replicas.contains(&node_id),
            Some(p) => p.leader != Some(node_id),
            None => true,
        }
    }

    fn offset_for_timestamp(
        &self,
        tp: &TopicPartition,
        timestamp_ms: i64,
    ) -> Result<Option<i64>, StorageError> {
        if self.led_elsewhere(tp) {
            return Ok(None);
        }
        self.local.offset_for_timestamp(tp, timestamp_ms)
    }
}
