//! InitProducerId: obtain a producer id and epoch for the idempotent producer.
//!
//! ```text
//! request:  transactional_id string (nullable) | transaction_timeout_ms i32
//!           | producer_id i64 | producer_epoch i16
//! response: error_code i16 | producer_id i64 | producer_epoch i16
//! ```

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::{ApiKey, Message};

/// Asks for a producer id (a new one, or a bumped epoch for an existing one).
///
/// ```text
/// transactional_id string (nullable) | transaction_timeout_ms i32 | producer_id i64
/// | producer_epoch i16
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitProducerIdRequest {
    /// Transactional id, reserved for transactions; `None` for idempotence only.
    pub transactional_id: Option<String>,
    /// Transaction timeout, reserved for transactions.
    pub transaction_timeout_ms: i32,
    /// The current producer id to bump, or -1 for a new one.
    pub producer_id: i64,
    /// The current epoch, or -1 for a new producer id.
    pub producer_epoch: i16,
}

/// The producer id and epoch to stamp on batches.
///
/// ```text
/// error_code i16 | producer_id i64 | producer_epoch i16
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitProducerIdResponse {
    /// [`ErrorCode::None`] on success.
    pub error_code: ErrorCode,
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
}

impl Message for InitProducerIdRequest {
    const API_KEY: ApiKey = ApiKey::InitProducerId;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, _version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_nullable_string("transactional_id", self.transactional_id.as_deref())?;
        out.put_i32(self.transaction_timeout_ms);
        out.put_i64(self.producer_id);
        out.put_i16(self.producer_epoch);
        Ok(())
    }

    fn decode_body(r: &mut Reader, _version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            transactional_id: r.nullable_string("transactional_id")?,
            transaction_timeout_ms: r.i32("transaction_timeout_ms")?,
            producer_id: r.i64("producer_id")?,
            producer_epoch: r.i16("producer_epoch")?,
        })
    }
}

impl Message for InitProducerIdResponse {
    const API_KEY: ApiKey = ApiKey::InitProducerId;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        self.error_code.encode(version, out)?;
        out.put_i64(self.producer_id);
        out.put_i16(self.producer_epoch);
        Ok(())
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            error_code: ErrorCode::decode(r, version)?,
            producer_id: r.i64("producer_id")?,
            producer_epoch: r.i16("producer_epoch")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::testing::{request_round_trip, response_round_trip};

    #[test]
    fn round_trips() {
        request_round_trip(InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: 60_000,
            producer_id: -1,
            producer_epoch: -1,
        });
        response_round_trip(InitProducerIdResponse {
            error_code: ErrorCode::None,
            producer_id: 4000,
            producer_epoch: 0,
        });
    }
}
