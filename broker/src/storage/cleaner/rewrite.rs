//! Phase two of a pass: write a cleaned copy of one segment to `<base>.log.cleaned`.
//!
//! Every batch of the old segment becomes, in order: itself (nothing removed), a rewritten
//! batch with only its surviving records ([`retain_records`]), a header-only batch (the
//! last batch of an idempotent producer lost all its records), or part of a run of removed
//! batches written as one header-only batch covering their offsets. The copy therefore
//! covers exactly the old segment's offsets, batch after batch, with no gap between
//! batches: recovery and the read path see an ordinary segment, only with fewer records.
//!
//! A record is removed when it lies below the map's end and either a later record of its
//! key is in the map, or it has no key, or it is a tombstone older than
//! `delete.retention.ms`.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use rill_protocol::batch::{
    empty_batch, retain_records, BatchHeader, Record, RecordBatch, Retained, MAGIC_V2,
};

use super::build_map::DirtyMap;
use super::offset_map::KeyHash;
use super::Pass;
use crate::storage::segment::Segment;
use crate::storage::StorageError;

/// A written cleaned copy of a segment.
pub struct Cleaned {
    /// The `.cleaned` file, written and fsynced.
    pub path: PathBuf,
    /// The open file.
    pub file: File,
    /// Its length.
    pub bytes: u64,
    /// Records removed.
    pub records_removed: u64,
}

/// What to do with the records of one batch.
pub struct Rules<'a> {
    /// The dirty map of this pass.
    pub dirty: &'a DirtyMap,
    /// Tombstones with a timestamp below this are removed.
    pub tombstone_horizon_ms: i64,
}

impl Rules<'_> {
    fn keep(&self, record: &Record) -> bool {
        if record.offset >= self.dirty.map_end_offset {
            return true;
        }
        let Some(key) = &record.key else {
            return false;
        };
        if self
            .dirty
            .map
            .get(&KeyHash::of(key))
            .is_some_and(|latest| latest > record.offset)
        {
            return false;
        }
        record.value.is_some() || record.timestamp >= self.tombstone_horizon_ms
    }
}

/// Writes the cleaned copy of `segment`; `Ok(None)` when nothing would change (or the pass
/// was asked to stop), leaving no file behind.
pub fn rewrite(
    pass: &mut Pass<'_>,
    segment: &Arc<Segment>,
    rules: &Rules<'_>,
) -> Result<Option<Cleaned>, StorageError> {
    let path = cleaned_path(segment);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(StorageError::io("create cleaned segment", &path))?;
    let mut out = Output {
        writer: BufWriter::with_capacity(1 << 20, file),
        path,
        bytes: 0,
        gap: None,
        changed: false,
        records_removed: 0,
    };
    let result = copy_batches(pass, segment, rules, &mut out);
    let path = out.path.clone();
    let finished = result.and_then(|complete| out.finish(complete && pass.keep_going()));
    if !matches!(finished, Ok(Some(_))) {
        remove_quietly(&path);
    }
    finished
}

/// Removes a cleaner file that is no longer wanted, logging (not failing) if it cannot.
pub fn remove_quietly(path: &std::path::Path) {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove an unused cleaned segment")
        }
        _ => {}
    }
}

/// `<base>.log.cleaned` beside the segment.
pub fn cleaned_path(segment: &Segment) -> PathBuf {
    let mut name = segment.paths().log.clone().into_os_string();
    name.push(".cleaned");
    PathBuf::from(name)
}

