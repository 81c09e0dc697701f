//! BrokerStatus (Rill's own): what `rill status` shows about a broker.
//!
//! ```text
//! request:  (empty)
//! response: error_code i16 | node_id i32 | version string | uptime_ms i64
//!           | topics i32 | partitions i32 | connections_open i32 | data_dir string
//! ```

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::{ApiKey, Message};

/// Asks for the broker's status. Layout: empty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BrokerStatusRequest;

/// The broker's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerStatusResponse {
    /// Request-level error.
    pub error_code: ErrorCode,
    /// The broker's id.
    pub node_id: i32,
    /// The broker's version (`CARGO_PKG_VERSION` of `rilld`).
    pub version: String,
    /// Time since the broker started, in ms.
    pub uptime_ms: i64,
    /// Topics hosted (internal ones included).
    pub topics: i32,
    /// Partitions hosted.
    pub partitions: i32,
    /// Client connections open now.
    pub connections_open: i32,
    /// The broker's data directory.
    pub data_dir: String,
}

super::empty_request!(BrokerStatusRequest, BrokerStatus);

impl Message for BrokerStatusResponse {
    const API_KEY: ApiKey = ApiKey::BrokerStatus;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        self.error_code.encode(version, out)?;
        out.put_i32(self.node_id);
        out.put_string("version", &self.version)?;
        out.put_i64(self.uptime_ms);
        out.put_i32(self.topics);
        out.put_i32(self.partitions);
        out.put_i32(self.connections_open);
        out.put_string("data_dir", &self.data_dir)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            error_code: ErrorCode::decode(r, version)?,
            node_id: r.i32("node_id")?,
            version: r.string("version")?,
            uptime_ms: r.i64("uptime_ms")?,
            topics: r.i32("topics")?,
            partitions: r.i32("partitions")?,
            connections_open: r.i32("connections_open")?,
            data_dir: r.string("data_dir")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::testing::{request_round_trip, response_round_trip};

    #[test]
    fn round_trips() {
        request_round_trip(BrokerStatusRequest);
        response_round_trip(BrokerStatusResponse {
            error_code: ErrorCode::None,
            node_id: 0,
            version: "0.1.0".into(),
            uptime_ms: 12_345,
            topics: 3,
            partitions: 9,
            connections_open: 2,
            data_dir: "./rill-data".into(),
        });
    }
}
