//! Reading request frames with every buffered byte charged to the buffer budgets.
//!
//! A frame's body is read in steps, and each step's room is charged to the connection's
//! and the broker's budgets ([`Charge`]) before the bytes are read: a client announcing a
//! large frame holds only what it has actually sent, and a connection whose budget is
//! full simply stops reading (its bytes wait in the kernel). When a frame is whole, its
//! bytes and their charge leave together.
//!
//! The length prefix is checked before any of the body is buffered (0 and anything above
//! `max_frame_bytes` are refused), as [`rill_protocol::frame::FrameCodec`] does.

use super::budget::Charge;
use crate::tls::BrokerReadHalf;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use rill_protocol::frame::{FrameError, FRAME_PREFIX_BYTES};

/// Bytes read ahead past what the current frame needs (several small frames per read).
pub const READ_AHEAD_BYTES: usize = 8 * 1024;
/// Most bytes one read step charges and reads.
const READ_STEP_BYTES_MAX: usize = 1024 * 1024;

/// A connection's read side: the socket, the bytes read but not yet framed, their charge.
#[derive(Debug)]
pub struct FrameReader {
    stream: BrokerReadHalf,
    buf: BytesMut,
    held: Charge,
    max_frame_bytes: usize,
}

impl FrameReader {
    /// Reads frames of at most `max_frame_bytes` from `stream`, charging `held`'s budgets.
    pub fn new(stream: BrokerReadHalf, held: Charge, max_frame_bytes: usize) -> FrameReader {
        FrameReader {
            stream,
            buf: BytesMut::new(),
            held,
            max_frame_bytes,
        }
    }

    /// True while part of a frame is buffered.
    pub fn partial(&self) -> bool {
        !self.buf.is_empty()
    }

    /// The next whole frame buffered, with the charge for its bytes; `Ok(None)` when more
    /// must be read; `Err` when the length prefix is out of bounds.
    pub fn next_frame(&mut self) -> Result<Option<(Bytes, Charge)>, FrameError> {
        let Some(len) = self.frame_len()? else {
            return Ok(None);
        };
        let total = FRAME_PREFIX_BYTES + len;
        if self.buf.len() < total {
            return Ok(None);
        }
        self.buf.advance(FRAME_PREFIX_BYTES);
        let frame = self.buf.split_to(len).freeze();
        Ok(Some((frame, self.held.split_off(total))))
    }

    /// How many bytes the next read asks for: the rest of the current frame (or prefix)
    /// plus a little read-ahead, in steps of at most 1 MiB.
    pub fn want(&self) -> usize {
        let needed = match self.frame_len() {
            Ok(Some(len)) => (FRAME_PREFIX_BYTES + len).saturating_sub(self.buf.len()),
            _ => FRAME_PREFIX_BYTES.saturating_sub(self.buf.len()),
        };
        needed.clamp(READ_AHEAD_BYTES, READ_STEP_BYTES_MAX)
    }

    /// Waits until the socket has bytes to read (so an idle connection holds no room in
    /// the budgets). Cancel-safe.
    pub async fn readable(&mut self) -> std::io::Result<()> {
        self.stream.readable().await
    }

    /// Waits until the budgets have room for `want` more bytes. Cancel-safe.
    pub async fn make_room(&mut self, want: usize) {
        self.held.grow_request_to(self.buf.len() + want).await;
    }

    /// Reads what the socket has now, at most `want` bytes (room made by
    /// [`FrameReader::make_room`]); `Ok(0)` at the end of the stream, `WouldBlock` when
    /// nothing was ready after all. Never waits, so room is charged only around a read.
    pub fn try_read(&mut self, want: usize) -> std::io::Result<usize> {
        self.buf.reserve(want);
        let read = self.stream.try_read_buf(&mut (&mut self.buf).limit(want));
        // Room asked for but not filled goes back.
        self.held.shrink_to(self.buf.len());
        read
    }

