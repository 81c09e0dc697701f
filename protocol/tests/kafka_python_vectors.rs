//! Byte compatibility with kafka-python, an implementation no one on Rill wrote.
//!
//! `fixtures/kafka_python_vectors.json` is produced by `fixtures/gen_kafka_python_vectors.py`
//! with kafka-python's `DefaultRecordBatchBuilder`. For every case Rill must (a) parse the
//! batch to exactly the header fields and records kafka-python wrote, and (b) for
//! uncompressed cases, build the very same bytes from the same input. Compressed cases
//! compare only the parse: compressor output depends on library versions and settings.

use bytes::Bytes;
use rill_protocol::batch::{
    validate_batches, BatchBuilder, BatchHeader, BatchIter, Compression, Header, RecordBatch,
    RecordInput, MAX_BATCH_BYTES_DEFAULT,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    generator: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    compression: String,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    records: Vec<CaseRecord>,
    header: CaseHeader,
    batch_hex: String,
}

#[derive(Deserialize)]
struct CaseRecord {
    timestamp: i64,
    key: Option<HexBytes>,
    value: Option<HexBytes>,
    headers: Vec<CaseHeaderKv>,
}

#[derive(Deserialize)]
struct CaseHeaderKv {
    key: HexBytes,
    value: Option<HexBytes>,
}

/// Hex, or a pattern repeated to a length (large compressible values).
#[derive(Deserialize)]
#[serde(untagged)]
enum HexBytes {
    Hex(String),
    Repeat { repeat_hex: String, len: usize },
}

impl HexBytes {
    fn bytes(&self) -> Bytes {
        match self {
            HexBytes::Hex(hex) => Bytes::from(hex::decode(hex).expect("fixture hex")),
            HexBytes::Repeat { repeat_hex, len } => {
                let pattern = hex::decode(repeat_hex).expect("fixture hex");
                Bytes::from(
                    pattern
                        .iter()
                        .copied()
                        .cycle()
                        .take(*len)
                        .collect::<Vec<u8>>(),
                )
            }
        }
    }
}

#[derive(Deserialize, Debug, PartialEq)]
struct CaseHeader {
    base_offset: i64,
    batch_length: i32,
    partition_leader_epoch: i32,
    magic: i8,
    crc: u32,
    attributes: i16,
    last_offset_delta: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    record_count: i32,
}

impl From<&BatchHeader> for CaseHeader {
    fn from(h: &BatchHeader) -> Self {
        CaseHeader {
            base_offset: h.base_offset,
            batch_length: h.batch_length,
            partition_leader_epoch: h.partition_leader_epoch,
            magic: h.magic,
            crc: h.crc,
            attributes: h.attributes,
            last_offset_delta: h.last_offset_delta,
            base_timestamp: h.base_timestamp,
            max_timestamp: h.max_timestamp,
            producer_id: h.producer_id,
            producer_epoch: h.producer_epoch,
            base_sequence: h.base_sequence,
            record_count: h.record_count,
        }
    }
}

impl Case {
    fn inputs(&self) -> Vec<RecordInput> {
        self.records
            .iter()
            .map(|r| RecordInput {
                timestamp: r.timestamp,
                key: r.key.as_ref().map(HexBytes::bytes),
                value: r.value.as_ref().map(HexBytes::bytes),
                headers: r
                    .headers
                    .iter()
                    .map(|h| Header {
                        key: h.key.bytes(),
                        value: h.value.as_ref().map(HexBytes::bytes),
                    })
                    .collect(),
            })
            .collect()
    }

    fn batch(&self) -> Bytes {
        Bytes::from(hex::decode(&self.batch_hex).expect("fixture hex"))
    }

    fn compression(&self) -> Compression {
        self.compression.parse().expect("fixture codec name")
    }
}

fn vectors() -> Vectors {
    let text = include_str!("fixtures/kafka_python_vectors.json");
    serde_json::from_str(text).expect("fixture JSON")
}

