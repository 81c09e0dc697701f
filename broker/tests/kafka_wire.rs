//! The Kafka listener at the byte level, where client libraries would hide the details:
//! ApiVersions always answers with header v0 and, for a version from the future, in v0
//! with UNSUPPORTED_VERSION and the supported range (KIP-511); a produce with acks=0 gets
//! no response; Produce v0-2 (message format v0/v1) is refused per partition; a frame
//! that cannot be parsed closes only its connection.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use common::batch;
use rill_broker::testing::TestBroker;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const API_PRODUCE: i16 = 0;
const API_VERSIONS: i16 = 18;
const UNSUPPORTED_VERSION: i16 = 35;
const READ_TIMEOUT: Duration = Duration::from_secs(10);

async fn kafka_broker() -> (TestBroker, SocketAddr) {
    let broker = TestBroker::start_with(|c| {
        c.kafka_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        c.http_listen = None;
    })
    .await;
    let addr = broker.kafka_addr.expect("Kafka listener on");
    (broker, addr)
}

/// A request frame with header v1 (client id, no tagged fields) or v2 (`flexible`).
fn request(api_key: i16, version: i16, correlation_id: i32, flexible: bool, body: &[u8]) -> Bytes {
    let mut payload = BytesMut::new();
    payload.put_i16(api_key);
    payload.put_i16(version);
    payload.put_i32(correlation_id);
    payload.put_i16(4);
    payload.put_slice(b"test");
    if flexible {
        payload.put_u8(0);
    }
    payload.put_slice(body);
    let mut frame = BytesMut::new();
    frame.put_u32(payload.len() as u32);
    frame.put_slice(&payload);
    frame.freeze()
}

/// Reads one response frame; returns its payload (correlation id first).
async fn response(stream: &mut TcpStream) -> Bytes {
    let read = async {
        let len = stream.read_u32().await.expect("response length") as usize;
        let mut payload = vec![0; len];
        stream
            .read_exact(&mut payload)
            .await
            .expect("response body");
        Bytes::from(payload)
    };
    tokio::time::timeout(READ_TIMEOUT, read)
        .await
        .expect("a response in time")
}

/// `(api_key, min, max)` from a v0 ApiVersions body (after the correlation id).
fn api_ranges_v0(body: &mut Bytes) -> Vec<(i16, i16, i16)> {
    let count = body.get_i32();
    (0..count)
        .map(|_| (body.get_i16(), body.get_i16(), body.get_i16()))
        .collect()
}

#[tokio::test]
async fn api_versions_v0_lists_what_is_served() {
    let (broker, addr) = kafka_broker().await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&request(API_VERSIONS, 0, 11, false, &[]))
        .await
        .unwrap();
    let mut body = response(&mut s).await;
    assert_eq!(body.get_i32(), 11);
    assert_eq!(body.get_i16(), 0, "error code");
    let ranges = api_ranges_v0(&mut body);
    assert!(ranges.contains(&(API_PRODUCE, 0, 9)), "{ranges:?}");
    assert!(ranges.contains(&(1, 4, 12)), "Fetch 4-12: {ranges:?}");
    assert!(ranges.contains(&(API_VERSIONS, 0, 3)), "{ranges:?}");
    assert!(
        ranges.contains(&(17, 0, 1)),
        "SaslHandshake 0-1: {ranges:?}"
    );
    assert!(
        ranges.contains(&(36, 0, 2)),
        "SaslAuthenticate 0-2: {ranges:?}"
    );
    assert!(
        !ranges.iter().any(|r| r.0 == 26),
        "EndTxn is not served: {ranges:?}"
    );
    broker.stop().await;
}

#[tokio::test]
async fn api_versions_v3_answers_with_header_v0() {
    let (broker, addr) = kafka_broker().await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    // client_software_name "t", client_software_version "1" (compact strings), no tags.
    let body = [2, b't', 2, b'1', 0];
    s.write_all(&request(API_VERSIONS, 3, 12, true, &body))
        .await
        .unwrap();
    let mut body = response(&mut s).await;
    assert_eq!(body.get_i32(), 12);
    // Header v0: no tagged-field byte before the error code.
    assert_eq!(
        body.get_i16(),
        0,
        "error code right after the correlation id"
    );
    let count = body.get_u8() as usize - 1; // compact array
    assert!(count >= 9, "{count} APIs");
    broker.stop().await;
}

#[tokio::test]
async fn api_versions_from_the_future_gets_v0_unsupported_version_and_the_range() {
    let (broker, addr) = kafka_broker().await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    // A body we cannot know the layout of: it must not be parsed.
    s.write_all(&request(API_VERSIONS, 77, 13, true, &[0xde, 0xad]))
        .await
        .unwrap();
    let mut body = response(&mut s).await;
    assert_eq!(body.get_i32(), 13);
    assert_eq!(body.get_i16(), UNSUPPORTED_VERSION);
    let ranges = api_ranges_v0(&mut body);
    assert!(ranges.contains(&(API_VERSIONS, 0, 3)), "{ranges:?}");
    // The connection stays usable: the client retries at a version we know.
    s.write_all(&request(API_VERSIONS, 0, 14, false, &[]))
        .await
        .unwrap();
    let mut body = response(&mut s).await;
    assert_eq!((body.get_i32(), body.get_i16()), (14, 0));
    broker.stop().await;
}

/// A Produce v3 body: null transactional id, acks, timeout, one topic, one partition.
fn produce_v3(topic: &str, acks: i16, records: &[u8]) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_i16(-1);
    b.put_i16(acks);
    b.put_i32(5000);
    b.put_i32(1);
    b.put_i16(topic.len() as i16);
    b.put_slice(topic.as_bytes());
    b.put_i32(1);
    b.put_i32(0);
    b.put_i32(records.len() as i32);
    b.put_slice(records);
    b.to_vec()
}

