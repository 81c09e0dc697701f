//! Primitive field encodings shared by every request and response (sans-IO).
//!
//! All integers are big-endian. Variable-length fields:
//!
//! ```text
//! string            i16 length (-1 = null, nullable only) | UTF-8 bytes
//! bytes             i32 length (-1 = null, nullable only) | bytes (decoded as a zero-copy slice)
//! array<T>          i32 count  (-1 = null, nullable only) | T * count
//! bool              i8, 0 or 1
//! ```
//!
//! [`Reader`] is a cursor over a frame's [`Bytes`]. It never trusts a length: a string or
//! bytes length is checked against what remains before slicing, and an array count is
//! capped by `remaining / min_element_bytes` before anything is allocated, so a frame that
//! claims `0x7fffffff` elements fails without allocating. Every error names the field and
//! the byte offset within the frame. Writing goes to a [`FrameBuf`] through the `put_*`
//! methods defined here; lengths that do not fit their prefix are an [`EncodeError`].

use bytes::Bytes;
use thiserror::Error;

use crate::api::ApiKey;
use crate::frame::FrameBuf;

/// What was wrong with a field that was fully present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Invalid {
    /// A length or count below -1.
    #[error("negative length {0}")]
    NegativeLength(i64),
    /// A null (-1) where the field is not nullable.
    #[error("null where a value is required")]
    UnexpectedNull,
    /// An array count that the remaining bytes cannot hold.
    #[error("count {count} cannot fit in the {remaining} bytes left")]
    CountTooLarge {
        /// The count read from the wire.
        count: usize,
        /// Bytes left in the frame.
        remaining: usize,
    },
    /// More array elements in one request than [`REQUEST_ELEMENTS_MAX`].
    #[error("more than {max} array elements in one request")]
    TooManyElements {
        /// The cap.
        max: usize,
    },
    /// A string that is not UTF-8.
    #[error("not valid UTF-8")]
    NotUtf8,
    /// A boolean byte other than 0 or 1.
    #[error("{0} is not a boolean (0 or 1)")]
    NotBool(i8),
    /// A discriminant this version does not define.
    #[error("unknown tag {0}")]
    UnknownTag(i64),
}

/// Why a request or response could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The frame ended inside `field`.
    #[error("truncated {field} at byte {offset}: need {need} bytes, have {have}")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Byte offset of the field within the frame.
        offset: usize,
        /// Bytes the field needs.
        need: usize,
        /// Bytes left in the frame.
        have: usize,
    },
    /// `field` is present but its value is not acceptable.
    #[error("invalid {field} at byte {offset}: {reason}")]
    Invalid {
        /// The field being read.
        field: &'static str,
        /// Byte offset of the field within the frame.
        offset: usize,
        /// What was wrong.
        reason: Invalid,
    },
    /// The header names an API this build does not know.
    #[error("unknown api_key {api_key}")]
    UnknownApiKey {
        /// The api_key from the header.
        api_key: u16,
    },
    /// The API is known but not at this version.
    #[error(
        "{api_key:?} version {version} is not supported (supported {min_version}..={max_version})"
    )]
    UnsupportedVersion {
        /// The API.
        api_key: ApiKey,
        /// The version asked for.
        version: u16,
        /// Oldest supported version.
        min_version: u16,
        /// Newest supported version.
        max_version: u16,
    },
    /// The message ended before the frame did.
    #[error("{remaining} unexpected bytes after the message at byte {offset}")]
    TrailingBytes {
        /// Where the message ended.
        offset: usize,
        /// Bytes left over.
        remaining: usize,
    },
}

/// Why a value could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// A string, bytes or array longer than its length prefix can express.
    #[error("{field} of length {len} exceeds the wire maximum of {max}")]
    TooLong {
        /// The field being written.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The largest length the prefix allows.
        max: usize,
    },
    /// The API is known but not at this version.
    #[error(
        "{api_key:?} version {version} is not supported (supported {min_version}..={max_version})"
    )]
    UnsupportedVersion {
        /// The API.
        api_key: ApiKey,
        /// The version asked for.
        version: u16,
        /// Oldest supported version.
        min_version: u16,
        /// Newest supported version.
        max_version: u16,
    },
    /// The header's api_key does not match the message's.
    #[error("header says {header:?} but the message is {message:?}")]
    ApiKeyMismatch {
        /// The key in the header.
        header: ApiKey,
        /// The key of the message.
        message: ApiKey,
    },
}

