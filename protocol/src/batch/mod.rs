//! Kafka RecordBatch v2 record batches: one byte format on disk and on the wire.
//!
//! - [`header`]: the fixed 61-byte header, offset stamping, CRC helpers.
//! - [`record`]: one record's layout, its zero-copy view [`Record`] and builder input.
//! - [`compression`]: the codecs of the records section, with bounded decompression.
//! - [`builder`]: [`BatchBuilder`], records in, one complete batch out.
//! - [`parser`]: [`RecordBatch`] (two-phase parse, CRC), [`BatchIter`] over a fetch's
//!   bytes, [`validate_batches`] for produce.
//! - [`iter`]: [`RecordIter`], the checked walk over a batch's records.
//! - [`retain`]: rewriting a batch with only some of its records (log compaction).
//!
//! Invariant: a batch that passed [`header::BatchHeader::parse`] and [`verify_crc`] is
//! exactly `total_bytes()` long and its bytes are what the producer sent, apart from the
//! broker-stamped `base_offset` and `partition_leader_epoch`.

pub mod builder;
pub mod compression;
pub mod header;
pub mod iter;
pub mod parser;
pub mod record;
pub mod retain;

#[cfg(test)]
mod proptests;

pub use builder::BatchBuilder;
pub use compression::{Compression, UnknownCompressionName, MAX_DECOMPRESSED_BYTES_DEFAULT};
pub use header::{
    compute_crc, set_base_offset, set_log_append_time, set_partition_leader_epoch, verify_crc,
    BatchHeader, BATCH_HEADER_BYTES, BATCH_LENGTH_MIN, BATCH_LOG_OVERHEAD_BYTES, MAGIC_V2,
};
pub use iter::{RecordIter, RecordsSummary, NO_TIMESTAMP};
pub use parser::{
    check_batch, validate_batches, validate_batches_bounded, BatchIter, RecordBatch, ValidatedBatch,
};
pub use record::{Header, Record, RecordInput, RecordSource};
pub use retain::{empty_batch, retain_records, Retained};

use thiserror::Error;

use crate::varint::VarintError;

/// Largest batch accepted by default (the whole batch, header included).
pub const MAX_BATCH_BYTES_DEFAULT: usize = 16 * 1024 * 1024;

/// Why a record batch was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BatchError {
    /// Fewer bytes than the header or the batch's stated length.
    #[error("batch incomplete: need {need} bytes, have {have}")]
    Incomplete {
        /// Bytes the batch needs.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// The magic byte is not 2.
    #[error("unsupported record batch magic {magic} (only v2 is supported)")]
    BadMagic {
        /// The magic byte found.
        magic: i8,
    },
    /// `batch_length` is below the header size.
    #[error("invalid batch_length {batch_length}")]
    BadLength {
        /// The batch_length field.
        batch_length: i32,
        /// The configured maximum, for context.
        max_batch_bytes: usize,
    },
    /// The batch is larger than the configured maximum.
    #[error("batch of {batch_bytes} bytes exceeds the maximum of {max_batch_bytes}")]
    TooLarge {
        /// The batch's total size.
        batch_bytes: usize,
        /// The configured maximum.
        max_batch_bytes: usize,
    },
    /// The stored CRC does not match the bytes.
    #[error("batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// The CRC in the header.
        stored: u32,
        /// The CRC of the bytes.
        computed: u32,
    },
    /// `record_count` or `last_offset_delta` is negative or they disagree.
    #[error("invalid record count {record_count} (last_offset_delta {last_offset_delta})")]
    BadRecordCount {
        /// The record_count field.
        record_count: i32,
        /// The last_offset_delta field.
        last_offset_delta: i32,
    },
    /// A record inside the batch is malformed.
    #[error("record {index} malformed at byte {position}: {reason}")]
    BadRecord {
        /// Index of the record in the batch.
        index: usize,
        /// Byte position inside the batch.
        position: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// A varint inside a record could not be decoded.
    #[error("record {index}: bad varint at byte {position}: {source}")]
    Varint {
        /// Index of the record in the batch.
        index: usize,
        /// Byte position inside the batch.
        position: usize,
        /// The varint error.
        source: VarintError,
    },
    /// The compression codec id is not one Rill knows.
    #[error("unknown compression codec id {codec}")]
    UnknownCompression {
        /// The codec id from the attributes.
        codec: i16,
    },
    /// The records could not be compressed.
    #[error("{codec} compression failed: {reason}")]
    Compress {
        /// Codec name.
        codec: &'static str,
        /// The codec's error text.
        reason: String,
    },
    /// A record or the batch being built does not fit the format's i32 fields.
    #[error("cannot encode {what}: {bytes} exceeds the format's limit of {max}")]
    TooLargeToEncode {
        /// What overflowed (a record, the batch, the record count).
        what: &'static str,
        /// Its size or count.
        bytes: usize,
        /// The largest value the format allows.
        max: usize,
    },
    /// `build` was called on a builder with no records.
    #[error("a record batch needs at least one record")]
    EmptyBatch,
    /// A header field disagrees with the batch's records (a produced batch's header is
    /// the client's word; the broker checks it before assigning offsets).
    #[error("batch header says {field} = {in_header} but its records give {from_records}")]
    HeaderMismatch {
        /// The header field (`last_offset_delta`, `max_timestamp`).
        field: &'static str,
        /// The value in the header.
        in_header: i64,
        /// The value the records imply.
        from_records: i64,
    },
    /// The compressed records could not be decompressed.
    #[error("{codec} decompression failed: {reason}")]
    Decompress {
        /// Codec name.
        codec: &'static str,
        /// The codec's error text.
        reason: String,
    },
}
