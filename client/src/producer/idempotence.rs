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
    producer_id: i64,
    producer_epoch: i16,
    next_sequence: Mutex<HashMap<TopicPartition, i32>>,
}

impl Idempotence {
    /// Asks the broker for a producer id.
    pub(crate) async fn init(slot: &ConnectionSlot) -> Result<Idempotence> {
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
                    "InitProducerId failed; set enable_idempotence(false) to produce without it"
                        .into(),
                ),
            ));
        }
        Ok(Idempotence {
            producer_id: response.producer_id,
            producer_epoch: response.producer_epoch,
            next_sequence: Mutex::new(HashMap::new()),
        })
    }

    /// The producer id and epoch.
    pub(crate) fn identity(&self) -> (i64, i16) {
        (self.producer_id, self.producer_epoch)
    }

    /// Reserves `record_count` sequence numbers of `tp` and returns the first (sequences
    /// wrap at `i32::MAX`, as in Kafka).
    pub(crate) fn reserve(&self, tp: &TopicPartition, record_count: usize) -> i32 {
        let mut sequences = self.next_sequence.lock().unwrap_or_else(|e| e.into_inner());
        let next = sequences.entry(tp.clone()).or_insert(0);
        let base = *next;
        let count = i64::try_from(record_count).unwrap_or(i64::from(i32::MAX));
        *next = ((i64::from(base) + count) % (i64::from(i32::MAX) + 1)) as i32;
        base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_advance_per_partition_and_wrap() {
        let idem = Idempotence {
            producer_id: 3,
            producer_epoch: 0,
            next_sequence: Mutex::new(HashMap::new()),
        };
        let a = TopicPartition::new("t", 0);
        let b = TopicPartition::new("t", 1);
        assert_eq!(idem.reserve(&a, 10), 0);
        assert_eq!(idem.reserve(&a, 5), 10);
        assert_eq!(idem.reserve(&b, 1), 0);
        idem.next_sequence
            .lock()
            .unwrap()
            .insert(a.clone(), i32::MAX - 1);
        assert_eq!(idem.reserve(&a, 3), i32::MAX - 1);
        assert_eq!(idem.reserve(&a, 1), 1);
    }
}
