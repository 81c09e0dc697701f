//! Tests for the primitive field readers and writers.

use super::*;
use crate::frame::FRAME_PREFIX_BYTES;

/// The payload a FrameBuf holds, without the prefix.
fn payload(buf: FrameBuf) -> Bytes {
    let frame = buf.finish(usize::MAX).expect("fits").to_bytes();
    frame.slice(FRAME_PREFIX_BYTES..)
}

#[test]
fn primitives_round_trip() {
    let mut out = FrameBuf::new();
    out.put_i8(-3);
    out.put_bool(true);
    out.put_i16(-300);
    out.put_u16(65000);
    out.put_i32(-70000);
    out.put_u32(4_000_000_000);
    out.put_i64(i64::MIN);
    out.put_string("s", "héllo").expect("short");
    out.put_nullable_string("n", None).expect("short");
    out.put_bytes("b", &Bytes::from_static(b"xyz"))
        .expect("short");
    out.put_nullable_array::<i32>("a", None, 0).expect("short");
    out.put_array("a", &[1i32, 2, 3], 0).expect("short");
    let mut r = Reader::new(payload(out));
    assert_eq!(r.i8("f").expect("i8"), -3);
    assert!(r.bool("f").expect("bool"));
    assert_eq!(r.i16("f").expect("i16"), -300);
    assert_eq!(r.u16("f").expect("u16"), 65000);
    assert_eq!(r.i32("f").expect("i32"), -70000);
    assert_eq!(r.u32("f").expect("u32"), 4_000_000_000);
    assert_eq!(r.i64("f").expect("i64"), i64::MIN);
    assert_eq!(r.string("s").expect("string"), "héllo");
    assert_eq!(r.nullable_string("n").expect("null"), None);
    assert_eq!(&r.bytes("b").expect("bytes")[..], b"xyz");
    assert_eq!(r.nullable_array::<i32>("a", 0).expect("null"), None);
    assert_eq!(r.array::<i32>("a", 0).expect("array"), vec![1, 2, 3]);
    r.finish().expect("all consumed");
}

#[test]
fn truncation_reports_field_offset_need_have() {
    let mut r = Reader::new(Bytes::from_static(&[0, 0, 0, 1, 0xff]));
    r.i32("count").expect("i32");
    assert_eq!(
        r.i32("partition"),
        Err(DecodeError::Truncated {
            field: "partition",
            offset: 4,
            need: 4,
            have: 1
        })
    );
}

#[test]
fn huge_counts_and_lengths_are_rejected_without_allocating() {
    let mut r = Reader::new(Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0, 0]));
    assert!(matches!(
        r.array::<i32>("topics", 0),
        Err(DecodeError::Invalid {
            field: "topics",
            offset: 0,
            reason: Invalid::CountTooLarge {
                count: 0x7fff_ffff,
                remaining: 2
            }
        })
    ));
    let mut r = Reader::new(Bytes::from_static(&[0x7f, 0xff, 0, 0]));
    assert!(matches!(
        r.string("name"),
        Err(DecodeError::Truncated {
            need: 0x7fff,
            have: 2,
            ..
        })
    ));
    let mut r = Reader::new(Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff]));
    assert!(matches!(
        r.bytes("records"),
        Err(DecodeError::Truncated { .. })
    ));
}

#[test]
fn nulls_negative_lengths_bools_and_utf8() {
    let invalid = |bytes: &'static [u8], f: fn(&mut Reader) -> Result<(), DecodeError>| match f(
        &mut Reader::new(Bytes::from_static(bytes)),
    ) {
        Err(DecodeError::Invalid { reason, .. }) => reason,
        other => panic!("expected Invalid, got {other:?}"),
    };
    assert_eq!(
        invalid(&[0xff, 0xff], |r| r.string("s").map(drop)),
        Invalid::UnexpectedNull
    );
    assert_eq!(
        invalid(&[0xff, 0xfe], |r| r.nullable_string("s").map(drop)),
        Invalid::NegativeLength(-2)
    );
    assert_eq!(
        invalid(&[0, 2, 0xc3, 0x28], |r| r.string("s").map(drop)),
        Invalid::NotUtf8
    );
    assert_eq!(
        invalid(&[2], |r| r.bool("b").map(drop)),
        Invalid::NotBool(2)
    );
    assert_eq!(
        invalid(&[0xff, 0xff, 0xff, 0xff], |r| r.bytes("b").map(drop)),
        Invalid::UnexpectedNull
    );
    assert_eq!(
        invalid(&[0x80, 0, 0, 0], |r| r.array::<i32>("a", 0).map(drop)),
        Invalid::NegativeLength(i64::from(i32::MIN))
    );
}

#[test]
fn bytes_are_zero_copy_slices() {
    let frame = Bytes::from(vec![0, 0, 0, 3, 7, 8, 9]);
    let mut r = Reader::new(frame.clone());
    let b = r.bytes("records").expect("bytes");
    assert_eq!(b.as_ptr(), frame[4..].as_ptr());
}

#[test]
fn trailing_bytes_are_an_error() {
    let mut r = Reader::new(Bytes::from_static(&[0, 1, 2]));
    r.i16("x").expect("i16");
    assert_eq!(
        r.finish(),
        Err(DecodeError::TrailingBytes {
            offset: 2,
            remaining: 1
        })
    );
}

#[test]
fn overlong_string_is_an_encode_error() {
    let long = "x".repeat(i16::MAX as usize + 1);
    assert!(matches!(
        FrameBuf::new().put_string("name", &long),
        Err(EncodeError::TooLong { field: "name", .. })
    ));
}

#[test]
fn a_request_may_carry_at_most_the_element_cap_in_all() {
    use crate::api::metadata::MetadataRequest;
    use crate::api::{encode_request, Request, RequestHeader};
    let request = |topics: usize| {
        let header = RequestHeader {
            api_key: crate::api::ApiKey::Metadata,
            api_version: 0,
            correlation_id: 1,
            client_id: None,
        };
        let body = Request::Metadata(MetadataRequest {
            topics: Some(vec![String::new(); topics]),
            allow_auto_topic_creation: false,
        });
        let mut out = FrameBuf::new();
        encode_request(&header, &body, &mut out).expect("encode");
        payload(out)
    };
    assert!(Request::decode(request(REQUEST_ELEMENTS_MAX)).is_ok());
    let err = Request::decode(request(REQUEST_ELEMENTS_MAX + 1)).unwrap_err();
    assert!(err.to_string().contains("array elements"), "{err}");
    // Other readers (responses, from a broker the client chose) are not capped.
    let count: i32 = 200_000;
    let mut bytes = count.to_be_bytes().to_vec();
    bytes.resize(4 + 2 * 200_000, 0);
    let mut r = Reader::new(Bytes::from(bytes));
    assert_eq!(r.array_len("names", 2).ok(), Some(200_000));
}
