//! Metadata: brokers, topics and partitions, with each partition's leader and offsets.
//!
//! ```text
//! request:  topics array<string> (nullable: null = all topics) | allow_auto_topic_creation bool
//! response: brokers array<BrokerInfo> | controller_id i32 | topics array<TopicMetadata>
//! ```

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::{ApiKey, Message};

/// Asks for cluster and topic metadata.
///
/// ```text
/// topics array<string> (nullable) | allow_auto_topic_creation bool
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataRequest {
    /// Topics to describe; `None` means every topic.
    pub topics: Option<Vec<String>>,
    /// Create listed topics that do not exist (if the broker allows it).
    pub allow_auto_topic_creation: bool,
}

/// Cluster and topic metadata.
///
/// ```text
/// brokers array<BrokerInfo> | controller_id i32 | topics array<TopicMetadata>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataResponse {
    /// Every live broker.
    pub brokers: Vec<BrokerInfo>,
    /// The node id of the controller.
    pub controller_id: i32,
    /// One entry per requested (or existing) topic.
    pub topics: Vec<TopicMetadata>,
}

/// Where a broker listens.
///
/// ```text
/// node_id i32 | host string | port i32 | rack nullable string (v1+)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// The broker's node id.
    pub node_id: i32,
    /// Host name or address clients connect to.
    pub host: String,
    /// TCP port.
    pub port: i32,
    /// The broker's rack (zone) label, if it has one (v1+).
    pub rack: Option<String>,
}

/// One topic's metadata.
///
/// ```text
/// error_code i16 | name string | is_internal bool | partitions array<PartitionMetadata>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    /// e.g. [`ErrorCode::UnknownTopicOrPartition`].
    pub error_code: ErrorCode,
    /// The topic.
    pub name: String,
    /// Whether the topic is Rill's own (e.g. `__consumer_offsets`).
    pub is_internal: bool,
    /// One entry per partition.
    pub partitions: Vec<PartitionMetadata>,
}

/// One partition's metadata.
///
/// ```text
/// error_code i16 | partition i32 | leader i32 | high_watermark i64 | log_start_offset i64
/// | leader_epoch i32 (v1+) | replicas array<i32> (v1+) | isr array<i32> (v1+)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    /// Partition-level error.
    pub error_code: ErrorCode,
    /// The partition index.
    pub partition: i32,
    /// Node id of the leader (-1 if none).
    pub leader: i32,
    /// Offset after the last committed record.
    pub high_watermark: i64,
    /// First offset still in the log.
    pub log_start_offset: i64,
    /// The leader's epoch: grows by one at every leader change (v1+; 0 on a single
    /// broker).
    pub leader_epoch: i32,
    /// Node ids holding a copy, the preferred leader first (v1+).
    pub replicas: Vec<i32>,
    /// Replicas in sync with the leader (v1+).
    pub isr: Vec<i32>,
}

impl Wire for BrokerInfo {
    const MIN_BYTES: usize = 4 + 2 + 4;

    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_i32(self.node_id);
        out.put_string("host", &self.host)?;
        out.put_i32(self.port);
        if version >= 1 {
            out.put_nullable_string("rack", self.rack.as_deref())?;
        }
        Ok(())
    }

    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            node_id: r.i32("node_id")?,
            host: r.string("host")?,
            port: r.i32("port")?,
            rack: if version >= 1 {
                r.nullable_string("rack")?
            } else {
                None
            },
        })
    }
}

impl Wire for TopicMetadata {
    const MIN_BYTES: usize = 2 + 2 + 1 + 4;

    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        self.error_code.encode(version, out)?;
        out.put_string("topic name", &self.name)?;
        out.put_bool(self.is_internal);
        out.put_array("partitions", &self.partitions, version)
    }

    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            error_code: ErrorCode::decode(r, version)?,
            name: r.string("topic name")?,
            is_internal: r.bool("is_internal")?,
            partitions: r.array("partitions", version)?,
        })
    }
}