    /// The current frame's length once its prefix is buffered, checked against the limit.
    fn frame_len(&self) -> Result<Option<usize>, FrameError> {
        let &[a, b, c, d, ..] = &self.buf[..] else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([a, b, c, d]) as usize;
        if len == 0 {
            return Err(FrameError::Empty);
        }
        if len > self.max_frame_bytes {
            return Err(FrameError::TooLarge {
                len,
                max: self.max_frame_bytes,
            });
        }
        Ok(Some(len))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::io::AsyncWriteExt;
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::server::budget::ByteBudget;

    /// A reader over a loopback connection, the writing end, and its two budgets.
    async fn pair(max_frame_bytes: usize) -> (FrameReader, TcpStream, [Arc<ByteBudget>; 2]) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let writer = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (read_half, _write_half) = crate::tls::BrokerStream::Plain(server).into_split();
        let budgets = [
            ByteBudget::new(1 << 20, 1024),
            ByteBudget::new(1 << 20, 1024),
        ];
        let held = Charge::empty(&budgets[0], &budgets[1]);
        let reader = FrameReader::new(read_half, held, max_frame_bytes);
        (reader, writer, budgets)
    }

    /// Reads until a frame is whole (or the prefix is refused).
    async fn next(reader: &mut FrameReader) -> Result<(Bytes, Charge), FrameError> {
        loop {
            if let Some(framed) = reader.next_frame()? {
                return Ok(framed);
            }
            reader.readable().await.unwrap();
            let want = reader.want();
            reader.make_room(want).await;
            match reader.try_read(want) {
                Ok(0) => panic!("stream ended"),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[tokio::test]
    async fn frames_split_anywhere_arrive_whole_with_their_bytes_charged() {
        let (mut reader, mut writer, [connection, total]) = pair(1024).await;
        let mut wire = Vec::new();
        for body in [&b"a"[..], &[7u8; 300][..], b"xyz"] {
            wire.extend_from_slice(&(body.len() as u32).to_be_bytes());
            wire.extend_from_slice(body);
        }
        // Every split point between two writes, including inside the prefixes.
        for split in 0..wire.len() {
            writer.write_all(&wire[..split]).await.unwrap();
            writer.flush().await.unwrap();
            let first = tokio::spawn(async move {
                let got = next(&mut reader).await.unwrap();
                (reader, got)
            });
            writer.write_all(&wire[split..]).await.unwrap();
            let (back, (a, a_charge)) = first.await.unwrap();
            reader = back;
            let (b, b_charge) = next(&mut reader).await.unwrap();
            let (c, c_charge) = next(&mut reader).await.unwrap();
            assert_eq!((&a[..], b.len(), &c[..]), (&b"a"[..], 300, &b"xyz"[..]));
            assert_eq!(
                (a_charge.bytes(), b_charge.bytes(), c_charge.bytes()),
                (5, 304, 7)
            );
            assert_eq!(
                connection.used_bytes(),
                316,
                "every buffered byte is charged"
            );
            drop((a_charge, b_charge, c_charge));
            assert_eq!((connection.used_bytes(), total.used_bytes()), (0, 0));
            assert!(!reader.partial());
        }
    }

    #[tokio::test]
    async fn a_prefix_over_the_limit_is_refused_before_its_body_is_read() {
        let (mut reader, mut writer, [connection, _]) = pair(1024).await;
        writer.write_all(&1025u32.to_be_bytes()).await.unwrap();
        writer.write_all(&[0u8; 64]).await.unwrap();
        match next(&mut reader).await {
            Err(FrameError::TooLarge {
                len: 1025,
                max: 1024,
            }) => {}
            other => panic!("{:?}", other.map(|(frame, _)| frame)),
        }
        assert!(connection.used_bytes() <= 4 + READ_AHEAD_BYTES);
        let (mut reader, mut writer, _) = pair(1024).await;
        writer.write_all(&0u32.to_be_bytes()).await.unwrap();
        assert!(matches!(next(&mut reader).await, Err(FrameError::Empty)));
    }
}
