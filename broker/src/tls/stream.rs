//! [`BrokerStream`]: an accepted connection, plaintext or TLS, as the connection code
//! sees it, and its two halves.
//!
//! Plaintext costs one enum match per read or write: the plain halves are tokio's
//! owned TCP halves, with no lock and no copy. The TLS halves share the TLS session
//! through tokio's `split` (a lock held only inside each poll).
//!
//! The native connection reads by readiness ([`BrokerReadHalf::readable`] then
//! [`BrokerReadHalf::try_read_buf`]) so that it charges its byte budgets only for
//! bytes that have arrived. A TLS stream has no readiness of its own (a ready socket
//! may hold only part of a record): `readable` reads up to [`TLS_STASH_BYTES`] of
//! plaintext into a small stash, and `try_read_buf` hands out the stash, then reads
//! more only if that needs no waiting.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_util::io::poll_read_buf;

/// A server-side TLS session over TCP.
pub type ServerTlsStream = tokio_rustls::server::TlsStream<TcpStream>;

/// Most plaintext bytes a TLS read half holds while it reports readiness.
pub const TLS_STASH_BYTES: usize = 8 * 1024;

/// An accepted connection: plaintext, or TLS after a completed handshake.
#[derive(Debug)]
pub enum BrokerStream {
    /// Plaintext TCP.
    Plain(TcpStream),
    /// TLS over TCP (boxed: the session state is a few KiB).
    Tls(Box<ServerTlsStream>),
}

impl BrokerStream {
    /// True for a TLS connection.
    pub fn is_tls(&self) -> bool {
        matches!(self, BrokerStream::Tls(_))
    }

    /// The subject of the client's verified certificate in RFC 4514 form (e.g.
    /// `CN=alice,O=Example`), the mTLS principal `User:<subject>`; `None` for plaintext
    /// or a TLS client that sent no certificate.
    pub fn peer_certificate_subject(&self) -> Option<String> {
        let BrokerStream::Tls(tls) = self else {
            return None;
        };
        let leaf = tls.get_ref().1.peer_certificates()?.first()?;
        super::subject::subject_rfc4514(leaf)
    }

    /// The negotiated protocol version (`TLSv1_3`...), for logs; `None` for plaintext.
    pub fn tls_version(&self) -> Option<rustls::ProtocolVersion> {
        match self {
            BrokerStream::Plain(_) => None,
            BrokerStream::Tls(tls) => tls.get_ref().1.protocol_version(),
        }
    }

    /// Splits into a read half and a write half, each owned by its own task.
    pub fn into_split(self) -> (BrokerReadHalf, BrokerWriteHalf) {
        match self {
            BrokerStream::Plain(tcp) => {
                let (read, write) = tcp.into_split();
                (BrokerReadHalf::Plain(read), BrokerWriteHalf::Plain(write))
            }
            BrokerStream::Tls(tls) => {
                let (read, write) = tokio::io::split(*tls);
                let stash = TlsReadHalf {
                    half: read,
                    stash: BytesMut::new(),
                    ended: false,
                };
                (
                    BrokerReadHalf::Tls(Box::new(stash)),
                    BrokerWriteHalf::Tls(write),
                )
            }
        }
    }
}

/// The reading half of a [`BrokerStream`].
#[derive(Debug)]
pub enum BrokerReadHalf {
    /// Plaintext.
    Plain(OwnedReadHalf),
    /// TLS, with the plaintext read ahead while waiting for readiness.
    Tls(Box<TlsReadHalf>),
}

/// The TLS read half and the plaintext [`BrokerReadHalf::readable`] read ahead.
#[derive(Debug)]
pub struct TlsReadHalf {
    half: tokio::io::ReadHalf<ServerTlsStream>,
    stash: BytesMut,
    ended: bool,
}

/// The writing half of a [`BrokerStream`].
#[derive(Debug)]
pub enum BrokerWriteHalf {
    /// Plaintext.
    Plain(OwnedWriteHalf),
    /// TLS.
    Tls(tokio::io::WriteHalf<ServerTlsStream>),
}

impl BrokerReadHalf {
    /// Waits until bytes (or the end of the stream) can be read without waiting.
    /// Cancel-safe: bytes read ahead stay in the stash.
    pub async fn readable(&mut self) -> io::Result<()> {
        match self {
            BrokerReadHalf::Plain(plain) => plain.readable().await,
            BrokerReadHalf::Tls(tls) => std::future::poll_fn(|cx| tls.poll_fill(cx)).await,
        }
    }

    /// Reads what is available now into `buf` (at most its remaining room): `Ok(0)` at
    /// the end of the stream, `WouldBlock` when nothing is ready. Never waits.
    pub fn try_read_buf<B: BufMut>(&mut self, buf: &mut B) -> io::Result<usize> {
        match self {
            BrokerReadHalf::Plain(plain) => plain.try_read_buf(buf),
            BrokerReadHalf::Tls(tls) => tls.try_read_buf(buf),
        }
    }
}

