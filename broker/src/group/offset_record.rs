//! The record layout of `__consumer_offsets`: one record per committed partition.
//!
//! ```text
//! key:   version u16 = 0 | group_len u16 | group | topic_len u16 | topic | partition i32
//! value: version u16 = 0 | offset i64 | commit_timestamp_ms i64
//!        | metadata_len i16 (-1 = null) | metadata
//! ```
//!
//! All integers are big-endian. A record with a null value is a tombstone: the group's
//! offset for that partition was deleted. Decoding checks every length against the bytes
//! that remain and rejects trailing bytes.

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

use super::TopicPartition;

/// The only key and value layout version written so far.
pub const RECORD_VERSION: u16 = 0;

/// A group's committed position on one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The next offset the group will read.
    pub offset: i64,
    /// Free-form client data stored with the offset.
    pub metadata: Option<String>,
    /// When the broker accepted the commit, in ms since the epoch.
    pub commit_timestamp_ms: i64,
}

/// The key of an offsets record: which group and partition it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetKey {
    /// The group.
    pub group_id: String,
    /// The partition.
    pub tp: TopicPartition,
}

/// Why an offsets record cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    /// Fewer bytes than a field needs.
    #[error("{field} needs {need} bytes, {have} left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes it needs.
        need: usize,
        /// Bytes left.
        have: usize,
    },
    /// A layout version this build does not know.
    #[error("unknown record version {0}")]
    UnknownVersion(u16),
    /// A string field is not UTF-8.
    #[error("{0} is not UTF-8")]
    NotUtf8(&'static str),
    /// A length field is negative where it may not be.
    #[error("{0} has a negative length")]
    NegativeLength(&'static str),
    /// Bytes after the last field.
    #[error("{0} trailing bytes")]
    TrailingBytes(usize),
}

/// Encodes the key of `group_id`'s record for `tp`. Lengths are bounded by the caller's
/// validation (group id and topic name limits), which keeps them within `u16`.
pub fn encode_key(group_id: &str, tp: &TopicPartition) -> Bytes {
    let mut out = BytesMut::with_capacity(2 + 2 + group_id.len() + 2 + tp.topic.len() + 4);
    out.put_u16(RECORD_VERSION);
    put_str16(&mut out, group_id);
    put_str16(&mut out, &tp.topic);
    out.put_i32(tp.partition);
    out.freeze()
}

/// Encodes a committed offset as a record value.
pub fn encode_value(committed: &CommittedOffset) -> Bytes {
    let metadata = committed.metadata.as_deref();
    let mut out = BytesMut::with_capacity(2 + 8 + 8 + 2 + metadata.map_or(0, str::len));
    out.put_u16(RECORD_VERSION);
    out.put_i64(committed.offset);
    out.put_i64(committed.commit_timestamp_ms);
    match metadata {
        Some(m) => {
            let len = m.len().min(i16::MAX as usize);
            out.put_i16(len as i16);
            out.put_slice(&m.as_bytes()[..len]);
        }
        None => out.put_i16(-1),
    }
    out.freeze()
}

/// Decodes a record key.
pub fn decode_key(bytes: &[u8]) -> Result<OffsetKey, RecordError> {
    let mut r = Cursor { bytes, pos: 0 };
    r.version()?;
    let group_id = r.str16("group id")?;
    let topic = r.str16("topic")?;
    let partition = i32::from_be_bytes(r.array("partition")?);
    r.finish()?;
    Ok(OffsetKey {
        group_id,
        tp: TopicPartition::new(topic, partition),
    })
}

/// Decodes a record value.
pub fn decode_value(bytes: &[u8]) -> Result<CommittedOffset, RecordError> {
    let mut r = Cursor { bytes, pos: 0 };
    r.version()?;
    let offset = i64::from_be_bytes(r.array("offset")?);
    let commit_timestamp_ms = i64::from_be_bytes(r.array("commit timestamp")?);
    let len = i16::from_be_bytes(r.array("metadata length")?);
    let metadata = match len {
        -1 => None,
        n if n < 0 => return Err(RecordError::NegativeLength("metadata")),
        n => Some(r.utf8(n as usize, "metadata")?),
    };
    r.finish()?;
    Ok(CommittedOffset {
        offset,
        metadata,
        commit_timestamp_ms,
    })
}

fn put_str16(out: &mut BytesMut, s: &str) {
    let len = s.len().min(u16::MAX as usize);
    out.put_u16(len as u16);
    out.put_slice(&s.as_bytes()[..len]);
}

/// A bounds-checked reader over one key or value.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&[u8], RecordError> {
        let have = self.bytes.len() - self.pos;
        if n > have {
            return Err(RecordError::Truncated {
                field,
                need: n,
                have,
            });
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], RecordError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    fn version(&mut self) -> Result<(), RecordError> {
        match u16::from_be_bytes(self.array("version")?) {
            RECORD_VERSION => Ok(()),
            other => Err(RecordError::UnknownVersion(other)),
        }
    }

    fn str16(&mut self, field: &'static str) -> Result<String, RecordError> {
        let len = u16::from_be_bytes(self.array(field)?);
        self.utf8(usize::from(len), field)
    }

    fn utf8(&mut self, len: usize, field: &'static str) -> Result<String, RecordError> {
        let raw = self.take(len, field)?;
        String::from_utf8(raw.to_vec()).map_err(|_| RecordError::NotUtf8(field))
    }

    fn finish(&self) -> Result<(), RecordError> {
        match self.bytes.len() - self.pos {
            0 => Ok(()),
            n => Err(RecordError::TrailingBytes(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_and_value_round_trip() {
        let tp = TopicPartition::new("orders", 7);
        let key = encode_key("billing", &tp);
        assert_eq!(
            decode_key(&key),
            Ok(OffsetKey {
                group_id: "billing".into(),
                tp
            })
        );
        for metadata in [None, Some(String::new()), Some("host-a".to_string())] {
            let committed = CommittedOffset {
                offset: 42,
                metadata,
                commit_timestamp_ms: 1_700_000_000_000,
            };
            assert_eq!(decode_value(&encode_value(&committed)), Ok(committed));
        }
    }

    #[test]
    fn every_truncation_and_extension_is_rejected() {
        let key = encode_key("g", &TopicPartition::new("t", 0));
        let value = encode_value(&CommittedOffset {
            offset: 1,
            metadata: Some("m".into()),
            commit_timestamp_ms: 2,
        });
        for cut in 0..key.len() {
            assert!(decode_key(&key[..cut]).is_err(), "key cut at {cut}");
        }
        for cut in 0..value.len() {
            assert!(decode_value(&value[..cut]).is_err(), "value cut at {cut}");
        }
        let mut long = value.to_vec();
        long.push(0);
        assert_eq!(decode_value(&long), Err(RecordError::TrailingBytes(1)));
    }

    #[test]
    fn unknown_versions_and_bad_lengths_are_rejected() {
        assert_eq!(decode_key(&[0, 9]), Err(RecordError::UnknownVersion(9)));
        let mut value = vec![0, 0];
        value.extend_from_slice(&[0; 16]);
        value.extend_from_slice(&(-2i16).to_be_bytes());
        assert_eq!(
            decode_value(&value),
            Err(RecordError::NegativeLength("metadata"))
        );
        let bad_utf8 = [0, 0, 0, 1, 0xff, 0, 1, b't', 0, 0, 0, 0];
        assert_eq!(decode_key(&bad_utf8), Err(RecordError::NotUtf8("group id")));
    }
}
