//! Zig-zag varints and varlongs as used inside Kafka RecordBatch v2 records.
//!
//! Decoding is bounded: a varint longer than 5 bytes (varlong: 10) or one that runs
//! past the end of the input is an error, never a panic.

use thiserror::Error;

/// Why a varint could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum VarintError {
    /// The input ended before the varint's last byte.
    #[error("varint truncated: input ended after {have} bytes")]
    Truncated {
        /// Bytes that were available.
        have: usize,
    },
    /// The varint used more bytes than its type allows.
    #[error("varint too long: more than {max_bytes} bytes")]
    TooLong {
        /// The longest legal encoding.
        max_bytes: usize,
    },
}

/// Longest legal encoding of a 32-bit varint.
pub const VARINT_MAX_BYTES: usize = 5;
/// Longest legal encoding of a 64-bit varlong.
pub const VARLONG_MAX_BYTES: usize = 10;

/// Reads an unsigned LEB128 value of at most `max_bytes` bytes; returns `(value, bytes_read)`.
fn read_unsigned(buf: &[u8], max_bytes: usize) -> Result<(u64, usize), VarintError> {
    let mut value: u64 = 0;
    for i in 0..max_bytes {
        let Some(&byte) = buf.get(i) else {
            return Err(VarintError::Truncated { have: buf.len() });
        };
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    Err(VarintError::TooLong { max_bytes })
}

/// Decodes a zig-zag varint (i32); returns the value and the bytes it used.
pub fn read_varint(buf: &[u8]) -> Result<(i32, usize), VarintError> {
    let (raw, used) = read_unsigned(buf, VARINT_MAX_BYTES)?;
    let raw = raw as u32;
    Ok((((raw >> 1) as i32) ^ -((raw & 1) as i32), used))
}

/// Decodes a zig-zag varlong (i64); returns the value and the bytes it used.
pub fn read_varlong(buf: &[u8]) -> Result<(i64, usize), VarintError> {
    let (raw, used) = read_unsigned(buf, VARLONG_MAX_BYTES)?;
    Ok((((raw >> 1) as i64) ^ -((raw & 1) as i64), used))
}

/// Appends a zig-zag varint (i32).
pub fn put_varint(out: &mut Vec<u8>, value: i32) {
    put_unsigned(out, ((value << 1) ^ (value >> 31)) as u32 as u64);
}

/// Appends a zig-zag varlong (i64).
pub fn put_varlong(out: &mut Vec<u8>, value: i64) {
    put_unsigned(out, ((value << 1) ^ (value >> 63)) as u64);
}

/// Bytes [`put_varint`] will write for `value`.
#[inline]
pub fn varint_len(value: i32) -> usize {
    unsigned_len(((value << 1) ^ (value >> 31)) as u32 as u64)
}

/// Bytes [`put_varlong`] will write for `value`.
#[inline]
pub fn varlong_len(value: i64) -> usize {
    unsigned_len(((value << 1) ^ (value >> 63)) as u64)
}

fn put_unsigned(out: &mut Vec<u8>, mut raw: u64) {
    while raw >= 0x80 {
        out.push((raw as u8) | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

#[inline]
fn unsigned_len(raw: u64) -> usize {
    let bits = 64 - raw.leading_zeros() as usize;
    bits.max(1).div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings() {
        let cases: &[(i32, &[u8])] = &[
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (63, &[0x7e]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (i32::MAX, &[0xfe, 0xff, 0xff, 0xff, 0x0f]),
            (i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for &(value, bytes) in cases {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(out, bytes, "encoding {value}");
            assert_eq!(read_varint(bytes), Ok((value, bytes.len())));
            assert_eq!(varint_len(value), bytes.len());
        }
    }

    #[test]
    fn errors() {
        assert_eq!(read_varint(&[]), Err(VarintError::Truncated { have: 0 }));
        assert_eq!(
            read_varint(&[0x80, 0x80]),
            Err(VarintError::Truncated { have: 2 })
        );
        assert_eq!(
            read_varint(&[0x80; 6]),
            Err(VarintError::TooLong { max_bytes: 5 })
        );
        assert_eq!(
            read_varlong(&[0xff; 11]),
            Err(VarintError::TooLong { max_bytes: 10 })
        );
    }

    proptest! {
        #[test]
        fn varint_round_trips(v: i32) {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            prop_assert_eq!(out.len(), varint_len(v));
            prop_assert_eq!(read_varint(&out), Ok((v, out.len())));
        }

        #[test]
        fn varlong_round_trips(v: i64) {
            let mut out = Vec::new();
            put_varlong(&mut out, v);
            prop_assert_eq!(out.len(), varlong_len(v));
            prop_assert_eq!(read_varlong(&out), Ok((v, out.len())));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            let _ = read_varint(&bytes);
            let _ = read_varlong(&bytes);
        }
    }
}
