//! Shared helpers for the broker's end-to-end tests: a real broker on an ephemeral
//! loopback port, and a minimal raw-protocol client that speaks frames directly (so tests
//! can send exactly the bytes they mean, malformed ones included).

#![allow(dead_code)]

pub mod child;
pub mod kafka;
pub mod ledger;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use rill_protocol::api::common::TopicPartitions;
use rill_protocol::api::fetch::{FetchPartition, FetchRequest, FetchResponse};
use rill_protocol::api::produce::{ProducePartition, ProduceRequest, ProduceResponse};
use rill_protocol::api::{encode_request, Request, RequestHeader, Response};
use rill_protocol::batch::{BatchBuilder, Compression, RecordInput};
use rill_protocol::frame::{FrameBuf, FrameCodec};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

#[allow(unused_imports)]
pub use rill_broker::testing::TestBroker;

/// A raw connection: send requests, read responses, nothing hidden.
pub struct RawClient {
    pub framed: Framed<TcpStream, FrameCodec>,
    next_correlation_id: u32,
}

impl RawClient {
    pub async fn connect(addr: SocketAddr) -> RawClient {
        RawClient::over(TcpStream::connect(addr).await.unwrap())
    }

    /// A raw client over a stream already connected (e.g. from a chosen source address).
    pub fn over(stream: TcpStream) -> RawClient {
        RawClient {
            framed: Framed::new(stream, FrameCodec::new(64 << 20)),
            next_correlation_id: 1,
        }
    }

    /// Sends a request without waiting; returns its correlation id.
    pub async fn send(&mut self, request: Request) -> u32 {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let header = RequestHeader {
            api_key: request.api_key(),
            api_version: 0,
            correlation_id,
            client_id: Some("raw-test".into()),
        };
        let mut out = FrameBuf::new();
        encode_request(&header, &request, &mut out).unwrap();
        self.framed.send(out).await.unwrap();
        correlation_id
    }

    /// Sends raw bytes (already length-prefixed or not: exactly what is given).
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        self.framed.get_mut().write_all(bytes).await.unwrap();
    }

    /// Reads the next response to a request of `api_key`.
    pub async fn recv(&mut self, request: &Request) -> (u32, Response) {
        let frame = tokio::time::timeout(Duration::from_secs(20), self.framed.next())
            .await
            .expect("response timed out")
            .expect("connection closed")
            .unwrap();
        Response::decode(request.api_key(), 0, frame).unwrap()
    }

    /// Sends a request and reads its response.
    pub async fn call(&mut self, request: Request) -> Response {
        let id = self.send(request.clone()).await;
        let (got, response) = self.recv(&request).await;
        assert_eq!(got, id, "correlation id");
        response
    }

    /// Sends a request at API version `version` and reads its response.
    pub async fn call_at(&mut self, request: Request, version: u16) -> Response {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let header = RequestHeader {
            api_key: request.api_key(),
            api_version: version,
            correlation_id,
            client_id: Some("raw-test".into()),
        };
        let mut out = FrameBuf::new();
        encode_request(&header, &request, &mut out).unwrap();
        self.framed.send(out).await.unwrap();
        let frame = tokio::time::timeout(Duration::from_secs(20), self.framed.next())
            .await
            .expect("response timed out")
            .expect("connection closed")
            .unwrap();
        let (got, response) = Response::decode(request.api_key(), version, frame).unwrap();
        assert_eq!(got, correlation_id, "correlation id");
        response
    }

    /// Sends a request and reads its response; `None` if the connection fails (for
    /// tests that kill the broker under load).
    pub async fn try_call(&mut self, request: Request) -> Option<Response> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let header = RequestHeader {
            api_key: request.api_key(),
            api_version: 0,
            correlation_id,
            client_id: Some("raw-test".into()),
        };
        let mut out = FrameBuf::new();
        encode_request(&header, &request, &mut out).ok()?;
        self.framed.send(out).await.ok()?;
        let frame = tokio::time::timeout(Duration::from_secs(10), self.framed.next())
            .await
            .ok()??
            .ok()?;
        let (got, response) = Response::decode(request.api_key(), 0, frame).ok()?;
        (got == correlation_id).then_some(response)
    }

    /// True when the broker closed the connection (EOF or reset) within 5 s.
    pub async fn is_closed(&mut self) -> bool {
        match tokio::time::timeout(Duration::from_secs(5), self.framed.next()).await {
            Ok(None) | Ok(Some(Err(_))) => true,
            Ok(Some(Ok(_))) => false,
            Err(_) => false,
        }
    }
}

/// A batch of `n` records `"{prefix}-{i}"`, keyed `k{i}`, timestamps from `ts`.
pub fn batch(prefix: &str, n: usize, ts: i64) -> Bytes {
    let mut b = BatchBuilder::new(Compression::None);
    for i in 0..n {
        let record =
            RecordInput::new(ts + i as i64, format!("{prefix}-{i}")).with_key(format!("k{i}"));
        b.append(&record).unwrap();
    }
    b.build().unwrap()
}

pub fn produce(topic: &str, partition: i32, records: Bytes, acks: i16) -> Request {
    Request::Produce(ProduceRequest {
        transactional_id: None,
        acks,
        timeout_ms: 5000,
        topics: vec![TopicPartitions {
            name: topic.into(),
            partitions: vec![ProducePartition { partition, records }],
        }],
    })
}

pub fn fetch(
    topic: &str,
    partition: i32,
    offset: i64,
    max_wait_ms: i32,
    min_bytes: i32,
) -> Request {
    Request::Fetch(FetchRequest {
        max_wait_ms,
        min_bytes,
        max_bytes: 50 << 20,
        isolation_level: 0,
        topics: vec![TopicPartitions {
            name: topic.into(),
            partitions: vec![FetchPartition {
                partition,
                fetch_offset: offset,
                partition_max_bytes: 1 << 20,
            }],
        }],
    })
}

pub fn produce_response(r: Response) -> ProduceResponse {
    match r {
        Response::Produce(p) => p,
        other => panic!("expected produce response, got {other:?}"),
    }
}

pub fn fetch_response(r: Response) -> FetchResponse {
    match r {
        Response::Fetch(f) => f,
        other => panic!("expected fetch response, got {other:?}"),
    }
}

/// Record values of every batch in a fetch response's first partition.
pub fn fetched_values(f: &FetchResponse) -> Vec<String> {
    let records = f.topics[0].partitions[0].records.clone().into_bytes();
    let mut out = Vec::new();
    for batch in rill_protocol::batch::BatchIter::new(records, 64 << 20) {
        let batch = batch.unwrap();
        for r in batch.records().unwrap() {
            let r = r.unwrap();
            out.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
        }
    }
    out
}

/// Copies `b` into a mutable buffer (for corrupting).
pub fn mutable(b: &Bytes) -> BytesMut {
    BytesMut::from(&b[..])
}
