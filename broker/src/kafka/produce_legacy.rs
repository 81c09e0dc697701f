//! Produce v0-2: message format v0/v1, which Rill does not store. The codec crate no
//! longer knows these versions, so the request and its response are coded here; every
//! partition is answered UNSUPPORTED_VERSION and nothing is written.
//!
//! ```text
//! request:  acks i16 | timeout_ms i32 | [topic string | [partition i32 | records bytes]]
//! response: [topic string | [partition i32 | error_code i16 | base_offset i64
//!           | log_append_time_ms i64 (v2)]] | throttle_time_ms i32 (v1+)
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;

/// Why a v0-2 produce request could not be read.
#[derive(Debug, Error)]
pub enum LegacyError {
    /// A length or count runs past the end of the frame.
    #[error("{field} needs {need} bytes but only {have} remain")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes left.
        have: usize,
    },
    /// A negative count or length where none is allowed.
    #[error("negative {0}")]
    Negative(&'static str),
    /// A topic name that is not UTF-8.
    #[error("topic name is not UTF-8")]
    TopicName,
}

/// The parts of a v0-2 produce request an answer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyProduceRequest {
    /// 0 means no response is due.
    pub acks: i16,
    /// `(topic, partitions)` in request order.
    pub topics: Vec<(String, Vec<i32>)>,
}

/// Reads a v0-2 produce request body (`version` only checks the range).
pub fn decode(buf: &mut Bytes, _version: i16) -> Result<LegacyProduceRequest, LegacyError> {
    need(buf, 6, "acks and timeout")?;
    let acks = buf.get_i16();
    let _timeout_ms = buf.get_i32();
    let topic_count = count(buf, "topic count")?;
    let mut topics = Vec::with_capacity(topic_count.min(buf.remaining()));
    for _ in 0..topic_count {
        let name = string(buf)?;
        let partition_count = count(buf, "partition count")?;
        let mut partitions = Vec::with_capacity(partition_count.min(buf.remaining()));
        for _ in 0..partition_count {
            need(buf, 8, "partition and records length")?;
            partitions.push(buf.get_i32());
            let len = buf.get_i32();
            if let Ok(len) = usize::try_from(len) {
                need(buf, len, "records")?;
                buf.advance(len);
            }
        }
        topics.push((name, partitions));
    }
    Ok(LegacyProduceRequest { acks, topics })
}

/// The v0-2 response: `error_code` for every partition asked for.
pub fn encode_response(req: &LegacyProduceRequest, version: i16, error_code: i16) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i32(len_i32(req.topics.len()));
    for (name, partitions) in &req.topics {
        out.put_i16(i16::try_from(name.len()).unwrap_or(i16::MAX));
        out.put_slice(name.as_bytes());
        out.put_i32(len_i32(partitions.len()));
        for &partition in partitions {
            out.put_i32(partition);
            out.put_i16(error_code);
            out.put_i64(-1);
            if version >= 2 {
                out.put_i64(-1);
            }
        }
    }
    if version >= 1 {
        out.put_i32(0);
    }
    out.freeze()
}

fn len_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn need(buf: &Bytes, bytes: usize, field: &'static str) -> Result<(), LegacyError> {
    if buf.remaining() < bytes {
        return Err(LegacyError::Truncated {
            field,
            need: bytes,
            have: buf.remaining(),
        });
    }
    Ok(())
}

/// An array count, which cannot exceed the bytes left (every element takes some).
fn count(buf: &mut Bytes, field: &'static str) -> Result<usize, LegacyError> {
    need(buf, 4, field)?;
    let n = usize::try_from(buf.get_i32()).map_err(|_| LegacyError::Negative(field))?;
    need(buf, n, field)?;
    Ok(n)
}

fn string(buf: &mut Bytes) -> Result<String, LegacyError> {
    need(buf, 2, "topic name length")?;
    let len = usize::try_from(buf.get_i16()).map_err(|_| LegacyError::Negative("topic name"))?;
    need(buf, len, "topic name")?;
    String::from_utf8(buf.split_to(len).to_vec()).map_err(|_| LegacyError::TopicName)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_of_partitions_asked_for() {
        let mut b = BytesMut::new();
        b.put_i16(1);
        b.put_i32(1000);
        b.put_i32(1);
        b.put_i16(3);
        b.put_slice(b"abc");
        b.put_i32(2);
        for p in [0, 4] {
            b.put_i32(p);
            b.put_i32(3);
            b.put_slice(b"xyz");
        }
        let req = decode(&mut b.freeze(), 2).unwrap();
        assert_eq!(req.topics, vec![("abc".to_string(), vec![0, 4])]);
        let resp = encode_response(&req, 2, 35);
        // count, name, count, 2 x (partition, error, offset, time), throttle
        assert_eq!(resp.len(), 4 + 5 + 4 + 2 * (4 + 2 + 8 + 8) + 4);
        assert_eq!(&resp[13..19], &[0, 0, 0, 0, 0, 35]);
    }

    #[test]
    fn counts_beyond_the_frame_are_refused() {
        let mut b = BytesMut::new();
        b.put_i16(1);
        b.put_i32(1000);
        b.put_i32(i32::MAX);
        assert!(decode(&mut b.freeze(), 0).is_err());
    }
}
