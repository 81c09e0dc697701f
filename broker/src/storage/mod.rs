//! The segmented, memory-mapped storage engine: one [`PartitionLog`] per partition.
//!
//! A partition directory holds segments named by their 20-digit base offset: a `.log` of
//! Kafka RecordBatch v2 batches, a sparse `.index` (relative offset -> file position) and a
//! sparse `.timeindex` (timestamp -> relative offset), plus a `recovery-checkpoint`.
//!
//! - [`segment`]: one segment's files, its read-only map and positioned writes.
//! - [`index`]: the sparse offset and time indexes.
//! - [`log`], `append`, `read`: the partition log, its write path and read path.
//! - [`recovery`] and [`checkpoint`]: opening a directory after a clean or unclean stop.
//! - `durability` and `group_commit`: what is known to be on disk, background fsyncs of
//!   sealed segments, stopped writes after a failed fsync, and the shared fsync of
//!   `flush = always` (no fsync ever runs under the writer lock).
//! - `replica`: what a replicated partition's state machine needs: appends without an
//!   fsync of their own, copied batches, cutting back, starting over, syncing everything.
//! - [`retention`]: deleting old closed segments.
//! - [`cleaner`]: log compaction, keeping the latest record of every key.
//! - [`stats`]: fsync counters for the metrics endpoint.
//!
//! Appends are serialised by a short critical section; reads never wait for it and never see
//! past the high watermark, which is published after the bytes are in place.

mod append;
pub mod checkpoint;
pub mod cleaner;
mod config;
mod durability;
mod error;
mod group_commit;
pub mod index;
mod log;
pub mod producers;
mod read;
pub mod recovery;
mod replica;
pub mod retention;
pub mod segment;
pub mod stats;

#[cfg(test)]
pub(crate) mod tests;

pub use append::{now_ms, AppendInfo};
pub use config::{
    FlushPolicy, LogConfig, FLUSH_POLICY_DEFAULT, INDEX_INTERVAL_BYTES_DEFAULT,
    RETENTION_BYTES_DEFAULT, RETENTION_MS_DEFAULT, SEGMENT_BYTES_DEFAULT, SEGMENT_BYTES_MAX,
    SEGMENT_MS_DEFAULT,
};
pub use error::StorageError;
pub use log::PartitionLog;
pub use read::ReadResult;
pub use retention::RetentionReport;
