//! Kafka requests built and read by the codec crate, for tests of the Kafka listener
//! that care about fields rather than bytes.

use std::net::SocketAddr;
use std::time::Duration;

pub use kafka_protocol::messages::ApiKey as KafkaApi;
use kafka_protocol::protocol::{Decodable as KafkaDecodable, Encodable as KafkaEncodable};

/// One Kafka request at `version` (built by the codec crate), and its decoded response.
pub async fn kafka_call<Req, Resp>(
    addr: SocketAddr,
    api: KafkaApi,
    version: i16,
    request: Req,
) -> Resp
where
    Req: KafkaEncodable,
    Resp: KafkaDecodable,
{
    use bytes::{Buf, BufMut, BytesMut};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut body = BytesMut::new();
    body.put_i16(api as i16);
    body.put_i16(version);
    body.put_i32(42);
    body.put_i16(-1);
    if api.request_header_version(version) >= 2 {
        body.put_u8(0);
    }
    request.encode(&mut body, version).unwrap();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_u32(body.len() as u32).await.unwrap();
    stream.write_all(&body).await.unwrap();
    let read = async {
        let len = stream.read_u32().await.unwrap() as usize;
        let mut payload = vec![0; len];
        stream.read_exact(&mut payload).await.unwrap();
        bytes::Bytes::from(payload)
    };
    let mut payload = tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("answer in time");
    assert_eq!(payload.get_i32(), 42, "correlation id");
    if api.response_header_version(version) >= 1 {
        assert_eq!(payload.get_u8(), 0, "no tagged fields");
    }
    Resp::decode(&mut payload, version).unwrap()
}
