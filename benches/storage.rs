//! Storage engine benchmarks: segment append against a plain `write()` of the same bytes
//! (the baseline, measured in the same run so the result reads as a ratio), the two raw
//! write paths the engine could use (`pwrite` into a pre-sized file vs `memcpy` into a
//! pre-sized `MmapMut`), sparse index lookup, and reads at random offsets.
//!
//! Every writer keeps at most two 64 MiB files (older ones are deleted, for the log by
//! retention), so the figures measure the page cache, not the disk.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use memmap2::MmapMut;
use rill_broker::storage::index::{FilePosition, OffsetEntry, OffsetIndex, RelativeOffset};
use rill_broker::storage::{FlushPolicy, LogConfig, PartitionLog};
use rill_protocol::batch::{compute_crc, BATCH_HEADER_BYTES};

const FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Per-record framing in a v2 batch for a small key-less record (length, attributes,
/// deltas, key/value lengths, header count).
const RECORD_OVERHEAD_BYTES: usize = 8;

/// A valid batch of `records` records of `record_bytes` each (opaque body, real CRC).
fn batch(records: usize, record_bytes: usize) -> Vec<u8> {
    let mut b = vec![0u8; BATCH_HEADER_BYTES + records * (record_bytes + RECORD_OVERHEAD_BYTES)];
    let batch_length = (b.len() - 12) as i32;
    b[8..12].copy_from_slice(&batch_length.to_be_bytes());
    b[16] = 2;
    b[23..27].copy_from_slice(&(records as i32 - 1).to_be_bytes());
    b[57..61].copy_from_slice(&(records as i32).to_be_bytes());
    for (i, byte) in b[BATCH_HEADER_BYTES..].iter_mut().enumerate() {
        *byte = (i * 31) as u8;
    }
    let crc = compute_crc(&b);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// How a raw writer puts bytes into its current file.
enum Sink {
    /// `write()` at the end of a growing file: the baseline.
    Write(File),
    /// `pwrite` into a file pre-sized to `FILE_BYTES`.
    Pwrite(File),
    /// `memcpy` into a writable map of a pre-sized file.
    Mmap(MmapMut),
}

/// Writes into 64 MiB files, keeping the two newest.
struct RawWriter {
    dir: PathBuf,
    kind: &'static str,
    sink: Sink,
    position: u64,
    files: u64,
}

impl RawWriter {
    fn new(dir: &Path, kind: &'static str) -> RawWriter {
        let sink = Self::open(dir, kind, 0);
        RawWriter {
            dir: dir.to_path_buf(),
            kind,
            sink,
            position: 0,
            files: 1,
        }
    }

    fn open(dir: &Path, kind: &str, n: u64) -> Sink {
        let path = dir.join(format!("{kind}-{n}"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .expect("bench file");
        match kind {
            "write" => Sink::Write(file),
            "pwrite" => {
                file.set_len(FILE_BYTES).expect("presize");
                Sink::Pwrite(file)
            }
            _ => {
                file.set_len(FILE_BYTES).expect("presize");
                // SAFETY: the bench owns this file; nothing else maps or truncates it.
                Sink::Mmap(unsafe { MmapMut::map_mut(&file) }.expect("map"))
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        if self.position + bytes.len() as u64 > FILE_BYTES {
            self.sink = Self::open(&self.dir, self.kind, self.files);
            if self.files >= 2 {
                let _ = fs::remove_file(self.dir.join(format!("{}-{}", self.kind, self.files - 2)));
            }
            self.files += 1;
            self.position = 0;
        }
        match &mut self.sink {
            Sink::Write(f) => f.write_all(bytes).expect("write"),
            Sink::Pwrite(f) => f.write_all_at(bytes, self.position).expect("pwrite"),
            Sink::Mmap(m) => m[self.position as usize..][..bytes.len()].copy_from_slice(bytes),
        }
        self.position += bytes.len() as u64;
    }
}

fn log_config() -> LogConfig {
    LogConfig {
        segment_bytes: FILE_BYTES as u32,
        retention_bytes: Some(FILE_BYTES),
        retention_ms: None,
        flush: FlushPolicy::Os,
        max_batch_bytes: 4 * 1024 * 1024,
        ..LogConfig::default()
    }
}

fn append(c: &mut Criterion) {
    for (name, records, record_bytes) in [("1000x1KiB", 1000, 1024), ("1000x100B", 1000, 100)] {
        let bytes = batch(records, record_bytes);
        let mut group = c.benchmark_group(format!("append/{name}"));
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        for kind in ["write", "pwrite", "mmap_memcpy"] {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut writer = RawWriter::new(dir.path(), kind);
            group.bench_function(BenchmarkId::new(kind, bytes.len()), |b| {
                b.iter(|| writer.write(black_box(&bytes)))
            });
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let log = PartitionLog::open(dir.path(), log_config()).expect("open log");
        let mut buf = bytes.clone();
        group.bench_function(BenchmarkId::new("partition_log", bytes.len()), |b| {
            b.iter(|| {
                log.append(black_box(&mut buf)).expect("append");
                if log.segment_count() > 2 {
                    log.enforce_retention(0).expect("retention");
                }
            })
        });
        group.finish();
    }
}

fn index_lookup(c: &mut Criterion) {
    // A full 1 GiB segment's worth of entries at the default 4 KiB interval.
    let index = OffsetIndex::new();
    for i in 0..262_144u32 {
        index.append(OffsetEntry {
            relative_offset: RelativeOffset(i * 4),
            position: FilePosition(i * 4096),
        });
    }
    let mut seed = 1u64;
    c.bench_function("index/floor_262144_entries", |b| {
        b.iter(|| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            black_box(index.floor(RelativeOffset((seed >> 33) as u32 % (262_144 * 4))))
        })
    });
}

fn read_random(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = PartitionLog::open(dir.path(), log_config()).expect("open log");
    let one = batch(100, 100);
    for _ in 0..(48 * 1024 * 1024 / one.len()) {
        log.append(&mut one.clone()).expect("append");
    }
    let end = log.high_watermark();
    let mut group = c.benchmark_group("read");
    for max_bytes in [16 * 1024, 1024 * 1024] {
        let mut seed = 7u64;
        group.throughput(Throughput::Bytes(max_bytes as u64));
        group.bench_function(BenchmarkId::new("random_offset", max_bytes), |b| {
            b.iter(|| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let offset = (seed >> 33) as i64 % end;
                black_box(log.read(offset, max_bytes).expect("read").records.len())
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = append, index_lookup, read_random
}
criterion_main!(benches);
