//! Idempotent-producer state of one partition: for each producer id, its epoch and the
//! sequence ranges of its last few batches, so a retried batch is answered with its
//! original offsets instead of being appended twice, and a gap or reordering is refused.
//!
//! Only the appending thread touches it (it lives in the writer's critical section). It is
//! rebuilt on open by walking the batch headers of the log, so it survives restarts
//! without a file of its own. Bounded: at most [`PRODUCERS_PER_PARTITION_MAX`] producers,
//! the least recently active evicted first, and [`BATCHES_PER_PRODUCER`] batches each.

use std::collections::{HashMap, VecDeque};

use rill_protocol::batch::BatchHeader;

/// Batches remembered per producer: as many as a producer may have in flight (Kafka's 5).
pub const BATCHES_PER_PRODUCER: usize = 5;
/// Producers remembered per partition.
pub const PRODUCERS_PER_PARTITION_MAX: usize = 10_000;

/// A batch's sequence range and where it landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SequencedBatch {
    first_sequence: i32,
    last_sequence: i32,
    base_offset: i64,
    last_offset: i64,
}

#[derive(Debug, Clone)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<SequencedBatch>,
    /// Monotonic counter of the last append, for eviction.
    last_touch: u64,
}

/// What the state says about an incoming batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Not from an idempotent producer, or the next batch in sequence: append it.
    Append,
    /// A retry of a batch already in the log at these offsets: do not append again.
    Duplicate {
        /// Offset of the batch's first record.
        base_offset: i64,
        /// Offset of its last record.
        last_offset: i64,
    },
}

/// Why an idempotent batch was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    /// The producer's epoch is older than one already seen: a fenced (zombie) producer.
    #[error("producer epoch {epoch} is older than the current epoch {current} (fenced)")]
    StaleEpoch {
        /// The batch's epoch.
        epoch: i16,
        /// The newest epoch seen for this producer id.
        current: i16,
    },
    /// The batch's first sequence is not the one after the last appended batch.
    #[error("sequence {got} is out of order: expected {expected}")]
    OutOfOrder {
        /// The sequence the partition expected next.
        expected: i32,
        /// The batch's first sequence.
        got: i32,
    },
}

/// Per-partition producer state.
#[derive(Debug, Default, Clone)]
pub struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
    touches: u64,
}

fn last_sequence(header: &BatchHeader) -> i32 {
    // Sequences wrap at i32::MAX, as in Kafka.
    let next = i64::from(header.base_sequence) + i64::from(header.last_offset_delta);
    (next % (i64::from(i32::MAX) + 1)) as i32
}

fn next_sequence(sequence: i32) -> i32 {
    if sequence == i32::MAX {
        0
    } else {
        sequence + 1
    }
}

impl ProducerStates {
    /// Decides whether `header`'s batch may be appended.
    pub fn check(&self, header: &BatchHeader) -> Result<SequenceCheck, SequenceError> {
        if header.producer_id < 0 || header.base_sequence < 0 {
            return Ok(SequenceCheck::Append);
        }
        let Some(entry) = self.producers.get(&header.producer_id) else {
            return Ok(SequenceCheck::Append);
        };
        if header.producer_epoch < entry.epoch {
            return Err(SequenceError::StaleEpoch {
                epoch: header.producer_epoch,
                current: entry.epoch,
            });
        }
        if header.producer_epoch > entry.epoch {
            // A new epoch starts its sequences afresh.
            return match header.base_sequence {
                0 => Ok(SequenceCheck::Append),
                got => Err(SequenceError::OutOfOrder { expected: 0, got }),
            };
        }
        let last = last_sequence(header);
        if let Some(dup) = entry
            .batches
            .iter()
            .find(|b| b.first_sequence == header.base_sequence && b.last_sequence == last)
        {
            return Ok(SequenceCheck::Duplicate {
                base_offset: dup.base_offset,
                last_offset: dup.last_offset,
            });
        }
        let expected = entry
            .batches
            .back()
            .map_or(0, |b| next_sequence(b.last_sequence));
        if header.base_sequence != expected {
            return Err(SequenceError::OutOfOrder {
                expected,
                got: header.base_sequence,
            });
        }
        Ok(SequenceCheck::Append)
    }

    /// Rebuilds the state by walking every batch header of `segments`, oldest first.
    pub fn rebuild(segments: &[std::sync::Arc<super::segment::Segment>]) -> ProducerStates {
        let mut states = ProducerStates::default();
        for segment in segments {
            let end = segment.committed_bytes();
            let mut position = 0;
            while let Some(header) = segment.header_at(position, end) {
                states.record(&header);
                position += header.total_bytes() as u64;
            }
        }
        states
    }

