//! Phase one of a pass: read the dirty section and fill the offset map with the latest
//! offset of every key, stopping at the last whole batch the map has room for.
//! Also finds the last batch of every idempotent producer in the whole log: those batches
//! survive cleaning (possibly emptied), so producer state rebuilt from the log stays right.

use std::collections::HashMap;
use std::sync::Arc;

use rill_protocol::batch::RecordBatch;

use super::offset_map::{KeyHash, OffsetMap};
use super::Pass;
use crate::storage::segment::Segment;

/// What phase one found.
pub struct DirtyMap {
    /// Latest offset per key of `[first_dirty, map_end)`.
    pub map: OffsetMap,
    /// The map covers records below this offset (a batch boundary).
    pub map_end_offset: i64,
    /// Base offset of the last batch of each idempotent producer id.
    pub producer_last_batch: HashMap<i64, i64>,
    /// Bytes of batches read.
    pub bytes_read: u64,
}

/// Fills the map from `first_dirty` up to at most `cleanable_end`.
pub fn build(
    pass: &mut Pass<'_>,
    segments: &[Arc<Segment>],
    first_dirty: i64,
    cleanable_end: i64,
) -> DirtyMap {
    let mut out = DirtyMap {
        map: OffsetMap::with_budget(pass.config.offset_map_bytes),
        map_end_offset: first_dirty,
        producer_last_batch: HashMap::new(),
        bytes_read: 0,
    };
    let mut full = false;
    for segment in segments {
        let end = segment.committed_bytes();
        let mut position = 0;
        while let Some(header) = segment.header_at(position, end) {
            let next = position + header.total_bytes() as u64;
            if header.producer_id >= 0 {
                out.producer_last_batch
                    .insert(header.producer_id, header.base_offset);
            }
            let in_section =
                header.base_offset >= first_dirty && header.last_offset() < cleanable_end;
            if in_section && !full && pass.keep_going() {
                let batch = segment.slice(position, next);
                full = !add_batch(&mut out.map, batch, pass.max_batch_bytes);
                if !full {
                    out.map_end_offset = header.next_offset();
                    out.bytes_read += header.total_bytes() as u64;
                    pass.throttle(header.total_bytes() as u64);
                }
            }
            position = next;
        }
    }
    out
}

/// Puts the batch's keys in the map; false (and nothing put) when they may not fit.
/// A batch whose records cannot be read adds nothing: the rewrite keeps it whole.
fn add_batch(map: &mut OffsetMap, bytes: bytes::Bytes, max_batch_bytes: usize) -> bool {
    let Ok((batch, _)) = RecordBatch::parse(bytes, max_batch_bytes) else {
        return true;
    };
    if batch.header().is_control() {
        return true;
    }
    let count = usize::try_from(batch.header().record_count).unwrap_or(usize::MAX);
    if !map.is_empty() && map.len().saturating_add(count) > map.capacity() {
        return false;
    }
    let Ok(records) = batch.records() else {
        tracing::warn!(
            base_offset = batch.header().base_offset,
            "cleaner cannot read a batch's records; keeping it as it is"
        );
        return true;
    };
    for record in records {
        let Ok(record) = record else {
            break;
        };
        if let Some(key) = &record.key {
            map.put(KeyHash::of(key), record.offset);
        }
    }
    true
}
