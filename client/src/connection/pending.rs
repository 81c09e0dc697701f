//! Handles to requests already queued on a connection: [`PendingResponse`] (waits for
//! and decodes the answer) and [`PendingWrite`] (waits until an `acks=0` frame is
//! flushed). Both enforce the request's deadline, set when it was queued.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rill_protocol::api::{ApiKey, Message};
use rill_protocol::wire::Reader;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::tasks::Shared;
use crate::error::{ClientError, Disconnect, Result};

/// What a queued request needs to report its own failure.
#[derive(Debug)]
pub(super) struct Exchange {
    pub(super) shared: Arc<Shared>,
    pub(super) api: ApiKey,
    pub(super) correlation_id: u32,
    pub(super) timeout: Duration,
    pub(super) deadline: Instant,
}

impl Exchange {
    /// Waits for `rx` until the deadline. On timeout the connection is closed: it is
    /// ordered, so a response that never comes would block every later one.
    async fn wait<T>(&self, rx: oneshot::Receiver<T>) -> Result<T> {
        match tokio::time::timeout_at(self.deadline, rx).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) => Err(self.shared.lost()),
            Err(_) => {
                self.shared.fail(Disconnect::RequestTimedOut);
                Err(ClientError::Timeout {
                    addr: self.shared.addr.clone(),
                    api: self.api,
                    correlation_id: self.correlation_id,
                    timeout: self.timeout,
                })
            }
        }
    }
}

/// The response to a queued request, decoded as `M`.
#[derive(Debug)]
#[must_use = "the response is only read when waited for"]
pub struct PendingResponse<M> {
    rx: oneshot::Receiver<Bytes>,
    exchange: Exchange,
    version: u16,
    _message: PhantomData<fn() -> M>,
}

impl<M: Message> PendingResponse<M> {
    pub(super) fn new(rx: oneshot::Receiver<Bytes>, exchange: Exchange, version: u16) -> Self {
        Self {
            rx,
            exchange,
            version,
            _message: PhantomData,
        }
    }

    /// The request's correlation id.
    #[cfg(test)]
    pub fn correlation_id(&self) -> u32 {
        self.exchange.correlation_id
    }

    /// Waits for the response (until the request's deadline) and decodes it.
    ///
    /// Not cancel-safe in the sense that matters: dropping it loses the response (the
    /// connection itself stays consistent).
    pub async fn wait(self) -> Result<M> {
        let payload = self.exchange.wait(self.rx).await?;
        decode(&self.exchange.shared.addr, payload, self.version)
    }
}

/// An `acks=0` request that the writer will flush.
#[derive(Debug)]
#[must_use = "the write is only confirmed when waited for"]
pub struct PendingWrite {
    rx: oneshot::Receiver<()>,
    exchange: Exchange,
}

impl PendingWrite {
    pub(super) fn new(rx: oneshot::Receiver<()>, exchange: Exchange) -> Self {
        Self { rx, exchange }
    }

    /// Waits until the frame is written and flushed to the socket.
    pub async fn wait(self) -> Result<()> {
        self.exchange.wait(self.rx).await
    }
}

/// Decodes a response payload: the echoed correlation id, then the body at `version`.
fn decode<M: Message>(addr: &str, payload: Bytes, version: u16) -> Result<M> {
    let decode_error = |cause| ClientError::Decode {
        addr: addr.to_owned(),
        api: M::API_KEY,
        cause,
    };
    let mut reader = Reader::new(payload);
    reader.u32("correlation_id").map_err(decode_error)?;
    let message = M::decode(&mut reader, version).map_err(decode_error)?;
    reader.finish().map_err(decode_error)?;
    Ok(message)
}
