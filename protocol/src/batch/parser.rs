//! Validating parser: [`RecordBatch`], [`BatchIter`] and [`validate_batches`].
//!
//! Parsing is two-phase, like mini-redis: [`check_batch`] answers "is a whole batch here,
//! within bounds?" from the first bytes alone, telling [`BatchError::Incomplete`] (read
//! more) apart from an invalid length or magic; only then is the header decoded and the
//! CRC verified. Walking the records is a separate, explicit step
//! ([`RecordBatch::validate_records`], [`RecordBatch::records`]) so a broker can choose to
//! pay for it.

use bytes::Bytes;

use super::compression::{Compression, MAX_DECOMPRESSED_BYTES_DEFAULT};
use super::header::{
    be_i32, BatchHeader, BATCH_HEADER_BYTES, BATCH_LENGTH_MIN, BATCH_LENGTH_POS,
    BATCH_LOG_OVERHEAD_BYTES, MAGIC_POS, MAGIC_V2,
};
use super::iter::{RecordIter, RecordWalker, RecordsSummary};
use super::{verify_crc, BatchError};

/// Phase one: the size of the batch at the start of `buf`, once it is all present.
///
/// Rejects a bad `batch_length` or magic as soon as the bytes holding them arrived; a
/// prefix of a valid batch is `Incomplete`. Does not check the CRC.
pub fn check_batch(buf: &[u8], max_batch_bytes: usize) -> Result<usize, BatchError> {
    if buf.len() < BATCH_LOG_OVERHEAD_BYTES {
        return Err(BatchError::Incomplete {
            need: BATCH_HEADER_BYTES,
            have: buf.len(),
        });
    }
    let batch_length = be_i32(buf, BATCH_LENGTH_POS);
    if batch_length < BATCH_LENGTH_MIN {
        return Err(BatchError::BadLength {
            batch_length,
            max_batch_bytes,
        });
    }
    let total_bytes = BATCH_LOG_OVERHEAD_BYTES + batch_length as usize;
    if total_bytes > max_batch_bytes {
        return Err(BatchError::TooLarge {
            batch_bytes: total_bytes,
            max_batch_bytes,
        });
    }
    if let Some(&magic) = buf.get(MAGIC_POS) {
        if magic as i8 != MAGIC_V2 {
            return Err(BatchError::BadMagic { magic: magic as i8 });
        }
    }
    if buf.len() < total_bytes {
        return Err(BatchError::Incomplete {
            need: total_bytes,
            have: buf.len(),
        });
    }
    Ok(total_bytes)
}

/// A record batch whose length, magic, header fields and CRC were checked. Holds exactly
/// the batch's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    bytes: Bytes,
    header: BatchHeader,
    compression: Compression,
    max_decompressed_bytes: usize,
}

impl RecordBatch {
    /// Parses the batch at the start of `bytes`; returns it and the bytes it used. Errors
    /// with `Incomplete` when only a prefix of a batch is present.
    pub fn parse(bytes: Bytes, max_batch_bytes: usize) -> Result<(RecordBatch, usize), BatchError> {
        let total_bytes = check_batch(&bytes, max_batch_bytes)?;
        let header = BatchHeader::parse(&bytes, max_batch_bytes)?;
        debug_assert_eq!(header.total_bytes(), total_bytes);
        let bytes = bytes.slice(..total_bytes);
        verify_crc(&bytes)?;
        let compression = Compression::from_attributes(header.attributes)?;
        let batch = RecordBatch {
            bytes,
            header,
            compression,
            max_decompressed_bytes: MAX_DECOMPRESSED_BYTES_DEFAULT,
        };
        Ok((batch, total_bytes))
    }

    /// Sets the bound on a compressed batch's decompressed records (default
    /// [`MAX_DECOMPRESSED_BYTES_DEFAULT`]).
    pub fn with_max_decompressed_bytes(mut self, max_decompressed_bytes: usize) -> RecordBatch {
        self.max_decompressed_bytes = max_decompressed_bytes;
        self
    }

