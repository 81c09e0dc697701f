//! The replication protocol between brokers: the messages partition groups exchange
//! and their frames.
//!
//! A replication connection is a TCP connection to a broker's inter-broker (`--cluster`)
//! address whose first 4 bytes are [`MAGIC`] (`0xFFFF_FFFF`, never a valid length of
//! the metadata protocol, whose frames are capped at 16 MiB). After it, both directions
//! carry frames: a big-endian `u32` length, then that many bytes of MessagePack
//! ([`super::codec`], which refuses trailing bytes and nesting too deep). The dialler sends [`RequestFrame`]s, the acceptor answers each
//! with a [`ResponseFrame`] carrying the same `id`, in any order: many requests of many
//! groups are in flight on one connection at once.
//!
//! ```text
//! connection: magic u32 = 0xFFFF_FFFF | frame*
//! frame:      length u32 (<= MAX_FRAME_BYTES) | msgpack(RequestFrame | ResponseFrame)
//! ```
//!
//! Decoding is two-phase ([`frame_len`] checks the header before a byte of the body is
//! read or reserved) and never trusts a length: a frame over [`MAX_FRAME_BYTES`] closes
//! the connection before anything is allocated for it.

use bytes::{Buf, BytesMut};
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::codec::CodecError;
use super::types::{GroupId, PartitionConfig, SegmentChunk};
use crate::cluster::NodeId;

/// The first 4 bytes of a replication connection.
pub const MAGIC: [u8; 4] = 0xFFFF_FFFFu32.to_be_bytes();

/// Largest frame either side sends or accepts (an AppendEntries of several produce
/// requests' batches, a segment chunk).
pub const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

/// Largest [`RequestBody::ReadSegments`] answer a broker sends, whatever was asked.
pub const SEGMENT_READ_BYTES_MAX: u32 = 8 * 1024 * 1024;

/// Largest snapshot a replica receives: the snapshot is a small descriptor (applied log
/// id, membership, the partition's offsets), never the data.
pub const SNAPSHOT_BYTES_MAX: u64 = 1024 * 1024;

/// Bytes of a frame's length prefix.
pub const FRAME_PREFIX_BYTES: usize = 4;

/// A call from one broker to a partition group's replica on another.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestFrame {
    /// Chosen by the caller, unique among its calls in flight on the connection.
    pub id: u64,
    /// The broker the caller means to reach (a connection that reached another broker
    /// at a reused address is refused, not served).
    pub to: NodeId,
    /// The partition group addressed.
    pub group: GroupId,
    /// What is asked.
    pub body: RequestBody,
}

/// What a [`RequestFrame`] asks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum RequestBody {
    /// Raft log replication and leader heartbeats.
    AppendEntries(AppendEntriesRequest<PartitionConfig>),
    /// A candidate asks for a vote.
    Vote(VoteRequest<NodeId>),
    /// The leader's snapshot (a small descriptor, sent as one chunk).
    InstallSnapshot(InstallSnapshotRequest<PartitionConfig>),
    /// Whole committed batches of the group's partition from `offset`, at most
    /// `max_bytes` (capped by [`SEGMENT_READ_BYTES_MAX`]), for a replica catching up
    /// after installing a snapshot.
    ReadSegments {
        /// First offset wanted.
        offset: i64,
        /// Most bytes wanted (at least one batch is sent).
        max_bytes: u32,
    },
}

impl RequestBody {
    /// The request's kind, for logs and errors.
    pub fn kind(&self) -> &'static str {
        match self {
            RequestBody::AppendEntries(_) => "AppendEntries",
            RequestBody::Vote(_) => "Vote",
            RequestBody::InstallSnapshot(_) => "InstallSnapshot",
            RequestBody::ReadSegments { .. } => "ReadSegments",
        }
    }
}

/// The answer to the [`RequestFrame`] with the same `id`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ResponseFrame {
    /// The request's id.
    pub id: u64,
    /// The answer.
    pub body: ResponseBody,
}

/// What a [`ResponseFrame`] answers: the variant of the request, or why it was not served.
#[derive(Debug, Serialize, Deserialize)]
pub enum ResponseBody {
    /// See [`RequestBody::AppendEntries`].
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    /// See [`RequestBody::Vote`].
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    /// See [`RequestBody::InstallSnapshot`].
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    /// See [`RequestBody::ReadSegments`].
    Segments(SegmentChunk),
    /// The request was not served; nothing was done.
    Refused(Refusal),
}

/// Why a request was not served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Refusal {
    /// The callee runs no replica of the group (not started yet, or not assigned here).
    #[error("no replica of group {0} on this broker")]
    UnknownGroup(GroupId),
    /// The caller meant another broker.
    #[error("this is broker {actual}, not {expected}")]
    WrongBroker {
        /// Who the caller meant.
        expected: NodeId,
        /// Who answered.
        actual: NodeId,
    },
    /// The request breaks the protocol's rules (out of order entries, oversized
    /// snapshot, ...).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Serving it failed (the partition's segments could not be read, ...).
    #[error("{0}")]
    Failed(String),
}

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix is over [`MAX_FRAME_BYTES`].
    #[error("frame of {len} bytes is over the {MAX_FRAME_BYTES} byte limit")]
    TooLarge {
        /// The claimed (or encoded) length.
        len: usize,
    },
    /// The stream ended inside a frame.
    #[error("connection closed inside a frame ({have} of {need} bytes)")]
    Truncated {
        /// Bytes the frame claims.
        need: usize,
        /// Bytes that came.
        have: usize,
    },
    /// The body is not the message expected.
    #[error("undecodable frame: {0}")]
    Decode(#[source] CodecError),
    /// The value could not be encoded.
    #[error("cannot encode a frame: {0}")]
    Encode(#[source] CodecError),
    /// The socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The body length a frame header announces, checked against [`MAX_FRAME_BYTES`].
pub fn frame_len(header: [u8; FRAME_PREFIX_BYTES]) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge { len });
    }
    Ok(len)
}

