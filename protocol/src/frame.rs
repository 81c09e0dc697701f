//! Length-prefixed frames: the unit every Rill connection reads and writes.
//!
//! ```text
//! length u32 (big-endian, bytes that follow, 1..=max_frame_bytes) | payload
//! ```
//!
//! Incoming: [`FrameCodec`] is a [`Decoder`] that checks the length prefix against
//! `max_frame_bytes` before it reserves or buffers a byte of the body, and yields each
//! payload as a [`Bytes`] split off the read buffer (no copy). A zero length is an error,
//! because every real frame starts with a header.
//!
//! Outgoing: a message is encoded into a [`FrameBuf`], which copies small fields into one
//! buffer and keeps large [`Bytes`] (record batches, memory-mapped segment slices) as their
//! own chunks. [`FrameBuf::finish`] checks the size and writes the length prefix, giving an
//! [`OutFrame`]: a [`Buf`] over those chunks, which a connection writes with
//! `AsyncWriteExt::write_all_buf` (vectored writes, nothing copied). [`FrameCodec`] also
//! implements [`Encoder`] for [`FrameBuf`] and [`Bytes`] for `Framed` users; that path copies.

use std::io::IoSlice;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;
use tokio_util::codec::{Decoder, Encoder};

use crate::batch::MAX_BATCH_BYTES_DEFAULT;

/// Bytes of the length prefix in front of every frame.
pub const FRAME_PREFIX_BYTES: usize = 4;

/// Room for request/response headers and other partitions beside one maximum-size batch.
pub const FRAME_HEADROOM_BYTES: usize = 1024 * 1024;

/// Default largest frame payload (17 MiB): one [`MAX_BATCH_BYTES_DEFAULT`] batch plus
/// [`FRAME_HEADROOM_BYTES`]. It bounds the memory one connection can make the peer buffer;
/// producers and fetchers split larger transfers across requests.
pub const MAX_FRAME_BYTES_DEFAULT: usize = MAX_BATCH_BYTES_DEFAULT + FRAME_HEADROOM_BYTES;

/// A [`Bytes`] at least this long is pushed into a [`FrameBuf`] as its own chunk instead of
/// being copied; below it, a copy is cheaper than another `iovec`.
pub const ZERO_COPY_MIN_BYTES: usize = 1024;

/// Why a frame could not be read or written.
#[derive(Debug, Error)]
pub enum FrameError {
    /// The length prefix (or an outgoing payload) exceeds the configured maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// The frame's payload length.
        len: usize,
        /// The configured `max_frame_bytes`.
        max: usize,
    },
    /// A zero-length frame: every real frame carries at least a header.
    #[error("empty frame (length prefix 0)")]
    Empty,
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes the frame (prefix included) needs.
        need: usize,
        /// Bytes that arrived.
        have: usize,
    },
    /// The underlying transport failed.
    #[error("frame I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Length-prefixed frame codec with a size limit enforced in both directions.
#[derive(Debug, Clone, Copy)]
pub struct FrameCodec {
    max_frame_bytes: usize,
}

impl FrameCodec {
    /// A codec that accepts and emits payloads of at most `max_frame_bytes` bytes.
    pub fn new(max_frame_bytes: usize) -> Self {
        Self { max_frame_bytes }
    }

    /// The largest payload this codec accepts.
    pub fn max_frame_bytes(&self) -> usize {
        self.max_frame_bytes
    }

    /// Checks `len` against the limit: the one place both directions enforce it.
    fn check_len(&self, len: usize) -> Result<(), FrameError> {
        if len == 0 {
            return Err(FrameError::Empty);
        }
        if len > self.max_frame_bytes {
            return Err(FrameError::TooLarge {
                len,
                max: self.max_frame_bytes,
            });
        }
        Ok(())
    }

    /// Closes `buf` into an [`OutFrame`] under this codec's limit (zero-copy write path).
    pub fn finish(&self, buf: FrameBuf) -> Result<OutFrame, FrameError> {
        buf.finish(self.max_frame_bytes)
    }
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new(MAX_FRAME_BYTES_DEFAULT)
    }
}

impl Decoder for FrameCodec {
    type Item = Bytes;
    type Error = FrameError;

    /// Phase one checks the prefix and the limit; phase two splits the payload off once it
    /// is all buffered. Reserves at most the rest of the current frame (≤ max + prefix).
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        let &[a, b, c, d, ..] = &src[..] else {
            src.reserve(FRAME_PREFIX_BYTES - src.len());
            return Ok(None);
        };
        let len = u32::from_be_bytes([a, b, c, d]) as usize;
        self.check_len(len)?;
        let total = FRAME_PREFIX_BYTES + len;
        if src.len() < total {
            src.reserve(total - src.len());
            return Ok(None);
        }
        src.advance(FRAME_PREFIX_BYTES);
        Ok(Some(src.split_to(len).freeze()))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if let Some(frame) = self.decode(src)? {
            return Ok(Some(frame));
        }
        if src.is_empty() {
            return Ok(None);
        }
        let need = match &src[..] {
            &[a, b, c, d, ..] => FRAME_PREFIX_BYTES + u32::from_be_bytes([a, b, c, d]) as usize,
            _ => FRAME_PREFIX_BYTES,
        };
        Err(FrameError::Truncated {
            need,
            have: src.len(),
        })
    }
}

impl Encoder<FrameBuf> for FrameCodec {
    type Error = FrameError;

