//! Tests for the frame codec and the outgoing frame buffer.

use super::*;

fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

fn decode_all(codec: &mut FrameCodec, buf: &mut BytesMut) -> Vec<Bytes> {
    let mut frames = Vec::new();
    while let Some(frame) = codec.decode(buf).expect("valid stream") {
        frames.push(frame);
    }
    frames
}

#[test]
fn many_frames_in_one_read() {
    let payloads: Vec<Vec<u8>> = (1..=20u8).map(|n| vec![n; n as usize * 7]).collect();
    let mut buf = BytesMut::new();
    for p in &payloads {
        buf.extend_from_slice(&framed(p));
    }
    let mut codec = FrameCodec::default();
    let frames = decode_all(&mut codec, &mut buf);
    assert_eq!(frames.len(), payloads.len());
    for (frame, p) in frames.iter().zip(&payloads) {
        assert_eq!(&frame[..], &p[..]);
    }
    assert!(buf.is_empty());
}

#[test]
fn frame_split_at_every_byte_boundary() {
    let stream = [framed(b"hello, rill"), framed(&[7u8; 300])].concat();
    for split in 0..=stream.len() {
        let mut codec = FrameCodec::new(1024);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&stream[..split]);
        let mut frames = decode_all(&mut codec, &mut buf);
        buf.extend_from_slice(&stream[split..]);
        frames.extend(decode_all(&mut codec, &mut buf));
        assert_eq!(frames.len(), 2, "split at {split}");
        assert_eq!(&frames[0][..], b"hello, rill");
        assert_eq!(&frames[1][..], &[7u8; 300][..]);
        assert_eq!(codec.decode_eof(&mut buf).expect("clean end"), None);
    }
}

#[test]
fn oversize_rejected_before_buffering() {
    let mut codec = FrameCodec::new(100);
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&101u32.to_be_bytes());
    let capacity_before = buf.capacity();
    match codec.decode(&mut buf) {
        Err(FrameError::TooLarge { len: 101, max: 100 }) => {}
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(
        buf.capacity(),
        capacity_before,
        "nothing reserved for the body"
    );

    let mut huge = BytesMut::new();
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        FrameCodec::default().decode(&mut huge),
        Err(FrameError::TooLarge { .. })
    ));
    assert!(huge.capacity() < 1024);
}

#[test]
fn reserve_is_bounded_by_frame() {
    let mut codec = FrameCodec::new(10_000);
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&5000u32.to_be_bytes());
    assert!(codec.decode(&mut buf).expect("incomplete").is_none());
    assert!(buf.capacity() >= 5004 && buf.capacity() < 20_000);
}

#[test]
fn zero_length_frame_is_an_error() {
    let mut buf = BytesMut::from(&[0u8, 0, 0, 0][..]);
    assert!(matches!(
        FrameCodec::default().decode(&mut buf),
        Err(FrameError::Empty)
    ));
}

#[test]
fn truncated_at_eof() {
    let mut codec = FrameCodec::default();
    let stream = framed(b"abcdef");
    for cut in 1..stream.len() {
        let mut buf = BytesMut::from(&stream[..cut]);
        assert!(codec.decode(&mut buf).expect("incomplete").is_none());
        match codec.decode_eof(&mut buf) {
            Err(FrameError::Truncated { have, need }) => {
                assert_eq!(have, cut);
                assert_eq!(need, if cut < 4 { 4 } else { stream.len() });
            }
            other => panic!("cut {cut}: expected Truncated, got {other:?}"),
        }
    }
    let mut empty = BytesMut::new();
    assert_eq!(codec.decode_eof(&mut empty).expect("clean end"), None);
}

#[test]
fn decoded_payload_shares_the_read_buffer() {
    let mut buf = BytesMut::from(&framed(&[1u8; 64])[..]);
    let base = buf.as_ptr() as usize;
    let frame = FrameCodec::default()
        .decode(&mut buf)
        .expect("valid")
        .expect("complete");
    assert_eq!(frame.as_ptr() as usize, base + FRAME_PREFIX_BYTES);
}