    /// The decoded header.
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The codec of the records section.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The whole batch, header included.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The whole batch, header included.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// Size of the batch in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always false: a batch holds at least its header. Here for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The records section and where its records start: the batch itself from byte 61,
    /// or the decompressed section from byte 0.
    pub(crate) fn records_data(&self) -> Result<(Bytes, usize), BatchError> {
        match self.compression {
            Compression::None => Ok((self.bytes.clone(), BATCH_HEADER_BYTES)),
            codec => {
                let compressed = self.bytes.get(BATCH_HEADER_BYTES..).unwrap_or(&[]);
                Ok((
                    codec.decompress(compressed, self.max_decompressed_bytes)?,
                    0,
                ))
            }
        }
    }

    /// Walks every record (after bounded decompression for a compressed batch), checks
    /// the layout and that the header tells the truth about the records (offset deltas,
    /// `last_offset_delta`, `max_timestamp`); see [`super::iter`]. Returns the number of
    /// records.
    pub fn validate_records(&self) -> Result<usize, BatchError> {
        Ok(self.summarize_records()?.record_count)
    }

    /// [`Self::validate_records`], returning what the walk learnt (count, timestamps).
    pub fn summarize_records(&self) -> Result<RecordsSummary, BatchError> {
        let (data, start) = self.records_data()?;
        RecordWalker::new(&self.header, start).run_checked(&self.header, &data)
    }

    /// Iterates the records. Keys and values are slices of the batch, or of one
    /// decompressed buffer for a compressed batch.
    pub fn records(&self) -> Result<RecordIter, BatchError> {
        let (data, start) = self.records_data()?;
        Ok(RecordIter::new(data, start, &self.header))
    }
}

/// Iterates the batches in a buffer of concatenated batches (a fetch response). Yields
/// parsed batches; stops with `None` at a partial trailing batch (fetches may cut the last
/// one) and after the first invalid batch, which it yields as an error.
#[derive(Debug, Clone)]
pub struct BatchIter {
    bytes: Bytes,
    pos: usize,
    max_batch_bytes: usize,
    failed: bool,
}

impl BatchIter {
    /// Iterates the batches in `bytes`, each at most `max_batch_bytes` long.
    pub fn new(bytes: Bytes, max_batch_bytes: usize) -> BatchIter {
        BatchIter {
            bytes,
            pos: 0,
            max_batch_bytes,
            failed: false,
        }
    }

    /// Bytes consumed by the batches yielded so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed: a partial trailing batch once iteration ended with `None`.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
}

