//! DescribeCluster (Kafka's key 60, Rill's own layout): the brokers of the cluster as
//! the answering broker's metadata cache knows them, what `rill cluster status` shows.
//!
//! ```text
//! request:  (empty)
//! response: error_code i16 | cluster_id string | controller_id i32 | node_id i32
//!           | metadata_applied i64 | metadata_stale bool | brokers array<ClusterBroker>
//! ClusterBroker: node_id i32 | host string | port i32 | rack nullable string
//!           | alive bool | voter bool | inter_broker string
//! ```
//!
//! A single (non-clustered) broker answers with itself alone, `controller_id` its own
//! id and `metadata_applied` -1.

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::{ApiKey, Message};

/// Asks for the cluster's brokers. Layout: empty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DescribeClusterRequest;

/// The cluster as the answering broker knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeClusterResponse {
    /// Request-level error.
    pub error_code: ErrorCode,
    /// The cluster's id (stable for the cluster's life).
    pub cluster_id: String,
    /// Node id of the active controller (the metadata quorum's leader), -1 if none now.
    pub controller_id: i32,
    /// Node id of the broker that answered.
    pub node_id: i32,
    /// Index of the last metadata record the answering broker applied (-1 on a single
    /// broker).
    pub metadata_applied: i64,
    /// The answering broker has lost touch with the controller, so its view may be old.
    pub metadata_stale: bool,
    /// Every registered broker, by node id.
    pub brokers: Vec<ClusterBroker>,
}

/// One broker of [`DescribeClusterResponse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterBroker {
    /// The broker's node id.
    pub node_id: i32,
    /// Host clients connect to.
    pub host: String,
    /// Port clients connect to.
    pub port: i32,
    /// Rack (zone) label, if any.
    pub rack: Option<String>,
    /// Heartbeating within its session timeout (not fenced).
    pub alive: bool,
    /// A voting member of the metadata quorum.
    pub voter: bool,
    /// The broker's inter-broker (cluster) address, `host:port`.
    pub inter_broker: String,
}

super::empty_request!(DescribeClusterRequest, DescribeCluster);

impl Wire for ClusterBroker {
    const MIN_BYTES: usize = 4 + 2 + 4 + 2 + 1 + 1 + 2;

    fn encode(&self, _version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_i32(self.node_id);
        out.put_string("host", &self.host)?;
        out.put_i32(self.port);
        out.put_nullable_string("rack", self.rack.as_deref())?;
        out.put_bool(self.alive);
        out.put_bool(self.voter);
        out.put_string("inter_broker", &self.inter_broker)
    }

    fn decode(r: &mut Reader, _version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            node_id: r.i32("node_id")?,
            host: r.string("host")?,
            port: r.i32("port")?,
            rack: r.nullable_string("rack")?,
            alive: r.bool("alive")?,
            voter: r.bool("voter")?,
            inter_broker: r.string("inter_broker")?,
        })
    }
}

impl Message for DescribeClusterResponse {
    const API_KEY: ApiKey = ApiKey::DescribeCluster;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        self.error_code.encode(version, out)?;
        out.put_string("cluster_id", &self.cluster_id)?;
        out.put_i32(self.controller_id);
        out.put_i32(self.node_id);
        out.put_i64(self.metadata_applied);
        out.put_bool(self.metadata_stale);
        out.put_array("brokers", &self.brokers, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            error_code: ErrorCode::decode(r, version)?,
            cluster_id: r.string("cluster_id")?,
            controller_id: r.i32("controller_id")?,
            node_id: r.i32("node_id")?,
            metadata_applied: r.i64("metadata_applied")?,
            metadata_stale: r.bool("metadata_stale")?,
            brokers: r.array("brokers", version)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::testing::{request_round_trip, response_round_trip};

    #[test]
    fn round_trips() {
        request_round_trip(DescribeClusterRequest);
        response_round_trip(DescribeClusterResponse {
            error_code: ErrorCode::None,
            cluster_id: "6f1c".into(),
            controller_id: 2,
            node_id: 1,
            metadata_applied: 42,
            metadata_stale: false,
            brokers: vec![ClusterBroker {
                node_id: 2,
                host: "10.0.0.2".into(),
                port: 9420,
                rack: Some("a".into()),
                alive: true,
                voter: true,
                inter_broker: "10.0.0.2:9431".into(),
            }],
        });
    }
}