/// Copies every batch; false when the pass was stopped half-way.
fn copy_batches(
    pass: &mut Pass<'_>,
    segment: &Arc<Segment>,
    rules: &Rules<'_>,
    out: &mut Output,
) -> Result<bool, StorageError> {
    let end = segment.committed_bytes();
    let mut position = 0;
    while let Some(header) = segment.header_at(position, end) {
        if !pass.keep_going() {
            return Ok(false);
        }
        let next = position + header.total_bytes() as u64;
        let bytes = segment.slice(position, next);
        let retained = match RecordBatch::parse(bytes.clone(), pass.max_batch_bytes) {
            Ok((batch, _))
                if !header.is_control() && header.base_offset < rules.dirty.map_end_offset =>
            {
                retain_records(&batch, |r| rules.keep(r)).unwrap_or(Retained::All)
            }
            _ => Retained::All,
        };
        match retained {
            Retained::All => out.batch(&bytes)?,
            Retained::Some(rewritten) => {
                out.records_removed += removed(&header, &rewritten);
                out.changed = true;
                out.batch(&rewritten)?;
            }
            Retained::None => {
                out.records_removed += u64::try_from(header.record_count).unwrap_or(0);
                out.changed = true;
                let last_of_producer = header.producer_id >= 0
                    && rules.dirty.producer_last_batch.get(&header.producer_id)
                        == Some(&header.base_offset);
                if last_of_producer {
                    out.batch(&empty_batch(&header))?;
                } else {
                    out.extend_gap(&header)?;
                }
            }
        }
        pass.throttle(header.total_bytes() as u64);
        position = next;
    }
    Ok(true)
}

fn removed(header: &BatchHeader, rewritten: &[u8]) -> u64 {
    let kept = BatchHeader::parse(rewritten, usize::MAX).map_or(0, |h| h.record_count);
    u64::try_from(header.record_count - kept).unwrap_or(0)
}

/// The cleaned file being written.
struct Output {
    writer: BufWriter<File>,
    path: PathBuf,
    bytes: u64,
    /// Removed batches not yet written: (first base offset, last offset, max timestamp).
    gap: Option<(i64, i64, i64)>,
    changed: bool,
    records_removed: u64,
}

impl Output {
    fn write(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.writer
            .write_all(bytes)
            .map_err(StorageError::io("write cleaned segment", &self.path))?;
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    fn batch(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.flush_gap()?;
        self.write(bytes)
    }

    fn extend_gap(&mut self, header: &BatchHeader) -> Result<(), StorageError> {
        if let Some((first, _, _)) = self.gap {
            if header.last_offset() - first > i64::from(i32::MAX) {
                self.flush_gap()?;
            }
        }
        let (first, _, max_ts) =
            self.gap
                .unwrap_or((header.base_offset, header.base_offset, i64::MIN));
        self.gap = Some((
            first,
            header.last_offset(),
            max_ts.max(header.max_timestamp),
        ));
        Ok(())
    }

    /// Writes the pending run of removed batches as one header-only batch.
    fn flush_gap(&mut self) -> Result<(), StorageError> {
        let Some((first, last, max_timestamp)) = self.gap.take() else {
            return Ok(());
        };
        let header = BatchHeader {
            base_offset: first,
            batch_length: 0,
            partition_leader_epoch: 0,
            magic: MAGIC_V2,
            crc: 0,
            attributes: 0,
            last_offset_delta: i32::try_from(last - first).unwrap_or(i32::MAX),
            base_timestamp: max_timestamp,
            max_timestamp,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            record_count: 0,
        };
        self.write(&empty_batch(&header))
    }

    /// Flushes and fsyncs the file; `None` when it is not worth swapping in.
    fn finish(mut self, complete: bool) -> Result<Option<Cleaned>, StorageError> {
        self.flush_gap()?;
        if !complete || !self.changed {
            return Ok(None);
        }
        let path = self.path.clone();
        let file = self
            .writer
            .into_inner()
            .map_err(|e| StorageError::io("write cleaned segment", &path)(e.into_error()))?;
        file.sync_data()
            .map_err(StorageError::io("fsync cleaned segment", &path))?;
        Ok(Some(Cleaned {
            path,
            file,
            bytes: self.bytes,
            records_removed: self.records_removed,
        }))
    }
}
