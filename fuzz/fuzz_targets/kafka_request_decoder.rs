//! The Kafka listener's request decoder: `rill_broker::kafka::decode_request` on an
//! arbitrary frame payload (any api key, version, header and body).
//!
//! Beyond "no panic and no huge allocation" (`kafka::bounds` checks every array count
//! and length against the bytes left before the codec crate decodes): a decoded request
//! keeps the header's fields as sent.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rill_broker::kafka::decode_request;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = decode_request(Bytes::copy_from_slice(data)) else {
        return;
    };
    let api_key = i16::from_be_bytes([data[0], data[1]]);
    let version = i16::from_be_bytes([data[2], data[3]]);
    let correlation_id = i32::from_be_bytes([data[4], data[5], data[6], data[7]]);
    assert_eq!(request.header.api_key as i16, api_key);
    assert_eq!(request.header.api_version, version);
    assert_eq!(request.header.correlation_id, correlation_id);
});
