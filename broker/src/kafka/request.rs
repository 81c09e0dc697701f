//! Decoding a Kafka request frame: the header by hand, the body by `kafka-protocol`.
//!
//! ```text
//! api_key i16 | api_version i16 | correlation_id i32 | client_id nullable string (i16 length)
//! | tagged fields (header v2 only: unsigned varint count, then tag, size, bytes)
//! | body (the API's request at api_version)
//! ```
//!
//! The header is read with every length checked against the bytes left, so a frame that
//! lies about a length is [`RequestError::Truncated`], never a panic or an allocation.
//! The body is handed to the codec crate only for an API and version this listener
//! serves ([`super::apis`]), and only after [`super::bounds`] has walked it by that
//! version's layout and found every array count, length and tagged field backed by the
//! bytes left (the crate sizes vectors from wire counts). ApiVersions at a version above
//! ours is not decoded: it is answered in v0 with UNSUPPORTED_VERSION (KIP-511), which
//! needs only the header's first eight bytes.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, RequestKind};
use thiserror::Error;

use super::apis;
use super::bounds::{self, BoundsError};
use super::produce_legacy::{self, LegacyProduceRequest};

/// Bytes of the fixed part of every request header.
const FIXED_HEADER_BYTES: usize = 8;
/// Most tagged fields a request header may carry (Kafka defines none today).
const HEADER_TAGGED_FIELDS_MAX: u32 = 64;

/// Why a request frame cannot be served. Each closes the connection, as Kafka does for a
/// request it cannot parse.
#[derive(Debug, Error)]
pub enum RequestError {
    /// A length or field runs past the end of the frame.
    #[error("request {field} needs {need} bytes but only {have} remain")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes it needs.
        need: usize,
        /// Bytes left in the frame.
        have: usize,
    },
    /// An API key Kafka does not define.
    #[error("unknown Kafka API key {api_key}")]
    UnknownApi {
        /// The key sent.
        api_key: i16,
    },
    /// An API or version this listener does not serve (ApiVersions lists what it does).
    #[error("{api:?} v{version} is not served by this broker (see ApiVersions)")]
    UnsupportedVersion {
        /// The API.
        api: ApiKey,
        /// The version asked for.
        version: i16,
    },
    /// The client id is not UTF-8.
    #[error("request client id is not UTF-8")]
    ClientId,
    /// The header's tagged fields are malformed.
    #[error("request header tagged fields are malformed: {0}")]
    TaggedFields(&'static str),
    /// The body's lengths or counts do not fit in its bytes (found before decoding).
    #[error("malformed {api:?} v{version} request body: {source}")]
    Bounds {
        /// The API.
        api: ApiKey,
        /// Its version.
        version: i16,
        /// What the pre-scan found.
        #[source]
        source: BoundsError,
    },
    /// The body does not decode as the API's request at that version.
    #[error("malformed {api:?} v{version} request body: {reason}")]
    Body {
        /// The API.
        api: ApiKey,
        /// Its version.
        version: i16,
        /// What the codec reported.
        reason: String,
    },
}

/// The request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    /// Which API.
    pub api_key: ApiKey,
    /// Its version.
    pub api_version: i16,
    /// Echoed in the response.
    pub correlation_id: i32,
    /// The client's name, if it sent one.
    pub client_id: Option<String>,
}

/// A request body.
#[derive(Debug)]
pub enum Body {
    /// A request the codec crate decoded.
    Kind(Box<RequestKind>),
    /// Produce v0-2 (message format v0/v1), answered UNSUPPORTED_VERSION per partition.
    LegacyProduce(LegacyProduceRequest),
    /// ApiVersions at a version above ours: answered in v0 (KIP-511).
    ApiVersionsTooNew,
}

/// A decoded request.
#[derive(Debug)]
pub struct KafkaRequest {
    /// The header.
    pub header: RequestHeader,
    /// The body.
    pub body: Body,
}

