//! Test helpers: round-trip assertions and proptest strategies for every message.

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, Union};
use tokio_util::codec::{Decoder, Encoder};

use super::common::{ConfigEntry, TopicPartitions, TopicResult};
use super::*;
use crate::error_code::ErrorCode;
use crate::frame::{FrameCodec, FRAME_PREFIX_BYTES};
use crate::wire::DecodeError;

/// The payload of a finished frame, prefix stripped.
pub(crate) fn payload(buf: FrameBuf) -> Bytes {
    let frame = buf.finish(usize::MAX).expect("fits").to_bytes();
    frame.slice(FRAME_PREFIX_BYTES..)
}

/// Sends `buf` through the codec, as a connection would, and returns the payload read back.
fn through_codec(buf: FrameBuf) -> Bytes {
    let mut codec = FrameCodec::default();
    let mut wire = BytesMut::new();
    codec.encode(buf, &mut wire).expect("fits");
    let frame = codec.decode(&mut wire).expect("valid").expect("complete");
    assert!(wire.is_empty());
    frame
}

/// A header for `request` at `version`.
pub(crate) fn header_at(request: &Request, version: u16) -> RequestHeader {
    RequestHeader {
        api_key: request.api_key(),
        api_version: version,
        correlation_id: 0xdead_beef,
        client_id: Some("test-client".into()),
    }
}

/// Encodes a request frame payload with [`header_at`].
pub(crate) fn encode_request_payload_at(request: &Request, version: u16) -> Bytes {
    let mut out = FrameBuf::new();
    encode_request(&header_at(request, version), request, &mut out).expect("encodes");
    through_codec(out)
}

/// Encodes a request frame payload at the newest version of its API.
pub(crate) fn encode_request_payload(request: &Request) -> Bytes {
    encode_request_payload_at(request, request.api_key().max_version())
}

/// Encodes a response frame payload at `version`.
pub(crate) fn encode_response_payload_at(response: &Response, version: u16) -> Bytes {
    let mut out = FrameBuf::new();
    encode_response(0xdead_beef, version, response, &mut out).expect("encodes");
    through_codec(out)
}

/// Encodes a response frame payload at the newest version of its API.
pub(crate) fn encode_response_payload(response: &Response) -> Bytes {
    encode_response_payload_at(response, response.api_key().max_version())
}

/// Asserts a request survives encode → frame → decode at the newest version of its API,
/// and that the version after it is refused.
pub(crate) fn request_round_trip(body: impl Into<Request>) {
    let request = body.into();
    let newest = request.api_key().max_version();
    request_round_trip_at(&request, newest);
    let frame = encode_request_payload_at(&request, newest);
    let mut bumped = frame.to_vec();
    bumped[2..4].copy_from_slice(&(newest + 1).to_be_bytes());
    let refused = newest + 1;
    assert!(matches!(
        Request::decode(bumped.into()),
        Err(DecodeError::UnsupportedVersion { version, .. }) if version == refused
    ));
    let mut out = FrameBuf::new();
    assert!(request.encode_body(refused, &mut out).is_err());
}

/// Asserts `request` survives encode → frame → decode at `version` unchanged.
pub(crate) fn request_round_trip_at(request: &Request, version: u16) {
    let frame = encode_request_payload_at(request, version);
    let (header, decoded) = Request::decode(frame).expect("decodes");
    assert_eq!(header, header_at(request, version));
    assert_eq!(&decoded, request);
}

/// Asserts a response survives encode → frame → decode at the newest version of its
/// API, and that the version after it is refused.
pub(crate) fn response_round_trip(body: impl Into<Response>) {
    let response = body.into();
    let newest = response.api_key().max_version();
    response_round_trip_at(&response, newest);
    let frame = encode_response_payload_at(&response, newest);
    let refused = newest + 1;
    assert!(matches!(
        Response::decode(response.api_key(), refused, frame),
        Err(DecodeError::UnsupportedVersion { version, .. }) if version == refused
    ));
}

/// Asserts `response` survives encode → frame → decode at `version` unchanged.
pub(crate) fn response_round_trip_at(response: &Response, version: u16) {
    let frame = encode_response_payload_at(response, version);
    let (correlation_id, decoded) =
        Response::decode(response.api_key(), version, frame).expect("decodes");
    assert_eq!(correlation_id, 0xdead_beef);
    assert_eq!(&decoded, response);
}

/// Any string, non-ASCII included.
pub(crate) fn name() -> impl Strategy<Value = String> + Clone {
    "\\PC{0,10}"
}

/// A string or null.
pub(crate) fn opt_name() -> impl Strategy<Value = Option<String>> + Clone {
    proptest::option::of(name())
}

/// Any error code, unknown numbers included.
pub(crate) fn error_code() -> impl Strategy<Value = ErrorCode> + Clone {
    any::<i16>().prop_map(ErrorCode::from_code)
}

/// Record bytes: usually small, sometimes large enough for the zero-copy path.
pub(crate) fn records() -> impl Strategy<Value = Bytes> + Clone {
    prop_oneof![vec(any::<u8>(), 0..40), vec(any::<u8>(), 1024..2100)].prop_map(Bytes::from)
}

/// A short list.
pub(crate) fn list<S: Strategy + Clone>(s: S) -> impl Strategy<Value = Vec<S::Value>> + Clone {
    vec(s, 0..4)
}

/// A short list of topics, each with a short list of `P`.
pub(crate) fn topics<S>(p: S) -> impl Strategy<Value = Vec<TopicPartitions<S::Value>>> + Clone
where
    S: Strategy + Clone,
{
    list((name(), list(p)).prop_map(|(name, partitions)| TopicPartitions { name, partitions }))
}

/// A config entry, value possibly null.
pub(crate) fn config() -> impl Strategy<Value = ConfigEntry> + Clone {
    (name(), opt_name()).prop_map(|(key, value)| ConfigEntry { key, value })
}

/// A topic-level result.
pub(crate) fn topic_result() -> impl Strategy<Value = TopicResult> + Clone {
    (name(), error_code(), opt_name()).prop_map(|(name, error_code, error_message)| TopicResult {
        name,
        error_code,
        error_message,
    })
}

/// Boxes `s` as a strategy for a [`Request`].
pub(crate) fn req<T: Into<Request> + std::fmt::Debug + 'static>(
    s: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Request> {
    s.prop_map(Into::into).boxed()
}

/// Boxes `s` as a strategy for a [`Response`].
pub(crate) fn resp<T: Into<Response> + std::fmt::Debug + 'static>(
    s: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Response> {
    s.prop_map(Into::into).boxed()
}

/// Any request of any API.
pub(crate) fn any_request() -> impl Strategy<Value = Request> {
    let mut all = super::testing_topics::requests();
    all.extend(super::testing_groups::requests());
    all.extend(super::testing_security::requests());
    all.extend(super::testing_acls::requests());
    Union::new(all)
}

/// Any response of any API.
pub(crate) fn any_response() -> impl Strategy<Value = Response> {
    let mut all = super::testing_topics::responses();
    all.extend(super::testing_groups::responses());
    all.extend(super::testing_security::responses());
    all.extend(super::testing_acls::responses());
    Union::new(all)
}