/// A value with a wire encoding (nested structs and array elements).
pub trait Wire: Sized {
    /// Fewest bytes one encoded value takes; caps array counts read from the wire.
    const MIN_BYTES: usize;
    /// Appends the value as `version` lays it out.
    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError>;
    /// Reads one value as `version` lays it out.
    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError>;
}

/// A cursor over one frame's payload.
#[derive(Debug, Clone)]
pub struct Reader {
    buf: Bytes,
    pos: usize,
    /// Array elements announced so far, against `elements_max`.
    elements: usize,
    elements_max: usize,
}

/// Most array elements (topics, partitions, groups... at every nesting level together)
/// one request may carry. Counts are already bounded by the bytes left, but an element
/// takes more memory decoded than on the wire, and the response to it more again (a
/// repeated topic name in a Metadata request answers with the whole topic), so requests
/// get a cap of their own. Kafka's clients send a few thousand at most.
pub const REQUEST_ELEMENTS_MAX: usize = 100_000;

/// Reads a fixed-size big-endian integer.
macro_rules! read_int {
    ($name:ident, $ty:ty, $doc:literal) => {
        #[doc = $doc]
        pub fn $name(&mut self, field: &'static str) -> Result<$ty, DecodeError> {
            let bytes = self.array_of::<{ std::mem::size_of::<$ty>() }>(field)?;
            Ok(<$ty>::from_be_bytes(bytes))
        }
    };
}

impl Reader {
    /// A reader at the start of `buf`.
    pub fn new(buf: Bytes) -> Self {
        Self {
            buf,
            pos: 0,
            elements: 0,
            elements_max: usize::MAX,
        }
    }

    /// A reader of an untrusted request: at most `elements_max` array elements in all.
    pub fn with_elements_max(buf: Bytes, elements_max: usize) -> Self {
        Self {
            elements_max,
            ..Self::new(buf)
        }
    }

    /// Bytes consumed so far (the offset reported in errors).
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// An `Invalid` error for `field` at `offset`.
    pub fn invalid(field: &'static str, offset: usize, reason: Invalid) -> DecodeError {
        DecodeError::Invalid {
            field,
            offset,
            reason,
        }
    }