impl TlsReadHalf {
    /// Ready once the stash holds bytes or the stream ended.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.stash.is_empty() || self.ended {
            return Poll::Ready(Ok(()));
        }
        let mut room = (&mut self.stash).limit(TLS_STASH_BYTES);
        let filled = std::task::ready!(poll_read_buf(Pin::new(&mut self.half), cx, &mut room))?;
        self.ended = filled == 0;
        Poll::Ready(Ok(()))
    }

    fn try_read_buf<B: BufMut>(&mut self, buf: &mut B) -> io::Result<usize> {
        let mut copied = 0;
        if !self.stash.is_empty() {
            let n = self.stash.len().min(buf.remaining_mut());
            buf.put_slice(&self.stash[..n]);
            self.stash.advance(n);
            copied = n;
        }
        if self.ended && copied == 0 {
            return Ok(0);
        }
        if self.ended || !buf.has_remaining_mut() {
            return Ok(copied);
        }
        // More without waiting: a poll with a waker that does nothing. `Pending` leaves
        // nothing behind; the caller waits through `readable`, which registers a real one.
        let mut cx = Context::from_waker(Waker::noop());
        let more = poll_read_buf(Pin::new(&mut self.half), &mut cx, buf);
        match more {
            Poll::Ready(Ok(0)) => {
                self.ended = copied == 0;
                Ok(copied)
            }
            Poll::Ready(Ok(n)) => Ok(copied + n),
            Poll::Ready(Err(e)) if copied == 0 => Err(e),
            Poll::Ready(Err(_)) | Poll::Pending if copied > 0 => Ok(copied),
            _ => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl AsyncRead for BrokerReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BrokerReadHalf::Plain(plain) => Pin::new(plain).poll_read(cx, buf),
            BrokerReadHalf::Tls(tls) => {
                if !tls.stash.is_empty() {
                    let n = tls.stash.len().min(buf.remaining());
                    buf.put_slice(&tls.stash[..n]);
                    tls.stash.advance(n);
                    return Poll::Ready(Ok(()));
                }
                if tls.ended {
                    return Poll::Ready(Ok(()));
                }
                Pin::new(&mut tls.half).poll_read(cx, buf)
            }
        }
    }
}

impl AsyncWrite for BrokerWriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            BrokerWriteHalf::Plain(plain) => Pin::new(plain).poll_write(cx, buf),
            BrokerWriteHalf::Tls(tls) => Pin::new(tls).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            BrokerWriteHalf::Plain(plain) => Pin::new(plain).poll_write_vectored(cx, bufs),
            BrokerWriteHalf::Tls(tls) => Pin::new(tls).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            BrokerWriteHalf::Plain(plain) => plain.is_write_vectored(),
            BrokerWriteHalf::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BrokerWriteHalf::Plain(plain) => Pin::new(plain).poll_flush(cx),
            BrokerWriteHalf::Tls(tls) => Pin::new(tls).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BrokerWriteHalf::Plain(plain) => Pin::new(plain).poll_shutdown(cx),
            BrokerWriteHalf::Tls(tls) => Pin::new(tls).poll_shutdown(cx),
        }
    }
}

impl AsyncRead for BrokerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BrokerStream::Plain(plain) => Pin::new(plain).poll_read(cx, buf),
            BrokerStream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for BrokerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            BrokerStream::Plain(plain) => Pin::new(plain).poll_write(cx, buf),
            BrokerStream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BrokerStream::Plain(plain) => Pin::new(plain).poll_flush(cx),
            BrokerStream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BrokerStream::Plain(plain) => Pin::new(plain).poll_shutdown(cx),
            BrokerStream::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::BufMut;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    use super::*;
    use crate::tls::{TlsAcceptor, TlsSettings};

    /// A TLS connection over loopback: the broker's side as a [`BrokerStream`], and the
    /// client's; the directory holds the certificate files.
    async fn pair() -> (
        BrokerStream,
        tokio_rustls::client::TlsStream<TcpStream>,
        tempfile::TempDir,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.path().join("c.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("k.pem"), key.serialize_pem()).unwrap();
        let settings = TlsSettings {
            cert: Some(dir.path().join("c.pem")),
            key: Some(dir.path().join("k.pem")),
            ..TlsSettings::default()
        };
        let acceptor = TlsAcceptor::load(&settings).unwrap().unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.der().clone()).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(crate::tls::certs::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connecting = async {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
            tokio_rustls::TlsConnector::from(Arc::new(client))
                .connect(name, tcp)
                .await
                .unwrap()
        };
        let accepting = async {
            let (tcp, peer) = listener.accept().await.unwrap();
            acceptor.accept(tcp, peer).await.unwrap()
        };
        let (client, server) = tokio::join!(connecting, accepting);
        (server, client, dir)
    }

    /// Reads until `want` bytes arrived, the way the native connection does.
    async fn read_exactly(read: &mut BrokerReadHalf, want: usize) -> Vec<u8> {
        let mut got = BytesMut::new();
        while got.len() < want {
            read.readable().await.unwrap();
            let room = want - got.len();
            match read.try_read_buf(&mut (&mut got).limit(room)) {
                Ok(n) => assert!(n > 0, "the stream ended early"),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
        got.to_vec()
    }

    #[tokio::test]
    async fn the_tls_read_half_hands_out_what_arrived_within_the_room_given_then_the_end() {
        let (server, mut client, _dir) = pair().await;
        assert!(server.is_tls());
        let (mut read, _write) = server.into_split();
        let mut empty = BytesMut::new();
        let nothing = read.try_read_buf(&mut empty);
        assert_eq!(nothing.unwrap_err().kind(), io::ErrorKind::WouldBlock);
        // More than the stash and than one TLS record.
        let sent: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        client.write_all(&sent).await.unwrap();
        client.flush().await.unwrap();
        assert_eq!(read_exactly(&mut read, sent.len()).await, sent);
        // The room given is respected; what does not fit waits for the next read.
        client.write_all(b"abcdef").await.unwrap();
        client.flush().await.unwrap();
        assert_eq!(read_exactly(&mut read, 2).await, b"ab");
        assert_eq!(read_exactly(&mut read, 4).await, b"cdef");
        client.shutdown().await.unwrap();
        read.readable().await.unwrap();
        let mut rest = BytesMut::new();
        assert_eq!(
            read.try_read_buf(&mut rest).unwrap(),
            0,
            "the end of the stream"
        );
    }
}
