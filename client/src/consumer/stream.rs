//! The consumer as a [`futures::Stream`] of records.
//!
//! The stream polls in a loop and yields records one at a time; it never ends on its
//! own. A non-retriable error is yielded as an `Err` item and the stream goes on (the
//! next item polls again), so the application decides whether to stop.
//!
//! At least once: a poll moves the consumer's positions past every record it returns,
//! but the stream hands them out one by one. Records still buffered in the stream were
//! never received by the application, so when the stream ends (dropped, closed, or
//! turned back into its consumer) each partition's position goes back to its first
//! undelivered record. A commit (auto-commit, `commit`, `close`) therefore never covers
//! a record the application did not get, and the next poll fetches those records again.

use std::collections::{BTreeMap, VecDeque};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::Stream;

use super::Consumer;
use crate::error::Result;
use crate::record::{ConsumerRecord, TopicPartition};

/// How long each internal poll waits before polling again.
const STREAM_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The records one poll returned.
type Polled = Result<Vec<ConsumerRecord>>;

impl Consumer {
    /// Turns the consumer into an endless stream of records that can still be closed
    /// cleanly ([`ConsumerStream::close`] commits what was delivered and leaves the
    /// group) or turned back into the consumer ([`ConsumerStream::into_consumer`]).
    ///
    /// ```no_run
    /// # async fn demo(consumer: rill_client::Consumer) -> rill_client::Result<()> {
    /// use futures::StreamExt;
    /// let mut records = consumer.into_stream();
    /// while let Some(record) = records.next().await {
    ///     match record {
    ///         Ok(record) => println!("{}@{}", record.partition, record.offset),
    ///         Err(error) => { eprintln!("{error}"); break; }
    ///     }
    /// }
    /// records.close().await?;
    /// # Ok(()) }
    /// ```
    pub fn into_stream(self) -> ConsumerStream {
        ConsumerStream {
            inner: Records::new(Box::new(self)),
        }
    }

    /// A stream of records borrowing the consumer; drop it to `seek`, `assign`, `commit`
    /// or `close`. Dropping it moves positions back to the first record it had not
    /// handed out yet, so nothing undelivered is committed or skipped.
    pub fn stream(&mut self) -> impl Stream<Item = Result<ConsumerRecord>> + Send + '_ {
        Records::<&mut Consumer>::new(self)
    }

    /// Moves each partition of `undelivered` back to its first record there (if the
    /// partition is still assigned and was not moved since).
    fn rewind(&mut self, undelivered: &VecDeque<ConsumerRecord>) {
        let mut first: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        for record in undelivered {
            let tp = TopicPartition::new(record.topic.clone(), record.partition);
            first
                .entry(tp)
                .and_modify(|offset| *offset = (*offset).min(record.offset))
                .or_insert(record.offset);
        }
        for (tp, offset) in first {
            if let Some(position) = self.positions.get_mut(&tp) {
                *position = Some(offset);
            }
        }
    }
}

/// [`Consumer::into_stream`]: an owned stream of records.
///
/// Unlike dropping it (which is like dropping the consumer: a crash to the group), it
/// can end cleanly: [`ConsumerStream::close`] or [`ConsumerStream::into_consumer`].
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct ConsumerStream {
    inner: Records<'static, Box<Consumer>>,
}

impl ConsumerStream {
    /// Ends the stream and returns the consumer, its positions back at the first record
    /// the stream had not handed out. Waits for a poll in progress (at most about a
    /// second) to finish first.
    pub async fn into_consumer(mut self) -> Consumer {
        *self.inner.settle().await
    }

    /// Ends the stream and closes the consumer ([`Consumer::close`]): commits the
    /// positions after the records it handed out (with `enable_auto_commit`) and leaves
    /// the group.
    pub async fn close(self) -> Result<()> {
        let mut consumer = self.into_consumer().await;
        consumer.close().await
    }
}

impl Stream for ConsumerStream {
    type Item = Result<ConsumerRecord>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

/// Where the stream is: holding the consumer, or lending it to a poll in progress.
enum State<'a, C> {
    Idle(C),
    Polling(BoxFuture<'a, (C, Polled)>),
    /// Only while switching states, or after the consumer was taken out.
    Empty,
}

/// A stream over a consumer that is owned (`Box<Consumer>`) or borrowed.
struct Records<'a, C: AsConsumer + 'a> {
    state: State<'a, C>,
    /// Records a poll returned that the application has not received yet.
    buffer: VecDeque<ConsumerRecord>,
}

/// The two ways a stream holds its consumer.
trait AsConsumer: Send + Unpin {
    fn consumer(&mut self) -> &mut Consumer;
}

impl AsConsumer for Box<Consumer> {
    fn consumer(&mut self) -> &mut Consumer {
        self
    }
}

impl AsConsumer for &mut Consumer {
    fn consumer(&mut self) -> &mut Consumer {
        self
    }
}

impl<'a, C: AsConsumer + 'a> std::fmt::Debug for Records<'a, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records")
            .field("buffered", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

impl<'a, C: AsConsumer + 'a> Records<'a, C> {
    fn new(consumer: C) -> Self {
        Self {
            state: State::Idle(consumer),
            buffer: VecDeque::new(),
        }
    }

    /// Finishes a poll in progress (keeping its records), rewinds the consumer to the
    /// first undelivered record, and takes it out of the stream.
    async fn settle(&mut self) -> C {
        let mut consumer = match std::mem::replace(&mut self.state, State::Empty) {
            State::Idle(consumer) => consumer,
            State::Polling(poll) => {
                let (consumer, polled) = poll.await;
                match polled {
                    Ok(records) => self.buffer.extend(records),
                    Err(error) => tracing::debug!(%error, "poll failed while the stream ended"),
                }
                consumer
            }
            State::Empty => unreachable!("a stream's consumer is taken out only once"),
        };
        consumer.consumer().rewind(&self.buffer);
        self.buffer.clear();
        consumer
    }
}

impl<'a, C: AsConsumer + 'a> Stream for Records<'a, C> {
    type Item = Result<ConsumerRecord>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(record) = this.buffer.pop_front() {
                return Poll::Ready(Some(Ok(record)));
            }
            match std::mem::replace(&mut this.state, State::Empty) {
                State::Idle(mut consumer) => {
                    this.state = State::Polling(Box::pin(async move {
                        let polled = consumer.consumer().poll(STREAM_POLL_INTERVAL).await;
                        (consumer, polled)
                    }));
                }
                State::Polling(mut poll) => match poll.as_mut().poll(cx) {
                    Poll::Pending => {
                        this.state = State::Polling(poll);
                        return Poll::Pending;
                    }
                    Poll::Ready((consumer, polled)) => {
                        this.state = State::Idle(consumer);
                        match polled {
                            Ok(records) => this.buffer.extend(records),
                            Err(error) => return Poll::Ready(Some(Err(error))),
                        }
                    }
                },
                // The consumer was taken out (`into_consumer`): nothing more to read.
                State::Empty => return Poll::Ready(None),
            }
        }
    }
}

impl<'a, C: AsConsumer + 'a> Drop for Records<'a, C> {
    /// Records still buffered were never handed out: move the positions back so no
    /// commit covers them and the next poll reads them again. A poll in progress is
    /// dropped (`Consumer::poll` is cancel-safe: it moved no position).
    fn drop(&mut self) {
        if let State::Idle(consumer) = &mut self.state {
            if !self.buffer.is_empty() {
                consumer.consumer().rewind(&self.buffer);
            }
        }
    }
}