/// Decodes one request frame (the payload after the length prefix).
pub fn decode_request(mut frame: Bytes) -> Result<KafkaRequest, RequestError> {
    need(&frame, FIXED_HEADER_BYTES, "header")?;
    let raw_key = frame.get_i16();
    let api_version = frame.get_i16();
    let correlation_id = frame.get_i32();
    let api_key =
        ApiKey::try_from(raw_key).map_err(|()| RequestError::UnknownApi { api_key: raw_key })?;
    let mut header = RequestHeader {
        api_key,
        api_version,
        correlation_id,
        client_id: None,
    };
    let Some((min, max)) = apis::served(api_key) else {
        return Err(RequestError::UnsupportedVersion {
            api: api_key,
            version: api_version,
        });
    };
    if api_key == ApiKey::ApiVersions && api_version > max {
        return Ok(KafkaRequest {
            header,
            body: Body::ApiVersionsTooNew,
        });
    }
    if api_version < min || api_version > max {
        return Err(RequestError::UnsupportedVersion {
            api: api_key,
            version: api_version,
        });
    }
    header.client_id = read_client_id(&mut frame)?;
    if api_key.request_header_version(api_version) >= 2 {
        skip_tagged_fields(&mut frame)?;
    }
    let body = decode_body(api_key, api_version, frame)?;
    Ok(KafkaRequest { header, body })
}

fn decode_body(api: ApiKey, version: i16, mut body: Bytes) -> Result<Body, RequestError> {
    let failed = |reason: String| RequestError::Body {
        api,
        version,
        reason,
    };
    bounds::check_body(api, version, &body).map_err(|source| RequestError::Bounds {
        api,
        version,
        source,
    })?;
    if api == ApiKey::Produce && version < apis::PRODUCE_MODERN_VERSION_MIN {
        return produce_legacy::decode(&mut body, version)
            .map(Body::LegacyProduce)
            .map_err(|e| failed(e.to_string()));
    }
    RequestKind::decode(api, &mut body, version)
        .map(|kind| Body::Kind(Box::new(kind)))
        .map_err(|e| failed(e.to_string()))
}

fn need(buf: &Bytes, bytes: usize, field: &'static str) -> Result<(), RequestError> {
    if buf.remaining() < bytes {
        return Err(RequestError::Truncated {
            field,
            need: bytes,
            have: buf.remaining(),
        });
    }
    Ok(())
}

/// The nullable client id: an i16 length (-1 for null), then that many bytes.
fn read_client_id(buf: &mut Bytes) -> Result<Option<String>, RequestError> {
    need(buf, 2, "client id length")?;
    let len = buf.get_i16();
    let Ok(len) = usize::try_from(len) else {
        return Ok(None);
    };
    need(buf, len, "client id")?;
    let bytes = buf.split_to(len);
    String::from_utf8(bytes.to_vec())
        .map(Some)
        .map_err(|_| RequestError::ClientId)
}

/// Skips the header's tagged fields (none is meaningful to this broker).
fn skip_tagged_fields(buf: &mut Bytes) -> Result<(), RequestError> {
    let count = read_unsigned_varint(buf)?;
    if count > HEADER_TAGGED_FIELDS_MAX {
        return Err(RequestError::TaggedFields("too many tagged fields"));
    }
    for _ in 0..count {
        let _tag = read_unsigned_varint(buf)?;
        let size = usize::try_from(read_unsigned_varint(buf)?)
            .map_err(|_| RequestError::TaggedFields("field size out of range"))?;
        need(buf, size, "tagged field")?;
        buf.advance(size);
    }
    Ok(())
}

