//! Property tests across every API: round trips, and hostile input that must fail cleanly
//! without panicking or allocating more than the input justifies.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;

use super::testing::{any_request, any_response, encode_request_payload, encode_response_payload};
use super::*;

thread_local! {
    /// Largest single allocation made by this thread since the last reset.
    static LARGEST_ALLOC_BYTES: Cell<usize> = const { Cell::new(0) };
}

/// Passes through to the system allocator, remembering the largest request per thread.
struct LargestAlloc;

impl LargestAlloc {
    fn record(size: usize) {
        let _ = LARGEST_ALLOC_BYTES.try_with(|l| l.set(l.get().max(size)));
    }
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds the GlobalAlloc
// contract; the bookkeeping touches only a const-initialised thread-local Cell, which
// neither allocates nor unwinds.
unsafe impl GlobalAlloc for LargestAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::record(layout.size());
        // SAFETY: same layout contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::record(new_size);
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: LargestAlloc = LargestAlloc;

/// Runs `f` and returns its result with the largest single allocation it made.
fn largest_alloc<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST_ALLOC_BYTES.with(|l| l.set(0));
    let out = f();
    (out, LARGEST_ALLOC_BYTES.with(Cell::get))
}

/// What decoding `input_len` bytes may allocate at once: a few times the input (an
/// element on the wire is never smaller than 1/16 of its in-memory size) plus slack.
fn alloc_budget(input_len: usize) -> usize {
    16 * input_len + 4096
}

/// A valid request header for `key` at version 0, with no client id.
fn header_bytes(key: ApiKey) -> Vec<u8> {
    let mut out = key.as_u16().to_be_bytes().to_vec();
    out.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0xff, 0xff]);
    out
}

fn any_key() -> impl Strategy<Value = ApiKey> {
    proptest::sample::select(ApiKey::ALL)
}

#[test]
fn every_api_key_is_unique_and_round_trips() {
    for &key in ApiKey::ALL {
        assert_eq!(ApiKey::from_u16(key.as_u16()), Some(key));
    }
    let mut ids: Vec<u16> = ApiKey::ALL.iter().map(|k| k.as_u16()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), ApiKey::ALL.len());
}

#[test]
fn huge_counts_and_lengths_after_a_valid_header_fail_cleanly() {
    let patterns: [&[u8]; 4] = [
        &[0x7f, 0xff, 0xff, 0xff],
        &[0x7f, 0xff],
        &[0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff],
        &[0xff, 0xff, 0xff, 0xff],
    ];
    for &key in ApiKey::ALL {
        for (i, pattern) in patterns.into_iter().enumerate() {
            for repeat in 1..6 {
                let mut frame = header_bytes(key);
                for _ in 0..repeat {
                    frame.extend_from_slice(pattern);
                }
                let len = frame.len();
                let (result, largest) = largest_alloc(|| Request::decode(Bytes::from(frame)));
                assert!(largest <= alloc_budget(len), "{key:?}: allocated {largest}");
                // A leading 0x7fffffff is a count or length no body can back (other
                // patterns may happen to spell a valid fixed-size body).
                if i == 0 {
                    assert!(result.is_err(), "{key:?} accepted {pattern:x?} x{repeat}");
                }
                let mut body = vec![0, 0, 0, 1];
                body.extend(std::iter::repeat_n(pattern, repeat).flatten());
                let (_, largest) = largest_alloc(|| Response::decode(key, 0, Bytes::from(body)));
                assert!(
                    largest <= alloc_budget(len),
                    "{key:?} response: allocated {largest}"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn requests_round_trip(request in any_request()) {
        let frame = encode_request_payload(&request);
        let (header, decoded) = Request::decode(frame).expect("decodes");
        prop_assert_eq!(header.api_key, request.api_key());
        prop_assert_eq!(decoded, request);
    }

    #[test]
    fn responses_round_trip(response in any_response()) {
        let frame = encode_response_payload(&response);
        let (correlation_id, decoded) =
            Response::decode(response.api_key(), response.api_key().max_version(), frame).expect("decodes");
        prop_assert_eq!(correlation_id, 0xdead_beef);
        prop_assert_eq!(decoded, response);
    }

    #[test]
    fn arbitrary_bytes_never_panic(frame in vec(any::<u8>(), 0..512), key in any_key()) {
        let len = frame.len();
        let frame = Bytes::from(frame);
        let (_, largest) = largest_alloc(|| Request::decode(frame.clone()));
        prop_assert!(largest <= alloc_budget(len));
        let (_, largest) = largest_alloc(|| Response::decode(key, 0, frame));
        prop_assert!(largest <= alloc_budget(len));
    }

    #[test]
    fn valid_header_then_garbage_never_panics(key in any_key(), body in vec(any::<u8>(), 0..512)) {
        let mut frame = header_bytes(key);
        frame.extend_from_slice(&body);
        let len = frame.len();
        let (_, largest) = largest_alloc(|| Request::decode(Bytes::from(frame)));
        prop_assert!(largest <= alloc_budget(len));
    }

    #[test]
    fn truncated_requests_are_errors(request in any_request(), cut in any::<prop::sample::Index>()) {
        let frame = encode_request_payload(&request);
        let cut = cut.index(frame.len());
        prop_assert!(Request::decode(frame.slice(..cut)).is_err());
    }

    #[test]
    fn truncated_responses_are_errors(response in any_response(), cut in any::<prop::sample::Index>()) {
        let frame = encode_response_payload(&response);
        let cut = cut.index(frame.len());
        prop_assert!(Response::decode(response.api_key(), response.api_key().max_version(), frame.slice(..cut)).is_err());
    }

    #[test]
    fn corrupted_requests_never_panic(
        request in any_request(),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut frame = encode_request_payload(&request).to_vec();
        for (at, byte) in flips {
            let at = at.index(frame.len());
            frame[at] = byte;
        }
        let len = frame.len();
        let (_, largest) = largest_alloc(|| Request::decode(Bytes::from(frame)));
        prop_assert!(largest <= alloc_budget(len));
    }
}