    /// Takes the next `n` bytes as a zero-copy slice.
    fn take(&mut self, field: &'static str, n: usize) -> Result<Bytes, DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated {
                field,
                offset: self.pos,
                need: n,
                have: self.remaining(),
            });
        }
        let out = self.buf.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(out)
    }

    fn array_of<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(&self.take(field, N)?);
        Ok(out)
    }

    read_int!(i8, i8, "Reads an `i8`.");
    read_int!(i16, i16, "Reads a big-endian `i16`.");
    read_int!(u16, u16, "Reads a big-endian `u16`.");
    read_int!(i32, i32, "Reads a big-endian `i32`.");
    read_int!(u32, u32, "Reads a big-endian `u32`.");
    read_int!(i64, i64, "Reads a big-endian `i64`.");

    /// Reads a boolean byte; anything but 0 or 1 is invalid.
    pub fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        let offset = self.pos;
        match self.i8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(Self::invalid(field, offset, Invalid::NotBool(other))),
        }
    }

    /// Reads a length prefix already decoded as `len`: -1 is null, below that invalid.
    fn length(len: i64, field: &'static str, offset: usize) -> Result<Option<usize>, DecodeError> {
        match len {
            -1 => Ok(None),
            n if n < -1 => Err(Self::invalid(field, offset, Invalid::NegativeLength(n))),
            n => Ok(Some(n as usize)),
        }
    }

    /// Reads a nullable string (i16 length, -1 = null).
    pub fn nullable_string(&mut self, field: &'static str) -> Result<Option<String>, DecodeError> {
        let offset = self.pos;
        let Some(len) = Self::length(self.i16(field)?.into(), field, offset)? else {
            return Ok(None);
        };
        let raw = self.take(field, len)?;
        match std::str::from_utf8(&raw) {
            Ok(s) => Ok(Some(s.to_owned())),
            Err(_) => Err(Self::invalid(field, offset, Invalid::NotUtf8)),
        }
    }

    /// Reads a non-null string.
    pub fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let offset = self.pos;
        self.nullable_string(field)?
            .ok_or_else(|| Self::invalid(field, offset, Invalid::UnexpectedNull))
    }

    /// Reads nullable bytes (i32 length, -1 = null) as a zero-copy slice of the frame.
    pub fn nullable_bytes(&mut self, field: &'static str) -> Result<Option<Bytes>, DecodeError> {
        let offset = self.pos;
        match Self::length(self.i32(field)?.into(), field, offset)? {
            None => Ok(None),
            Some(len) => self.take(field, len).map(Some),
        }
    }

    /// Reads non-null bytes as a zero-copy slice of the frame.
    pub fn bytes(&mut self, field: &'static str) -> Result<Bytes, DecodeError> {
        let offset = self.pos;
        self.nullable_bytes(field)?
            .ok_or_else(|| Self::invalid(field, offset, Invalid::UnexpectedNull))
    }

    /// Reads a nullable array count, rejecting one that `min_element_bytes`-sized elements
    /// could not fit in the bytes left. The result is safe to pass to `Vec::with_capacity`.
    pub fn nullable_array_len(
        &mut self,
        field: &'static str,
        min_element_bytes: usize,
    ) -> Result<Option<usize>, DecodeError> {
        let offset = self.pos;
        let Some(count) = Self::length(self.i32(field)?.into(), field, offset)? else {
            return Ok(None);
        };
        let remaining = self.remaining();
        if count > remaining / min_element_bytes.max(1) {
            return Err(Self::invalid(
                field,
                offset,
                Invalid::CountTooLarge { count, remaining },
            ));
        }
        self.elements = self.elements.saturating_add(count);
        if self.elements > self.elements_max {
            return Err(Self::invalid(
                field,
                offset,
                Invalid::TooManyElements {
                    max: self.elements_max,
                },
            ));
        }
        Ok(Some(count))
    }

    /// Reads a non-null array count (see [`Reader::nullable_array_len`]).
    pub fn array_len(
        &mut self,
        field: &'static str,
        min_element_bytes: usize,
    ) -> Result<usize, DecodeError> {
        let offset = self.pos;
        self.nullable_array_len(field, min_element_bytes)?
            .ok_or_else(|| Self::invalid(field, offset, Invalid::UnexpectedNull))
    }

    /// Reads a nullable array of `T`.
    pub fn nullable_array<T: Wire>(
        &mut self,
        field: &'static str,
        version: u16,
    ) -> Result<Option<Vec<T>>, DecodeError> {
        let Some(count) = self.nullable_array_len(field, T::MIN_BYTES)? else {
            return Ok(None);
        };
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(T::decode(self, version)?);
        }
        Ok(Some(items))
    }

    /// Reads a non-null array of `T`.
    pub fn array<T: Wire>(
        &mut self,
        field: &'static str,
        version: u16,
    ) -> Result<Vec<T>, DecodeError> {
        let offset = self.pos;
        self.nullable_array(field, version)?
            .ok_or_else(|| Self::invalid(field, offset, Invalid::UnexpectedNull))
    }

    /// Ends decoding: every byte of the frame must have been consumed.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            remaining => Err(DecodeError::TrailingBytes {
                offset: self.pos,
                remaining,
            }),
        }
    }
}

/// Converts a length to its prefix type, or says which field is too long.
fn prefix<T: TryFrom<usize>>(
    field: &'static str,
    len: usize,
    max: usize,
) -> Result<T, EncodeError> {
    T::try_from(len).map_err(|_| EncodeError::TooLong { field, len, max })
}

