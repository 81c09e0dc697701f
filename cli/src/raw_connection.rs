//! A raw pipelined connection built on rill-protocol's frame codec, with no client
//! library in between: the transport of `rill bench produce --raw` and
//! `rill bench consume --raw` (one connection, to the first broker of `--broker` that
//! answers).
//!
//! The connection is split in two owners: the sending task holds the [`RawSender`]
//! (the only code that writes the socket) and the acking task holds the
//! [`RawReceiver`] (the only code that reads it). The broker answers in request
//! order, so the receiver matches each response to the oldest request the sender
//! queued and checks the echoed correlation id. The number of requests in flight is
//! bounded by the caller (the queue between its two tasks).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use futures::StreamExt;
use rill_client::{ConnectionConfig, TlsConfig};
use rill_protocol::api::api_versions::{ApiVersionsRequest, ApiVersionsResponse};
use rill_protocol::api::{ApiKey, Message, RequestHeader};
use rill_protocol::error_code::ErrorCode;
use rill_protocol::frame::{FrameBuf, FrameCodec};
use rill_protocol::wire::Reader;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio_util::codec::FramedRead;

/// Bytes buffered before the sender writes to the socket.
const WRITE_BUFFER_BYTES: usize = 256 * 1024;

/// The reading side of the socket or TLS session (one indirect call per read; the
/// reads are large).
type ReadSide = Box<dyn AsyncRead + Send + Unpin>;
/// The writing side, likewise (behind a 256 KiB buffer).
type WriteSide = Box<dyn AsyncWrite + Send + Unpin>;

/// Broker API version ranges by api key, from the ApiVersions handshake.
type Versions = HashMap<u16, (u16, u16)>;

/// A request written to the socket whose answer has not been read yet.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    /// The correlation id the response must echo.
    pub correlation_id: u32,
    /// The version the request was encoded at (the response uses the same).
    pub version: u16,
}

/// The writing half: encodes requests and writes them in order.
pub struct RawSender {
    writer: BufWriter<WriteSide>,
    versions: Arc<Versions>,
    next_correlation_id: u32,
    max_frame_bytes: usize,
}

/// The reading half: reads responses in request order.
pub struct RawReceiver {
    frames: FramedRead<ReadSide, FrameCodec>,
}

impl std::fmt::Debug for RawSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawSender")
            .field("next_correlation_id", &self.next_correlation_id)
            .field("max_frame_bytes", &self.max_frame_bytes)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for RawReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawReceiver")
            .field("buffered_bytes", &self.frames.read_buffer().len())
            .finish_non_exhaustive()
    }
}

/// Connects to the first bootstrap address that answers (each within `connect_timeout`),
/// runs the TLS handshake when `config.tls` is set, and agrees API versions with the
/// broker.
pub async fn connect(config: &ConnectionConfig) -> anyhow::Result<(RawSender, RawReceiver)> {
    let (bootstrap, connect_timeout) = (&config.bootstrap, config.connect_timeout);
    let max_frame_bytes = config.max_frame_bytes;
    let mut last_error = None;
    let mut connected = None;
    for addr in bootstrap.addresses() {
        match tokio::time::timeout(connect_timeout, TcpStream::connect(&addr)).await {
            Ok(Ok(stream)) => {
                connected = Some((addr, stream));
                break;
            }
            Ok(Err(e)) => {
                last_error =
                    Some(anyhow::Error::new(e).context(format!("cannot connect to {addr}")))
            }
            Err(_) => {
                last_error = Some(anyhow::anyhow!(
                    "cannot connect to {addr} within {connect_timeout:?}"
                ))
            }
        }
    }
    let Some((addr, stream)) = connected else {
        return Err(
            last_error.unwrap_or_else(|| anyhow::anyhow!("no broker address given (--broker)"))
        );
    };
    // Latency matters more than packet count: requests are already batched.
    stream.set_nodelay(true).context("cannot set TCP_NODELAY")?;
    let (read_half, write_half) = split(stream, &addr, config.tls.as_ref()).await?;
    let mut sender = RawSender {
        writer: BufWriter::with_capacity(WRITE_BUFFER_BYTES, write_half),
        versions: Arc::new(Versions::new()),
        next_correlation_id: 0,
        max_frame_bytes,
    };
    let mut receiver = RawReceiver {
        frames: FramedRead::new(read_half, FrameCodec::new(max_frame_bytes)),
    };
    let sent = sender.send(&ApiVersionsRequest).await?;
    let response: ApiVersionsResponse = receiver.receive(sent, connect_timeout).await?;
    if response.error_code != ErrorCode::None {
        bail!(
            "the broker at {addr} refused the ApiVersions handshake: {:?}",
            response.error_code
        );
    }
    let versions = response
        .api_keys
        .iter()
        .map(|r| (r.api_key, (r.min_version, r.max_version)))
        .collect();
    sender.versions = Arc::new(versions);
    if let Some(sasl) = config.sasl.as_ref() {
        crate::raw_sasl::authenticate(&mut sender, &mut receiver, sasl, connect_timeout)
            .await
            .with_context(|| format!("SASL with {addr}"))?;
    }
    Ok((sender, receiver))
}

