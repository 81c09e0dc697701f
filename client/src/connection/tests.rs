//! Connection tests against a fake broker on 127.0.0.1:0 that speaks the frame
//! protocol: handshake, pipelining order, the in-flight bound, timeouts, and
//! connection loss failing every waiter.

use std::time::Duration;

use futures::StreamExt;
use rill_protocol::api::metadata::{MetadataRequest, MetadataResponse};
use rill_protocol::api::produce::{ProduceRequest, ACKS_NONE};
use rill_protocol::api::{encode_response, ApiKey, Request, RequestHeader, Response};
use rill_protocol::frame::{FrameBuf, FrameCodec};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::FramedRead;

use super::*;
use crate::slot::ConnectionSlot;

/// One accepted connection of the fake broker.
struct FakeConn {
    frames: FramedRead<OwnedReadHalf, FrameCodec>,
    writer: OwnedWriteHalf,
}

impl FakeConn {
    async fn accept(listener: &TcpListener) -> FakeConn {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, writer) = stream.into_split();
        let mut conn = FakeConn {
            frames: FramedRead::new(read, FrameCodec::default()),
            writer,
        };
        let (header, request) = conn.read().await.unwrap();
        assert!(matches!(request, Request::ApiVersions(_)));
        conn.respond(&header, crate::test_support::without_sasl().into())
            .await;
        conn
    }

    async fn read(&mut self) -> Option<(RequestHeader, Request)> {
        let frame = self.frames.next().await?.ok()?;
        Some(Request::decode(frame).unwrap())
    }

    async fn respond(&mut self, header: &RequestHeader, response: Response) {
        self.respond_as(header.correlation_id, header.api_version, response)
            .await;
    }

    async fn respond_as(&mut self, correlation_id: u32, version: u16, response: Response) {
        let mut buf = FrameBuf::new();
        encode_response(correlation_id, version, &response, &mut buf).unwrap();
        let mut frame = buf.finish(1 << 20).unwrap();
        self.writer.write_all_buf(&mut frame).await.unwrap();
    }
}

fn metadata_response(controller_id: i32) -> Response {
    MetadataResponse {
        brokers: vec![],
        controller_id,
        topics: vec![],
    }
    .into()
}

fn metadata_request() -> MetadataRequest {
    MetadataRequest {
        topics: Some(vec![]),
        allow_auto_topic_creation: false,
    }
}

async fn listener() -> (TcpListener, ConnectionConfig) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    (listener, ConnectionConfig::new(addr))
}

async fn connect(listener: &TcpListener, config: &ConnectionConfig) -> (Connection, FakeConn) {
    let (client, server) = tokio::join!(
        Connection::connect(config, config.bootstrap.as_str()),
        FakeConn::accept(listener)
    );
    (client.unwrap(), server)
}

#[tokio::test]
async fn handshake_negotiates_versions() {
    let (listener, config) = listener().await;
    let (conn, _server) = connect(&listener, &config).await;
    assert_eq!(
        conn.version(ApiKey::Metadata).unwrap(),
        ApiKey::Metadata.max_version()
    );
    assert!(!conn.is_closed());
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let (listener, mut config) = listener().await;
    config.max_in_flight = 8;
    let (conn, mut server) = connect(&listener, &config).await;
    let server = tokio::spawn(async move {
        // All eight arrive before any answer: they really are pipelined.
        let mut headers = Vec::new();
        for _ in 0..8 {
            headers.push(server.read().await.unwrap().0);
        }
        for header in &headers {
            let id = i32::try_from(header.correlation_id).unwrap();
            server.respond(header, metadata_response(id)).await;
        }
        server
    });
    let mut pending = Vec::new();
    for _ in 0..8 {
        let request = metadata_request();
        pending.push(
            conn.send_request(&request, Duration::from_secs(5))
                .await
                .unwrap(),
        );
    }
    for p in pending {
        let id = i32::try_from(p.correlation_id()).unwrap();
        assert_eq!(p.wait().await.unwrap().controller_id, id);
    }
    server.await.unwrap();
}

#[tokio::test]
async fn in_flight_requests_are_bounded() {
    let (listener, mut config) = listener().await;
    config.max_in_flight = 2;
    let (conn, mut server) = connect(&listener, &config).await;
    let server = tokio::spawn(async move {
        let mut answered = 0;
        while answered < 6 {
            let first = server.read().await.unwrap().0;
            let second = server.read().await.unwrap().0;
            // A third request cannot arrive while two are unanswered.
            let third = tokio::time::timeout(Duration::from_millis(50), server.read()).await;
            assert!(third.is_err(), "more than max_in_flight requests were sent");
            server.respond(&first, metadata_response(0)).await;
            server.respond(&second, metadata_response(0)).await;
            answered += 2;
        }
    });
    let request = metadata_request();
    let calls = (0..6).map(|_| conn.call(&request));
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    server.await.unwrap();
}

