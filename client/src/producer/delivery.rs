//! [`DeliveryFuture`]: the per-record answer to `Producer::send`.
//!
//! All records of a batch share one [`BatchCompletion`], allocated once per batch and
//! set once when the batch is answered; a record's future adds only its index in the
//! batch and its timestamp, so `send` allocates nothing per record for its answer.
//! Polling a future whose batch is answered reads the outcome without a lock; only a
//! future that has to wait takes the completion's lock to leave its waker (in its own
//! slot, so the wakers kept are bounded by the futures that waited).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};

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
pub(crate) type BatchOutcome = Result<BatchAck, ClientError>;

/// The one answer every record future of a batch reads.
///
/// Set once (the first outcome wins); the batch sets it when it is answered, fails, or
/// is dropped unanswered (then the producer went away: [`ClientError::Closed`]).
#[derive(Debug, Default)]
pub(crate) struct BatchCompletion {
    outcome: OnceLock<BatchOutcome>,
    /// Wakers of futures that polled before the outcome; one slot per such future.
    wakers: Mutex<Vec<Option<Waker>>>,
}

impl BatchCompletion {
    /// Sets the outcome (ignored if one is already set) and wakes every waiting future.
    pub(crate) fn complete(&self, outcome: BatchOutcome) {
        if self.outcome.set(outcome).is_err() {
            return;
        }
        // The outcome is set before the lock is taken and a poller checks it under the
        // lock, so a future either sees the outcome or has its waker taken here.
        let wakers = std::mem::take(&mut *self.lock_wakers());
        for waker in wakers.into_iter().flatten() {
            waker.wake();
        }
    }

    /// True once an outcome is set.
    pub(crate) fn is_complete(&self) -> bool {
        self.outcome.get().is_some()
    }

    fn lock_wakers(&self) -> std::sync::MutexGuard<'_, Vec<Option<Waker>>> {
        self.wakers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The outcome if set; otherwise leaves `waker` in `slot` (a new one if `None`).
    fn poll_outcome(&self, slot: &mut Option<u32>, waker: &Waker) -> Option<&BatchOutcome> {
        if let Some(outcome) = self.outcome.get() {
            return Some(outcome);
        }
        let mut wakers = self.lock_wakers();
        if let Some(outcome) = self.outcome.get() {
            return Some(outcome);
        }
        let index = slot.and_then(|i| usize::try_from(i).ok());
        match index.and_then(|i| wakers.get_mut(i)) {
            Some(Some(kept)) if kept.will_wake(waker) => {}
            Some(kept) => *kept = Some(waker.clone()),
            None => {
                // Slots stay below the number of futures of the batch (an i32 count).
                *slot = u32::try_from(wakers.len()).ok();
                wakers.push(Some(waker.clone()));
            }
        }
        None
    }
}

/// Resolves when the record's batch is acknowledged (or finally fails).
///
/// Returned by [`crate::Producer::send`]. Dropping it does not cancel the send: the
/// record is already queued and will be delivered; only the answer is lost. Polling it
/// is cancel-safe, so it can sit in `tokio::select!`.
#[derive(Debug)]
#[must_use = "a DeliveryFuture reports whether the record was written; await it or drop it knowingly"]
pub struct DeliveryFuture {
    completion: Arc<BatchCompletion>,
    index: i32,
    /// This future's waker slot in the completion, once it had to wait.
    waker_slot: Option<u32>,
    timestamp_ms: i64,
}

impl DeliveryFuture {
    pub(crate) fn new(completion: Arc<BatchCompletion>, index: i32, timestamp_ms: i64) -> Self {
        Self {
            completion,
            index,
            waker_slot: None,
            timestamp_ms,
        }
    }
}

/// Where record number `index` of an acknowledged batch landed.
fn metadata(ack: &BatchAck, index: i32, timestamp_ms: i64) -> RecordMetadata {
    let offset = if ack.base_offset < 0 {
        -1
    } else {
        ack.base_offset + i64::from(index)
    };
    let timestamp = if ack.log_append_time_ms >= 0 {
        ack.log_append_time_ms
    } else {
        timestamp_ms
    };
    RecordMetadata {
        topic: Arc::clone(&ack.topic),
        partition: ack.partition,
        offset,
        timestamp,
    }
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, ClientError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (index, timestamp_ms) = (this.index, this.timestamp_ms);
        match this
            .completion
            .poll_outcome(&mut this.waker_slot, cx.waker())
        {
            None => Poll::Pending,
            Some(Ok(ack)) => Poll::Ready(Ok(metadata(ack, index, timestamp_ms))),
            Some(Err(error)) => Poll::Ready(Err(error.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    fn ack(base_offset: i64, log_append_time_ms: i64) -> BatchAck {
        BatchAck {
            topic: Arc::from("t"),
            partition: 1,
            base_offset,
            log_append_time_ms,
        }
    }

    #[tokio::test]
    async fn offsets_are_base_plus_index() {
        let completion = Arc::new(BatchCompletion::default());
        let first = DeliveryFuture::new(Arc::clone(&completion), 0, 10);
        let third = DeliveryFuture::new(Arc::clone(&completion), 2, 12);
        completion.complete(Ok(ack(100, -1)));
        let m = third.await.unwrap();
        assert_eq!((m.offset, m.timestamp, m.partition), (102, 12, 1));
        assert_eq!(first.await.unwrap().offset, 100);
    }

    #[tokio::test]
    async fn log_append_time_and_errors() {
        let completion = Arc::new(BatchCompletion::default());
        let f = DeliveryFuture::new(Arc::clone(&completion), 0, 10);
        completion.complete(Ok(ack(-1, 77)));
        let m = f.await.unwrap();
        assert_eq!((m.offset, m.timestamp), (-1, 77));

        let completion = Arc::new(BatchCompletion::default());
        let f = DeliveryFuture::new(Arc::clone(&completion), 0, 10);
        completion.complete(Err(ClientError::Closed { handle: "producer" }));
        // The first outcome wins.
        completion.complete(Ok(ack(5, -1)));
        assert!(matches!(
            f.await,
            Err(ClientError::Closed { handle: "producer" })
        ));
    }

    #[tokio::test]
    async fn waiting_futures_wake_once_answered() {
        let completion = Arc::new(BatchCompletion::default());
        let mut futures: Vec<_> = (0..3)
            .map(|i| DeliveryFuture::new(Arc::clone(&completion), i, 0))
            .collect();
        for f in &mut futures {
            assert!(f.now_or_never().is_none(), "answered before completion");
        }
        // Polled again by the same waker: no new slot.
        assert!((&mut futures[0]).now_or_never().is_none());
        assert_eq!(completion.lock_wakers().len(), 3);
        let waiters: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
        tokio::task::yield_now().await;
        completion.complete(Ok(ack(7, -1)));
        let mut offsets = Vec::new();
        for waiter in waiters {
            offsets.push(waiter.await.unwrap().unwrap().offset);
        }
        assert_eq!(offsets, [7, 8, 9]);
        assert!(completion.lock_wakers().is_empty());
    }
}