/// `value` as a whole frame (length prefix included), refused over [`MAX_FRAME_BYTES`].
pub fn encode_frame<T: Serialize>(value: &T) -> Result<Vec<u8>, FrameError> {
    let mut frame = vec![0u8; FRAME_PREFIX_BYTES];
    super::codec::encode_into(value, &mut frame).map_err(FrameError::Encode)?;
    let len = frame.len() - FRAME_PREFIX_BYTES;
    if len > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge { len });
    }
    frame[..FRAME_PREFIX_BYTES].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(frame)
}

/// Decodes a frame's body.
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    super::codec::decode(body).map_err(FrameError::Decode)
}

/// Takes one whole frame's body off the front of `buf`: `Ok(None)` until the whole frame
/// is there (nothing is reserved for a length not yet received), an error for a header
/// over the limit.
pub fn split_frame(buf: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
    let Some(header) = buf.get(..FRAME_PREFIX_BYTES) else {
        return Ok(None);
    };
    let header: [u8; FRAME_PREFIX_BYTES] = [header[0], header[1], header[2], header[3]];
    let len = frame_len(header)?;
    if buf.len() < FRAME_PREFIX_BYTES + len {
        return Ok(None);
    }
    buf.advance(FRAME_PREFIX_BYTES);
    Ok(Some(buf.split_to(len)))
}

/// Checks an AppendEntries from the wire is one a leader could send (see
/// [`crate::cluster::raft::rpc::check_append_entries`], the same rules for the metadata
/// quorum); openraft assumes it of its peers.
pub fn check_append_entries(rpc: &AppendEntriesRequest<PartitionConfig>) -> Result<(), String> {
    crate::cluster::raft::rpc::check_log_ids(
        rpc.vote.leader_id().term,
        rpc.prev_log_id,
        rpc.entries.iter().map(|e| e.log_id),
    )
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use openraft::{CommittedLeaderId, EntryPayload, LogId, Vote};

    use super::*;
    use crate::replication::types::{Entry, ReplicaWrite};

    fn group() -> GroupId {
        GroupId {
            topic_id: 0xabcdef,
            partition: 3,
        }
    }

    fn entry(term: u64, index: u64) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
            payload: EntryPayload::Normal(ReplicaWrite {
                batches: Bytes::from_static(b"batches"),
                timestamp_ms: 1_700_000_000_000,
            }),
        }
    }

    fn append(
        prev: Option<(u64, u64)>,
        entries: Vec<Entry>,
    ) -> AppendEntriesRequest<PartitionConfig> {
        AppendEntriesRequest {
            vote: Vote::new_committed(2, 1),
            prev_log_id: prev.map(|(t, i)| LogId::new(CommittedLeaderId::new(t, 1), i)),
            entries,
            leader_commit: None,
        }
    }

    #[test]
    fn frames_round_trip_and_split_at_every_boundary() {
        let request = RequestFrame {
            id: 7,
            to: 2,
            group: group(),
            body: RequestBody::AppendEntries(append(Some((1, 4)), vec![entry(2, 5)])),
        };
        let frame = encode_frame(&request).unwrap();
        for cut in 0..frame.len() {
            let mut buf = BytesMut::from(&frame[..cut]);
            assert!(split_frame(&mut buf).unwrap().is_none(), "cut at {cut}");
            buf.extend_from_slice(&frame[cut..]);
            let body = split_frame(&mut buf).unwrap().unwrap();
            assert!(buf.is_empty());
            let back: RequestFrame = decode_body(&body).unwrap();
            assert_eq!((back.id, back.to, back.group), (7, 2, group()));
            let RequestBody::AppendEntries(rpc) = back.body else {
                panic!("wrong kind");
            };
            assert_eq!(rpc.entries, vec![entry(2, 5)]);
        }
    }

    #[test]
    fn a_header_over_the_limit_is_refused_before_the_body() {
        let mut buf = BytesMut::from(&u32::MAX.to_be_bytes()[..]);
        assert!(matches!(
            split_frame(&mut buf),
            Err(FrameError::TooLarge { .. })
        ));
        let garbage = decode_body::<RequestFrame>(b"\xc1\xc1\xc1");
        assert!(matches!(garbage, Err(FrameError::Decode(_))));
    }

    #[test]
    fn append_entries_out_of_order_are_refused() {
        assert!(
            check_append_entries(&append(Some((1, 4)), vec![entry(2, 5), entry(2, 6)])).is_ok()
        );
        assert!(check_append_entries(&append(None, vec![entry(1, 0)])).is_ok());
        assert!(check_append_entries(&append(Some((1, 4)), vec![entry(2, 6)])).is_err());
        assert!(
            check_append_entries(&append(Some((1, 4)), vec![entry(2, 5), entry(1, 6)])).is_err()
        );
        assert!(check_append_entries(&append(Some((1, 4)), vec![entry(3, 5)])).is_err());
        assert!(check_append_entries(&append(Some((3, 4)), vec![])).is_err());
        assert!(check_append_entries(&append(Some((1, u64::MAX)), vec![entry(2, 0)])).is_err());
    }

    proptest::proptest! {
        #[test]
        fn random_bodies_decode_or_fail_without_panicking(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = decode_body::<RequestFrame>(&body);
            let _ = decode_body::<ResponseFrame>(&body);
        }
    }
}
