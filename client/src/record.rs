//! The records users hand to the producer and receive from the consumer.
//!
//! Keys, values and header values are [`Bytes`]: producing never copies a payload
//! until it is encoded into a batch, and consumed records are slices of the fetched
//! batch (zero-copy for uncompressed batches).

use std::sync::Arc;

use bytes::Bytes;
use rill_protocol::batch::RecordSource;

/// A record to produce.
///
/// The topic is an `Arc<str>`: a loop producing to one topic clones one `Arc` per
/// record (`ProducerRecord::new(Arc::clone(&topic), value)`) instead of allocating a
/// name; `ProducerRecord::new("events", ...)` works too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecord {
    /// Topic to append to.
    pub topic: Arc<str>,
    /// Explicit partition; `None` lets the partitioner choose (key hash or sticky).
    pub partition: Option<i32>,
    /// Optional key: the partitioning key and, for compacted topics, the identity.
    pub key: Option<Bytes>,
    /// Optional value (`None` is a tombstone on compacted topics).
    pub value: Option<Bytes>,
    /// Application headers, in order; keys may repeat.
    pub headers: Vec<(String, Bytes)>,
    /// Create time in milliseconds since the epoch; `None` means "now" at send time.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A record for `topic` with a value and nothing else set.
    pub fn new(topic: impl Into<Arc<str>>, value: impl Into<Bytes>) -> Self {
        Self {
            topic: topic.into(),
            partition: None,
            key: None,
            value: Some(value.into()),
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// Sets the key (which also selects the partition by hash).
    pub fn with_key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets an explicit partition.
    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Appends a header.
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push((key.into(), value.into()));
        self
    }

    /// Sets the create timestamp (milliseconds since the epoch).
    pub fn with_timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp = Some(timestamp_ms);
        self
    }

    /// Bytes this record takes in a batch, an upper-bound estimate used for batch
    /// sizing and buffer-memory accounting (record framing is at most 21 bytes of
    /// varints plus up to 10 per header).
    pub fn estimated_size_bytes(&self) -> usize {
        const RECORD_OVERHEAD_BYTES: usize = 21;
        const HEADER_OVERHEAD_BYTES: usize = 10;
        let key = self.key.as_ref().map_or(0, Bytes::len);
        let value = self.value.as_ref().map_or(0, Bytes::len);
        let headers: usize = self
            .headers
            .iter()
            .map(|(k, v)| k.len() + v.len() + HEADER_OVERHEAD_BYTES)
            .sum();
        RECORD_OVERHEAD_BYTES + key + value + headers
    }
}

/// The batch encoder reads a record's fields in place: the payloads are copied once,
/// into the batch, with no intermediate record.
impl RecordSource for ProducerRecord {
    fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    fn value(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }

    fn header_count(&self) -> usize {
        self.headers.len()
    }

    fn headers(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
        self.headers
            .iter()
            .map(|(key, value)| (key.as_bytes(), Some(value.as_ref())))
    }
}

/// Where a produced record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// Topic the record was appended to (shared by the records of a batch).
    pub topic: Arc<str>,
    /// Partition the record was appended to.
    pub partition: i32,
    /// The record's offset (batch base offset + index), or `-1` with `acks=0`, where
    /// the broker sends no answer.
    pub offset: i64,
    /// The record's timestamp: its create time, or the broker's log-append time if the
    /// topic uses log-append time (as reported by the broker).
    pub timestamp: i64,
}

/// A record read by the consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// Topic the record was read from (shared by all the records of a fetch).
    pub topic: Arc<str>,
    /// Partition the record was read from.
    pub partition: i32,
    /// The record's offset in its partition.
    pub offset: i64,
    /// Create time (or log-append time), milliseconds since the epoch.
    pub timestamp: i64,
    /// The key, if any.
    pub key: Option<Bytes>,
    /// The value, if any.
    pub value: Option<Bytes>,
    /// Headers in order; a header value may be null.
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// A topic name and partition index: the one spelling of a partition across the API
/// (`assign`, `seek`, `position`, `commit_offsets`, rebalance listeners). The name is
/// shared (`Arc<str>`), so cloning one costs a reference count, not an allocation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: Arc<str>,
    /// Partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// A topic/partition pair.
    pub fn new(topic: impl Into<Arc<str>>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_and_size_estimate() {
        let r = ProducerRecord::new("t", "value")
            .with_key("k")
            .with_partition(2)
            .with_header("h", "v")
            .with_timestamp(5);
        assert_eq!(r.partition, Some(2));
        assert_eq!(r.timestamp, Some(5));
        assert_eq!(r.estimated_size_bytes(), 21 + 1 + 5 + (1 + 1 + 10));
        assert_eq!(TopicPartition::new("t", 3).to_string(), "t-3");
    }
}