#[test]
fn fixture_covers_every_codec() {
    let vectors = vectors();
    for codec in Compression::ALL {
        let count = vectors
            .cases
            .iter()
            .filter(|c| c.compression() == codec)
            .count();
        assert!(
            count >= 2,
            "{codec}: only {count} cases from {}",
            vectors.generator
        );
    }
}

#[test]
fn rill_parses_kafka_python_batches_exactly() {
    for case in vectors().cases {
        let name = &case.name;
        let batch = case.batch();
        let (parsed, used) = RecordBatch::parse(batch.clone(), MAX_BATCH_BYTES_DEFAULT)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(used, batch.len(), "{name}");
        assert_eq!(CaseHeader::from(parsed.header()), case.header, "{name}");
        assert_eq!(parsed.compression(), case.compression(), "{name}");
        assert_eq!(parsed.validate_records(), Ok(case.records.len()), "{name}");
        assert_eq!(
            validate_batches(&batch, MAX_BATCH_BYTES_DEFAULT).map(|v| v.len()),
            Ok(1),
            "{name}"
        );

        let records: Vec<_> = parsed
            .records()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let inputs = case.inputs();
        assert_eq!(records.len(), inputs.len(), "{name}");
        for (i, (record, input)) in records.iter().zip(&inputs).enumerate() {
            assert_eq!(record.offset_delta, i as i32, "{name} #{i}");
            assert_eq!(record.offset, i as i64, "{name} #{i}");
            assert_eq!(record.timestamp, input.timestamp, "{name} #{i}");
            assert_eq!(
                record.timestamp_delta,
                input.timestamp - case.header.base_timestamp,
                "{name} #{i}"
            );
            assert_eq!(record.key, input.key, "{name} #{i}");
            assert_eq!(record.value, input.value, "{name} #{i}");
            assert_eq!(record.headers, input.headers, "{name} #{i}");
        }
    }
}

#[test]
fn rill_builds_kafka_python_bytes_exactly() {
    let mut compared = 0;
    for case in vectors()
        .cases
        .iter()
        .filter(|c| c.compression() == Compression::None)
    {
        let mut builder = BatchBuilder::new(Compression::None).with_producer(
            case.producer_id,
            case.producer_epoch,
            case.base_sequence,
        );
        for input in case.inputs() {
            builder.append(&input).unwrap();
        }
        let built = builder.build().unwrap();
        assert_eq!(hex::encode(&built), case.batch_hex, "{}", case.name);
        compared += 1;
    }
    assert!(compared >= 10, "only {compared} uncompressed cases");
}

#[test]
fn rill_compressed_batches_round_trip_the_same_inputs() {
    // Rill's own compressed output of each compressed case parses back to the inputs.
    for case in vectors()
        .cases
        .iter()
        .filter(|c| c.compression() != Compression::None)
    {
        let mut builder = BatchBuilder::new(case.compression());
        let inputs = case.inputs();
        for input in &inputs {
            builder.append(input).unwrap();
        }
        let (parsed, _) =
            RecordBatch::parse(builder.build().unwrap(), MAX_BATCH_BYTES_DEFAULT).unwrap();
        let values: Vec<_> = parsed
            .records()
            .unwrap()
            .map(|r| r.unwrap().value)
            .collect();
        let expected: Vec<_> = inputs.into_iter().map(|r| r.value).collect();
        assert_eq!(values, expected, "{}", case.name);
    }
}

#[test]
fn all_vectors_concatenated_iterate_as_a_fetch() {
    let cases = vectors().cases;
    let all: Vec<u8> = cases.iter().flat_map(|c| c.batch().to_vec()).collect();
    let mut cut = all.clone();
    cut.truncate(all.len() - 5);
    let whole = BatchIter::new(Bytes::from(all), MAX_BATCH_BYTES_DEFAULT)
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert_eq!(whole.len(), cases.len());
    let partial = BatchIter::new(Bytes::from(cut), MAX_BATCH_BYTES_DEFAULT)
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert_eq!(partial.len(), cases.len() - 1);
}
