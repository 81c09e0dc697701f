//! [`Connection`]: one TCP connection to a broker, with pipelined requests.
//!
//! Two tasks own the socket (see [`tasks`]): the writer takes encoded requests from a
//! bounded queue, records each one that expects an answer in the *pending* queue
//! before writing it, and flushes when the queue is empty; the reader matches each
//! response to the oldest pending request (the broker answers in request order) and
//! checks the echoed correlation id. Callers encode and decode in their own task, so
//! the I/O tasks only move bytes.
//!
//! Invariants and limits:
//! - At most `max_in_flight` requests are queued or awaiting a response (a semaphore
//!   permit travels with each request until its response arrives).
//! - Every request has a timeout. A timeout closes the connection, because a response
//!   that never comes blocks every later response on an ordered connection (Kafka does
//!   the same).
//! - When the connection dies, every waiter fails with
//!   [`ClientError::ConnectionLost`] carrying the first cause. Reconnecting is the job
//!   of the level above ([`crate::slot::ConnectionSlot`]).
//! - With [`ConnectionConfig::tls`] set, the TLS handshake ([`tls`]) runs after the TCP
//!   connect and before ApiVersions, all within `connect_timeout`; the I/O tasks then
//!   move bytes through the TLS session. A plaintext connection is the TCP socket itself.
//! - Produce requests with `acks=0` get no response; [`Connection::send_without_response`]
//!   resolves once the frame is written and never enters the pending queue.

mod api;
mod pending;
mod sasl;
mod tasks;
#[cfg(test)]
mod tests;
mod tls;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rill_protocol::api::api_versions::ApiVersionsRequest;
use rill_protocol::api::{ApiKey, RequestHeader};
use rill_protocol::error_code::ErrorCode;
use rill_protocol::frame::{FrameBuf, OutFrame};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Semaphore};

pub use api::ApiCall;
use pending::Exchange;
pub use pending::{PendingResponse, PendingWrite};
use tasks::{Outgoing, Reply, Shared};
pub(crate) use tls::handshake as tls_handshake;

use crate::config::ConnectionConfig;
use crate::error::{ClientError, Disconnect, Result};

/// A live connection to one broker. Cheap to share behind an `Arc`; dropping the last
/// handle closes the socket.
#[derive(Debug)]
pub struct Connection {
    shared: Arc<Shared>,
    outgoing: mpsc::Sender<Outgoing>,
    in_flight: Arc<Semaphore>,
    next_correlation_id: AtomicU32,
    client_id: Option<String>,
    request_timeout: Duration,
    max_frame_bytes: usize,
    /// Broker API version ranges by api key, from the ApiVersions handshake.
    broker_versions: OnceLock<HashMap<u16, (u16, u16)>>,
}

impl Connection {
    /// Connects to `addr` and performs the TLS handshake (when `config.tls` is set), the
    /// ApiVersions handshake and, when `config.sasl` is set, authenticates.
    pub async fn connect(config: &ConnectionConfig, addr: &str) -> Result<Connection> {
        let connection = Self::connect_unauthenticated(config, addr).await?;
        sasl::authenticate_if_required(&connection, config.sasl.as_ref(), config.connect_timeout)
            .await?;
        Ok(connection)
    }

    /// Connects to `addr`: TCP, TLS when configured, then the ApiVersions handshake, all
    /// within `config.connect_timeout`.
    async fn connect_unauthenticated(config: &ConnectionConfig, addr: &str) -> Result<Connection> {
        let started = tokio::time::Instant::now();
        let stream = Self::connect_tcp(config, addr).await?;
        let Some(tls) = &config.tls else {
            let (read_half, write_half) = stream.into_split();
            let connection = Self::start(read_half, write_half, addr, config);
            connection
                .handshake(config.connect_timeout)
                .await
                .map_err(tls::explain_plaintext)?;
            return Ok(connection);
        };
        let handshake = tls::handshake(tls, stream, addr);
        let remaining = config.connect_timeout.saturating_sub(started.elapsed());
        let stream = tokio::time::timeout(remaining, handshake)
            .await
            .map_err(|_| ClientError::ConnectTimeout {
                addr: addr.to_owned(),
                timeout: config.connect_timeout,
            })??;
        let (read_half, write_half) = tokio::io::split(stream);
        let connection = Self::start(read_half, write_half, addr, config);
        let remaining = config.connect_timeout.saturating_sub(started.elapsed());
        connection
            .handshake(remaining.max(Duration::from_millis(1)))
            .await
            .map_err(tls::explain_after_handshake)?;
        Ok(connection)
    }

