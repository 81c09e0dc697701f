//! One record inside a batch: the zero-copy view, the builder's input, and the layout.
//!
//! ```text
//! length            varint   bytes after this field
//! attributes        i8       unused, 0
//! timestamp_delta   varlong  timestamp - batch base_timestamp
//! offset_delta      varint   offset - batch base_offset
//! key_length        varint   -1 = null key
//! key               bytes
//! value_length      varint   -1 = null value
//! value             bytes
//! header_count      varint
//! (header_key_length varint | header_key | header_value_length varint (-1 = null) | value)*
//! ```
//!
//! Decoding never trusts a length: every field is checked against the record's own
//! `length` before it is read, and the record must end exactly where `length` says.

use std::ops::Range;

use bytes::Bytes;

use super::BatchError;
use crate::varint::{read_varint, read_varlong, varint_len, varlong_len};

/// Fewest bytes a record can take: length, attributes, timestamp and offset deltas, key
/// and value lengths, header count, one byte each. Caps counts read from the wire.
pub const RECORD_MIN_BYTES: usize = 7;

/// A record header: a key (UTF-8 by convention, not enforced) and an optional value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    /// Header key; never null in the format.
    pub key: Bytes,
    /// Header value, `None` when null.
    pub value: Option<Bytes>,
}

impl Header {
    /// A header from anything that converts into `Bytes` (`&'static str`, `String`, `Vec<u8>`...).
    pub fn new(key: impl Into<Bytes>, value: Option<impl Into<Bytes>>) -> Header {
        Header {
            key: key.into(),
            value: value.map(Into::into),
        }
    }
}

/// A decoded record. `key`, `value` and header bytes are slices of the batch (or of the
/// decompressed records section): no copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Offset relative to the batch's `base_offset`.
    pub offset_delta: i32,
    /// Timestamp relative to the batch's `base_timestamp`, in ms.
    pub timestamp_delta: i64,
    /// Absolute timestamp in ms (the batch's `max_timestamp` for log-append-time batches).
    pub timestamp: i64,
    /// Absolute offset: `base_offset + offset_delta`.
    pub offset: i64,
    /// Record key, `None` when null.
    pub key: Option<Bytes>,
    /// Record value, `None` when null (a tombstone in a compacted topic).
    pub value: Option<Bytes>,
    /// Record headers, in order.
    pub headers: Vec<Header>,
}

/// What a producer hands to [`super::BatchBuilder`]: one record to encode.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordInput {
    /// Create time in ms since the epoch.
    pub timestamp: i64,
    /// Record key, `None` for a null key.
    pub key: Option<Bytes>,
    /// Record value, `None` for a null value.
    pub value: Option<Bytes>,
    /// Record headers, in order.
    pub headers: Vec<Header>,
}

impl RecordInput {
    /// A record with a value, no key and no headers.
    pub fn new(timestamp: i64, value: impl Into<Bytes>) -> RecordInput {
        RecordInput {
            timestamp,
            key: None,
            value: Some(value.into()),
            headers: Vec::new(),
        }
    }

    /// Sets the key.
    pub fn with_key(mut self, key: impl Into<Bytes>) -> RecordInput {
        self.key = Some(key.into());
        self
    }

    /// Appends a header.
    pub fn with_header(
        mut self,
        key: impl Into<Bytes>,
        value: Option<impl Into<Bytes>>,
    ) -> RecordInput {
        self.headers.push(Header::new(key, value));
        self
    }
}

/// A record the [`super::BatchBuilder`] encodes straight from its fields, with no
/// conversion first: [`RecordInput`], or a client's own record type (the producer's
/// `ProducerRecord`), so a payload is copied once, into the batch.
pub trait RecordSource {
    /// The key, `None` for a null key.
    fn key(&self) -> Option<&[u8]>;
    /// The value, `None` for a null value.
    fn value(&self) -> Option<&[u8]>;
    /// How many headers [`RecordSource::headers`] yields.
    fn header_count(&self) -> usize;
    /// The headers in order: key, and value (`None` when null).
    fn headers(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)>;
}

impl RecordSource for RecordInput {
    fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    fn value(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }

    fn header_count(&self) -> usize {
        self.headers.len()
    }

