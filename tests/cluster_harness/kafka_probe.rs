//! Topic ids as a broker's Kafka listener reports them (Metadata v12, where Kafka
//! clients read them): the native protocol carries no topic ids. The request and the
//! parts of the response the tests need are written and read by hand here, from
//! Kafka's message specs, so the probe does not depend on the broker's own codec.
//!
//! ```text
//! request header v2: api_key i16 | api_version i16 | correlation_id i32
//!                    | client_id nullable string (i16 length) | tagged fields
//! MetadataRequest v12: topics compact nullable array (null) | allow_auto_topic_creation bool
//!                    | include_topic_authorized_operations bool | tagged fields
//! response header v1: correlation_id i32 | tagged fields
//! MetadataResponse v12: throttle_time_ms i32 | brokers compact array | cluster_id compact
//!   nullable string | controller_id i32 | topics compact array of (error_code i16 | name
//!   compact nullable string | topic_id uuid | is_internal bool | partitions compact array
//!   | topic_authorized_operations i32 | tagged fields) | tagged fields
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::probe::PROBE_TIMEOUT;

/// Largest response accepted.
const MAX_RESPONSE_BYTES: usize = 16 << 20;
const METADATA_KEY: i16 = 3;
const METADATA_VERSION: i16 = 12;

/// Each topic's id (hex) as broker `addr`'s Kafka listener reports it, by name.
pub async fn topic_ids(addr: SocketAddr) -> Result<BTreeMap<String, String>, String> {
    let response = tokio::time::timeout(PROBE_TIMEOUT, exchange(addr))
        .await
        .map_err(|_| format!("{addr} did not answer within {PROBE_TIMEOUT:?}"))??;
    parse(&response).ok_or_else(|| format!("cannot parse Metadata v12 from {addr}"))
}

async fn exchange(addr: SocketAddr) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    body.extend(METADATA_KEY.to_be_bytes());
    body.extend(METADATA_VERSION.to_be_bytes());
    body.extend(7i32.to_be_bytes()); // correlation id
    let client_id = b"cluster-harness";
    body.extend((client_id.len() as i16).to_be_bytes());
    body.extend(client_id);
    body.push(0); // header tagged fields
    body.push(0); // topics: null (all)
    body.push(0); // allow_auto_topic_creation
    body.push(0); // include_topic_authorized_operations
    body.push(0); // tagged fields
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend(body);
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .write_all(&frame)
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut len = [0u8; 4];
    stream
        .read_exact(&mut len)
        .await
        .map_err(|e| format!("read: {e}"))?;
    let len = usize::try_from(i32::from_be_bytes(len)).map_err(|_| "negative length")?;
    if len > MAX_RESPONSE_BYTES {
        return Err(format!("response of {len} bytes"));
    }
    let mut response = vec![0; len];
    stream
        .read_exact(&mut response)
        .await
        .map_err(|e| format!("read: {e}"))?;
    Ok(response)
}

/// A cursor over a response; every read is bounds-checked.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn varint(&mut self) -> Option<usize> {
        let mut value = 0usize;
        for shift in (0..35).step_by(7) {
            let byte = *self.take(1)?.first()?;
            value |= usize::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// A compact (nullable) string; `None` inside for null.
    fn compact_string(&mut self) -> Option<Option<String>> {
        match self.varint()? {
            0 => Some(None),
            n => Some(Some(
                String::from_utf8_lossy(self.take(n - 1)?).into_owned(),
            )),
        }
    }

    /// A compact array's element count (null counts as empty).
    fn compact_len(&mut self) -> Option<usize> {
        Some(self.varint()?.saturating_sub(1))
    }

    fn tagged_fields(&mut self) -> Option<()> {
        for _ in 0..self.varint()? {
            self.varint()?;
            let size = self.varint()?;
            self.take(size)?;
        }
        Some(())
    }
}

fn parse(response: &[u8]) -> Option<BTreeMap<String, String>> {
    let mut r = Cursor(response);
    r.i32()?; // correlation id
    r.tagged_fields()?;
    r.i32()?; // throttle
    for _ in 0..r.compact_len()? {
        r.i32()?; // node id
        r.compact_string()?; // host
        r.i32()?; // port
        r.compact_string()?; // rack
        r.tagged_fields()?;
    }
    r.compact_string()?; // cluster id
    r.i32()?; // controller id
    let mut ids = BTreeMap::new();
    for _ in 0..r.compact_len()? {
        r.i16()?; // error code
        let name = r.compact_string()?;
        let id: String = r.take(16)?.iter().map(|b| format!("{b:02x}")).collect();
        r.take(1)?; // is_internal
        for _ in 0..r.compact_len()? {
            r.i16()?;
            r.i32()?;
            r.i32()?;
            r.i32()?;
            for _ in 0..3 {
                let n = r.compact_len()?;
                r.take(n.checked_mul(4)?)?;
            }
            r.tagged_fields()?;
        }
        r.i32()?; // authorized operations
        r.tagged_fields()?;
        if let Some(name) = name {
            ids.insert(name, id);
        }
    }
    Some(ids)
}