    /// Records an appended batch (its header with the stamped base offset).
    pub fn record(&mut self, header: &BatchHeader) {
        if header.producer_id < 0 || header.base_sequence < 0 {
            return;
        }
        self.touches += 1;
        let touch = self.touches;
        if !self.producers.contains_key(&header.producer_id)
            && self.producers.len() >= PRODUCERS_PER_PARTITION_MAX
        {
            self.evict_least_recent();
        }
        let entry = self
            .producers
            .entry(header.producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch: header.producer_epoch,
                batches: VecDeque::with_capacity(BATCHES_PER_PRODUCER),
                last_touch: touch,
            });
        if header.producer_epoch != entry.epoch {
            entry.epoch = header.producer_epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == BATCHES_PER_PRODUCER {
            entry.batches.pop_front();
        }
        entry.batches.push_back(SequencedBatch {
            first_sequence: header.base_sequence,
            last_sequence: last_sequence(header),
            base_offset: header.base_offset,
            last_offset: header.last_offset(),
        });
        entry.last_touch = touch;
    }

    /// Producers currently remembered.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    /// True when no producer is remembered.
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    fn evict_least_recent(&mut self) {
        if let Some(oldest) = self
            .producers
            .iter()
            .min_by_key(|(_, e)| e.last_touch)
            .map(|(id, _)| *id)
        {
            self.producers.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(
        producer_id: i64,
        epoch: i16,
        base_sequence: i32,
        count: i32,
        base_offset: i64,
    ) -> BatchHeader {
        BatchHeader {
            base_offset,
            batch_length: 49,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id,
            producer_epoch: epoch,
            base_sequence,
            record_count: count,
        }
    }

    #[test]
    fn in_order_batches_append_and_retries_are_duplicates() {
        let mut s = ProducerStates::default();
        let first = header(7, 0, 0, 3, 10);
        assert_eq!(s.check(&first), Ok(SequenceCheck::Append));
        s.record(&first);
        let second = header(7, 0, 3, 2, 13);
        assert_eq!(s.check(&second), Ok(SequenceCheck::Append));
        s.record(&second);
        assert_eq!(
            s.check(&header(7, 0, 0, 3, 0)),
            Ok(SequenceCheck::Duplicate {
                base_offset: 10,
                last_offset: 12
            })
        );
        assert_eq!(
            s.check(&header(7, 0, 3, 2, 0)),
            Ok(SequenceCheck::Duplicate {
                base_offset: 13,
                last_offset: 14
            })
        );
    }

    #[test]
    fn gaps_reorders_and_stale_epochs_are_refused() {
        let mut s = ProducerStates::default();
        s.record(&header(1, 2, 0, 5, 0));
        assert_eq!(
            s.check(&header(1, 2, 9, 1, 0)),
            Err(SequenceError::OutOfOrder {
                expected: 5,
                got: 9
            })
        );
        assert_eq!(
            s.check(&header(1, 1, 5, 1, 0)),
            Err(SequenceError::StaleEpoch {
                epoch: 1,
                current: 2
            })
        );
        assert_eq!(s.check(&header(1, 3, 0, 1, 0)), Ok(SequenceCheck::Append));
        assert_eq!(
            s.check(&header(1, 3, 4, 1, 0)),
            Err(SequenceError::OutOfOrder {
                expected: 0,
                got: 4
            })
        );
        // Non-idempotent batches are never checked.
        assert_eq!(
            s.check(&header(-1, -1, -1, 1, 0)),
            Ok(SequenceCheck::Append)
        );
    }

    #[test]
    fn sequences_wrap_and_memory_is_bounded() {
        let mut s = ProducerStates::default();
        s.record(&header(1, 0, i32::MAX - 1, 2, 0));
        assert_eq!(s.check(&header(1, 0, 0, 1, 2)), Ok(SequenceCheck::Append));
        for _ in 0..(BATCHES_PER_PRODUCER * 3) {
            let next = s.producers[&1]
                .batches
                .back()
                .map(|b| next_sequence(b.last_sequence))
                .unwrap();
            s.record(&header(1, 0, next, 1, 0));
        }
        assert_eq!(s.producers[&1].batches.len(), BATCHES_PER_PRODUCER);
        for id in 0..(PRODUCERS_PER_PARTITION_MAX as i64 + 10) {
            s.record(&header(100 + id, 0, 0, 1, 0));
        }
        assert_eq!(s.len(), PRODUCERS_PER_PARTITION_MAX);
    }
}