#[test]
fn frame_buf_keeps_large_chunks_uncopied() {
    let big = Bytes::from(vec![9u8; 4096]);
    let mut buf = FrameBuf::new();
    buf.put_slice(b"head");
    buf.put_chunk(big.clone());
    buf.put_slice(b"mid");
    buf.put_chunk(Bytes::from_static(b"small"));
    buf.put_chunk(big.clone());
    assert_eq!(buf.len(), 4 + 4096 + 3 + 5 + 4096);
    let frame = buf.finish(MAX_FRAME_BYTES_DEFAULT).expect("fits");
    let chunks = frame.chunks();
    assert_eq!(chunks.len(), 4);
    assert_eq!(
        &chunks[0][..],
        &[&8204u32.to_be_bytes()[..], b"head"].concat()[..]
    );
    assert_eq!(chunks[1].as_ptr(), big.as_ptr(), "large chunk not copied");
    assert_eq!(&chunks[2][..], b"midsmall");
    assert_eq!(chunks[3].as_ptr(), big.as_ptr());

    let mut decoded = BytesMut::from(&frame.to_bytes()[..]);
    let payload = FrameCodec::default()
        .decode(&mut decoded)
        .expect("valid")
        .expect("complete");
    assert_eq!(payload.len(), 8204);
}

#[test]
fn out_frame_advances_across_chunks() {
    let mut buf = FrameBuf::new();
    buf.put_slice(b"ab");
    buf.put_chunk(Bytes::from(vec![3u8; 2000]));
    buf.put_slice(b"cd");
    let mut frame = buf.finish(10_000).expect("fits");
    let expected = frame.to_bytes();
    let mut got = Vec::new();
    while frame.has_remaining() {
        let mut slices = [IoSlice::new(&[]); 8];
        let n = frame.chunks_vectored(&mut slices);
        assert!(n >= 1);
        let step = frame.chunk().len().min(777);
        got.extend_from_slice(&frame.chunk()[..step]);
        frame.advance(step);
    }
    assert_eq!(&got[..], &expected[..]);
}

#[test]
fn encoder_enforces_the_limit() {
    let mut codec = FrameCodec::new(8);
    let mut dst = BytesMut::new();
    let mut buf = FrameBuf::new();
    buf.put_slice(&[0u8; 9]);
    assert!(matches!(
        codec.encode(buf, &mut dst),
        Err(FrameError::TooLarge { len: 9, max: 8 })
    ));
    assert!(matches!(
        codec.encode(FrameBuf::new(), &mut dst),
        Err(FrameError::Empty)
    ));
    codec
        .encode(Bytes::from_static(b"12345678"), &mut dst)
        .expect("fits");
    assert_eq!(&dst[..], &framed(b"12345678")[..]);
    assert!(codec
        .encode(Bytes::from_static(b"123456789"), &mut dst)
        .is_err());
}

mod props {
    use proptest::prelude::*;

    use super::*;

    /// The frames of `stream` fed in `chunks`-sized pieces, and whether it ended in an error.
    fn decode_chunked(max: usize, stream: &[u8], chunks: &[usize]) -> (Vec<Bytes>, bool) {
        let mut codec = FrameCodec::new(max);
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        let mut sizes = chunks.iter().copied().cycle();
        let mut rest = stream;
        while !rest.is_empty() {
            let take = sizes.next().unwrap_or(rest.len()).clamp(1, rest.len());
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
            Ok(frame) => (frames.into_iter().chain(frame).collect(), false),
            Err(_) => (frames, true),
        }
    }

    proptest! {
        #[test]
        fn arbitrary_chunks_decode_like_the_whole_stream(
            stream in prop::collection::vec(any::<u8>(), 0..512),
            chunks in prop::collection::vec(1usize..40, 1..8),
            max in 1usize..300,
        ) {
            let whole = decode_chunked(max, &stream, &[usize::MAX]);
            let chunked = decode_chunked(max, &stream, &chunks);
            prop_assert_eq!(&whole, &chunked);
            for frame in &whole.0 {
                prop_assert!(!frame.is_empty() && frame.len() <= max);
            }
        }

        #[test]
        fn valid_frames_survive_any_chunking(
            payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..100), 0..8),
            chunks in prop::collection::vec(1usize..40, 1..8),
        ) {
            let stream: Vec<u8> = payloads.iter().flat_map(|p| framed(p)).collect();
            let (frames, failed) = decode_chunked(100, &stream, &chunks);
            prop_assert!(!failed);
            let frames: Vec<Vec<u8>> = frames.iter().map(|f| f.to_vec()).collect();
            prop_assert_eq!(frames, payloads);
        }
    }
}