/// An unsigned LEB128 varint of at most five bytes (a u32).
fn read_unsigned_varint(buf: &mut Bytes) -> Result<u32, RequestError> {
    let mut value: u32 = 0;
    for i in 0..5 {
        need(buf, 1, "varint")?;
        let byte = buf.get_u8();
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(RequestError::TaggedFields("varint longer than 5 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};

    fn header(api_key: i16, version: i16, client_id: Option<&str>) -> BytesMut {
        let mut b = BytesMut::new();
        b.put_i16(api_key);
        b.put_i16(version);
        b.put_i32(7);
        match client_id {
            Some(id) => {
                b.put_i16(id.len() as i16);
                b.put_slice(id.as_bytes());
            }
            None => b.put_i16(-1),
        }
        b
    }

    #[test]
    fn api_versions_v0_decodes_with_client_id() {
        let req = decode_request(header(18, 0, Some("kcat")).freeze()).unwrap();
        assert_eq!(req.header.correlation_id, 7);
        assert_eq!(req.header.client_id.as_deref(), Some("kcat"));
        assert!(
            matches!(req.body, Body::Kind(ref k) if matches!(**k, RequestKind::ApiVersions(_)))
        );
    }

    #[test]
    fn api_versions_from_the_future_is_answered_not_decoded() {
        let mut b = BytesMut::new();
        b.put_i16(18);
        b.put_i16(99);
        b.put_i32(5);
        let req = decode_request(b.freeze()).unwrap();
        assert!(matches!(req.body, Body::ApiVersionsTooNew));
        assert_eq!(req.header.correlation_id, 5);
    }

    #[test]
    fn lying_lengths_are_errors_not_panics() {
        let mut b = header(18, 0, None);
        b.truncate(6);
        assert!(matches!(
            decode_request(b.freeze()),
            Err(RequestError::Truncated { .. })
        ));
        let mut b = BytesMut::new();
        b.put_i16(3);
        b.put_i16(1);
        b.put_i32(1);
        b.put_i16(500); // client id claims 500 bytes
        b.put_slice(b"abc");
        assert!(matches!(
            decode_request(b.freeze()),
            Err(RequestError::Truncated { .. })
        ));
    }

    #[test]
    fn huge_array_count_is_rejected_before_allocating() {
        // Metadata v1 whose topic array claims i32::MAX entries in a few bytes.
        let mut b = header(3, 1, None);
        b.put_i32(i32::MAX);
        b.put_slice(&[0, 1, b'a']);
        assert!(matches!(
            decode_request(b.freeze()),
            Err(RequestError::Bounds { .. })
        ));
    }

    #[test]
    fn unserved_versions_and_unknown_keys_are_refused() {
        assert!(matches!(
            decode_request(header(1, 3, None).freeze()),
            Err(RequestError::UnsupportedVersion { .. })
        ));
        assert!(matches!(
            decode_request(header(999, 0, None).freeze()),
            Err(RequestError::UnknownApi { .. })
        ));
    }

    mod arbitrary {
        use super::super::*;
        use bytes::{BufMut, BytesMut};
        use kafka_protocol::messages::ApiKey;
        use proptest::prelude::*;

        /// Every API and version served, as `(api_key, version)`.
        fn served_versions() -> Vec<(i16, i16)> {
            ApiKey::iter()
                .filter_map(|k| apis::served(k).map(|(min, max)| (k as i16, min, max)))
                .flat_map(|(k, min, max)| (min..=max + 1).map(move |v| (k, v)))
                .collect()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            /// Any body after a well-formed header of any served API and version: an
            /// answer or an error, never a panic (nor a huge allocation).
            #[test]
            fn any_body_of_any_served_version(
                pick in any::<prop::sample::Index>(),
                client_id in proptest::option::of("[a-z]{0,8}"),
                body in proptest::collection::vec(any::<u8>(), 0..512),
            ) {
                let versions = served_versions();
                let (api_key, version) = versions[pick.index(versions.len())];
                let mut frame = BytesMut::new();
                frame.put_i16(api_key);
                frame.put_i16(version);
                frame.put_i32(42);
                match &client_id {
                    Some(id) => {
                        frame.put_i16(id.len() as i16);
                        frame.put_slice(id.as_bytes());
                    }
                    None => frame.put_i16(-1),
                }
                frame.put_slice(&body);
                if let Ok(request) = decode_request(frame.freeze()) {
                    prop_assert_eq!(request.header.correlation_id, 42);
                    prop_assert_eq!(request.header.api_key as i16, api_key);
                }
            }

            /// Arbitrary frames: never a panic.
            #[test]
            fn any_frame(frame in proptest::collection::vec(any::<u8>(), 0..256)) {
                let _ = decode_request(Bytes::from(frame));
            }
        }
    }
}
