//! [`BatchBuilder`]: encodes records into one complete RecordBatch v2.
//!
//! Records are encoded straight into a single buffer that starts with room for the
//! header; `build` fills the header in (and, for a compressed batch, compresses the
//! records section into a second buffer). Nothing is allocated per record. The batch is
//! built with `base_offset` 0 and `partition_leader_epoch` 0: the broker stamps both on
//! append, outside the CRC's coverage.

use bytes::Bytes;

use super::compression::Compression;
use super::header::{
    compute_crc, BatchHeader, ATTR_TRANSACTIONAL, BATCH_HEADER_BYTES, BATCH_LOG_OVERHEAD_BYTES,
    MAGIC_V2,
};
use super::record::{body_len, encode, RecordInput, RecordSource};
use super::BatchError;
use crate::varint::varint_len;

/// Largest `batch_length` the format can carry.
const BATCH_LENGTH_MAX: usize = i32::MAX as usize;

/// Builds one record batch; see the module doc.
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    /// Header placeholder, then the uncompressed records.
    buf: Vec<u8>,
    compression: Compression,
    record_count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
}

impl Default for BatchBuilder {
    fn default() -> Self {
        BatchBuilder::new(Compression::None)
    }
}

impl BatchBuilder {
    /// An empty builder for a batch compressed with `compression`, no producer id.
    pub fn new(compression: Compression) -> BatchBuilder {
        BatchBuilder::with_capacity(compression, 0)
    }

    /// Like [`BatchBuilder::new`], reserving room for `records_bytes` of encoded records
    /// (a producer passes its `batch_bytes`).
    pub fn with_capacity(compression: Compression, records_bytes: usize) -> BatchBuilder {
        let buf = Vec::with_capacity(BATCH_HEADER_BYTES.saturating_add(records_bytes));
        BatchBuilder::with_buffer(compression, buf)
    }

    /// Like [`BatchBuilder::new`], encoding into `buffer`'s allocation (its contents are
    /// discarded): a producer reuses the buffer of a batch that completed instead of
    /// touching fresh memory for every batch.
    pub fn with_buffer(compression: Compression, mut buffer: Vec<u8>) -> BatchBuilder {
        buffer.clear();
        buffer.resize(BATCH_HEADER_BYTES, 0);
        let buf = buffer;
        BatchBuilder {
            buf,
            compression,
            record_count: 0,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
        }
    }

