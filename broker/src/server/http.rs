//! The operator's HTTP endpoint (hyper, HTTP/1.1): `/metrics` in the Prometheus /
//! OpenMetrics text format, `/health` (liveness: 200 while the process serves HTTP) and
//! `/ready` (200 once recovery finished and the protocol listener accepts, 503 before
//! that and again while shutting down).
//!
//! It starts before the topics are opened, so an orchestrator can watch a long recovery;
//! [`Telemetry`] is the state it reads, filled in as the broker comes up. Connections are
//! bounded, each serves one request (so none can be held idle after it), headers must
//! arrive within a timeout, and the endpoint stops with the broker's [`ShutdownListener`].
//! With TLS on (and `http` among `--tls-listeners`) it serves HTTPS only.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tracing::{debug, error, warn};

use super::{BrokerCtx, ServerError};
use crate::metrics::collector::{self, BrokerCollector};
use crate::metrics::Metrics;
use crate::shutdown::ShutdownListener;
use crate::tls::{BrokerStream, TlsAcceptor};

/// Most HTTP connections served at once; more wait in the accept queue.
pub const HTTP_CONNECTIONS_MAX: usize = 64;
/// Longest a client may take to send its request headers.
pub const HTTP_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Content type of `/metrics` (what `prometheus-client` writes).
const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What the HTTP endpoint reports, shared with the broker as it starts and stops.
#[derive(Debug, Default)]
pub struct Telemetry {
    metrics: Arc<Metrics>,
    broker: OnceLock<Arc<BrokerCtx>>,
    ready: AtomicBool,
}

impl Telemetry {
    /// Fresh metrics; not ready.
    pub fn new() -> Arc<Telemetry> {
        Arc::new(Telemetry::default())
    }

    /// The broker-wide metrics (handed to the `BrokerCtx` once topics are open).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Called once the topics are open: scrapes include partitions from now on.
    pub fn attach(&self, broker: Arc<BrokerCtx>) {
        let _ = self.broker.set(broker);
    }

    /// Whether `/ready` answers 200.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Marks the broker ready (listener accepting) or not (starting, shutting down).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// The current scrape, encoded.
    pub fn render_metrics(&self) -> Result<String, std::fmt::Error> {
        collector::render(BrokerCollector {
            metrics: self.metrics.clone(),
            broker: self.broker.get().cloned(),
            ready: self.is_ready(),
        })
    }
}

/// A bound HTTP endpoint, not yet serving.
#[derive(Debug)]
pub struct HttpEndpoint {
    listener: TcpListener,
    addr: SocketAddr,
}

impl HttpEndpoint {
    /// Binds `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr) -> Result<HttpEndpoint, ServerError> {
        let bind_error = |source| ServerError::HttpBind { addr, source };
        let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        Ok(HttpEndpoint { listener, addr })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until shutdown, then lets open exchanges finish.
    pub async fn serve(
        self,
        telemetry: Arc<Telemetry>,
        tls: Option<Arc<TlsAcceptor>>,
        mut shutdown: ShutdownListener,
    ) {
        let mut connections = JoinSet::new();
        loop {
            let accepted = tokio::select! {
                _ = shutdown.recv() => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => continue,
                accepted = self.listener.accept(), if connections.len() < HTTP_CONNECTIONS_MAX => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    error!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let telemetry = telemetry.clone();
            let (tls, mut shutdown) = (tls.clone(), shutdown.clone());
            connections.spawn(async move {
                // The handshake runs here, on the connection's task, under its timeout.
                let accepted = tokio::select! {
                    accepted = crate::tls::accept(tls.as_ref(), stream, peer) => accepted,
                    () = shutdown.recv() => None,
                };
                if let Some(stream) = accepted {
                    serve_connection(stream, telemetry, shutdown).await;
                }
            });
        }
        drop(self.listener);
        while connections.join_next().await.is_some() {}
    }
}

async fn serve_connection(
    stream: BrokerStream,
    telemetry: Arc<Telemetry>,
    mut shutdown: ShutdownListener,
) {
    let service = hyper::service::service_fn(move |request| {
        let telemetry = telemetry.clone();
        async move { Ok::<_, Infallible>(respond(&telemetry, &request)) }
    });
    // One request per connection: the header timeout bounds how long a connection waits
    // for its request, and a client cannot then hold one of the few slots idle.
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HTTP_HEADER_TIMEOUT)
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    // Cancel-safety: the connection future is pinned here and polled again after the
    // shutdown branch asks it to finish, so no exchange is cut half-way.
    let outcome = tokio::select! {
        outcome = connection.as_mut() => outcome,
        _ = shutdown.recv() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = outcome {
        debug!(error = %e, "HTTP connection ended with an error");
    }
}

/// Routes one request.
fn respond(telemetry: &Telemetry, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    }
    match request.uri().path() {
        "/metrics" => match telemetry.render_metrics() {
            Ok(body) => {
                let mut response = Response::new(Full::new(Bytes::from(body)));
                response.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static(OPENMETRICS_CONTENT_TYPE),
                );
                response
            }
            Err(e) => {
                warn!(error = %e, "cannot encode metrics");
                text(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics\n")
            }
        },
        "/health" => text(StatusCode::OK, "ok\n"),
        "/ready" if telemetry.is_ready() => text(StatusCode::OK, "ready\n"),
        "/ready" => text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
        _ => text(
            StatusCode::NOT_FOUND,
            "endpoints: /metrics /health /ready\n",
        ),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