    fn headers(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
        self.headers
            .iter()
            .map(|h| (h.key.as_ref(), h.value.as_deref()))
    }
}

/// Bytes of a record after its `length` field.
pub(crate) fn body_len<R: RecordSource + ?Sized>(
    offset_delta: i32,
    timestamp_delta: i64,
    record: &R,
) -> usize {
    let headers: usize = match record.header_count() {
        0 => 0,
        _ => record
            .headers()
            .map(|(key, value)| len_prefixed_len(Some(key)) + len_prefixed_len(value))
            .sum(),
    };
    1 + varlong_len(timestamp_delta)
        + varint_len(offset_delta)
        + len_prefixed_len(record.key())
        + len_prefixed_len(record.value())
        + count_len(record.header_count())
        + headers
}

/// Appends a record whose body is `body_len` bytes. The caller has checked that
/// `body_len` fits an i32, which bounds every length inside it too, and computed it
/// with [`body_len`] for this record, so the record fills exactly the room made for it.
///
/// The room is made once and the fields are written into it: a 100-byte record costs
/// one fill and one copy of its value, not a capacity check per byte.
pub(crate) fn encode<R: RecordSource + ?Sized>(
    out: &mut Vec<u8>,
    body_len: i32,
    offset_delta: i32,
    timestamp_delta: i64,
    record: &R,
) {
    let start = out.len();
    let total = varint_len(body_len) + body_len as usize;
    out.resize(start + total, 0);
    let mut room = Room {
        buf: &mut out[start..],
        pos: 0,
    };
    room.varint(body_len);
    room.byte(0);
    room.varlong(timestamp_delta);
    room.varint(offset_delta);
    room.len_prefixed(record.key());
    room.len_prefixed(record.value());
    let header_count = record.header_count();
    room.varint(clamp_i32(header_count));
    if header_count > 0 {
        for (key, value) in record.headers() {
            room.len_prefixed(Some(key));
            room.len_prefixed(value);
        }
    }
    debug_assert_eq!(room.pos, total);
}

/// The bytes made for one record, written front to back.
struct Room<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Room<'_> {
    #[inline]
    fn byte(&mut self, byte: u8) {
        self.buf[self.pos] = byte;
        self.pos += 1;
    }

    #[inline]
    fn unsigned(&mut self, mut raw: u64) {
        while raw >= 0x80 {
            self.byte((raw as u8) | 0x80);
            raw >>= 7;
        }
        self.byte(raw as u8);
    }

    #[inline]
    fn varint(&mut self, value: i32) {
        self.unsigned(((value << 1) ^ (value >> 31)) as u32 as u64);
    }

    #[inline]
    fn varlong(&mut self, value: i64) {
        self.unsigned(((value << 1) ^ (value >> 63)) as u64);
    }

    /// A length (`-1` for null) and the bytes.
    #[inline]
    fn len_prefixed(&mut self, bytes: Option<&[u8]>) {
        match bytes {
            None => self.varint(-1),
            Some(bytes) => {
                self.varint(clamp_i32(bytes.len()));
                let end = self.pos + bytes.len();
                self.buf[self.pos..end].copy_from_slice(bytes);
                self.pos = end;
            }
        }
    }
}

#[inline]
fn clamp_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[inline]
fn count_len(n: usize) -> usize {
    varint_len(clamp_i32(n))
}

#[inline]
fn len_prefixed_len(bytes: Option<&[u8]>) -> usize {
    match bytes {
        None => 1,
        Some(b) => varint_len(clamp_i32(b.len())) + b.len(),
    }
}

/// A record located and checked inside a buffer, as byte ranges; cheap to produce, and
/// turned into a [`Record`] only when the caller wants one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawRecord {
    pub(crate) offset_delta: i32,
    pub(crate) timestamp_delta: i64,
    pub(crate) key: Option<Range<usize>>,
    pub(crate) value: Option<Range<usize>>,
    pub(crate) header_count: usize,
    pub(crate) headers: Range<usize>,
    /// Position just after the record.
    pub(crate) end: usize,
}

/// Reads fields of one record, never past `end`.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
    index: usize,
}

