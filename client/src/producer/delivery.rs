//! [`DeliveryFuture`]: the per-record answer to `Producer::send`.
//!
//! All records of a batch share one completion (a shared oneshot), so a batch of ten
//! thousand records costs one channel, not ten thousand; each future only adds its
//! index in the batch and its timestamp.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::channel::oneshot;
use futures::future::Shared;

use crate::error::ClientError;
use crate::record::RecordMetadata;

/// The broker's answer for a whole batch.
#[derive(Debug)]
pub(crate) struct BatchAck {
    /// Topic of the batch.
    pub(crate) topic: Arc<str>,
    /// Partition of the batch.
    pub(crate) partition: i32,
    /// Offset of the batch's first record (`-1` with `acks=0`).
    pub(crate) base_offset: i64,
    /// Log-append time the broker stamped, or `-1` when the topic uses create time.
    pub(crate) log_append_time_ms: i64,
}

/// What a batch's completion carries.
pub(crate) type BatchOutcome = Result<Arc<BatchAck>, ClientError>;

/// The completion every record future of a batch clones.
pub(crate) type SharedOutcome = Shared<oneshot::Receiver<BatchOutcome>>;

/// Resolves when the record's batch is acknowledged (or finally fails).
///
/// Returned by [`crate::Producer::send`]. Dropping it does not cancel the send: the
/// record is already queued and will be delivered; only the answer is lost. Polling it
/// is cancel-safe, so it can sit in `tokio::select!`.
#[derive(Debug)]
#[must_use = "a DeliveryFuture reports whether the record was written; await it or drop it knowingly"]
pub struct DeliveryFuture {
    outcome: SharedOutcome,
    index: i32,
    timestamp_ms: i64,
}

impl DeliveryFuture {
    pub(crate) fn new(outcome: SharedOutcome, index: i32, timestamp_ms: i64) -> Self {
        Self {
            outcome,
            index,
            timestamp_ms,
        }
    }

    fn metadata(&self, ack: &BatchAck) -> RecordMetadata {
        let offset = if ack.base_offset < 0 {
            -1
        } else {
            ack.base_offset + i64::from(self.index)
        };
        let timestamp = if ack.log_append_time_ms >= 0 {
            ack.log_append_time_ms
        } else {
            self.timestamp_ms
        };
        RecordMetadata {
            topic: Arc::clone(&ack.topic),
            partition: ack.partition,
            offset,
            timestamp,
        }
    }
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, ClientError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match Pin::new(&mut this.outcome).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Ok(ack))) => Poll::Ready(Ok(this.metadata(&ack))),
            Poll::Ready(Ok(Err(error))) => Poll::Ready(Err(error)),
            // The batch was dropped without an answer: the producer went away.
            Poll::Ready(Err(oneshot::Canceled)) => {
                Poll::Ready(Err(ClientError::Closed { handle: "producer" }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    fn pair() -> (oneshot::Sender<BatchOutcome>, SharedOutcome) {
        let (tx, rx) = oneshot::channel();
        (tx, rx.shared())
    }

    #[tokio::test]
    async fn offsets_are_base_plus_index() {
        let (tx, shared) = pair();
        let first = DeliveryFuture::new(shared.clone(), 0, 10);
        let third = DeliveryFuture::new(shared, 2, 12);
        let ack = BatchAck {
            topic: Arc::from("t"),
            partition: 1,
            base_offset: 100,
            log_append_time_ms: -1,
        };
        assert!(tx.send(Ok(Arc::new(ack))).is_ok());
        let m = third.await.unwrap();
        assert_eq!((m.offset, m.timestamp, m.partition), (102, 12, 1));
        assert_eq!(first.await.unwrap().offset, 100);
    }

    #[tokio::test]
    async fn log_append_time_and_errors() {
        let (tx, shared) = pair();
        let f = DeliveryFuture::new(shared, 0, 10);
        let ack = BatchAck {
            topic: Arc::from("t"),
            partition: 0,
            base_offset: -1,
            log_append_time_ms: 77,
        };
        assert!(tx.send(Ok(Arc::new(ack))).is_ok());
        let m = f.await.unwrap();
        assert_eq!((m.offset, m.timestamp), (-1, 77));

        let (tx, shared) = pair();
        let f = DeliveryFuture::new(shared, 0, 10);
        drop(tx);
        assert!(matches!(
            f.await,
            Err(ClientError::Closed { handle: "producer" })
        ));
    }
}
