//! Property tests across the batch modules: the builder and the parser agree for any
//! records and codec, and the parser survives any bytes.

use bytes::Bytes;
use proptest::prelude::*;

use super::header::{ATTRIBUTES_POS, BATCH_LENGTH_POS, CRC_POS, RECORD_COUNT_POS};
use super::{
    compute_crc, BatchBuilder, BatchError, BatchIter, Compression, Header, RecordBatch,
    RecordInput, BATCH_HEADER_BYTES,
};

const MAX: usize = 1 << 20;

fn bytes(max_len: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..max_len).prop_map(Bytes::from)
}

fn header() -> impl Strategy<Value = Header> {
    ("[a-zé日-]{0,8}", proptest::option::of(bytes(16))).prop_map(|(key, value)| Header {
        key: Bytes::from(key),
        value,
    })
}

fn record() -> impl Strategy<Value = RecordInput> {
    (
        prop_oneof![any::<i64>(), 1_600_000_000_000i64..1_700_000_000_000],
        proptest::option::of(bytes(32)),
        proptest::option::of(bytes(200)),
        proptest::collection::vec(header(), 0..4),
    )
        .prop_map(|(timestamp, key, value, headers)| RecordInput {
            timestamp,
            key,
            value,
            headers,
        })
}

fn codec() -> impl Strategy<Value = Compression> {
    proptest::sample::select(Compression::ALL.to_vec())
}

fn build(codec: Compression, records: &[RecordInput]) -> Bytes {
    let mut builder = BatchBuilder::new(codec);
    for record in records {
        builder.append(record).unwrap();
    }
    builder.build().unwrap()
}

/// Parses and walks `bytes` every way a caller can; only checks that nothing panics.
fn exercise(bytes: Bytes) {
    let _ = super::validate_batches(&bytes, MAX);
    for batch in BatchIter::new(bytes, MAX).flatten() {
        let batch = batch.with_max_decompressed_bytes(MAX);
        let _ = batch.validate_records();
        if let Ok(records) = batch.records() {
            for record in records.take(100_000) {
                let _ = record;
            }
        }
    }
}

/// A batch whose header is well formed and whose CRC matches, around arbitrary body bytes,
/// so that fuzzing reaches the record walk and the codecs.
fn framed(attributes: i16, record_count: i32, body: &[u8]) -> Bytes {
    let mut out = vec![0u8; BATCH_HEADER_BYTES];
    out.extend_from_slice(body);
    let batch_length = (out.len() - 12) as i32;
    out[BATCH_LENGTH_POS..BATCH_LENGTH_POS + 4].copy_from_slice(&batch_length.to_be_bytes());
    out[16] = 2;
    out[ATTRIBUTES_POS..ATTRIBUTES_POS + 2].copy_from_slice(&attributes.to_be_bytes());
    out[23..27].copy_from_slice(&record_count.saturating_sub(1).max(0).to_be_bytes());
    out[RECORD_COUNT_POS..RECORD_COUNT_POS + 4].copy_from_slice(&record_count.to_be_bytes());
    let crc = compute_crc(&out);
    out[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn builder_and_parser_round_trip(codec in codec(), inputs in proptest::collection::vec(record(), 1..20)) {
        let batch = build(codec, &inputs);
        let (parsed, used) = RecordBatch::parse(batch.clone(), MAX).unwrap();
        prop_assert_eq!(used, batch.len());
        prop_assert_eq!(parsed.compression(), codec);
        let header = *parsed.header();
        prop_assert_eq!(header.record_count as usize, inputs.len());
        prop_assert_eq!(header.last_offset_delta as usize, inputs.len() - 1);
        prop_assert_eq!(header.base_timestamp, inputs[0].timestamp);
        prop_assert_eq!(header.max_timestamp, inputs.iter().map(|r| r.timestamp).max().unwrap());
        prop_assert_eq!(parsed.validate_records(), Ok(inputs.len()));
        prop_assert_eq!(super::validate_batches(&batch, MAX).unwrap().len(), 1);
        let records: Vec<_> = parsed.records().unwrap().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(records.len(), inputs.len());
        for (i, (record, input)) in records.iter().zip(&inputs).enumerate() {
            prop_assert_eq!(record.offset, i as i64);
            prop_assert_eq!(record.timestamp, input.timestamp);
            prop_assert_eq!(&record.key, &input.key);
            prop_assert_eq!(&record.value, &input.value);
            prop_assert_eq!(&record.headers, &input.headers);
        }
    }

    #[test]
    fn every_flipped_byte_is_detected(
        codec in codec(),
        inputs in proptest::collection::vec(record(), 1..5),
        pick in any::<proptest::sample::Index>(),
        mask in 1u8..,
    ) {
        let batch = build(codec, &inputs);
        let pos = pick.index(batch.len());
        let mut bytes = batch.to_vec();
        bytes[pos] ^= mask;
        let result = RecordBatch::parse(Bytes::from(bytes), MAX);
        if (0..8).contains(&pos) || (12..16).contains(&pos) {
            // base_offset and partition_leader_epoch sit outside the CRC by design: the
            // broker stamps them. The records are unchanged.
            let (parsed, _) = result.unwrap();
            prop_assert_eq!(parsed.validate_records(), Ok(inputs.len()));
        } else {
            prop_assert!(result.is_err(), "flip at {} went unnoticed", pos);
        }
    }

    #[test]
    fn every_truncation_is_incomplete(codec in codec(), inputs in proptest::collection::vec(record(), 1..5)) {
        let batch = build(codec, &inputs);
        for len in 0..batch.len() {
            let result = RecordBatch::parse(batch.slice(..len), MAX);
            prop_assert!(matches!(result, Err(BatchError::Incomplete { .. })), "at {}", len);
            prop_assert_eq!(BatchIter::new(batch.slice(..len), MAX).count(), 0);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in bytes(512)) {
        exercise(bytes);
    }

    #[test]
    fn arbitrary_bodies_never_panic(
        attributes in 0i16..8,
        record_count in prop_oneof![0i32..10, Just(i32::MAX), any::<i32>()],
        body in bytes(512),
    ) {
        exercise(framed(attributes, record_count, &body));
    }

    #[test]
    fn mutated_records_never_panic(
        codec in codec(),
        inputs in proptest::collection::vec(record(), 1..5),
        edits in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..4),
    ) {
        // Re-frame the records with a fixed CRC so the mutations reach the record walk.
        let batch = build(Compression::None, &inputs);
        let mut body = batch[BATCH_HEADER_BYTES..].to_vec();
        for (pick, byte) in edits {
            let pos = pick.index(body.len());
            body[pos] = byte;
        }
        let mut compressed = Vec::new();
        codec.compress(&body, &mut compressed).unwrap();
        exercise(framed(codec.id(), inputs.len() as i32, &compressed));
    }
}
