//! `StorageError`: everything the storage engine can fail with, with the path and offsets
//! involved so that a log line or a wire error code can say what happened where.

use std::io;
use std::path::PathBuf;

use rill_protocol::batch::BatchError;
use thiserror::Error;

/// Why a storage operation failed.
#[derive(Debug, Error)]
pub enum StorageError {
    /// A file system call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What the engine was doing (`"open"`, `"write"`, `"fsync"`, ...).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The partition's directory could not be opened when the broker started.
    #[error("partition {dir} is offline: {reason}")]
    Offline {
        /// The partition directory.
        dir: PathBuf,
        /// The error that made it offline.
        reason: String,
    },
    /// A fetch asked for an offset outside `[log_start_offset, log_end_offset]`.
    #[error("offset {offset} out of range [{log_start_offset}, {log_end_offset}] in {dir}")]
    OffsetOutOfRange {
        /// The partition directory.
        dir: PathBuf,
        /// The offset asked for.
        offset: i64,
        /// First offset still in the log.
        log_start_offset: i64,
        /// Offset the next appended record will get.
        log_end_offset: i64,
    },
    /// An appended buffer is not a sequence of whole, well-formed batches.
    #[error("invalid batch at byte {position} of an append to {dir}: {source}")]
    InvalidBatch {
        /// The partition directory.
        dir: PathBuf,
        /// Byte position of the bad batch inside the appended buffer.
        position: usize,
        /// What was wrong with it.
        source: BatchError,
    },
    /// An append carried no batch at all.
    #[error("empty append to {dir}")]
    EmptyAppend {
        /// The partition directory.
        dir: PathBuf,
    },
    /// Bytes below the committed end of a segment are not a batch (the file was changed
    /// behind the log's back).
    #[error("segment {path} holds no valid batch at byte {position}")]
    CorruptSegment {
        /// The segment file.
        path: PathBuf,
        /// Byte position of the bad header.
        position: u64,
    },
    /// The configuration cannot be used.
    #[error("invalid log config {field}: {reason}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// An idempotent producer's batch is out of sequence or from a fenced epoch.
    #[error("producer {producer_id} in {dir}: {source}")]
    Sequence {
        /// The partition directory.
        dir: PathBuf,
        /// The producer id of the batch.
        producer_id: i64,
        /// What was wrong.
        source: super::producers::SequenceError,
    },
    /// An idempotent producer sent more than one batch for a partition in one request.
    #[error(
        "idempotent producer {producer_id} sent {batches} batches in one append to {dir}; send one"
    )]
    IdempotentMultiBatch {
        /// The partition directory.
        dir: PathBuf,
        /// The producer id.
        producer_id: i64,
        /// Batches in the append.
        batches: usize,
    },
    /// Copied batches do not start at the log's end (or do not follow each other).
    #[error(
        "batch at offset {base_offset} does not continue {dir}, which ends at {log_end_offset}"
    )]
    NotContinuing {
        /// The partition directory.
        dir: PathBuf,
        /// The batch's base offset.
        base_offset: i64,
        /// Where it had to start.
        log_end_offset: i64,
    },
    /// The log cannot be cut at an offset inside a batch.
    #[error("offset {offset} is not a batch boundary of {dir}")]
    NotBatchBoundary {
        /// The partition directory.
        dir: PathBuf,
        /// The offset asked for.
        offset: i64,
    },
    /// The log was closed or deleted; no further appends or flushes.
    #[error("log {dir} is closed")]
    Closed {
        /// The partition directory.
        dir: PathBuf,
    },
    /// An fsync of the log failed: what it wrote may never reach the disk, so the log
    /// takes no more writes until a restart recovers it from what the disk holds.
    #[error("log {dir} stopped taking writes after a failed fsync ({reason}); restart rilld to recover it")]
    WritesStopped {
        /// The partition directory.
        dir: PathBuf,
        /// The fsync error.
        reason: String,
    },
}

impl StorageError {
    /// Builds a closure that wraps an `io::Error` with the operation and path.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| StorageError::Io { op, path, source }
    }
}
