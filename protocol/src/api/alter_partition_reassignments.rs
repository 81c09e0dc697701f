//! AlterPartitionReassignments (Kafka's key 45, Rill's own layout): move partitions'
//! replicas to other brokers (`rill topic reassign`, `rill cluster rebalance`,
//! `rill cluster drain`). The controller records the target; each partition's Raft
//! group adds the new replicas as learners, lets them catch up, switches its voters and
//! drops the old replicas. `replicas` null cancels a reassignment still under way.
//!
//! ```text
//! request:  timeout_ms i32 | topics array<ReassignableTopic>
//! ReassignableTopic: name string | partitions array<ReassignablePartition>
//! ReassignablePartition: partition i32 | replicas nullable array<i32>
//! response: error_code i16 | error_message nullable string
//!           | topics array<ReassignmentTopicResult>
//! ReassignmentTopicResult: name string | partitions array<ReassignmentResult>
//! ReassignmentResult: partition i32 | error_code i16 | error_message nullable string
//! ```

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::{ApiKey, Message};

/// Moves partitions' replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterPartitionReassignmentsRequest {
    /// How long the broker may take to record the targets.
    pub timeout_ms: i32,
    /// The partitions to move, by topic.
    pub topics: Vec<ReassignableTopic>,
}

/// One topic's partitions to move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReassignableTopic {
    /// Topic name.
    pub name: String,
    /// Its partitions.
    pub partitions: Vec<ReassignablePartition>,
}

/// One partition's new replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReassignablePartition {
    /// Partition index.
    pub partition: i32,
    /// The brokers that should hold it, preferred leader first; `None` cancels a
    /// reassignment under way.
    pub replicas: Option<Vec<i32>>,
}

/// What the controller did with each partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterPartitionReassignmentsResponse {
    /// Request-level error (NOT_CONTROLLER, ...).
    pub error_code: ErrorCode,
    /// Detail for the operator.
    pub error_message: Option<String>,
    /// Per topic and partition.
    pub topics: Vec<ReassignmentTopicResult>,
}

/// One topic's results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReassignmentTopicResult {
    /// Topic name.
    pub name: String,
    /// Per partition.
    pub partitions: Vec<ReassignmentResult>,
}

/// One partition's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReassignmentResult {
    /// Partition index.
    pub partition: i32,
    /// [`ErrorCode::None`] when the target was recorded.
    pub error_code: ErrorCode,
    /// Why not, for the operator.
    pub error_message: Option<String>,
}

impl Wire for ReassignablePartition {
    const MIN_BYTES: usize = 4 + 4;

    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_i32(self.partition);
        out.put_nullable_array("replicas", self.replicas.as_deref(), version)
    }

    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            partition: r.i32("partition")?,
            replicas: r.nullable_array("replicas", version)?,
        })
    }
}

impl Wire for ReassignableTopic {
    const MIN_BYTES: usize = 2 + 4;

    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_string("name", &self.name)?;
        out.put_array("partitions", &self.partitions, version)
    }

    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            name: r.string("name")?,
            partitions: r.array("partitions", version)?,
        })
    }
}

impl Wire for ReassignmentResult {
    const MIN_BYTES: usize = 4 + 2 + 2;

    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_i32(self.partition);
        self.error_code.encode(version, out)?;
        out.put_nullable_string("error_message", self.error_message.as_deref())
    }

    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            partition: r.i32("partition")?,
            error_code: ErrorCode::decode(r, version)?,
            error_message: r.nullable_string("error_message")?,
        })
    }
}

impl Wire for ReassignmentTopicResult {
    const MIN_BYTES: usize = 2 + 4;

    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_string("name", &self.name)?;
        out.put_array("partitions", &self.partitions, version)
    }

    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            name: r.string("name")?,
            partitions: r.array("partitions", version)?,
        })
    }
}

impl Message for AlterPartitionReassignmentsRequest {
    const API_KEY: ApiKey = ApiKey::AlterPartitionReassignments;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_i32(self.timeout_ms);
        out.put_array("topics", &self.topics, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            timeout_ms: r.i32("timeout_ms")?,
            topics: r.array("topics", version)?,
        })
    }
}

impl Message for AlterPartitionReassignmentsResponse {
    const API_KEY: ApiKey = ApiKey::AlterPartitionReassignments;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        self.error_code.encode(version, out)?;
        out.put_nullable_string("error_message", self.error_message.as_deref())?;
        out.put_array("topics", &self.topics, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            error_code: ErrorCode::decode(r, version)?,
            error_message: r.nullable_string("error_message")?,
            topics: r.array("topics", version)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::testing::{request_round_trip, response_round_trip};

    #[test]
    fn round_trips() {
        request_round_trip(AlterPartitionReassignmentsRequest {
            timeout_ms: 30_000,
            topics: vec![ReassignableTopic {
                name: "orders".into(),
                partitions: vec![
                    ReassignablePartition {
                        partition: 0,
                        replicas: Some(vec![1, 2, 4]),
                    },
                    ReassignablePartition {
                        partition: 3,
                        replicas: None,
                    },
                ],
            }],
        });
        response_round_trip(AlterPartitionReassignmentsResponse {
            error_code: ErrorCode::None,
            error_message: None,
            topics: vec![ReassignmentTopicResult {
                name: "orders".into(),
                partitions: vec![ReassignmentResult {
                    partition: 0,
                    error_code: ErrorCode::InvalidReplicaAssignment,
                    error_message: Some("broker 9 is not registered".into()),
                }],
            }],
        });
    }
}
