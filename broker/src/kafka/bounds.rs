//! A bounded pre-scan of Kafka request bodies, run before the codec crate decodes them.
//!
//! `kafka-protocol` sizes its vectors from array counts read off the wire
//! (`Vec::with_capacity(count)`), so a request of a few bytes claiming two billion
//! topics would make the broker allocate gigabytes and abort. Before a body reaches the
//! crate, [`check_body`] walks it by the request's layout at that version (the tables
//! in `bounds/schemas.rs`, written from Kafka's message specs) without allocating, and
//! rejects:
//!
//! - an array or compact array whose element count times the element's smallest
//!   encoding exceeds the bytes left;
//! - a string, bytes or records field longer than the bytes left, a negative length
//!   other than null, or null where the field is not nullable;
//! - more than [`TAGGED_FIELDS_MAX`] tagged fields on one struct (or more than the bytes
//!   left can hold), a tagged field longer than the bytes left, or a known tagged field
//!   whose value does not fill exactly its declared size;
//! - a varint longer than five bytes, any truncation, and bytes after the body.
//!
//! A body that passes has every count backed by bytes, so what the crate reserves is at
//! most a small multiple of the frame size (each element's in-memory size over its
//! smallest encoding), and frames are capped by `--max-frame-bytes`.

mod schemas;
#[cfg(test)]
mod tests;

use kafka_protocol::messages::ApiKey;
use thiserror::Error;

pub use schemas::schema;

/// Most tagged fields one struct may carry (Kafka's requests define at most a few).
pub const TAGGED_FIELDS_MAX: u32 = 64;
/// Longest unsigned varint: five bytes hold a u32.
const VARINT_BYTES_MAX: usize = 5;
/// A version bound meaning "every later version".
pub const LATEST: i16 = i16::MAX;

/// The wire type of one field.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// One byte.
    Int8,
    /// Two bytes, big endian.
    Int16,
    /// Four bytes, big endian.
    Int32,
    /// Eight bytes, big endian.
    Int64,
    /// Sixteen bytes.
    Uuid,
    /// One byte.
    Bool,
    /// A string: i16 length, or a compact (varint length + 1) string in flexible versions.
    String,
    /// A string that may be null (length -1, or compact length 0).
    NullableString,
    /// Bytes: i32 length, or compact bytes in flexible versions.
    Bytes,
    /// Bytes that may be null.
    NullableBytes,
    /// A record batch set, carried as nullable bytes (validated later by the log).
    Records,
    /// An array (i32 count, or compact count in flexible versions) of one element kind.
    Array(&'static Kind),
    /// An array that may be null (count -1, or compact count 0).
    NullableArray(&'static Kind),
    /// A struct: its fields in order, then (flexible versions) its tagged fields.
    Struct(&'static [Field]),
}

/// One field of a struct: its name, wire type and the versions it exists in.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The spec's field name (reported in errors).
    pub name: &'static str,
    /// Its wire type.
    pub kind: Kind,
    /// First version carrying it.
    pub min_version: i16,
    /// Last version carrying it ([`LATEST`] when still present).
    pub max_version: i16,
    /// `Some(tag)` for a tagged field (flexible versions only, in the tag section).
    pub tag: Option<u32>,
}

impl Field {
    /// A field present in versions `min_version..=max_version`.
    pub const fn new(name: &'static str, kind: Kind, min_version: i16, max_version: i16) -> Self {
        Self {
            name,
            kind,
            min_version,
            max_version,
            tag: None,
        }
    }

    /// A tagged field with `tag`, known from `min_version` on.
    pub const fn tagged(name: &'static str, tag: u32, kind: Kind, min_version: i16) -> Self {
        Self {
            name,
            kind,
            min_version,
            max_version: LATEST,
            tag: Some(tag),
        }
    }

    fn in_version(&self, version: i16) -> bool {
        self.min_version <= version && version <= self.max_version
    }
}

/// The layout of one API's request body.
#[derive(Debug)]
pub struct Schema {
    /// The API.
    pub api: ApiKey,
    /// First version using flexible encoding (compact lengths, tagged fields).
    pub flexible_min: i16,
    /// The body's top-level fields.
    pub fields: &'static [Field],
}

/// Why a request body was rejected before decoding.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BoundsError {
    /// A field (or the elements an array count promises) needs more bytes than remain.
    #[error("{field} needs {need} bytes but only {have} remain")]
    Short {
        /// The field.
        field: &'static str,
        /// Bytes it needs at least.
        need: u64,
        /// Bytes left.
        have: usize,
    },
    /// A length below -1.
    #[error("{field} has negative length {length}")]
    NegativeLength {
        /// The field.
        field: &'static str,
        /// The length sent.
        length: i64,
    },
    /// Null where the field is not nullable.
    #[error("{field} is null but may not be")]
    Null {
        /// The field.
        field: &'static str,
    },
    /// A varint of more than five bytes.
    #[error("{field} has a varint longer than 5 bytes")]
    Varint {
        /// The field.
        field: &'static str,
    },
    /// More tagged fields than [`TAGGED_FIELDS_MAX`].
    #[error("{count} tagged fields after {field}, at most {max} allowed")]
    TooManyTaggedFields {
        /// The struct's last field (or the struct) they follow.
        field: &'static str,
        /// Count sent.
        count: u32,
        /// The limit.
        max: u32,
    },
    /// Bytes left over: after the body, or inside a known tagged field's declared size.
    #[error("{extra} unread bytes after {field}")]
    Trailing {
        /// The field (or `body`).
        field: &'static str,
        /// Bytes left over.
        extra: usize,
    },
    /// No layout is known for this API and version, so it is not decoded.
    #[error("no request layout known for {api:?} v{version}")]
    NoSchema {
        /// The API.
        api: ApiKey,
        /// The version.
        version: i16,
    },
}