    /// Opens the TCP connection within `config.connect_timeout`.
    async fn connect_tcp(config: &ConnectionConfig, addr: &str) -> Result<TcpStream> {
        let connecting = TcpStream::connect(addr);
        let stream = tokio::time::timeout(config.connect_timeout, connecting)
            .await
            .map_err(|_| ClientError::ConnectTimeout {
                addr: addr.to_owned(),
                timeout: config.connect_timeout,
            })?
            .map_err(|source| ClientError::Connect {
                addr: addr.to_owned(),
                cause: Arc::new(source),
            })?;
        // Latency matters more than packet count: requests are already batched.
        stream
            .set_nodelay(true)
            .map_err(|source| ClientError::Connect {
                addr: addr.to_owned(),
                cause: Arc::new(source),
            })?;
        Ok(stream)
    }

    /// Spawns the I/O tasks over the two halves of a stream (no handshake).
    fn start<R, W>(read_half: R, write_half: W, addr: &str, config: &ConnectionConfig) -> Connection
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let max_in_flight = config.max_in_flight.max(1);
        let shared = Arc::new(Shared::new(addr.to_owned()));
        let (outgoing, outgoing_rx) = mpsc::channel(max_in_flight);
        tasks::spawn(
            read_half,
            write_half,
            outgoing_rx,
            Arc::clone(&shared),
            config.max_frame_bytes,
        );
        Connection {
            shared,
            outgoing,
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            next_correlation_id: AtomicU32::new(0),
            client_id: Some(config.client_id.clone()),
            request_timeout: config.request_timeout,
            max_frame_bytes: config.max_frame_bytes,
            broker_versions: OnceLock::new(),
        }
    }

    async fn handshake(&self, timeout: Duration) -> Result<()> {
        let response = self.call_with_timeout(&ApiVersionsRequest, timeout).await?;
        if response.error_code != ErrorCode::None {
            return Err(ClientError::Broker {
                code: response.error_code,
                topic: None,
                partition: None,
                message: Some(format!("ApiVersions handshake with {}", self.addr())),
            });
        }
        let ranges = response
            .api_keys
            .iter()
            .map(|r| (r.api_key, (r.min_version, r.max_version)))
            .collect();
        // Set once per connection, right here; a second set cannot happen.
        let _ = self.broker_versions.set(ranges);
        Ok(())
    }

    /// Whether the broker's ApiVersions answer lists `api`.
    pub(crate) fn broker_serves(&self, api: ApiKey) -> bool {
        self.broker_versions
            .get()
            .is_some_and(|versions| versions.contains_key(&api.as_u16()))
    }

    /// The broker's address.
    pub fn addr(&self) -> &str {
        &self.shared.addr
    }

    /// True once the connection has failed or been closed; it never recovers.
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Closes the connection; requests in flight fail with `ConnectionLost`.
    pub fn close(&self) {
        self.shared.fail(Disconnect::Closed);
    }

    /// The version of `api` to speak: the newest both sides support.
    pub fn version(&self, api: ApiKey) -> Result<u16> {
        let (ours_min, ours_max) = (api.min_version(), api.max_version());
        let Some(ranges) = self.broker_versions.get() else {
            // Only the handshake runs before the ranges are known.
            return Ok(ours_min);
        };
        let unsupported = || ClientError::UnsupportedVersion {
            addr: self.addr().to_owned(),
            api,
            client_min: ours_min,
            client_max: ours_max,
        };
        let &(broker_min, broker_max) = ranges.get(&api.as_u16()).ok_or_else(unsupported)?;
        let version = ours_max.min(broker_max);
        if version < ours_min.max(broker_min) {
            return Err(unsupported());
        }
        Ok(version)
    }

    /// Sends `request` and waits for its response within `request_timeout`.
    ///
    /// Cancel-safe for the connection: dropping the future leaves the connection
    /// consistent (the response is read and discarded), but the broker may still act on
    /// the request.
    pub async fn call<R: ApiCall>(&self, request: &R) -> Result<R::Response> {
        self.call_with_timeout(request, self.request_timeout).await
    }

    /// Like [`Connection::call`] with an explicit timeout (e.g. a long-polling fetch).
    pub async fn call_with_timeout<R: ApiCall>(
        &self,
        request: &R,
        timeout: Duration,
    ) -> Result<R::Response> {
        self.send_request(request, timeout).await?.wait().await
    }

    /// Queues `request` on the connection and returns the handle of its response
    /// without waiting for it: requests queued one after another from one task go out
    /// (and are answered) in that order. This is the pipelining primitive the producer
    /// uses to keep several requests in flight without reordering them.
    ///
    /// Waits for an in-flight slot first (without a limit: every slot holder is itself
    /// bounded by its own timeout); `timeout` starts once the request is queued.
    /// Cancel-safe: dropped before it resolves, nothing was sent.
    pub async fn send_request<R: ApiCall>(
        &self,
        request: &R,
        timeout: Duration,
    ) -> Result<PendingResponse<R::Response>> {
        let version = self.version(R::API_KEY)?;
        let correlation_id = self.next_correlation_id.fetch_add(1, Ordering::Relaxed);
        let frame = self.encode(request, version, correlation_id)?;
        let (reply, response) = oneshot::channel();
        self.submit(frame, correlation_id, Reply::Response(reply))
            .await?;
        Ok(PendingResponse::new(
            response,
            self.exchange(R::API_KEY, correlation_id, timeout),
            version,
        ))
    }

    /// Queues a request that gets no response (a produce with `acks=0`); the returned
    /// handle resolves once the frame has been written and flushed to the socket.
    /// Cancel-safe like [`Connection::send_request`].
    pub async fn send_without_response<R: ApiCall>(&self, request: &R) -> Result<PendingWrite> {
        let version = self.version(R::API_KEY)?;
        let correlation_id = self.next_correlation_id.fetch_add(1, Ordering::Relaxed);
        let frame = self.encode(request, version, correlation_id)?;
        let (written, written_rx) = oneshot::channel();
        self.submit(frame, correlation_id, Reply::Written(written))
            .await?;
        let exchange = self.exchange(R::API_KEY, correlation_id, self.request_timeout);
        Ok(PendingWrite::new(written_rx, exchange))
    }

    fn exchange(&self, api: ApiKey, correlation_id: u32, timeout: Duration) -> Exchange {
        Exchange {
            shared: Arc::clone(&self.shared),
            api,
            correlation_id,
            timeout,
            deadline: tokio::time::Instant::now() + timeout,
        }
    }

    /// Waits for an in-flight slot and queues the frame for the writer.
    async fn submit(&self, frame: OutFrame, correlation_id: u32, reply: Reply) -> Result<()> {
        if self.is_closed() {
            return Err(self.shared.lost());
        }
        let permit = Arc::clone(&self.in_flight)
            .acquire_owned()
            .await
            .map_err(|_| self.shared.lost())?;
        let outgoing = Outgoing {
            correlation_id,
            frame,
            reply,
            permit,
        };
        self.outgoing
            .send(outgoing)
            .await
            .map_err(|_| self.shared.lost())
    }

    fn encode<R: ApiCall>(
        &self,
        request: &R,
        version: u16,
        correlation_id: u32,
    ) -> Result<OutFrame> {
        let api = R::API_KEY;
        let header = RequestHeader {
            api_key: api,
            api_version: version,
            correlation_id,
            client_id: self.client_id.clone(),
        };
        let mut buf = FrameBuf::new();
        header
            .encode(&mut buf)
            .and_then(|()| request.encode(version, &mut buf))
            .map_err(|cause| ClientError::Encode { api, cause })?;
        buf.finish(self.max_frame_bytes)
            .map_err(|source| ClientError::RequestTooLarge {
                api,
                cause: Arc::new(source),
            })
    }
}
