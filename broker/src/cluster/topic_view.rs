//! The topics a group coordinator sees in a cluster: partition counts from the metadata
//! image (a group may consume topics whose partitions all live on other brokers), offset
//! ranges from the local logs where this broker has them (lag and offset resets of
//! partitions led elsewhere are unknown here, answered as such).

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
        match (&self.image, self.node_id) {
            (Some(image), Some(node_id)) => image.leader(&tp.topic, tp.partition) != Some(node_id),
            _ => false,
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