#[tokio::test]
async fn timeout_fails_the_request_and_closes_the_connection() {
    let (listener, config) = listener().await;
    let (conn, mut server) = connect(&listener, &config).await;
    let _server = tokio::spawn(async move {
        while server.read().await.is_some() {} // never answers
    });
    let request = metadata_request();
    let (slow, other) = tokio::join!(
        conn.call_with_timeout(&request, Duration::from_millis(100)),
        conn.call_with_timeout(&request, Duration::from_secs(10))
    );
    assert!(
        matches!(
            slow,
            Err(ClientError::Timeout {
                api: ApiKey::Metadata,
                ..
            })
        ),
        "{slow:?}"
    );
    assert!(
        matches!(
            other,
            Err(ClientError::ConnectionLost {
                cause: Disconnect::RequestTimedOut,
                ..
            })
        ),
        "{other:?}"
    );
    assert!(conn.is_closed());
    assert!(conn.call(&request).await.unwrap_err().is_retriable());
}

#[tokio::test]
async fn connection_loss_fails_every_waiter() {
    let (listener, mut config) = listener().await;
    config.max_in_flight = 4;
    let (conn, mut server) = connect(&listener, &config).await;
    tokio::spawn(async move {
        for _ in 0..3 {
            server.read().await.unwrap();
        }
        drop(server); // the broker goes away with three requests unanswered
    });
    let request = metadata_request();
    let results = futures::future::join_all((0..3).map(|_| conn.call(&request))).await;
    for result in results {
        match result {
            Err(ClientError::ConnectionLost { addr, cause }) => {
                assert_eq!(addr, config.bootstrap.as_str());
                assert!(
                    matches!(cause, Disconnect::Eof | Disconnect::Io(_)),
                    "{cause}"
                );
            }
            other => panic!("expected ConnectionLost, got {other:?}"),
        }
    }
    assert!(conn.is_closed());
}

#[tokio::test]
async fn wrong_correlation_id_breaks_the_connection() {
    let (listener, config) = listener().await;
    let (conn, mut server) = connect(&listener, &config).await;
    tokio::spawn(async move {
        let (header, _) = server.read().await.unwrap();
        server
            .respond_as(
                header.correlation_id + 100,
                header.api_version,
                metadata_response(0),
            )
            .await;
        let _ = server.read().await;
    });
    let err = conn.call(&metadata_request()).await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::ConnectionLost {
                cause: Disconnect::CorrelationMismatch { .. },
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn acks_zero_produce_expects_no_response() {
    let (listener, config) = listener().await;
    let (conn, mut server) = connect(&listener, &config).await;
    let server = tokio::spawn(async move {
        let (_, produce) = server.read().await.unwrap();
        assert!(matches!(produce, Request::Produce(_)));
        // No answer to the produce; the next request is answered normally.
        let (header, _) = server.read().await.unwrap();
        server.respond(&header, metadata_response(7)).await;
    });
    let produce = ProduceRequest {
        transactional_id: None,
        acks: ACKS_NONE,
        timeout_ms: 1000,
        topics: vec![],
    };
    conn.send_without_response(&produce)
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    let metadata = conn.call(&metadata_request()).await.unwrap();
    assert_eq!(metadata.controller_id, 7);
    server.await.unwrap();
}

#[tokio::test]
async fn slot_reconnects_after_loss() {
    let (listener, config) = listener().await;
    let slot = ConnectionSlot::new(config.clone(), "test");
    let server = tokio::spawn(async move {
        let first = FakeConn::accept(&listener).await;
        drop(first);
        let mut second = FakeConn::accept(&listener).await;
        let (header, _) = second.read().await.unwrap();
        second.respond(&header, metadata_response(2)).await;
    });
    let first = slot.get().await.unwrap();
    let request = metadata_request();
    assert!(first.call(&request).await.is_err());
    let response = slot.call(&request).await.unwrap();
    assert_eq!(response.controller_id, 2);
    server.await.unwrap();
}

#[tokio::test]
async fn connect_refused_is_typed() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    let err = Connection::connect(&ConnectionConfig::new(addr.clone()), &addr)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Connect { addr: a, .. } if *a == addr),
        "{err:?}"
    );
    // A silent peer makes the handshake time out.
    let (listener, mut config) = listener().await;
    config.connect_timeout = Duration::from_millis(100);
    let _keep = tokio::spawn(async move {
        let (stream, _): (TcpStream, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(stream);
    });
    let err = Connection::connect(&config, config.bootstrap.as_str())
        .await
        .unwrap_err();
    assert!(err.is_retriable(), "{err:?}");
}
