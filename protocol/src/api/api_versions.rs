//! ApiVersions: which APIs and versions the broker speaks, asked first on a connection.
//!
//! ```text
//! request:  (empty)
//! response: error_code i16 | api_keys array<api_key u16 | min_version u16 | max_version u16>
//! ```

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::{ApiKey, Message};

/// Asks for the broker's supported APIs. Layout: empty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApiVersionsRequest;

/// The broker's supported APIs.
///
/// ```text
/// error_code i16 | api_keys array<ApiVersionRange>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersionsResponse {
    /// [`ErrorCode::None`], or why the request failed.
    pub error_code: ErrorCode,
    /// One entry per supported API. Keys are raw numbers: a newer broker may list APIs
    /// this build does not know.
    pub api_keys: Vec<ApiVersionRange>,
}

/// The versions of one API a peer speaks.
///
/// ```text
/// api_key u16 | min_version u16 | max_version u16
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersionRange {
    /// The API's wire number (see [`ApiKey::from_u16`]).
    pub api_key: u16,
    /// Oldest supported version.
    pub min_version: u16,
    /// Newest supported version.
    pub max_version: u16,
}

impl ApiVersionsResponse {
    /// The response for this build: every API in [`ApiKey::ALL`] with its versions.
    pub fn supported() -> Self {
        let api_keys = ApiKey::ALL
            .iter()
            .map(|&key| ApiVersionRange {
                api_key: key.as_u16(),
                min_version: key.min_version(),
                max_version: key.max_version(),
            })
            .collect();
        Self {
            error_code: ErrorCode::None,
            api_keys,
        }
    }
}

impl Wire for ApiVersionRange {
    const MIN_BYTES: usize = 6;

    fn encode(&self, _version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_u16(self.api_key);
        out.put_u16(self.min_version);
        out.put_u16(self.max_version);
        Ok(())
    }

    fn decode(r: &mut Reader, _version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            api_key: r.u16("api_key")?,
            min_version: r.u16("min_version")?,
            max_version: r.u16("max_version")?,
        })
    }
}

super::empty_request!(ApiVersionsRequest, ApiVersions);

impl Message for ApiVersionsResponse {
    const API_KEY: ApiKey = ApiKey::ApiVersions;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        self.error_code.encode(version, out)?;
        out.put_array("api_keys", &self.api_keys, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            error_code: ErrorCode::decode(r, version)?,
            api_keys: r.array("api_keys", version)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::testing::{request_round_trip, response_round_trip};

    #[test]
    fn round_trips_and_lists_every_api() {
        request_round_trip(ApiVersionsRequest);
        let supported = ApiVersionsResponse::supported();
        assert_eq!(supported.api_keys.len(), ApiKey::ALL.len());
        response_round_trip(supported);
    }
}