impl FrameBuf {
    /// Writes an `i8`.
    pub fn put_i8(&mut self, v: i8) {
        self.put_slice(&v.to_be_bytes());
    }

    /// Writes a boolean as 0 or 1.
    pub fn put_bool(&mut self, v: bool) {
        self.put_i8(i8::from(v));
    }

    /// Writes a big-endian `i16`.
    pub fn put_i16(&mut self, v: i16) {
        self.put_slice(&v.to_be_bytes());
    }

    /// Writes a big-endian `u16`.
    pub fn put_u16(&mut self, v: u16) {
        self.put_slice(&v.to_be_bytes());
    }

    /// Writes a big-endian `i32`.
    pub fn put_i32(&mut self, v: i32) {
        self.put_slice(&v.to_be_bytes());
    }

    /// Writes a big-endian `u32`.
    pub fn put_u32(&mut self, v: u32) {
        self.put_slice(&v.to_be_bytes());
    }

    /// Writes a big-endian `i64`.
    pub fn put_i64(&mut self, v: i64) {
        self.put_slice(&v.to_be_bytes());
    }

    /// Writes a non-null string (i16 length).
    pub fn put_string(&mut self, field: &'static str, s: &str) -> Result<(), EncodeError> {
        self.put_i16(prefix(field, s.len(), i16::MAX as usize)?);
        self.put_slice(s.as_bytes());
        Ok(())
    }

    /// Writes a nullable string (-1 for `None`).
    pub fn put_nullable_string(
        &mut self,
        field: &'static str,
        s: Option<&str>,
    ) -> Result<(), EncodeError> {
        match s {
            Some(s) => self.put_string(field, s),
            None => {
                self.put_i16(-1);
                Ok(())
            }
        }
    }

    /// Writes non-null bytes (i32 length); large values are pushed without copying.
    pub fn put_bytes(&mut self, field: &'static str, b: &Bytes) -> Result<(), EncodeError> {
        self.put_chunks(field, std::slice::from_ref(b))
    }

    /// Writes one bytes field whose content is `chunks` concatenated (i32 total length),
    /// each large chunk pushed without copying.
    pub fn put_chunks(&mut self, field: &'static str, chunks: &[Bytes]) -> Result<(), EncodeError> {
        let total: usize = chunks.iter().map(Bytes::len).sum();
        self.put_i32(prefix(field, total, i32::MAX as usize)?);
        for chunk in chunks {
            self.put_chunk(chunk.clone());
        }
        Ok(())
    }

    /// Writes an array count (i32).
    pub fn put_array_len(&mut self, field: &'static str, len: usize) -> Result<(), EncodeError> {
        self.put_i32(prefix(field, len, i32::MAX as usize)?);
        Ok(())
    }

    /// Writes a non-null array of `T`.
    pub fn put_array<T: Wire>(
        &mut self,
        field: &'static str,
        items: &[T],
        version: u16,
    ) -> Result<(), EncodeError> {
        self.put_array_len(field, items.len())?;
        items.iter().try_for_each(|item| item.encode(version, self))
    }

    /// Writes a nullable array of `T` (-1 for `None`).
    pub fn put_nullable_array<T: Wire>(
        &mut self,
        field: &'static str,
        items: Option<&[T]>,
        version: u16,
    ) -> Result<(), EncodeError> {
        match items {
            Some(items) => self.put_array(field, items, version),
            None => {
                self.put_i32(-1);
                Ok(())
            }
        }
    }
}

/// `i32` array elements, e.g. partition lists.
impl Wire for i32 {
    const MIN_BYTES: usize = 4;

    fn encode(&self, _version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_i32(*self);
        Ok(())
    }

    fn decode(r: &mut Reader, _version: u16) -> Result<Self, DecodeError> {
        r.i32("i32 element")
    }
}

/// Non-null string array elements, e.g. topic names.
impl Wire for String {
    const MIN_BYTES: usize = 2;

    fn encode(&self, _version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_string("string element", self)
    }

    fn decode(r: &mut Reader, _version: u16) -> Result<Self, DecodeError> {
        r.string("string element")
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
