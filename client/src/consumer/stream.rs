//! The consumer as a [`futures::Stream`] of records.
//!
//! The stream polls in a loop and yields records one at a time; it never ends on its
//! own. A non-retriable error is yielded as an `Err` item and the stream goes on (the
//! next item polls again), so the application decides whether to stop.

use std::borrow::BorrowMut;
use std::collections::VecDeque;
use std::time::Duration;

use futures::Stream;

use super::Consumer;
use crate::error::Result;
use crate::record::ConsumerRecord;

/// How long each internal poll waits before polling again.
const STREAM_POLL_INTERVAL: Duration = Duration::from_secs(1);

impl Consumer {
    /// Consumes the consumer into an endless stream of records.
    ///
    /// ```no_run
    /// # async fn demo(consumer: rill_client::Consumer) {
    /// use futures::StreamExt;
    /// let mut records = std::pin::pin!(consumer.into_stream());
    /// while let Some(record) = records.next().await {
    ///     match record {
    ///         Ok(record) => println!("{}@{}", record.partition, record.offset),
    ///         Err(error) => { eprintln!("{error}"); break; }
    ///     }
    /// }
    /// # }
    /// ```
    pub fn into_stream(self) -> impl Stream<Item = Result<ConsumerRecord>> + Send + 'static {
        records(self)
    }

    /// A stream of records borrowing the consumer; drop it to `seek` or `assign` again.
    /// Records buffered in the stream when it is dropped are lost (re-`seek` to the
    /// last processed offset + 1 to resume exactly).
    pub fn stream(&mut self) -> impl Stream<Item = Result<ConsumerRecord>> + Send + '_ {
        records(self)
    }
}

fn records<C>(consumer: C) -> impl Stream<Item = Result<ConsumerRecord>> + Send
where
    C: BorrowMut<Consumer> + Send,
{
    let state = (consumer, VecDeque::new());
    futures::stream::unfold(state, |(mut consumer, mut buffer)| async move {
        loop {
            if let Some(record) = buffer.pop_front() {
                return Some((Ok(record), (consumer, buffer)));
            }
            match consumer.borrow_mut().poll(STREAM_POLL_INTERVAL).await {
                Ok(records) => buffer.extend(records),
                Err(error) => return Some((Err(error), (consumer, buffer))),
            }
        }
    })
}