impl RawSender {
    /// Encodes `request` at the newest version both sides speak, writes and flushes it.
    pub async fn send<M: Message>(&mut self, request: &M) -> anyhow::Result<Sent> {
        let version = self.version::<M>()?;
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let header = RequestHeader {
            api_key: M::API_KEY,
            api_version: version,
            correlation_id,
            client_id: Some("rill-bench".to_owned()),
        };
        let mut buf = FrameBuf::new();
        header
            .encode(&mut buf)
            .and_then(|()| request.encode(version, &mut buf))
            .with_context(|| format!("cannot encode a {:?} request", M::API_KEY))?;
        let mut frame = buf
            .finish(self.max_frame_bytes)
            .with_context(|| format!("{:?} request too large", M::API_KEY))?;
        self.writer
            .write_all_buf(&mut frame)
            .await
            .context("cannot write to the broker")?;
        self.writer
            .flush()
            .await
            .context("cannot write to the broker")?;
        Ok(Sent {
            correlation_id,
            version,
        })
    }

    /// The version of `M`'s API to speak: the newest both sides support. Before the
    /// handshake answered (only the handshake itself), the oldest this build speaks.
    fn version<M: Message>(&self) -> anyhow::Result<u16> {
        if self.versions.is_empty() {
            return Ok(M::MIN_VERSION);
        }
        let api: ApiKey = M::API_KEY;
        let Some(&(broker_min, broker_max)) = self.versions.get(&api.as_u16()) else {
            bail!("the broker does not support {api:?}");
        };
        let version = M::MAX_VERSION.min(broker_max);
        if version < M::MIN_VERSION.max(broker_min) {
            bail!(
                "no common version of {api:?}: broker {broker_min}..={broker_max}, rill {}..={}",
                M::MIN_VERSION,
                M::MAX_VERSION
            );
        }
        Ok(version)
    }

    /// Closes the writing side; the broker sees the end of the stream.
    pub async fn shutdown(mut self) {
        let _ = self.writer.shutdown().await;
    }
}

/// The two halves of a connected socket: its own, or a TLS session's after the
/// handshake (within the connect timeout).
async fn split(
    stream: TcpStream,
    addr: &str,
    tls: Option<&TlsConfig>,
) -> anyhow::Result<(ReadSide, WriteSide)> {
    let Some(tls) = tls else {
        let (read_half, write_half) = stream.into_split();
        return Ok((Box::new(read_half), Box::new(write_half)));
    };
    let stream = tls.handshake(stream, addr).await?;
    let (read_half, write_half) = tokio::io::split(stream);
    Ok((Box::new(read_half), Box::new(write_half)))
}

impl RawReceiver {
    /// Reads the next response, which must answer `sent`, within `timeout`.
    pub async fn receive<M: Message>(
        &mut self,
        sent: Sent,
        timeout: Duration,
    ) -> anyhow::Result<M> {
        let frame = tokio::time::timeout(timeout, self.frames.next())
            .await
            .with_context(|| format!("no response from the broker within {timeout:?}"))?
            .context("the broker closed the connection")?
            .context("cannot read a response frame")?;
        let mut reader = Reader::new(frame);
        let correlation_id = reader.u32("correlation_id")?;
        if correlation_id != sent.correlation_id {
            bail!(
                "response out of order: expected correlation id {}, got {correlation_id}",
                sent.correlation_id
            );
        }
        let response = M::decode(&mut reader, sent.version)
            .with_context(|| format!("cannot decode a {:?} response", M::API_KEY))?;
        reader.finish()?;
        Ok(response)
    }
}