impl Cursor<'_> {
    fn bad(&self, reason: &'static str) -> BatchError {
        BatchError::BadRecord {
            index: self.index,
            position: self.pos,
            reason,
        }
    }

    #[inline]
    fn rest(&self) -> &[u8] {
        self.buf.get(self.pos..self.end).unwrap_or(&[])
    }

    /// The next varint's unsigned (not yet zig-zag decoded) value and length when it
    /// takes one or two bytes, as most record fields do (zig-zag values of magnitude
    /// below 8192: lengths below 8 KiB, most offset and timestamp deltas), read
    /// without the general loop.
    #[inline]
    fn short_unsigned(&self) -> Option<(u32, usize)> {
        match *self.buf.get(self.pos..self.end)? {
            [b0, ..] if b0 < 0x80 => Some((u32::from(b0), 1)),
            [b0, b1, ..] if b1 < 0x80 => Some((u32::from(b0 & 0x7f) | (u32::from(b1) << 7), 2)),
            _ => None,
        }
    }

    #[inline]
    fn varint(&mut self) -> Result<i32, BatchError> {
        if let Some((raw, used)) = self.short_unsigned() {
            self.pos += used;
            return Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32));
        }
        let (value, used) = read_varint(self.rest()).map_err(|source| self.varint_error(source))?;
        self.pos += used;
        Ok(value)
    }

    #[inline]
    fn varlong(&mut self) -> Result<i64, BatchError> {
        if let Some((raw, used)) = self.short_unsigned() {
            self.pos += used;
            let raw = i64::from(raw);
            return Ok((raw >> 1) ^ -(raw & 1));
        }
        let (value, used) =
            read_varlong(self.rest()).map_err(|source| self.varint_error(source))?;
        self.pos += used;
        Ok(value)
    }

    fn varint_error(&self, source: crate::varint::VarintError) -> BatchError {
        BatchError::Varint {
            index: self.index,
            position: self.pos,
            source,
        }
    }

    #[inline]
    fn skip(&mut self, bytes: usize, reason: &'static str) -> Result<Range<usize>, BatchError> {
        if bytes > self.end - self.pos {
            return Err(self.bad(reason));
        }
        let range = self.pos..self.pos + bytes;
        self.pos += bytes;
        Ok(range)
    }

    /// A length-prefixed field; `-1` is null, other negative lengths are invalid.
    #[inline]
    fn len_prefixed(&mut self, what: &'static str) -> Result<Option<Range<usize>>, BatchError> {
        let len = self.varint()?;
        match usize::try_from(len) {
            Ok(len) => self.skip(len, what).map(Some),
            Err(_) if len == -1 => Ok(None),
            Err(_) => Err(self.bad("negative field length")),
        }
    }

    fn header(&mut self) -> Result<(Range<usize>, Option<Range<usize>>), BatchError> {
        let key = self
            .len_prefixed("header key runs past the record")?
            .ok_or_else(|| self.bad("null header key"))?;
        let value = self.len_prefixed("header value runs past the record")?;
        Ok((key, value))
    }
}

/// Locates and checks the record at `pos` in `buf`; `index` is its place in the batch,
/// for errors. Positions in errors are positions in `buf`.
#[cfg(test)]
pub(crate) fn decode_raw(buf: &[u8], pos: usize, index: usize) -> Result<RawRecord, BatchError> {
    decode_raw_with_headers(buf, pos, index, |_, _| {})
}

