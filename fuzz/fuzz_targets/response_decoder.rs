//! Every response decoder: `Response::decode` for each API key and version.
//!
//! Input: `api_key_index u8 | version u8 | frame payload...`. A response that decodes must
//! survive a round trip through `encode_response`.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rill_protocol::api::{encode_response, ApiKey, Response};
use rill_protocol::frame::FrameBuf;

fuzz_target!(|data: &[u8]| {
    let [key_index, version, payload @ ..] = data else {
        return;
    };
    let api_key = ApiKey::ALL[usize::from(*key_index) % ApiKey::ALL.len()];
    let version = u16::from(*version % 4);
    let Ok((correlation_id, response)) =
        Response::decode(api_key, version, Bytes::copy_from_slice(payload))
    else {
        return;
    };
    assert_eq!(response.api_key(), api_key);
    let mut out = FrameBuf::new();
    encode_response(correlation_id, version, &response, &mut out)
        .expect("a decoded response encodes");
    let frame = out.finish(usize::MAX >> 1).expect("finish").to_bytes();
    let again = Response::decode(api_key, version, frame.slice(4..))
        .expect("a re-encoded response decodes");
    assert_eq!(again, (correlation_id, response));
});