impl Iterator for BatchIter {
    type Item = Result<RecordBatch, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos == self.bytes.len() {
            return None;
        }
        match RecordBatch::parse(self.bytes.slice(self.pos..), self.max_batch_bytes) {
            Ok((batch, used)) => {
                self.pos += used;
                Some(Ok(batch))
            }
            Err(BatchError::Incomplete { .. }) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

impl std::iter::FusedIterator for BatchIter {}

/// What [`validate_batches`] learnt about one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidatedBatch {
    /// Where the batch starts in the validated buffer.
    pub position: usize,
    /// The batch's header.
    pub header: BatchHeader,
    /// Record count and the range of record timestamps.
    pub records: RecordsSummary,
}

/// The broker's check on produce: every batch in `bytes` is whole, within
/// `max_batch_bytes`, CRC-valid and of a known codec, and its records are walked (a
/// compressed batch's after decompression bounded by [`MAX_DECOMPRESSED_BYTES_DEFAULT`],
/// as Kafka's broker does) to check their layout and that the header's
/// `last_offset_delta` and `max_timestamp` tell the truth. A partial trailing batch is an
/// error here.
pub fn validate_batches(
    bytes: &[u8],
    max_batch_bytes: usize,
) -> Result<Vec<ValidatedBatch>, BatchError> {
    validate_batches_bounded(bytes, max_batch_bytes, MAX_DECOMPRESSED_BYTES_DEFAULT)
}

/// [`validate_batches`] with an explicit bound on each compressed batch's decompressed
/// records section.
pub fn validate_batches_bounded(
    bytes: &[u8],
    max_batch_bytes: usize,
    max_decompressed_bytes: usize,
) -> Result<Vec<ValidatedBatch>, BatchError> {
    let mut batches = Vec::new();
    let mut pos = 0;
    while let Some(rest) = bytes.get(pos..).filter(|rest| !rest.is_empty()) {
        let total_bytes = check_batch(rest, max_batch_bytes)?;
        let batch = &rest[..total_bytes];
        let header = BatchHeader::parse(batch, max_batch_bytes)?;
        verify_crc(batch)?;
        let records = match Compression::from_attributes(header.attributes)? {
            Compression::None => {
                RecordWalker::new(&header, BATCH_HEADER_BYTES).run_checked(&header, batch)?
            }
            codec => {
                let compressed = batch.get(BATCH_HEADER_BYTES..).unwrap_or(&[]);
                let data = codec.decompress(compressed, max_decompressed_bytes)?;
                RecordWalker::new(&header, 0).run_checked(&header, &data)?
            }
        };
        batches.push(ValidatedBatch {
            position: pos,
            header,
            records,
        });
        pos += total_bytes;
    }
    Ok(batches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::header::{CRC_POS, LAST_OFFSET_DELTA_POS, RECORD_COUNT_POS};
    use crate::batch::{compute_crc, BatchBuilder, Header, RecordInput};

    const MAX: usize = 1 << 20;

    fn inputs() -> Vec<RecordInput> {
        vec![
            RecordInput::new(1_000, "first").with_key("k1"),
            RecordInput {
                timestamp: 1_005,
                key: None,
                value: None,
                headers: vec![Header::new("h", Some("v")), Header::new("n", None::<Bytes>)],
            },
            RecordInput::new(999, vec![b'x'; 300]).with_key(""),
        ]
    }

    fn build(codec: Compression, records: &[RecordInput]) -> Bytes {
        let mut builder = BatchBuilder::new(codec);
        for record in records {
            builder.append(record).unwrap();
        }
        builder.build().unwrap()
    }

    /// Rewrites a 32-bit field and fixes the CRC, to craft batches that only the record
    /// walk can reject.
    fn patched(batch: &Bytes, pos: usize, value: i32) -> Bytes {
        let mut bytes = batch.to_vec();
        bytes[pos..pos + 4].copy_from_slice(&value.to_be_bytes());
        let crc = compute_crc(&bytes);
        bytes[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
        Bytes::from(bytes)
    }

    #[test]
    fn parses_what_the_builder_built() {
        for codec in Compression::ALL {
            let batch = build(codec, &inputs());
            let (parsed, used) = RecordBatch::parse(batch.clone(), MAX).unwrap();
            assert_eq!(used, batch.len());
            assert_eq!(parsed.compression(), codec);
            assert_eq!(parsed.validate_records(), Ok(3));
            let records: Vec<_> = parsed.records().unwrap().collect::<Result<_, _>>().unwrap();
            for (i, (record, input)) in records.iter().zip(inputs()).enumerate() {
                assert_eq!(record.offset, i as i64);
                assert_eq!(record.offset_delta, i as i32);
                assert_eq!(record.timestamp, input.timestamp);
                assert_eq!(record.timestamp_delta, input.timestamp - 1_000);
                assert_eq!((&record.key, &record.value), (&input.key, &input.value));
                assert_eq!(record.headers, input.headers);
            }
            assert_eq!(parsed.into_bytes(), batch);
        }
    }

    #[test]
    fn uncompressed_records_are_zero_copy() {
        let batch = build(Compression::None, &inputs());
        let (parsed, _) = RecordBatch::parse(batch.clone(), MAX).unwrap();
        let record = parsed.records().unwrap().next().unwrap().unwrap();
        let value = record.value.unwrap();
        let range = batch.as_ptr_range();
        assert!(range.contains(&value.as_ptr()));
    }

    #[test]
    fn every_truncation_is_incomplete() {
        let batch = build(Compression::None, &inputs());
        for len in 0..batch.len() {
            let err = RecordBatch::parse(batch.slice(..len), MAX).unwrap_err();
            assert!(
                matches!(err, BatchError::Incomplete { .. }),
                "at {len}: {err}"
            );
        }
    }

    #[test]
    fn invalid_lengths_and_magic_are_not_incomplete() {
        let batch = build(Compression::None, &inputs());
        let mut short = batch.to_vec();
        short[8..12].copy_from_slice(&10i32.to_be_bytes());
        assert!(matches!(
            check_batch(&short[..12], MAX),
            Err(BatchError::BadLength { .. })
        ));
        assert!(matches!(
            check_batch(&batch, 100),
            Err(BatchError::TooLarge { .. })
        ));
        let mut magic = batch.to_vec();
        magic[MAGIC_POS] = 1;
        assert_eq!(
            check_batch(&magic[..20], MAX),
            Err(BatchError::BadMagic { magic: 1 })
        );
    }

    #[test]
    fn crc_catches_a_flipped_record_byte() {
        let mut bytes = build(Compression::None, &inputs()).to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(matches!(
            RecordBatch::parse(Bytes::from(bytes), MAX),
            Err(BatchError::CrcMismatch { .. })
        ));
    }

    #[test]
    fn record_walk_catches_count_and_delta_lies() {
        let batch = build(Compression::None, &inputs());
        let cases = [
            (
                RECORD_COUNT_POS,
                4,
                "records end before record_count is reached",
            ),
            (RECORD_COUNT_POS, 2, "trailing bytes after the last record"),
            (
                RECORD_COUNT_POS,
                i32::MAX,
                "records end before record_count is reached",
            ),
            (
                LAST_OFFSET_DELTA_POS,
                1,
                "offset delta outside 0..=last_offset_delta",
            ),
        ];
        for (pos, value, reason) in cases {
            let (parsed, _) = RecordBatch::parse(patched(&batch, pos, value), MAX).unwrap();
            match parsed.validate_records() {
                Err(BatchError::BadRecord { reason: r, .. }) => assert_eq!(r, reason),
                other => panic!("{value} at {pos}: {other:?}"),
            }
            let items: Vec<_> = parsed.records().unwrap().collect();
            assert!(items.last().unwrap().is_err());
            assert!(matches!(
                validate_batches(parsed.as_bytes(), MAX),
                Err(BatchError::BadRecord { .. })
            ));
        }
    }

    /// A batch of `offset_deltas.len()` records (timestamps 1000, 1001, ...) with the
    /// given offset deltas and header fields, CRC fixed: what a lying producer sends.
    fn craft(
        codec: Compression,
        offset_deltas: &[i32],
        last_offset_delta: i32,
        max_timestamp: i64,
    ) -> Bytes {
        use crate::batch::header::{BatchHeader, MAGIC_V2};
        use crate::batch::record::{body_len, encode};
        let mut records = Vec::new();
        for (i, delta) in offset_deltas.iter().enumerate() {
            let record = RecordInput::new(1_000 + i as i64, "v");
            let len = body_len(*delta, i as i64, &record);
            encode(&mut records, len as i32, *delta, i as i64, &record);
        }
        let mut out = vec![0u8; BATCH_HEADER_BYTES];
        codec.compress(&records, &mut out).unwrap();
        let mut header = BatchHeader {
            base_offset: 0,
            batch_length: (out.len() - BATCH_LOG_OVERHEAD_BYTES) as i32,
            partition_leader_epoch: 0,
            magic: MAGIC_V2,
            crc: 0,
            attributes: codec.id(),
            last_offset_delta,
            base_timestamp: 1_000,
            max_timestamp,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            record_count: offset_deltas.len() as i32,
        };
        let mut bytes = [0u8; BATCH_HEADER_BYTES];
        header.write(&mut bytes);
        out[..BATCH_HEADER_BYTES].copy_from_slice(&bytes);
        header.crc = compute_crc(&out);
        header.write(&mut bytes);
        out[..BATCH_HEADER_BYTES].copy_from_slice(&bytes);
        Bytes::from(out)
    }

    fn refusal(batch: &Bytes) -> BatchError {
        let (parsed, _) = RecordBatch::parse(batch.clone(), MAX).unwrap();
        let by_parse = parsed.validate_records().unwrap_err();
        let by_produce = validate_batches(batch, MAX).unwrap_err();
        assert_eq!(by_parse, by_produce);
        by_produce
    }

    #[test]
    fn an_honest_crafted_batch_passes_for_every_codec() {
        for codec in Compression::ALL {
            let batch = craft(codec, &[0, 1, 2], 2, 1_002);
            let validated = validate_batches(&batch, MAX).unwrap();
            let summary = validated[0].records;
            assert_eq!(
                (
                    summary.record_count,
                    summary.timestamp_min,
                    summary.timestamp_max
                ),
                (3, 1_000, 1_002),
                "{codec:?}"
            );
        }
    }

    #[test]
    fn a_lying_last_offset_delta_is_refused_for_every_codec() {
        for codec in Compression::ALL {
            let batch = craft(codec, &[0, 1, 2], i32::MAX, 1_002);
            assert_eq!(
                refusal(&batch),
                BatchError::HeaderMismatch {
                    field: "last_offset_delta",
                    in_header: i64::from(i32::MAX),
                    from_records: 2,
                },
                "{codec:?}"
            );
        }
    }

    #[test]
    fn offset_deltas_must_run_from_zero_without_gaps_for_every_codec() {
        for codec in Compression::ALL {
            for deltas in [[0, 2, 4], [1, 2, 3]] {
                let batch = craft(codec, &deltas, 4, 1_002);
                match refusal(&batch) {
                    BatchError::BadRecord { reason, .. } => {
                        assert_eq!(reason, "offset delta is not the record's index")
                    }
                    other => panic!("{codec:?} {deltas:?}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn a_lying_max_timestamp_is_refused_for_every_codec() {
        for codec in Compression::ALL {
            for lie in [i64::MAX, 1_001, -1] {
                let batch = craft(codec, &[0, 1, 2], 2, lie);
                assert_eq!(
                    refusal(&batch),
                    BatchError::HeaderMismatch {
                        field: "max_timestamp",
                        in_header: lie,
                        from_records: 1_002,
                    },
                    "{codec:?}"
                );
            }
        }
    }

    #[test]
    fn an_empty_batch_is_refused() {
        let batch = craft(Compression::None, &[], 0, 1_000);
        assert!(matches!(
            refusal(&batch),
            BatchError::HeaderMismatch {
                field: "last_offset_delta",
                ..
            }
        ));
    }

    #[test]
    fn log_append_time_uses_max_timestamp() {
        let mut bytes = build(Compression::None, &inputs()).to_vec();
        bytes[22] |= 0x08;
        let crc = compute_crc(&bytes);
        bytes[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
        let (parsed, _) = RecordBatch::parse(Bytes::from(bytes), MAX).unwrap();
        for record in parsed.records().unwrap() {
            assert_eq!(record.unwrap().timestamp, 1_005);
        }
    }

    #[test]
    fn decompression_is_bounded_per_batch() {
        let big = vec![RecordInput::new(0, vec![0u8; 1 << 20])];
        let batch = build(Compression::Zstd, &big);
        let (parsed, _) = RecordBatch::parse(batch, MAX).unwrap();
        let parsed = parsed.with_max_decompressed_bytes(64 * 1024);
        assert!(matches!(
            parsed.validate_records(),
            Err(BatchError::Decompress { .. })
        ));
        assert!(parsed.records().is_err());
    }

    #[test]
    fn batch_iter_stops_at_a_partial_batch() {
        let one = build(Compression::None, &inputs());
        let two = build(Compression::Lz4, &inputs());
        let mut all = [&one[..], &two[..], &one[..]].concat();
        let whole = all.len();
        all.extend_from_slice(&one[..40]);
        let mut iter = BatchIter::new(Bytes::from(all), MAX);
        let batches: Vec<_> = iter.by_ref().collect::<Result<_, _>>().unwrap();
        assert_eq!(batches.len(), 3);
        assert_eq!((iter.position(), iter.remaining()), (whole, 40));
        assert_eq!(batches[1].compression(), Compression::Lz4);

        let summary = validate_batches(&[&one[..], &two[..]].concat(), MAX).unwrap();
        assert_eq!(summary.len(), 2);
        assert_eq!(summary[1].position, one.len());
        assert_eq!(summary[1].header.record_count, 3);
        let cut = [&one[..], &two[..10]].concat();
        assert!(matches!(
            validate_batches(&cut, MAX),
            Err(BatchError::Incomplete { .. })
        ));
    }

    #[test]
    fn batch_iter_yields_an_invalid_batch_once() {
        let one = build(Compression::None, &inputs());
        let mut all = [&one[..], &one[..], &one[..]].concat();
        all[one.len() + 30] ^= 0xff;
        let items: Vec<_> = BatchIter::new(Bytes::from(all), MAX).collect();
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        assert!(matches!(items[1], Err(BatchError::CrcMismatch { .. })));
    }
}
