//! Fetch: read record batches from partitions, long-polling until `min_bytes` arrive.
//!
//! ```text
//! request:  max_wait_ms i32 | min_bytes i32 | max_bytes i32 | isolation_level i8
//!           | topics array<name string | partitions array<FetchPartition>>
//! response: throttle_time_ms i32 | error_code i16
//!           | topics array<name string | partitions array<FetchPartitionResponse>>
//! ```
//!
//! A partition's `records` are whole batches, byte for byte as stored. On the broker they
//! are [`FetchRecords`] chunks borrowed from memory-mapped segments and are written into
//! the outgoing frame without copying; on the client they decode as one slice of the frame.

use bytes::Bytes;

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::common::TopicPartitions;
use super::{ApiKey, Message};

/// `isolation_level`: read up to the high watermark.
pub const READ_UNCOMMITTED: i8 = 0;
/// `isolation_level`: read up to the last stable offset.
pub const READ_COMMITTED: i8 = 1;

/// Reads from partitions.
///
/// ```text
/// max_wait_ms i32 | min_bytes i32 | max_bytes i32 | isolation_level i8
/// | topics array<TopicPartitions<FetchPartition>>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// Longest the broker may park the request waiting for `min_bytes`.
    pub max_wait_ms: i32,
    /// Answer as soon as this many bytes are available.
    pub min_bytes: i32,
    /// Soft cap on the whole response (at least one batch is returned).
    pub max_bytes: i32,
    /// [`READ_UNCOMMITTED`] or [`READ_COMMITTED`].
    pub isolation_level: i8,
    /// Partitions to read.
    pub topics: Vec<TopicPartitions<FetchPartition>>,
}

/// Where to read one partition from.
///
/// ```text
/// partition i32 | fetch_offset i64 | partition_max_bytes i32
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPartition {
    /// The partition index.
    pub partition: i32,
    /// First offset wanted.
    pub fetch_offset: i64,
    /// Soft cap for this partition (at least one batch is returned).
    pub partition_max_bytes: i32,
}

/// Records per partition.
///
/// ```text
/// throttle_time_ms i32 | error_code i16 | topics array<TopicPartitions<FetchPartitionResponse>>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResponse {
    /// How long the client should wait before its next request (quotas); 0 = none.
    pub throttle_time_ms: i32,
    /// Request-level error.
    pub error_code: ErrorCode,
    /// Per topic and partition results.
    pub topics: Vec<TopicPartitions<FetchPartitionResponse>>,
}

/// One partition's records and offsets.
///
/// ```text
/// partition i32 | error_code i16 | high_watermark i64 | last_stable_offset i64
/// | log_start_offset i64 | records bytes (i32 total length, then the chunks)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPartitionResponse {
    /// The partition index.
    pub partition: i32,
    /// e.g. [`ErrorCode::OffsetOutOfRange`].
    pub error_code: ErrorCode,
    /// Offset after the last committed record.
    pub high_watermark: i64,
    /// Offset below which no transaction is open (equals the high watermark today).
    pub last_stable_offset: i64,
    /// The partition's first offset.
    pub log_start_offset: i64,
    /// Whole record batches.
    pub records: FetchRecords,
}

/// The bytes of one partition's fetched batches, as a list of chunks: on the broker,
/// slices of memory-mapped segments (encoded without copying); when decoded, at most one
/// slice of the response frame. Equality compares the concatenated bytes.
#[derive(Debug, Clone, Default)]
pub struct FetchRecords {
    chunks: Vec<Bytes>,
}

impl FetchRecords {
    /// No records.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records made of `chunks`, in order.
    pub fn from_chunks(chunks: Vec<Bytes>) -> Self {
        Self { chunks }
    }

    /// Appends a chunk (e.g. the next segment's slice).
    pub fn push(&mut self, chunk: Bytes) {
        self.chunks.push(chunk);
    }

    /// Total bytes across chunks.
    pub fn len(&self) -> usize {
        self.chunks.iter().map(Bytes::len).sum()
    }

    /// Whether there are no record bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The chunks, in order.
    pub fn chunks(&self) -> &[Bytes] {
        &self.chunks
    }

    /// The records as one `Bytes`: zero-copy with at most one chunk (always the case after
    /// decoding), a concatenating copy otherwise.
    pub fn into_bytes(self) -> Bytes {
        match <[Bytes; 1]>::try_from(self.chunks) {
            Ok([single]) => single,
            Err(chunks) => chunks.concat().into(),
        }
    }
}

impl From<Bytes> for FetchRecords {
    fn from(bytes: Bytes) -> Self {
        Self::from_chunks(vec![bytes])
    }
}

impl PartialEq for FetchRecords {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .chunks
                .iter()
                .flat_map(|c| c.iter())
                .eq(other.chunks.iter().flat_map(|c| c.iter()))
    }
}

impl Eq for FetchRecords {}

impl Wire for FetchPartition {
    const MIN_BYTES: usize = 4 + 8 + 4;

    fn encode(&self, _version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_i32(self.partition);
        out.put_i64(self.fetch_offset);
        out.put_i32(self.partition_max_bytes);
        Ok(())
    }

    fn decode(r: &mut Reader, _version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            partition: r.i32("partition")?,
            fetch_offset: r.i64("fetch_offset")?,
            partition_max_bytes: r.i32("partition_max_bytes")?,
        })
    }
}

impl Wire for FetchPartitionResponse {
    const MIN_BYTES: usize = 4 + 2 + 8 + 8 + 8 + 4;

    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_i32(self.partition);
        self.error_code.encode(version, out)?;
        out.put_i64(self.high_watermark);
        out.put_i64(self.last_stable_offset);
        out.put_i64(self.log_start_offset);
        out.put_chunks("records", self.records.chunks())
    }

    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        let partition = r.i32("partition")?;
        let error_code = ErrorCode::decode(r, version)?;
        let high_watermark = r.i64("high_watermark")?;
        let last_stable_offset = r.i64("last_stable_offset")?;
        let log_start_offset = r.i64("log_start_offset")?;
        let bytes = r.bytes("records")?;
        let records = if bytes.is_empty() {
            FetchRecords::new()
        } else {
            FetchRecords::from(bytes)
        };
        Ok(Self {
            partition,
            error_code,
            high_watermark,
            last_stable_offset,
            log_start_offset,
            records,
        })
    }
}

impl Message for FetchRequest {
    const API_KEY: ApiKey = ApiKey::Fetch;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_i32(self.max_wait_ms);
        out.put_i32(self.min_bytes);
        out.put_i32(self.max_bytes);
        out.put_i8(self.isolation_level);
        out.put_array("topics", &self.topics, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            max_wait_ms: r.i32("max_wait_ms")?,
            min_bytes: r.i32("min_bytes")?,
            max_bytes: r.i32("max_bytes")?,
            isolation_level: r.i8("isolation_level")?,
            topics: r.array("topics", version)?,
        })
    }
}

impl Message for FetchResponse {
    const API_KEY: ApiKey = ApiKey::Fetch;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_i32(self.throttle_time_ms);
        self.error_code.encode(version, out)?;
        out.put_array("topics", &self.topics, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            throttle_time_ms: r.i32("throttle_time_ms")?,
            error_code: ErrorCode::decode(r, version)?,
            topics: r.array("topics", version)?,
        })
    }
}

#[cfg(test)]
#[path = "fetch_tests.rs"]
mod tests;