/// Walks `body` as `api`'s request at `version`; `Ok` when every length and count fits
/// in the bytes left. Bytes after the last field are tolerated, as Kafka's own parser
/// and the codec crate tolerate them: librdkafka 2.16 sends three after a Metadata v12
/// body asking for every topic. They cost nothing: nothing is allocated from them.
pub fn check_body(api: ApiKey, version: i16, body: &[u8]) -> Result<(), BoundsError> {
    walked_bytes(api, version, body).map(drop)
}

/// [`check_body`], returning how many bytes the fields took.
pub(crate) fn walked_bytes(api: ApiKey, version: i16, body: &[u8]) -> Result<usize, BoundsError> {
    let schema = schema(api).ok_or(BoundsError::NoSchema { api, version })?;
    let mut scan = Scan::new(body, version, version >= schema.flexible_min);
    scan.fields(schema.fields, "body")?;
    Ok(scan.pos)
}

/// A cursor over a body at one version. `end` is lowered while a tagged field's value
/// is walked, so the value cannot read past its declared size.
struct Scan<'a> {
    body: &'a [u8],
    pos: usize,
    end: usize,
    version: i16,
    flexible: bool,
    /// Offsets and widths of every array count walked (tests rewrite them).
    #[cfg(test)]
    counts: Vec<CountAt>,
}

/// Where an array count sits in a body.
#[cfg(test)]
#[derive(Debug, Clone, Copy)]
struct CountAt {
    field: &'static str,
    offset: usize,
    width: usize,
}

impl<'a> Scan<'a> {
    fn new(body: &'a [u8], version: i16, flexible: bool) -> Self {
        Self {
            body,
            pos: 0,
            end: body.len(),
            version,
            flexible,
            #[cfg(test)]
            counts: Vec::new(),
        }
    }

    fn remaining(&self) -> usize {
        self.end - self.pos
    }