    /// Copies the frame into `dst`; connections that want zero-copy use [`FrameCodec::finish`].
    fn encode(&mut self, item: FrameBuf, dst: &mut BytesMut) -> Result<(), FrameError> {
        let mut frame = self.finish(item)?;
        dst.reserve(frame.remaining());
        dst.put(&mut frame);
        Ok(())
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = FrameError;

    /// Writes a ready payload with its length prefix.
    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.check_len(item.len())?;
        dst.reserve(FRAME_PREFIX_BYTES + item.len());
        dst.put_u32(item.len() as u32);
        dst.put(item);
        Ok(())
    }
}

/// An outgoing frame under construction: small fields are copied into a buffer, large
/// [`Bytes`] stay separate chunks. The first 4 bytes are reserved for the length prefix.
#[derive(Debug)]
pub struct FrameBuf {
    /// Prefix placeholder plus the small fields written before the first large chunk.
    head: BytesMut,
    /// Everything after `head`, in order: large chunks and frozen runs of small fields.
    rest: Vec<Bytes>,
    /// Small fields written since the last large chunk (once `rest` is non-empty).
    tail: BytesMut,
}

impl Default for FrameBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameBuf {
    /// Initial capacity of the small-field buffer.
    const HEAD_CAPACITY_BYTES: usize = 256;

    /// An empty frame (payload length 0).
    pub fn new() -> Self {
        let mut head = BytesMut::with_capacity(Self::HEAD_CAPACITY_BYTES);
        head.put_u32(0);
        Self {
            head,
            rest: Vec::new(),
            tail: BytesMut::new(),
        }
    }

    /// Payload bytes written so far (the prefix excluded).
    pub fn len(&self) -> usize {
        let rest: usize = self.rest.iter().map(Bytes::len).sum();
        self.head.len() - FRAME_PREFIX_BYTES + rest + self.tail.len()
    }

    /// Whether no payload byte has been written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer small fields go to now.
    fn small(&mut self) -> &mut BytesMut {
        if self.rest.is_empty() {
            &mut self.head
        } else {
            &mut self.tail
        }
    }

    /// Copies `bytes` into the frame.
    pub fn put_slice(&mut self, bytes: &[u8]) {
        self.small().extend_from_slice(bytes);
    }

    /// Appends `chunk`: as its own chunk (no copy) when at least [`ZERO_COPY_MIN_BYTES`]
    /// long, copied otherwise.
    pub fn put_chunk(&mut self, chunk: Bytes) {
        if chunk.len() < ZERO_COPY_MIN_BYTES {
            self.put_slice(&chunk);
            return;
        }
        if !self.tail.is_empty() {
            let run = self.tail.split().freeze();
            self.rest.push(run);
        }
        self.rest.push(chunk);
    }

    /// Checks the payload against `max_frame_bytes`, writes the prefix, and returns the
    /// chunks ready to write.
    pub fn finish(mut self, max_frame_bytes: usize) -> Result<OutFrame, FrameError> {
        let len = self.len();
        FrameCodec::new(max_frame_bytes).check_len(len)?;
        let prefix = u32::try_from(len).map_err(|_| FrameError::TooLarge {
            len,
            max: max_frame_bytes,
        })?;
        self.head[..FRAME_PREFIX_BYTES].copy_from_slice(&prefix.to_be_bytes());
        let mut chunks = Vec::with_capacity(self.rest.len() + 2);
        chunks.push(self.head.freeze());
        chunks.append(&mut self.rest);
        if !self.tail.is_empty() {
            chunks.push(self.tail.freeze());
        }
        Ok(OutFrame::from_chunks(chunks))
    }
}

/// A finished frame (length prefix included) as a list of chunks; a [`Buf`] whose
/// `chunks_vectored` feeds vectored writes. Write it with `write_all_buf(&mut frame)`.
#[derive(Debug, Clone, Default)]
pub struct OutFrame {
    /// The chunks in order; those before `next` have been consumed.
    chunks: Vec<Bytes>,
    /// Index of the first chunk not yet fully consumed.
    next: usize,
    /// Bytes not yet consumed.
    remaining: usize,
}

impl OutFrame {
    /// Wraps already-framed chunks (the prefix must be part of them).
    fn from_chunks(chunks: Vec<Bytes>) -> Self {
        let remaining = chunks.iter().map(Bytes::len).sum();
        Self {
            chunks,
            next: 0,
            remaining,
        }
    }

    /// The unconsumed chunks, prefix first.
    pub fn chunks(&self) -> &[Bytes] {
        self.chunks.get(self.next..).unwrap_or_default()
    }

    /// Copies the unconsumed bytes into one buffer (tests and diagnostics).
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.remaining);
        for chunk in self.chunks() {
            out.extend_from_slice(chunk);
        }
        out.freeze()
    }
}

impl Buf for OutFrame {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.chunks().first().map(|c| &c[..]).unwrap_or_default()
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut filled = 0;
        for (slot, chunk) in dst.iter_mut().zip(self.chunks()) {
            *slot = IoSlice::new(chunk);
            filled += 1;
        }
        filled
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.remaining, "advance past the end of an OutFrame");
        self.remaining -= cnt;
        while cnt > 0 {
            let Some(chunk) = self.chunks.get_mut(self.next) else {
                return;
            };
            let step = cnt.min(chunk.len());
            chunk.advance(step);
            cnt -= step;
            if chunk.is_empty() {
                self.next += 1;
            }
        }
        while self.chunks.get(self.next).is_some_and(Bytes::is_empty) {
            self.next += 1;
        }
    }
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
