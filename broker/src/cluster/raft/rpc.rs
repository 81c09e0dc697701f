//! The inter-broker protocol: request/response frames over TCP, each a big-endian `u32`
//! length then that many bytes of JSON. One request at a time per connection, answered
//! in order. Frames over [`MAX_FRAME_BYTES`] are refused before anything is allocated
//! for them, and a frame that does not decode closes the connection.

use std::io;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::LogId;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::types::{Proposal, TypeConfig};
use crate::cluster::{ApplyError, BrokerRegistration, NodeId};

/// Largest frame either side sends or accepts: a snapshot chunk's JSON and the largest
/// command fit well; AppendEntries that would not fit are sent in smaller batches.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// A call from one broker to another.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// Raft log replication and leader heartbeats.
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// A candidate asks for a vote.
    Vote(VoteRequest<NodeId>),
    /// One chunk of a snapshot from the leader.
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A broker forwards a proposal to the controller; answered once committed.
    Propose(Proposal),
    /// A broker tells the controller it is alive (and how it is reached).
    BrokerHeartbeat(BrokerRegistration),
}

/// The answer to a [`Request`], the same variant.
#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    /// See [`Request::AppendEntries`].
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    /// See [`Request::Vote`].
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    /// See [`Request::InstallSnapshot`].
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    /// The log index the proposal was committed at, or why not.
    Propose(Result<u64, ForwardError>),
    /// Whether the controller took the heartbeat.
    BrokerHeartbeat(Result<(), ForwardError>),
    /// The request was well formed but out of bounds (a snapshot chunk past
    /// [`MAX_SNAPSHOT_BYTES`]); nothing was done.
    Refused(String),
}

/// Largest snapshot a member receives; a chunk reaching past it is refused (the
/// snapshot is assembled in memory).
pub const MAX_SNAPSHOT_BYTES: u64 = 256 * 1024 * 1024;

/// Why the controller did not carry out a forwarded request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ForwardError {
    /// The callee is not the controller; `leader` is who it believes is.
    #[error("not the controller (the controller is {leader:?})")]
    NotController {
        /// The controller as the callee knows it.
        leader: Option<NodeId>,
    },
    /// The command was committed and the image refused it.
    #[error(transparent)]
    Rejected(ApplyError),
    /// Something else failed (Raft shutting down, ...).
    #[error("{0}")]
    Failed(String),
}

/// Checks an AppendEntries from the wire is one a leader could send: entries right
/// after `prev_log_id`, consecutive, their terms never decreasing nor past the
/// sender's vote. openraft assumes this of its peers; a request breaking it is refused
/// before it reaches the engine.
pub fn check_append_entries(rpc: &AppendEntriesRequest<TypeConfig>) -> Result<(), String> {
    check_log_ids(
        rpc.vote.leader_id().term,
        rpc.prev_log_id,
        rpc.entries.iter().map(|e| e.log_id),
    )
}

/// The rules of [`check_append_entries`] over the log ids alone (shared with the
/// partition groups' protocol): `entries` right after `prev_log_id`, consecutive, their
/// terms never decreasing nor past `vote_term`.
pub fn check_log_ids(
    vote_term: u64,
    prev_log_id: Option<LogId<NodeId>>,
    entries: impl Iterator<Item = LogId<NodeId>>,
) -> Result<(), String> {
    let first_index = prev_log_id.map_or(Some(0), |p| p.index.checked_add(1));
    let mut term = prev_log_id.map_or(0, |p| p.leader_id.term);
    if term > vote_term {
        return Err(format!(
            "previous entry's term {term} is past the vote's {vote_term}"
        ));
    }
    for (at, id) in entries.enumerate() {
        let due = first_index.and_then(|first| first.checked_add(at as u64));
        if Some(id.index) != due {
            return Err(format!("entry at index {} where {due:?} was due", id.index));
        }
        if id.leader_id.term < term || id.leader_id.term > vote_term {
            return Err(format!(
                "entry {} of term {} out of order (previous term {term}, vote term {vote_term})",
                id.index, id.leader_id.term
            ));
        }
        term = id.leader_id.term;
    }
    Ok(())
}

/// Why reading a frame failed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix is over the limit.
    #[error("frame of {len} bytes is over the {MAX_FRAME_BYTES} byte limit")]
    TooLarge {
        /// The claimed length.
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
    /// The socket failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The bytes are not the message expected.
    #[error("undecodable frame: {0}")]
    Decode(#[from] serde_json::Error),
}

/// Reads one frame's JSON into `T`; `None` at a clean end of stream before a frame.
pub async fn read_frame<T, R>(reader: &mut R) -> Result<Option<T>, FrameError>
where
    T: serde::de::DeserializeOwned,
    R: AsyncRead + Unpin,
{
    match read_header(reader).await? {
        Some(len) => read_body(reader, len).await.map(Some),
        None => Ok(None),
    }
}

/// Reads a frame's length prefix, checked against [`MAX_FRAME_BYTES`]; `None` at a
/// clean end of stream.
pub async fn read_header<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> Result<Option<usize>, FrameError> {
    let mut header = [0u8; 4];
    let mut filled = 0;
    while filled < header.len() {
        let n = reader.read(&mut header[filled..]).await?;
        if n == 0 {
            if filled == 0 {
                return Ok(None);
            }
            return Err(FrameError::Truncated {
                need: header.len(),
                have: filled,
            });
        }
        filled += n;
    }
    frame_len(header).map(Some)
}

/// The body length a frame header announces, checked against [`MAX_FRAME_BYTES`].
pub fn frame_len(header: [u8; 4]) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge { len });
    }
    Ok(len)
}

