//! Every request decoder: `Request::decode` on an arbitrary frame payload.
//!
//! A request that decodes must survive a round trip: encoding it and decoding the result
//! gives the same header and body.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rill_protocol::api::{encode_request, Request};
use rill_protocol::frame::FrameBuf;

fuzz_target!(|data: &[u8]| {
    let Ok((header, request)) = Request::decode(Bytes::copy_from_slice(data)) else {
        return;
    };
    let mut out = FrameBuf::new();
    encode_request(&header, &request, &mut out).expect("a decoded request encodes");
    let frame = out.finish(usize::MAX >> 1).expect("finish").to_bytes();
    let again = Request::decode(frame.slice(4..)).expect("a re-encoded request decodes");
    assert_eq!(again, (header, request));
});