impl Wire for PartitionMetadata {
    const MIN_BYTES: usize = 2 + 4 + 4 + 8 + 8;

    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        self.error_code.encode(version, out)?;
        out.put_i32(self.partition);
        out.put_i32(self.leader);
        out.put_i64(self.high_watermark);
        out.put_i64(self.log_start_offset);
        if version >= 1 {
            out.put_i32(self.leader_epoch);
            out.put_array("replicas", &self.replicas, version)?;
            out.put_array("isr", &self.isr, version)?;
        }
        Ok(())
    }

    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            error_code: ErrorCode::decode(r, version)?,
            partition: r.i32("partition")?,
            leader: r.i32("leader")?,
            high_watermark: r.i64("high_watermark")?,
            log_start_offset: r.i64("log_start_offset")?,
            leader_epoch: if version >= 1 {
                r.i32("leader_epoch")?
            } else {
                0
            },
            replicas: if version >= 1 {
                r.array("replicas", version)?
            } else {
                Vec::new()
            },
            isr: if version >= 1 {
                r.array("isr", version)?
            } else {
                Vec::new()
            },
        })
    }
}

impl Message for MetadataRequest {
    const API_KEY: ApiKey = ApiKey::Metadata;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 1;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_nullable_array("topics", self.topics.as_deref(), version)?;
        out.put_bool(self.allow_auto_topic_creation);
        Ok(())
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            topics: r.nullable_array("topics", version)?,
            allow_auto_topic_creation: r.bool("allow_auto_topic_creation")?,
        })
    }
}

impl Message for MetadataResponse {
    const API_KEY: ApiKey = ApiKey::Metadata;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 1;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_array("brokers", &self.brokers, version)?;
        out.put_i32(self.controller_id);
        out.put_array("topics", &self.topics, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            brokers: r.array("brokers", version)?,
            controller_id: r.i32("controller_id")?,
            topics: r.array("topics", version)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::testing::{request_round_trip, response_round_trip, response_round_trip_at};
    use crate::api::Response;

    #[test]
    fn round_trips() {
        request_round_trip(MetadataRequest {
            topics: None,
            allow_auto_topic_creation: true,
        });
        request_round_trip(MetadataRequest {
            topics: Some(vec!["orders".into(), "payments".into()]),
            allow_auto_topic_creation: false,
        });
        response_round_trip(MetadataResponse {
            brokers: vec![BrokerInfo {
                node_id: 1,
                host: "127.0.0.1".into(),
                port: 9092,
                rack: Some("eu-west-1a".into()),
            }],
            controller_id: 1,
            topics: vec![TopicMetadata {
                error_code: ErrorCode::None,
                name: "orders".into(),
                is_internal: false,
                partitions: vec![PartitionMetadata {
                    error_code: ErrorCode::None,
                    partition: 0,
                    leader: 1,
                    high_watermark: 42,
                    log_start_offset: 7,
                    leader_epoch: 3,
                    replicas: vec![1, 2, 3],
                    isr: vec![1, 3],
                }],
            }],
        });
    }

    /// A version-0 client (before clusters) gets the fields it knows, and the new ones
    /// decode as a single broker's values.
    #[test]
    fn version_0_leaves_out_rack_epoch_replicas_and_isr() {
        let v0 = MetadataResponse {
            brokers: vec![BrokerInfo {
                node_id: 1,
                host: "h".into(),
                port: 1,
                rack: None,
            }],
            controller_id: 1,
            topics: vec![TopicMetadata {
                error_code: ErrorCode::None,
                name: "t".into(),
                is_internal: false,
                partitions: vec![PartitionMetadata {
                    error_code: ErrorCode::None,
                    partition: 0,
                    leader: 1,
                    high_watermark: 1,
                    log_start_offset: 0,
                    leader_epoch: 0,
                    replicas: Vec::new(),
                    isr: Vec::new(),
                }],
            }],
        };
        response_round_trip_at(&Response::Metadata(v0.clone()), 0);
        let mut out = FrameBuf::new();
        v0.encode_body(0, &mut out).unwrap();
        let mut with_v1 = FrameBuf::new();
        v0.encode_body(1, &mut with_v1).unwrap();
        assert!(out.len() < with_v1.len());
    }
}
