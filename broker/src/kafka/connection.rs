//! One Kafka client connection: read a frame, run it, write its answer, in order.
//!
//! Kafka brokers process one request per connection at a time and answer in order; so
//! does this loop. Frames are bounded by `max_frame_bytes` before any of their body is
//! buffered ([`FrameCodec`], the native listener's codec: both protocols frame with a
//! 4-byte big-endian length). A connection silent for `idle_timeout`, or whose started
//! frame does not arrive whole within `frame_timeout`, is closed, as is one that sends
//! a frame that cannot be decoded or does not read its answers within `idle_timeout`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use rill_protocol::frame::{FrameCodec, FrameError};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::FramedRead;
use tracing::{debug, info, trace, warn};

use super::handlers::{self, Answer};
use super::request::decode_request;
use super::KafkaCtx;
use crate::security::Session;
use crate::shutdown::ShutdownListener;
use crate::tls::BrokerStream;

/// Serves one connection until the peer closes it, it misbehaves, or shutdown.
pub async fn serve(
    ctx: Arc<KafkaCtx>,
    stream: BrokerStream,
    peer: SocketAddr,
    mut shutdown: ShutdownListener,
) {
    let config = &ctx.broker.config;
    let (idle, frame_timeout) = (config.idle_timeout, config.frame_timeout);
    let mut session = Session::for_stream(peer, &stream, config.sasl.enabled());
    let (read_half, mut write_half) = stream.into_split();
    let mut frames = FramedRead::new(read_half, FrameCodec::new(config.max_frame_bytes));
    let mut silent = Duration::ZERO;
    let step = frame_timeout.min(idle).max(Duration::from_millis(1));
    let sasl = &config.sasl;
    let auth_deadline = tokio::time::Instant::now() + sasl.timeout;
    loop {
        let unauthenticated = sasl.enabled() && !session.is_authenticated();
        // Cancel-safety: FramedRead::next keeps a partial frame in its buffer.
        let next = tokio::select! {
            _ = shutdown.recv() => break,
            () = tokio::time::sleep_until(auth_deadline), if unauthenticated => {
                info!(%peer, "closing Kafka connection: not authenticated within --sasl-timeout");
                break;
            }
            next = tokio::time::timeout(step, frames.next()) => next,
        };
        let frame = match next {
            Err(_) => {
                silent += step;
                let partial = !frames.read_buffer().is_empty();
                if partial || silent >= idle {
                    debug!(%peer, partial, "closing Kafka connection: timed out");
                    break;
                }
                continue;
            }
            Ok(None) => break,
            Ok(Some(Err(FrameError::Io(e)))) => {
                debug!(%peer, error = %e, "Kafka connection lost");
                break;
            }
            Ok(Some(Err(FrameError::TooLarge { len, .. })))
                if crate::tls::looks_like_tls_record(len) =>
            {
                warn!(%peer, "closing Kafka connection: the client speaks TLS (security.protocol=ssl) but this listener is plaintext");
                ctx.broker.metrics.frame_rejected();
                break;
            }
            Ok(Some(Err(e))) => {
                warn!(%peer, error = %e, "closing Kafka connection: unreadable frame");
                ctx.broker.metrics.frame_rejected();
                break;
            }
            Ok(Some(Ok(frame))) => frame,
        };
        silent = Duration::ZERO;
        let request = match decode_request(frame) {
            Ok(request) => request,
            Err(e) => {
                warn!(%peer, error = %e, "closing Kafka connection: malformed request");
                ctx.broker.metrics.frame_rejected();
                break;
            }
        };
        let (api, correlation_id) = (request.header.api_key, request.header.correlation_id);
        trace!(%peer, ?api, correlation_id, "Kafka request received");
        let started = std::time::Instant::now();
        let answer = handlers::handle(&ctx, request, &mut session).await;
        trace!(%peer, ?api, correlation_id, elapsed_ms = started.elapsed().as_millis() as u64, "Kafka request served");
        let (mut out, last) = match answer {
            Answer::Frame(out) => (out, false),
            Answer::Last(out) => (out, true),
            Answer::Nothing => continue,
            Answer::Close => break,
        };
        match tokio::time::timeout(idle, write_half.write_all_buf(&mut out)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                debug!(%peer, error = %e, "Kafka write failed; closing");
                break;
            }
            Err(_) => {
                debug!(%peer, "closing Kafka connection: the client read no response in time");
                break;
            }
        }
        if last {
            break;
        }
    }
    let _ = write_half.shutdown().await;
}