#[tokio::test]
async fn produce_with_acks_0_gets_no_response_but_is_written() {
    let (broker, addr) = kafka_broker().await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let records = batch("quiet", 3, 1_700_000_000_000);
    s.write_all(&request(
        API_PRODUCE,
        3,
        21,
        false,
        &produce_v3("quiet", 0, &records),
    ))
    .await
    .unwrap();
    s.write_all(&request(API_VERSIONS, 0, 22, false, &[]))
        .await
        .unwrap();
    // The first answer on the connection is the ApiVersions one.
    let mut body = response(&mut s).await;
    assert_eq!(body.get_i32(), 22);
    let log_end = broker
        .ctx
        .topics
        .partition("quiet", 0)
        .expect("auto-created")
        .log()
        .unwrap()
        .high_watermark();
    assert_eq!(log_end, 3);
    broker.stop().await;
}

#[tokio::test]
async fn produce_v2_is_refused_per_partition_and_writes_nothing() {
    let (broker, addr) = kafka_broker().await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    // v2 has no transactional id: drop produce_v3's leading null string.
    let body = produce_v3("legacy", 1, b"message-set-v1")[2..].to_vec();
    s.write_all(&request(API_PRODUCE, 2, 31, false, &body))
        .await
        .unwrap();
    let mut body = response(&mut s).await;
    assert_eq!(body.get_i32(), 31);
    assert_eq!(body.get_i32(), 1, "one topic");
    let name_len = body.get_i16() as usize;
    assert_eq!(&body.split_to(name_len)[..], b"legacy");
    assert_eq!(body.get_i32(), 1, "one partition");
    assert_eq!((body.get_i32(), body.get_i16()), (0, UNSUPPORTED_VERSION));
    assert!(broker.ctx.topics.get("legacy").is_none());
    broker.stop().await;
}

#[tokio::test]
async fn a_malformed_request_closes_only_its_connection() {
    let (broker, addr) = kafka_broker().await;
    let mut bad = TcpStream::connect(addr).await.unwrap();
    // Metadata v1 whose topic array claims i32::MAX entries.
    bad.write_all(&request(
        3,
        1,
        41,
        false,
        &[0x7f, 0xff, 0xff, 0xff, 0, 1, b'x'],
    ))
    .await
    .unwrap();
    let mut buf = [0u8; 1];
    let closed = tokio::time::timeout(READ_TIMEOUT, bad.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(closed, Ok(0) | Err(_)), "connection closed");
    let mut good = TcpStream::connect(addr).await.unwrap();
    good.write_all(&request(API_VERSIONS, 0, 42, false, &[]))
        .await
        .unwrap();
    let mut body = response(&mut good).await;
    assert_eq!((body.get_i32(), body.get_i16()), (42, 0));
    broker.stop().await;
}

#[tokio::test]
async fn one_client_host_cannot_take_more_than_its_kafka_connections() {
    let broker = TestBroker::start_with(|c| {
        c.kafka_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        c.http_listen = None;
        c.max_connections_per_ip = 2;
    })
    .await;
    let addr = broker.kafka_addr.expect("Kafka listener on");
    let api_versions = request(API_VERSIONS, 0, 1, false, &[]);
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(&api_versions).await.expect("send");
        assert_eq!(response(&mut stream).await.get_i32(), 1, "served");
        held.push(stream);
    }
    // The third from the same host is closed at once, unanswered.
    let mut third = TcpStream::connect(addr).await.expect("connect");
    let _ = third.write_all(&api_versions).await;
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(READ_TIMEOUT, third.read(&mut byte)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "a third connection from one host must be refused: {read:?}"
    );
    // Another client host (127.0.0.2) is still served.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from(([127, 0, 0, 2], 0)))
        .expect("bind 127.0.0.2");
    let mut other = socket.connect(addr).await.expect("connect from 127.0.0.2");
    other.write_all(&api_versions).await.expect("send");
    assert_eq!(response(&mut other).await.get_i32(), 1);
    // A held connection freed makes room again for the first host.
    drop(held.pop());
    let deadline = tokio::time::Instant::now() + READ_TIMEOUT;
    loop {
        let mut again = TcpStream::connect(addr).await.expect("connect");
        let _ = again.write_all(&api_versions).await;
        let mut len = [0u8; 4];
        if tokio::time::timeout(Duration::from_millis(500), again.read_exact(&mut len))
            .await
            .is_ok_and(|r| r.is_ok())
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the freed slot never came back"
        );
    }
}

#[tokio::test]
async fn native_and_kafka_connections_share_one_budget() {
    let broker = TestBroker::start_with(|c| {
        c.kafka_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        c.http_listen = None;
        c.max_connections_per_ip = 1;
    })
    .await;
    let kafka = broker.kafka_addr.expect("Kafka listener on");
    let api_versions = request(API_VERSIONS, 0, 1, false, &[]);
    // Answered (Some) or closed unanswered (None), within the read timeout.
    async fn answered(addr: SocketAddr, frame: &[u8]) -> Option<()> {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let _ = stream.write_all(frame).await;
        let mut len = [0u8; 4];
        match tokio::time::timeout(READ_TIMEOUT, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => Some(()),
            _ => None,
        }
    }
    let native = TcpStream::connect(broker.addr)
        .await
        .expect("native connect");
    let deadline = tokio::time::Instant::now() + READ_TIMEOUT;
    // Once the native connection holds this host's only slot, Kafka is refused.
    while answered(kafka, &api_versions).await.is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Kafka never refused"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(native);
    while answered(kafka, &api_versions).await.is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slot never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
