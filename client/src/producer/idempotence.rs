//! Idempotent producing: a producer id and epoch from the broker (InitProducerId), and a
//! sequence number per partition stamped on each batch when it is sealed.
//!
//! Batches of a partition are sealed in creation order and keep their bytes across
//! retries, so the broker sees the same sequence for a retried batch and answers it with
//! the original offsets instead of appending it twice.

use std::collections::HashMap;
use std::sync::Mutex;

use rill_protocol::api::init_producer_id::InitProducerIdRequest;
use rill_protocol::error_code::ErrorCode;

use crate::error::{ClientError, Result};
use crate::record::TopicPartition;
use crate::slot::ConnectionSlot;

/// This producer's identity and its next sequence per partition.
#[derive(Debug)]
pub(crate) struct Idempotence {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    producer_id: i64,
    producer_epoch: i16,
    /// Bumped with each new identity; a batch sealed under an older one is stamped again.
    generation: u64,
    next_sequence: HashMap<TopicPartition, i32>,
    /// A sequenced batch failed for good: its partition's sequence has a gap the broker
    /// will never fill, so the producer takes a new identity (Kafka bumps its epoch for
    /// the same reason, KIP-360) once nothing is in flight.
    reset_pending: bool,
}

/// What a sealed batch is stamped with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) producer_id: i64,
    pub(crate) producer_epoch: i16,
    pub(crate) base_sequence: i32,
    pub(crate) generation: u64,
}

impl Idempotence {
    /// Asks the broker for a producer id.
    pub(crate) async fn init(slot: &ConnectionSlot) -> Result<Idempotence> {
        let (producer_id, producer_epoch) = new_identity(slot).await?;
        Ok(Idempotence {
            state: Mutex::new(State {
                producer_id,
                producer_epoch,
                generation: 0,
                next_sequence: HashMap::new(),
                reset_pending: false,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current identity's generation.
    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Reserves `record_count` sequence numbers of `tp` under the current identity
    /// (sequences wrap at `i32::MAX`, as in Kafka).
    pub(crate) fn reserve(&self, tp: &TopicPartition, record_count: usize) -> Stamp {
        let mut state = self.lock();
        let next = state.next_sequence.entry(tp.clone()).or_insert(0);
        let base = *next;
        let count = i64::try_from(record_count).unwrap_or(i64::from(i32::MAX));
        *next = ((i64::from(base) + count) % (i64::from(i32::MAX) + 1)) as i32;
        Stamp {
            producer_id: state.producer_id,
            producer_epoch: state.producer_epoch,
            base_sequence: base,
            generation: state.generation,
        }
    }

    /// A batch stamped under `generation` failed for good; asks for a new identity if
    /// that is still the current one.
    pub(crate) fn request_reset(&self, generation: u64) {
        let mut state = self.lock();
        if state.generation == generation && !state.reset_pending {
            tracing::warn!(
                producer_id = state.producer_id,
                "a batch failed for good: its partition's sequence has a gap; taking a new \
                 producer id once the batches in flight are answered"
            );
            state.reset_pending = true;
        }
    }

    /// True while a new identity is due (the sender holds new batches back).
    pub(crate) fn reset_pending(&self) -> bool {
        self.lock().reset_pending
    }

    /// Takes a new identity from the broker: every partition's sequence restarts at 0,
    /// and batches sealed before are stamped again when next sent.
    pub(crate) async fn reset(&self, slot: &ConnectionSlot) -> Result<()> {
        let (producer_id, producer_epoch) = new_identity(slot).await?;
        let mut state = self.lock();
        state.producer_id = producer_id;
        state.producer_epoch = producer_epoch;
        state.generation += 1;
        state.next_sequence.clear();
        state.reset_pending = false;
        tracing::info!(producer_id, "idempotent producer took a new producer id");
        Ok(())
    }
}

/// A fresh producer id and epoch from the broker.
async fn new_identity(slot: &ConnectionSlot) -> Result<(i64, i16)> {
    let request = InitProducerIdRequest {
        transactional_id: None,
        transaction_timeout_ms: -1,
        producer_id: -1,
        producer_epoch: -1,
    };
    let response = slot.call(&request).await?;
    if response.error_code != ErrorCode::None {
        return Err(ClientError::broker(
            response.error_code,
            "",
            None,
            Some(
                "InitProducerId failed; set enable_idempotence(false) to produce without it".into(),
            ),
        ));
    }
    Ok((response.producer_id, response.producer_epoch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_advance_per_partition_and_wrap() {
        let idem = Idempotence {
            state: Mutex::new(State {
                producer_id: 3,
                producer_epoch: 0,
                generation: 0,
                next_sequence: HashMap::new(),
                reset_pending: false,
            }),
        };
        let a = TopicPartition::new("t", 0);
        let b = TopicPartition::new("t", 1);
        assert_eq!(idem.reserve(&a, 10).base_sequence, 0);
        assert_eq!(idem.reserve(&a, 5).base_sequence, 10);
        assert_eq!(idem.reserve(&b, 1).base_sequence, 0);
        idem.lock().next_sequence.insert(a.clone(), i32::MAX - 1);
        assert_eq!(idem.reserve(&a, 3).base_sequence, i32::MAX - 1);
        assert_eq!(idem.reserve(&a, 1).base_sequence, 1);
        idem.request_reset(7);
        assert!(
            !idem.reset_pending(),
            "an old generation's failure changes nothing"
        );
        idem.request_reset(0);
        assert!(idem.reset_pending());
    }
}