    fn finish(&self, field: &'static str) -> Result<(), BoundsError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(BoundsError::Trailing { field, extra }),
        }
    }

    fn take(&mut self, bytes: usize, field: &'static str) -> Result<&'a [u8], BoundsError> {
        if bytes > self.remaining() {
            return Err(BoundsError::Short {
                field,
                need: bytes as u64,
                have: self.remaining(),
            });
        }
        let taken = &self.body[self.pos..self.pos + bytes];
        self.pos += bytes;
        Ok(taken)
    }

    fn int(&mut self, bytes: usize, field: &'static str) -> Result<i64, BoundsError> {
        let raw = self.take(bytes, field)?;
        let first = i64::from(raw.first().map_or(0, |b| *b as i8));
        Ok(raw
            .iter()
            .skip(1)
            .fold(first, |acc, b| (acc << 8) | i64::from(*b)))
    }

    fn varint(&mut self, field: &'static str) -> Result<u32, BoundsError> {
        let mut value: u32 = 0;
        for i in 0..VARINT_BYTES_MAX {
            let byte = self.take(1, field)?[0];
            value |= u32::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(BoundsError::Varint { field })
    }

    /// A length prefix: `width` bytes (2 for strings, 4 for bytes and arrays) in
    /// classic versions, a compact varint (length + 1) in flexible ones. `None` is null.
    fn length(
        &mut self,
        width: usize,
        nullable: bool,
        field: &'static str,
    ) -> Result<Option<u64>, BoundsError> {
        let length = if self.flexible {
            i64::from(self.varint(field)?) - 1
        } else {
            self.int(width, field)?
        };
        match length {
            -1 if nullable => Ok(None),
            -1 => Err(BoundsError::Null { field }),
            n if n < -1 => Err(BoundsError::NegativeLength { field, length: n }),
            n => Ok(Some(n.unsigned_abs())),
        }
    }

    /// A length-prefixed run of bytes (string, bytes, records): skipped after checking
    /// it fits.
    fn blob(
        &mut self,
        width: usize,
        nullable: bool,
        field: &'static str,
    ) -> Result<(), BoundsError> {
        if let Some(len) = self.length(width, nullable, field)? {
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            self.take(len, field)?;
        }
        Ok(())
    }

    fn array(
        &mut self,
        element: &Kind,
        nullable: bool,
        field: &'static str,
    ) -> Result<(), BoundsError> {
        #[cfg(test)]
        let offset = self.pos;
        let Some(count) = self.length(4, nullable, field)? else {
            return Ok(());
        };
        #[cfg(test)]
        self.counts.push(CountAt {
            field,
            offset,
            width: self.pos - offset,
        });
        // Every element takes at least one byte, even one whose fields are all absent.
        let need = count.saturating_mul(self.min_size(element).max(1));
        if need > self.remaining() as u64 {
            return Err(BoundsError::Short {
                field,
                need,
                have: self.remaining(),
            });
        }
        for _ in 0..count {
            self.value(element, field)?;
        }
        Ok(())
    }

    fn value(&mut self, kind: &Kind, field: &'static str) -> Result<(), BoundsError> {
        match kind {
            Kind::Int8 | Kind::Bool => self.take(1, field).map(drop),
            Kind::Int16 => self.take(2, field).map(drop),
            Kind::Int32 => self.take(4, field).map(drop),
            Kind::Int64 => self.take(8, field).map(drop),
            Kind::Uuid => self.take(16, field).map(drop),
            Kind::String => self.blob(2, false, field),
            Kind::NullableString => self.blob(2, true, field),
            Kind::Bytes => self.blob(4, false, field),
            Kind::NullableBytes | Kind::Records => self.blob(4, true, field),
            Kind::Array(element) => self.array(element, false, field),
            Kind::NullableArray(element) => self.array(element, true, field),
            Kind::Struct(fields) => self.fields(fields, field),
        }
    }

    /// A struct's fields present at this version, then its tagged fields.
    fn fields(&mut self, fields: &[Field], owner: &'static str) -> Result<(), BoundsError> {
        let version = self.version;
        let present = fields
            .iter()
            .filter(|f| f.tag.is_none() && f.in_version(version));
        for field in present {
            self.value(&field.kind, field.name)?;
        }
        if self.flexible {
            self.tagged_fields(fields, owner)?;
        }
        Ok(())
    }

    /// The tag section: a count, then `tag, size, value` each. A tag this version knows
    /// is walked as its kind within exactly `size` bytes; others are skipped.
    fn tagged_fields(&mut self, fields: &[Field], owner: &'static str) -> Result<(), BoundsError> {
        let count = self.varint(owner)?;
        if count > TAGGED_FIELDS_MAX {
            return Err(BoundsError::TooManyTaggedFields {
                field: owner,
                count,
                max: TAGGED_FIELDS_MAX,
            });
        }
        // Each tagged field takes at least two bytes (its tag and its size).
        let need = u64::from(count) * 2;
        if need > self.remaining() as u64 {
            return Err(BoundsError::Short {
                field: owner,
                need,
                have: self.remaining(),
            });
        }
        for _ in 0..count {
            let tag = self.varint(owner)?;
            let size = usize::try_from(self.varint(owner)?).unwrap_or(usize::MAX);
            let known = fields
                .iter()
                .find(|f| f.tag == Some(tag) && f.in_version(self.version));
            match known {
                Some(field) => self.tagged_value(field, size)?,
                None => self.take(size, owner).map(drop)?,
            }
        }
        Ok(())
    }

    fn tagged_value(&mut self, field: &Field, size: usize) -> Result<(), BoundsError> {
        if size > self.remaining() {
            return Err(BoundsError::Short {
                field: field.name,
                need: size as u64,
                have: self.remaining(),
            });
        }
        let outer_end = self.end;
        self.end = self.pos + size;
        let walked = self
            .value(&field.kind, field.name)
            .and_then(|()| self.finish(field.name));
        self.end = outer_end;
        walked
    }

    /// The fewest bytes one value of `kind` takes at this version.
    fn min_size(&self, kind: &Kind) -> u64 {
        let prefix = |classic: u64| if self.flexible { 1 } else { classic };
        match kind {
            Kind::Int8 | Kind::Bool => 1,
            Kind::Int16 => 2,
            Kind::Int32 => 4,
            Kind::Int64 => 8,
            Kind::Uuid => 16,
            Kind::String | Kind::NullableString => prefix(2),
            Kind::Bytes | Kind::NullableBytes | Kind::Records => prefix(4),
            Kind::Array(_) | Kind::NullableArray(_) => prefix(4),
            Kind::Struct(fields) => {
                let inline: u64 = fields
                    .iter()
                    .filter(|f| f.tag.is_none() && f.in_version(self.version))
                    .map(|f| self.min_size(&f.kind))
                    .sum();
                inline + u64::from(self.flexible)
            }
        }
    }
}
