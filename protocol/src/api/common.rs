//! Shapes shared by several APIs: per-topic lists of partition entries, config entries,
//! and per-topic results.

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

/// A topic and a list of per-partition entries `P` (the Kafka "topics: [{name,
/// partitions: [...]}]" shape).
///
/// ```text
/// name string | partitions array<P>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPartitions<P> {
    /// The topic.
    pub name: String,
    /// The entries, one per partition.
    pub partitions: Vec<P>,
}

/// Partitions of one topic assigned to (or owned by) a group member.
pub type TopicAssignment = TopicPartitions<i32>;

impl<P: Wire> Wire for TopicPartitions<P> {
    const MIN_BYTES: usize = 2 + 4;

    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_string("topic name", &self.name)?;
        out.put_array("partitions", &self.partitions, version)
    }

    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            name: r.string("topic name")?,
            partitions: r.array("partitions", version)?,
        })
    }
}

/// One topic configuration setting.
///
/// ```text
/// key string | value string (nullable)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// The setting's name, e.g. `retention_ms`.
    pub key: String,
    /// Its value; `None` in an alter request resets it to the broker default.
    pub value: Option<String>,
}

impl ConfigEntry {
    /// A setting with a value.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: Some(value.into()),
        }
    }
}

impl Wire for ConfigEntry {
    const MIN_BYTES: usize = 2 + 2;

    fn encode(&self, _version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_string("config key", &self.key)?;
        out.put_nullable_string("config value", self.value.as_deref())
    }

    fn decode(r: &mut Reader, _version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            key: r.string("config key")?,
            value: r.nullable_string("config value")?,
        })
    }
}

/// The outcome of a topic-level admin operation (create, delete).
///
/// ```text
/// name string | error_code i16 | error_message string (nullable)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicResult {
    /// The topic.
    pub name: String,
    /// [`ErrorCode::None`] on success.
    pub error_code: ErrorCode,
    /// Detail for the operator, if any.
    pub error_message: Option<String>,
}

impl Wire for TopicResult {
    const MIN_BYTES: usize = 2 + 2 + 2;

    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_string("topic name", &self.name)?;
        self.error_code.encode(version, out)?;
        out.put_nullable_string("error_message", self.error_message.as_deref())
    }

    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            name: r.string("topic name")?,
            error_code: ErrorCode::decode(r, version)?,
            error_message: r.nullable_string("error_message")?,
        })
    }
}

/// A partition-level outcome with no other data (e.g. an offset commit).
///
/// ```text
/// partition i32 | error_code i16
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionResult {
    /// The partition index.
    pub partition: i32,
    /// [`ErrorCode::None`] on success.
    pub error_code: ErrorCode,
}

impl Wire for PartitionResult {
    const MIN_BYTES: usize = 4 + 2;

    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_i32(self.partition);
        self.error_code.encode(version, out)
    }

    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            partition: r.i32("partition")?,
            error_code: ErrorCode::decode(r, version)?,
        })
    }
}