/// [`decode_raw`], handing each header's key and value ranges to `on_header` as the walk
/// checks them, so a reader builds its headers in the same pass (called only for
/// headers that are present, so what it keeps is bounded by the record's bytes).
#[inline]
pub(crate) fn decode_raw_with_headers(
    buf: &[u8],
    pos: usize,
    index: usize,
    mut on_header: impl FnMut(Range<usize>, Option<Range<usize>>),
) -> Result<RawRecord, BatchError> {
    let mut cursor = Cursor {
        buf,
        pos,
        end: buf.len(),
        index,
    };
    let length = cursor.varint()?;
    let length = usize::try_from(length).map_err(|_| cursor.bad("negative record length"))?;
    if length > buf.len() - cursor.pos {
        return Err(cursor.bad("record length runs past the end of the records"));
    }
    cursor.end = cursor.pos + length;
    cursor.skip(1, "record shorter than its attributes")?;
    let timestamp_delta = cursor.varlong()?;
    let offset_delta = cursor.varint()?;
    let key = cursor.len_prefixed("key runs past the record")?;
    let value = cursor.len_prefixed("value runs past the record")?;
    let header_count = cursor.varint()?;
    let header_count =
        usize::try_from(header_count).map_err(|_| cursor.bad("negative header count"))?;
    let headers_start = cursor.pos;
    for _ in 0..header_count {
        let (key, value) = cursor.header()?;
        on_header(key, value);
    }
    if cursor.pos != cursor.end {
        return Err(cursor.bad("record length does not match its contents"));
    }
    Ok(RawRecord {
        offset_delta,
        timestamp_delta,
        key,
        value,
        header_count,
        headers: headers_start..cursor.pos,
        end: cursor.end,
    })
}

impl Record {
    /// The zero-copy view of a record that [`decode_raw_with_headers`] checked in `data`,
    /// with the headers that walk built.
    #[inline]
    pub(crate) fn from_walked(
        data: &Bytes,
        raw: RawRecord,
        headers: Vec<Header>,
        base_offset: i64,
        timestamp: i64,
    ) -> Record {
        Record {
            offset_delta: raw.offset_delta,
            timestamp_delta: raw.timestamp_delta,
            timestamp,
            offset: base_offset.wrapping_add(i64::from(raw.offset_delta)),
            key: raw.key.map(|r| data.slice(r)),
            value: raw.value.map(|r| data.slice(r)),
            headers,
        }
    }

