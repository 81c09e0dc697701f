//! Encoding a response frame: length prefix, response header (v0: correlation id; v1:
//! plus empty tagged fields), body. ApiVersions always answers with header v0, whatever
//! its version, so a client that sent a version we do not know can still read it.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseKind};
use thiserror::Error;

use super::request::RequestHeader;

/// Why a response could not be encoded.
#[derive(Debug, Error)]
pub enum ResponseError {
    /// The codec refused the response (a broker bug: a field set that the version lacks).
    #[error("cannot encode {api:?} v{version} response: {reason}")]
    Encode {
        /// The API.
        api: ApiKey,
        /// The version.
        version: i16,
        /// What the codec said.
        reason: String,
    },
    /// The response is larger than a frame may be.
    #[error("{api:?} response of {bytes} bytes exceeds max_frame_bytes {max}")]
    TooLarge {
        /// The API.
        api: ApiKey,
        /// Its size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
}

/// The whole frame (length prefix included) answering `header` with `body`, encoded
/// at `version` (the request's, or 0 for an ApiVersions answered under KIP-511).
pub fn encode(
    header: &RequestHeader,
    version: i16,
    body: &ResponseKind,
    max_frame_bytes: usize,
) -> Result<Bytes, ResponseError> {
    let api = header.api_key;
    let mut out = BytesMut::with_capacity(256);
    out.put_u32(0); // length, patched below
    out.put_i32(header.correlation_id);
    if api.response_header_version(version) >= 1 {
        out.put_u8(0); // no tagged fields
    }
    body.encode(&mut out, version)
        .map_err(|e| ResponseError::Encode {
            api,
            version,
            reason: e.to_string(),
        })?;
    finish(api, out, max_frame_bytes)
}

/// A frame around an already-encoded body (Produce v0-2, coded by hand).
pub fn encode_raw(
    header: &RequestHeader,
    body: &[u8],
    max_frame_bytes: usize,
) -> Result<Bytes, ResponseError> {
    let mut out = BytesMut::with_capacity(8 + body.len());
    out.put_u32(0);
    out.put_i32(header.correlation_id);
    out.put_slice(body);
    finish(header.api_key, out, max_frame_bytes)
}

fn finish(api: ApiKey, mut out: BytesMut, max: usize) -> Result<Bytes, ResponseError> {
    let payload = out.len() - 4;
    if payload > max {
        return Err(ResponseError::TooLarge {
            api,
            bytes: payload,
            max,
        });
    }
    let len = u32::try_from(payload).unwrap_or(u32::MAX).to_be_bytes();
    out[..4].copy_from_slice(&len);
    Ok(out.freeze())
}
