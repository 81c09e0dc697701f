//! The request header that starts every request frame.
//!
//! ```text
//! api_key u16 | api_version u16 | correlation_id u32 | client_id string (nullable)
//! ```
//!
//! The response header is only the echoed `correlation_id u32` (see [`super::Response`]).

use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader};

use super::ApiKey;

/// Who is asking, for what, and how to match the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    /// The API of the body that follows.
    pub api_key: ApiKey,
    /// The body's version.
    pub api_version: u16,
    /// Echoed in the response; responses come back in request order.
    pub correlation_id: u32,
    /// Free-form client name for logs and group descriptions.
    pub client_id: Option<String>,
}

impl RequestHeader {
    /// Appends the header.
    pub fn encode(&self, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_u16(self.api_key.as_u16());
        out.put_u16(self.api_version);
        out.put_u32(self.correlation_id);
        out.put_nullable_string("client_id", self.client_id.as_deref())
    }

    /// Reads the header; an api_key this build does not know is an error.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let raw_key = r.u16("api_key")?;
        let api_key =
            ApiKey::from_u16(raw_key).ok_or(DecodeError::UnknownApiKey { api_key: raw_key })?;
        Ok(Self {
            api_key,
            api_version: r.u16("api_version")?,
            correlation_id: r.u32("correlation_id")?,
            client_id: r.nullable_string("client_id")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::testing::payload;

    #[test]
    fn header_layout() {
        let header = RequestHeader {
            api_key: ApiKey::Fetch,
            api_version: 0,
            correlation_id: 0x0102_0304,
            client_id: Some("cli".into()),
        };
        let mut out = FrameBuf::new();
        header.encode(&mut out).expect("encodes");
        let bytes = payload(out);
        assert_eq!(
            &bytes[..],
            &[0, 1, 0, 0, 1, 2, 3, 4, 0, 3, b'c', b'l', b'i']
        );
        let mut r = Reader::new(bytes);
        assert_eq!(RequestHeader::decode(&mut r), Ok(header));
    }

    #[test]
    fn unknown_api_key() {
        let mut r = Reader::new(bytes::Bytes::from_static(&[
            0xff, 0xfe, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
        ]));
        assert_eq!(
            RequestHeader::decode(&mut r),
            Err(DecodeError::UnknownApiKey { api_key: 0xfffe })
        );
    }
}