    /// Builds the zero-copy view of a record that [`decode_raw`] checked in `data`.
    #[inline]
    pub(crate) fn from_raw(
        data: &Bytes,
        raw: &RawRecord,
        index: usize,
        base_offset: i64,
        timestamp_of: impl Fn(i64) -> i64,
    ) -> Result<Record, BatchError> {
        let mut cursor = Cursor {
            buf: data,
            pos: raw.headers.start,
            end: raw.headers.end,
            index,
        };
        // header_count was walked by decode_raw, so it is bounded by the record's bytes.
        let mut headers = Vec::with_capacity(raw.header_count);
        for _ in 0..raw.header_count {
            let (key, value) = cursor.header()?;
            headers.push(Header {
                key: data.slice(key),
                value: value.map(|v| data.slice(v)),
            });
        }
        Ok(Record {
            offset_delta: raw.offset_delta,
            timestamp_delta: raw.timestamp_delta,
            timestamp: timestamp_of(raw.timestamp_delta),
            offset: base_offset.wrapping_add(i64::from(raw.offset_delta)),
            key: raw.key.clone().map(|r| data.slice(r)),
            value: raw.value.clone().map(|r| data.slice(r)),
            headers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(offset_delta: i32, timestamp_delta: i64, record: &RecordInput) -> Vec<u8> {
        let len = body_len(offset_delta, timestamp_delta, record);
        let mut out = Vec::new();
        encode(&mut out, len as i32, offset_delta, timestamp_delta, record);
        out
    }

    #[test]
    fn known_layout() {
        let record = RecordInput::new(0, "v")
            .with_key("k")
            .with_header("h", Some("x"));
        let bytes = encoded(1, -1, &record);
        // len=12 attrs ts=-1 off=1 key(1,"k") value(1,"v") headers=1 ("h", "x")
        assert_eq!(bytes, b"\x18\x00\x01\x02\x02k\x02v\x02\x02h\x02x");
        let raw = decode_raw(&bytes, 0, 0).unwrap();
        assert_eq!(
            (raw.offset_delta, raw.timestamp_delta, raw.header_count),
            (1, -1, 1)
        );
        let data = Bytes::from(bytes);
        let rec = Record::from_raw(&data, &raw, 0, 100, |d| 1000 + d).unwrap();
        assert_eq!(rec.offset, 101);
        assert_eq!(rec.timestamp, 999);
        assert_eq!(rec.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(rec.value.as_deref(), Some(&b"v"[..]));
        assert_eq!(rec.headers, vec![Header::new("h", Some("x"))]);
    }

    #[test]
    fn nulls_round_trip() {
        let record = RecordInput {
            timestamp: 5,
            key: None,
            value: None,
            headers: vec![Header::new("a", None::<Bytes>), Header::new("", Some(""))],
        };
        let data = Bytes::from(encoded(0, 0, &record));
        let raw = decode_raw(&data, 0, 0).unwrap();
        assert_eq!(raw.end, data.len());
        let rec = Record::from_raw(&data, &raw, 0, 0, |d| d).unwrap();
        assert_eq!((rec.key, rec.value), (None, None));
        assert_eq!(rec.headers, record.headers);
    }

    #[test]
    fn lengths_are_checked() {
        let good = encoded(0, 0, &RecordInput::new(0, "value").with_key("key"));
        // Length one byte short and one byte long.
        let mut short = good.clone();
        short[0] -= 2;
        assert!(matches!(
            decode_raw(&short, 0, 3),
            Err(BatchError::BadRecord { index: 3, .. } | BatchError::Varint { index: 3, .. })
        ));
        let mut long = good.clone();
        long[0] += 2;
        long.push(0);
        assert!(decode_raw(&long, 0, 0).is_err());
        // Key length -2 is invalid; value length past the end is invalid.
        let mut neg = good.clone();
        neg[4] = 0x03;
        assert!(decode_raw(&neg, 0, 0).is_err());
        let truncated = &good[..good.len() - 1];
        assert!(decode_raw(truncated, 0, 0).is_err());
        // A null header key is invalid.
        let bad_header = b"\x10\x00\x00\x00\x01\x01\x02\x01\x01";
        assert_eq!(
            decode_raw(&bad_header[..], 0, 0).unwrap_err().to_string(),
            "record 0 malformed at byte 8: null header key"
        );
    }

    #[test]
    fn one_and_two_byte_varints_round_trip_at_their_limits() {
        // Lengths and deltas on both sides of the one-, two- and three-byte encodings
        // (zig-zag: 63/64 and 8191/8192), which the decoder reads by different paths.
        for size in [0usize, 63, 64, 65, 127, 128, 8191, 8192, 8193, 20_000] {
            for (offset_delta, timestamp_delta) in [
                (0, 0),
                (63, -64),
                (64, 64),
                (8191, -8192),
                (8192, 8192),
                (70_000, -1 << 40),
            ] {
                let record = RecordInput::new(0, vec![7u8; size])
                    .with_key(vec![1u8; size / 2])
                    .with_header(vec![2u8; size / 3], Some(vec![3u8; size / 5]));
                let data = Bytes::from(encoded(offset_delta, timestamp_delta, &record));
                let raw = decode_raw(&data, 0, 0).unwrap();
                assert_eq!(raw.end, data.len(), "{size} {offset_delta}");
                let rec = Record::from_raw(&data, &raw, 0, 10, |d| d).unwrap();
                assert_eq!(
                    (rec.offset_delta, rec.timestamp),
                    (offset_delta, timestamp_delta)
                );
                assert_eq!(rec.value.as_deref(), record.value.as_deref());
                assert_eq!(rec.key.as_deref(), record.key.as_deref());
                assert_eq!(rec.headers, record.headers);
                // Cut anywhere: an error, never a panic or a wrong record.
                for cut in [1, 2, data.len() / 2, data.len() - 1] {
                    assert!(decode_raw(&data[..cut], 0, 0).is_err(), "cut at {cut}");
                }
            }
        }
    }

    #[test]
    fn a_two_byte_varint_cut_by_the_record_end_is_an_error() {
        // length 3: attributes, a zero timestamp delta, then an offset delta whose second
        // byte lies past the record (the buffer has it, the record does not).
        let bytes = b"\x06\x00\x00\x80\x01\x00\x01\x01\x00";
        assert!(decode_raw(&bytes[..], 0, 0).is_err());
    }

    #[test]
    fn huge_header_count_is_an_error() {
        // header_count = i32::MAX in a 12-byte record: fails on the first missing header.
        let bytes = b"\x14\x00\x00\x00\x01\x01\xfe\xff\xff\xff\x0f";
        assert!(decode_raw(&bytes[..], 0, 0).is_err());
    }
}