    /// Sets the idempotent producer state (all -1 by default).
    pub fn with_producer(
        mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) -> BatchBuilder {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// Marks the batch as part of a transaction (attribute bit 4).
    pub fn with_transactional(mut self, transactional: bool) -> BatchBuilder {
        self.transactional = transactional;
        self
    }

    /// The codec the batch will be compressed with.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Records appended so far.
    pub fn record_count(&self) -> usize {
        self.record_count as usize
    }

    /// True before the first append.
    pub fn is_empty(&self) -> bool {
        self.record_count == 0
    }

    /// Size of the batch so far, uncompressed: exact for [`Compression::None`], an upper
    /// estimate otherwise. A producer cuts a batch when the next record would push this
    /// past `batch_bytes` (see [`BatchBuilder::encoded_record_bytes`]).
    pub fn estimated_size(&self) -> usize {
        self.buf.len()
    }

    /// Bytes `record` would add to the uncompressed batch if appended next.
    pub fn encoded_record_bytes(&self, record: &RecordInput) -> usize {
        let body = body_len(
            self.record_count,
            self.timestamp_delta(record.timestamp),
            record,
        );
        varint_len(i32::try_from(body).unwrap_or(i32::MAX)) + body
    }

    fn timestamp_delta(&self, timestamp: i64) -> i64 {
        if self.record_count == 0 {
            0
        } else {
            timestamp.wrapping_sub(self.base_timestamp)
        }
    }

    /// Encodes `record` at the end of the batch; returns its offset delta.
    pub fn append(&mut self, record: &RecordInput) -> Result<i32, BatchError> {
        self.append_from(record.timestamp, record)
    }

    /// Encodes `record`, created at `timestamp` (ms since the epoch), at the end of the
    /// batch straight from its fields (see [`RecordSource`]); returns its offset delta.
    pub fn append_from<R: RecordSource + ?Sized>(
        &mut self,
        timestamp: i64,
        record: &R,
    ) -> Result<i32, BatchError> {
        let offset_delta = self.record_count;
        if offset_delta == i32::MAX {
            return Err(BatchError::TooLargeToEncode {
                what: "record count",
                bytes: i32::MAX as usize + 1,
                max: i32::MAX as usize,
            });
        }
        let timestamp_delta = self.timestamp_delta(timestamp);
        let body = body_len(offset_delta, timestamp_delta, record);
        let body = i32::try_from(body).map_err(|_| BatchError::TooLargeToEncode {
            what: "record",
            bytes: body,
            max: i32::MAX as usize,
        })?;
        let batch_length =
            self.buf.len() - BATCH_LOG_OVERHEAD_BYTES + varint_len(body) + body as usize;
        if batch_length > BATCH_LENGTH_MAX {
            return Err(BatchError::TooLargeToEncode {
                what: "batch",
                bytes: batch_length,
                max: BATCH_LENGTH_MAX,
            });
        }
        encode(&mut self.buf, body, offset_delta, timestamp_delta, record);
        if offset_delta == 0 {
            self.base_timestamp = timestamp;
            self.max_timestamp = timestamp;
        }
        self.max_timestamp = self.max_timestamp.max(timestamp);
        self.record_count += 1;
        Ok(offset_delta)
    }

    /// Finishes the batch: compresses the records if asked, fills in the header and CRC.
    pub fn build(self) -> Result<Bytes, BatchError> {
        if self.record_count == 0 {
            return Err(BatchError::EmptyBatch);
        }
        let mut out = match self.compression {
            Compression::None => self.buf,
            codec => {
                let (header, records) = self.buf.split_at(BATCH_HEADER_BYTES);
                let mut out = Vec::with_capacity(BATCH_HEADER_BYTES + records.len() / 2);
                out.extend_from_slice(header);
                codec.compress(records, &mut out)?;
                out
            }
        };
        let batch_length = out.len() - BATCH_LOG_OVERHEAD_BYTES;
        let batch_length =
            i32::try_from(batch_length).map_err(|_| BatchError::TooLargeToEncode {
                what: "compressed batch",
                bytes: batch_length,
                max: BATCH_LENGTH_MAX,
            })?;
        let mut attributes = self.compression.id();
        if self.transactional {
            attributes |= ATTR_TRANSACTIONAL;
        }
        let mut header = BatchHeader {
            base_offset: 0,
            batch_length,
            partition_leader_epoch: 0,
            magic: MAGIC_V2,
            crc: 0,
            attributes,
            last_offset_delta: self.record_count - 1,
            base_timestamp: self.base_timestamp,
            max_timestamp: self.max_timestamp,
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            base_sequence: self.base_sequence,
            record_count: self.record_count,
        };
        let mut header_bytes = [0u8; BATCH_HEADER_BYTES];
        header.write(&mut header_bytes);
        out[..BATCH_HEADER_BYTES].copy_from_slice(&header_bytes);
        header.crc = compute_crc(&out);
        header.write(&mut header_bytes);
        out[..BATCH_HEADER_BYTES].copy_from_slice(&header_bytes);
        debug_assert_eq!(super::verify_crc(&out), Ok(()));
        Ok(Bytes::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::header::MAX_TIMESTAMP_POS;

    #[test]
    fn header_fields() {
        let mut builder = BatchBuilder::new(Compression::None).with_producer(7, 2, 40);
        assert!(builder.is_empty());
        for (i, ts) in [1_000i64, 900, 1_500].into_iter().enumerate() {
            let record = RecordInput::new(ts, "value");
            let expected = builder.estimated_size() + builder.encoded_record_bytes(&record);
            assert_eq!(builder.append(&record), Ok(i as i32));
            assert_eq!(builder.estimated_size(), expected);
        }
        let size = builder.estimated_size();
        let batch = builder.build().unwrap();
        assert_eq!(batch.len(), size);
        let header = BatchHeader::parse(&batch, usize::MAX).unwrap();
        assert_eq!(header.total_bytes(), batch.len());
        assert_eq!(header.record_count, 3);
        assert_eq!(header.last_offset_delta, 2);
        assert_eq!(
            (header.base_timestamp, header.max_timestamp),
            (1_000, 1_500)
        );
        assert_eq!(
            (
                header.producer_id,
                header.producer_epoch,
                header.base_sequence
            ),
            (7, 2, 40)
        );
        assert_eq!(
            (
                header.base_offset,
                header.partition_leader_epoch,
                header.attributes
            ),
            (0, 0, 0)
        );
        assert_eq!(crate::batch::verify_crc(&batch), Ok(()));
        assert_eq!(batch[MAX_TIMESTAMP_POS + 7], (1_500 % 256) as u8);
    }

    #[test]
    fn attributes_carry_codec_and_transactional_bit() {
        for codec in Compression::ALL {
            let mut builder = BatchBuilder::new(codec).with_transactional(true);
            builder
                .append(&RecordInput::new(1, vec![7u8; 4096]))
                .unwrap();
            let batch = builder.build().unwrap();
            let header = BatchHeader::parse(&batch, usize::MAX).unwrap();
            assert_eq!(header.compression_id(), codec.id());
            assert!(header.is_transactional());
            assert_eq!(crate::batch::verify_crc(&batch), Ok(()));
            if codec != Compression::None {
                assert!(
                    batch.len() < 1024,
                    "{codec} did not compress: {}",
                    batch.len()
                );
            }
        }
    }

    #[test]
    fn a_reused_buffer_starts_empty() {
        let mut first = BatchBuilder::new(Compression::None);
        first.append(&RecordInput::new(5, "old")).unwrap();
        let reused = Vec::from(first.build().unwrap());
        let mut builder = BatchBuilder::with_buffer(Compression::None, reused);
        builder.append(&RecordInput::new(7, "new")).unwrap();
        let mut fresh = BatchBuilder::new(Compression::None);
        fresh.append(&RecordInput::new(7, "new")).unwrap();
        assert_eq!(builder.build().unwrap(), fresh.build().unwrap());
    }

    #[test]
    fn empty_builder_is_an_error() {
        assert_eq!(BatchBuilder::default().build(), Err(BatchError::EmptyBatch));
    }
}
