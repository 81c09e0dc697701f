//! The frame decoder fed arbitrary bytes in arbitrary chunks.
//!
//! Input: `max_frame_byte | chunk_seed u8 | stream...`. Checks that no frame exceeds the
//! limit or is empty, that decoding in chunks yields exactly what decoding the whole
//! stream at once yields (frames and the final error), and that frames plus prefixes are
//! the stream's own bytes.

#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use rill_protocol::frame::{FrameCodec, FRAME_PREFIX_BYTES};
use tokio_util::codec::Decoder;

/// The frames decoded, and whether the stream ended in an error.
fn decode(
    codec: &mut FrameCodec,
    stream: &[u8],
    chunk_sizes: &mut dyn Iterator<Item = usize>,
) -> (Vec<Bytes>, bool) {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let take = chunk_sizes
            .next()
            .unwrap_or(rest.len())
            .clamp(1, rest.len());
        buf.extend_from_slice(&rest[..take]);
        rest = &rest[take..];
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(_) => return (frames, true),
            }
        }
    }
    match codec.decode_eof(&mut buf) {
        Ok(Some(frame)) => {
            frames.push(frame);
            (frames, false)
        }
        Ok(None) => (frames, false),
        Err(_) => (frames, true),
    }
}

fuzz_target!(|data: &[u8]| {
    let [max_byte, seed, stream @ ..] = data else {
        return;
    };
    let max_frame_bytes = 1 + usize::from(*max_byte) * 8;
    let mut codec = FrameCodec::new(max_frame_bytes);
    let (whole, whole_err) = decode(&mut codec, stream, &mut std::iter::empty());
    let mut state = u32::from(*seed) | 1;
    let mut sizes = std::iter::from_fn(|| {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        Some(1 + (state >> 16) as usize % 17)
    });
    let (chunked, chunked_err) = decode(&mut codec, stream, &mut sizes);
    assert_eq!(whole, chunked, "chunking changed the frames");
    assert_eq!(whole_err, chunked_err, "chunking changed the outcome");
    let mut pos = 0;
    for frame in &whole {
        assert!(!frame.is_empty() && frame.len() <= max_frame_bytes);
        let prefix = u32::try_from(frame.len()).unwrap().to_be_bytes();
        assert_eq!(&stream[pos..pos + FRAME_PREFIX_BYTES], &prefix);
        pos += FRAME_PREFIX_BYTES;
        assert_eq!(&stream[pos..pos + frame.len()], &frame[..]);
        pos += frame.len();
    }
});