/// Reads a frame's `len` bytes (from [`read_header`]) and decodes them.
pub async fn read_body<T, R>(reader: &mut R, len: usize) -> Result<T, FrameError>
where
    T: serde::de::DeserializeOwned,
    R: AsyncRead + Unpin,
{
    // Grows as bytes arrive: a peer that claims much and sends little costs little.
    let mut body = Vec::new();
    reader.take(len as u64).read_to_end(&mut body).await?;
    if body.len() < len {
        return Err(FrameError::Truncated {
            need: len,
            have: body.len(),
        });
    }
    Ok(serde_json::from_slice(&body)?)
}

/// Writes `value` as one frame and flushes.
pub async fn write_frame<T, W>(writer: &mut W, value: &T) -> Result<(), FrameError>
where
    T: Serialize,
    W: AsyncWrite + Unpin,
{
    let frame = encode_frame(value)?;
    writer.write_all(&frame).await?;
    writer.flush().await?;
    Ok(())
}

/// `value` as a whole frame (length prefix included), refused over [`MAX_FRAME_BYTES`].
pub fn encode_frame<T: Serialize>(value: &T) -> Result<Vec<u8>, FrameError> {
    let mut frame = vec![0u8; 4];
    serde_json::to_writer(&mut frame, value)?;
    let len = frame.len() - 4;
    if len > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge { len });
    }
    frame[..4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::MetadataCommand;

    #[tokio::test]
    async fn frames_round_trip_and_bad_ones_are_refused() {
        let request = Request::Propose(Proposal::new(MetadataCommand::DeleteTopic {
            name: "t".into(),
        }));
        let mut buf = Vec::new();
        write_frame(&mut buf, &request).await.unwrap();
        let back: Request = read_frame(&mut buf.as_slice()).await.unwrap().unwrap();
        assert!(
            matches!(back, Request::Propose(Proposal { command: MetadataCommand::DeleteTopic { name }, .. }) if name == "t")
        );

        let empty: Option<Request> = read_frame(&mut [].as_slice()).await.unwrap();
        assert!(empty.is_none());
        let huge = u32::MAX.to_be_bytes();
        let err = read_frame::<Request, _>(&mut huge.as_slice())
            .await
            .unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { .. }), "{err}");
        let cut = &buf[..buf.len() - 1];
        let err = read_frame::<Request, _>(&mut &cut[..]).await.unwrap_err();
        assert!(matches!(err, FrameError::Truncated { .. }), "{err}");
        let mut garbage = 5u32.to_be_bytes().to_vec();
        garbage.extend_from_slice(b"\xff{{{{");
        let err = read_frame::<Request, _>(&mut garbage.as_slice())
            .await
            .unwrap_err();
        assert!(matches!(err, FrameError::Decode(_)), "{err}");
    }

    #[tokio::test]
    async fn a_frame_arriving_a_byte_at_a_time_is_read_whole() {
        let request = Request::Propose(Proposal::new(MetadataCommand::DeleteTopic {
            name: "t".into(),
        }));
        let (mut writer, mut reader) = tokio::io::duplex(1);
        let frame = encode_frame(&request).unwrap();
        let write = tokio::spawn(async move {
            for byte in frame {
                writer.write_all(&[byte]).await.unwrap();
            }
        });
        let back: Request = read_frame(&mut reader).await.unwrap().unwrap();
        assert!(matches!(back, Request::Propose(_)));
        write.await.unwrap();
    }

    proptest::proptest! {
        #[test]
        fn random_bodies_decode_or_fail_without_panicking(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let mut frame = (body.len() as u32).to_be_bytes().to_vec();
            frame.extend_from_slice(&body);
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let _ = runtime.block_on(read_frame::<Request, _>(&mut frame.as_slice()));
        }

        #[test]
        fn random_json_values_decode_or_fail_without_panicking(
            text in r#"\{"(AppendEntries|Vote|InstallSnapshot|Propose|BrokerHeartbeat)":(\{|\[|[0-9"a-z,:{}\[\]])*"#
        ) {
            let mut frame = (text.len() as u32).to_be_bytes().to_vec();
            frame.extend_from_slice(text.as_bytes());
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let _ = runtime.block_on(read_frame::<Request, _>(&mut frame.as_slice()));
        }
    }
}
