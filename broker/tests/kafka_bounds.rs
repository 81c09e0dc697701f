//! Poison requests against a real Kafka listener: bodies of a few bytes whose array
//! counts claim billions of elements (Metadata v0 as reported, Fetch classic and
//! flexible, Produce with a huge nested partition count, OffsetFetch v8 groups). Each
//! closes only its own connection; the broker does not allocate for them (it would
//! abort, taking this test process with it) and keeps answering a client that stayed
//! connected throughout.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use rill_broker::testing::TestBroker;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const API_PRODUCE: i16 = 0;
const API_FETCH: i16 = 1;
const API_METADATA: i16 = 3;
const API_OFFSET_FETCH: i16 = 9;
const API_VERSIONS: i16 = 18;
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A compact (flexible) count of u32::MAX - 1 elements.
const HUGE_VARINT: [u8; 5] = [0xff, 0xff, 0xff, 0xff, 0x0f];

async fn kafka_broker() -> (TestBroker, SocketAddr) {
    let broker = TestBroker::start_with(|c| {
        c.kafka_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        c.http_listen = None;
    })
    .await;
    let addr = broker.kafka_addr.expect("Kafka listener on");
    (broker, addr)
}

/// A length-prefixed request frame: header v1 (client id) or v2 (`flexible`, plus an
/// empty tag section), then `body`.
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
    frame.put_u32(u32::try_from(payload.len()).expect("small frame"));
    frame.put_slice(&payload);
    frame.freeze()
}

/// Reads one response payload (correlation id first), within the deadline.
async fn response(stream: &mut TcpStream) -> Bytes {
    let read = async {
        let len = stream.read_u32().await.expect("response length") as usize;
        let mut payload = vec![0; len];
        stream.read_exact(&mut payload).await.expect("response");
        Bytes::from(payload)
    };
    tokio::time::timeout(READ_TIMEOUT, read)
        .await
        .expect("a response in time")
}

/// Sends `frame` on a fresh connection and waits for the broker to close it unanswered.
async fn poison_is_refused(addr: SocketAddr, what: &str, frame: Bytes) {
    let mut bad = TcpStream::connect(addr).await.unwrap();
    bad.write_all(&frame).await.unwrap();
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(READ_TIMEOUT, bad.read(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("{what}: connection still open after {READ_TIMEOUT:?}"));
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "{what}: closed without an answer, read {read:?}"
    );
}

/// The long-lived client still gets ApiVersions v0 and Metadata v0 answered.
async fn still_served(good: &mut TcpStream, correlation_id: i32) {
    good.write_all(&request(API_VERSIONS, 0, correlation_id, false, &[]))
        .await
        .unwrap();
    let mut body = response(good).await;
    assert_eq!((body.get_i32(), body.get_i16()), (correlation_id, 0));
    // Metadata v0 with an empty topic list: brokers, then no topics.
    good.write_all(&request(
        API_METADATA,
        0,
        correlation_id + 1,
        false,
        &[0, 0, 0, 0],
    ))
    .await
    .unwrap();
    let mut body = response(good).await;
    assert_eq!(body.get_i32(), correlation_id + 1);
    assert_eq!(body.get_i32(), 1, "one broker listed");
}

fn poisons() -> Vec<(&'static str, Bytes)> {
    let mut fetch_v4 = BytesMut::new();
    fetch_v4.put_i32(-1); // replica id
    fetch_v4.put_i32(0); // max wait
    fetch_v4.put_i32(0); // min bytes
    fetch_v4.put_i32(1 << 20); // max bytes
    fetch_v4.put_i8(0); // isolation level
    fetch_v4.put_i32(i32::MAX); // topics
    fetch_v4.put_slice(&[0, 1, b't']);

    let mut fetch_v12 = BytesMut::new();
    fetch_v12.put_i32(-1);
    fetch_v12.put_i32(0);
    fetch_v12.put_i32(0);
    fetch_v12.put_i32(1 << 20);
    fetch_v12.put_i8(0);
    fetch_v12.put_i32(0); // session id
    fetch_v12.put_i32(-1); // session epoch
    fetch_v12.put_slice(&HUGE_VARINT); // topics
    fetch_v12.put_slice(&[2, b't', 0]);

    let mut produce_v3 = BytesMut::new();
    produce_v3.put_i16(-1); // transactional id
    produce_v3.put_i16(1); // acks
    produce_v3.put_i32(1000); // timeout
    produce_v3.put_i32(1); // one topic...
    produce_v3.put_i16(1);
    produce_v3.put_slice(b"t");
    produce_v3.put_i32(i32::MAX); // ...with two billion partitions
    produce_v3.put_slice(&[0, 0, 0, 0]);

    let mut offset_fetch_v8 = BytesMut::new();
    offset_fetch_v8.put_slice(&HUGE_VARINT); // groups
    offset_fetch_v8.put_slice(&[2, b'g', 0, 0]);

    vec![
        (
            "Metadata v0 (topic count 0x033c0c00)",
            request(
                API_METADATA,
                0,
                1,
                false,
                &[0x03, 0x3c, 0x0c, 0x00, 0, 1, b'a'],
            ),
        ),
        ("Fetch v4", request(API_FETCH, 4, 2, false, &fetch_v4)),
        ("Fetch v12", request(API_FETCH, 12, 3, true, &fetch_v12)),
        ("Produce v3", request(API_PRODUCE, 3, 4, false, &produce_v3)),
        (
            "OffsetFetch v8",
            request(API_OFFSET_FETCH, 8, 5, true, &offset_fetch_v8),
        ),
    ]
}

#[tokio::test]
async fn poison_counts_close_their_connection_and_the_broker_keeps_serving() {
    let (broker, addr) = kafka_broker().await;
    let mut good = TcpStream::connect(addr).await.unwrap();
    still_served(&mut good, 100).await;
    for (round, (what, frame)) in poisons().into_iter().enumerate() {
        poison_is_refused(addr, what, frame).await;
        let round = i32::try_from(round).expect("few rounds");
        still_served(&mut good, 200 + 10 * round).await;
    }
    broker.stop().await;
}
