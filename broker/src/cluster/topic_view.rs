//! The topics a group coordinator sees in a cluster: partition counts from the metadata
//! image (a group may consume topics whose partitions all live on other brokers), offset
//! ranges from the local logs where this broker has them (lag and offset resets of
//! partitions led elsewhere are unknown here, answered as such).

use std::sync::Arc;

use super::image::MetadataImage;
use crate::group::{TopicPartition, TopicView};
use crate::storage::StorageError;
use crate::topics::TopicRegistry;

/// Partition counts from the image (when clustered), offsets from the local registry.
#[derive(Debug)]
pub struct GroupTopics<'a> {
    image: Option<Arc<MetadataImage>>,
    local: &'a TopicRegistry,
}

impl<'a> GroupTopics<'a> {
    /// The view over `image` (`None`: a single broker, the local registry alone).
    pub fn new(image: Option<Arc<MetadataImage>>, local: &'a TopicRegistry) -> Self {
        GroupTopics { image, local }
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
        self.local.offset_range(tp)
    }

    fn offset_for_timestamp(
        &self,
        tp: &TopicPartition,
        timestamp_ms: i64,
    ) -> Result<Option<i64>, StorageError> {
        self.local.offset_for_timestamp(tp, timestamp_ms)
    }
}
