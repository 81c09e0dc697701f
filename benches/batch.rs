//! criterion benchmarks of the record batch hot paths (rill-protocol `batch`): encoding a
//! batch, parsing and validating one, iterating its records, and CRC-32C throughput.
//!
//! Shapes: 1000 records of 1 KiB and of 100 B, the shapes of the end-to-end targets.

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rill_protocol::batch::header::ATTRIBUTES_POS;
use rill_protocol::batch::{
    compute_crc, validate_batches, BatchBuilder, Compression, RecordBatch, RecordInput,
};

const RECORDS: usize = 1000;
const MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;

/// Deterministic text-like values (compress about as well as JSON logs do, not trivially).
fn records(value_bytes: usize) -> Vec<RecordInput> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..RECORDS)
        .map(|i| {
            let value: Vec<u8> = (0..value_bytes)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    b'a' + (state % 16) as u8
                })
                .collect();
            RecordInput::new(1_700_000_000_000 + i as i64, value).with_key(format!("key-{i}"))
        })
        .collect()
}

fn build(codec: Compression, inputs: &[RecordInput]) -> Bytes {
    let mut builder = BatchBuilder::with_capacity(codec, inputs.len() * 1100);
    for record in inputs {
        builder.append(record).expect("append");
    }
    builder.build().expect("build")
}

fn shapes() -> [(&'static str, Vec<RecordInput>); 2] {
    [("1KiB", records(1024)), ("100B", records(100))]
}

fn uncompressed_bytes(inputs: &[RecordInput]) -> u64 {
    build(Compression::None, inputs).len() as u64
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("batch_encode");
    for (shape, inputs) in shapes() {
        group.throughput(Throughput::Bytes(uncompressed_bytes(&inputs)));
        for codec in [Compression::None, Compression::Lz4, Compression::Zstd] {
            if shape == "100B" && codec != Compression::None {
                continue;
            }
            group.bench_function(format!("{shape}x1000/{codec}"), |b| {
                b.iter(|| build(codec, black_box(&inputs)))
            });
        }
    }
    group.finish();
}

fn parse_validate(c: &mut Criterion) {
    let mut group = c.benchmark_group("batch_parse_validate");
    for (shape, inputs) in shapes() {
        group.throughput(Throughput::Bytes(uncompressed_bytes(&inputs)));
        for codec in [Compression::None, Compression::Lz4, Compression::Zstd] {
            if shape == "100B" && codec != Compression::None {
                continue;
            }
            let batch = build(codec, &inputs);
            group.bench_function(format!("{shape}x1000/{codec}"), |b| {
                b.iter(|| {
                    let (parsed, _) = RecordBatch::parse(black_box(batch.clone()), MAX_BATCH_BYTES)
                        .expect("parse");
                    parsed.validate_records().expect("valid")
                })
            });
        }
        let batch = build(Compression::None, &inputs);
        group.bench_function(format!("{shape}x1000/validate_batches"), |b| {
            b.iter(|| validate_batches(black_box(&batch), MAX_BATCH_BYTES).expect("valid"))
        });
    }
    group.finish();
}

fn iterate(c: &mut Criterion) {
    let mut group = c.benchmark_group("batch_iterate_records");
    for (shape, inputs) in shapes() {
        let batch = build(Compression::None, &inputs);
        group.throughput(Throughput::Elements(RECORDS as u64));
        let (parsed, _) = RecordBatch::parse(batch, MAX_BATCH_BYTES).expect("parse");
        group.bench_function(format!("{shape}x1000/none"), |b| {
            b.iter_batched(
                || parsed.clone(),
                |parsed| {
                    let mut value_bytes = 0;
                    for record in parsed.records().expect("records") {
                        value_bytes += record.expect("record").value.map_or(0, |v| v.len());
                    }
                    value_bytes
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn crc(c: &mut Criterion) {
    let mut group = c.benchmark_group("crc32c");
    // compute_crc covers bytes [21..]: pad so that exactly 1 MiB is checksummed.
    let covered = 1024 * 1024;
    let data: Vec<u8> = (0..(ATTRIBUTES_POS + covered) as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    group.throughput(Throughput::Bytes(covered as u64));
    group.bench_function("1MiB", |b| b.iter(|| compute_crc(black_box(&data))));
    group.finish();
}

criterion_group!(benches, encode, parse_validate, iterate, crc);
criterion_main!(benches);
