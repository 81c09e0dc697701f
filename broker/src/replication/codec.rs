//! The byte form of everything a partition group stores or sends: MessagePack
//! (`rmp-serde`), structs as maps with their field names. Self-describing, so openraft's
//! serde types (enums, optional fields) round-trip as they are, and `Bytes` travel as
//! msgpack `bin` (one length and the raw bytes, not an array of numbers).
//!
//! Used for the Raft log on disk ([`super::log_store`]) and for every replication RPC.
//! [`decode`] is total on untrusted input: a truncated, oversized or trailing-garbage
//! buffer is a [`CodecError`], never a panic or an allocation sized by the input's claims.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// How deep nested values may go when decoding (openraft's types nest a handful of levels);
/// a hostile buffer of nested arrays is refused long before the stack is at risk.
const DECODE_DEPTH_MAX: usize = 64;

/// Why a value could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The value could not be written as MessagePack (a map with non-string keys, ...).
    #[error("encoding a replication value: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
    /// The bytes are not a valid MessagePack encoding of the expected type.
    #[error("decoding a replication value: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
    /// The bytes hold a whole value and then more.
    #[error("decoding a replication value: {trailing_bytes} bytes after the value")]
    TrailingBytes {
        /// How many bytes followed the value.
        trailing_bytes: usize,
    },
}

/// Encodes `value` as MessagePack (structs as maps with field names).
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    Ok(rmp_serde::to_vec_named(value)?)
}

/// Appends `value`'s MessagePack encoding to `out` (the log store writes a frame header,
/// then the value, into one buffer).
pub fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    Ok(rmp_serde::encode::write_named(out, value)?)
}

/// Decodes one value of type `T` that spans all of `bytes`.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let mut deserializer = rmp_serde::Deserializer::from_read_ref(bytes);
    deserializer.set_max_depth(DECODE_DEPTH_MAX);
    let value = T::deserialize(&mut deserializer)?;
    let trailing_bytes = trailing_len(bytes.len(), &mut deserializer);
    if trailing_bytes > 0 {
        return Err(CodecError::TrailingBytes { trailing_bytes });
    }
    Ok(value)
}

/// How many bytes the deserializer has not consumed. `rmp-serde` does not expose its
/// position on a borrowed slice, so this skips over whatever follows, value by value,
/// and counts what is left once nothing more parses.
fn trailing_len(
    total_len: usize,
    deserializer: &mut rmp_serde::Deserializer<rmp_serde::decode::ReadRefReader<'_, [u8]>>,
) -> usize {
    use serde::Deserialize;
    match serde::de::IgnoredAny::deserialize(&mut *deserializer) {
        Err(rmp_serde::decode::Error::InvalidMarkerRead(e))
            if e.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            0
        }
        // Something follows the value (a whole value or a fragment of one): the exact
        // count is not known, at least one byte.
        _ => total_len.max(1),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use bytes::Bytes;
    use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
    use openraft::{
        CommittedLeaderId, EntryPayload, LogId, Membership, SnapshotMeta, StoredMembership, Vote,
    };

    use super::*;
    use crate::replication::types::{Appended, Applied, Entry, PartitionConfig, ReplicaWrite};

    fn log_id(term: u64, node: u64, index: u64) -> LogId<u64> {
        LogId::new(CommittedLeaderId::new(term, node), index)
    }

    fn write_entry(index: u64) -> Entry {
        Entry {
            log_id: log_id(3, 1, index),
            payload: EntryPayload::Normal(ReplicaWrite {
                batches: Bytes::from(vec![0xAB; 1000]),
                timestamp_ms: 1_765_000_000_000,
            }),
        }
    }

    fn membership() -> Membership<u64, openraft::BasicNode> {
        let voters = BTreeSet::from([1, 2, 3]);
        Membership::new(vec![voters], None)
    }

    #[test]
    fn entry_with_a_replica_write_round_trips_and_carries_bytes_as_bin() {
        let entry = write_entry(42);
        let bytes = encode(&entry).unwrap();
        // 1000 payload bytes as one bin, not 1000+ msgpack integers (0xAB is > 0x7f, so an
        // array would take two bytes each).
        assert!(bytes.len() < 1100, "encoded to {} bytes", bytes.len());
        let back: Entry = decode(&bytes).unwrap();
        assert_eq!(back.log_id, entry.log_id);
        match (back.payload, entry.payload) {
            (EntryPayload::Normal(a), EntryPayload::Normal(b)) => assert_eq!(a, b),
            other => panic!("payload changed: {other:?}"),
        }
    }

    #[test]
    fn blank_and_membership_entries_round_trip() {
        for payload in [
            EntryPayload::<PartitionConfig>::Blank,
            EntryPayload::Membership(membership()),
        ] {
            let entry = Entry {
                log_id: log_id(1, 2, 7),
                payload,
            };
            let back: Entry = decode(&encode(&entry).unwrap()).unwrap();
            assert_eq!(format!("{back:?}"), format!("{entry:?}"));
        }
    }

    #[test]
    fn append_entries_request_round_trips() {
        let request = AppendEntriesRequest::<PartitionConfig> {
            vote: Vote::new_committed(3, 1),
            prev_log_id: Some(log_id(3, 1, 9)),
            entries: vec![write_entry(10), write_entry(11)],
            leader_commit: Some(log_id(3, 1, 9)),
        };
        let back: AppendEntriesRequest<PartitionConfig> =
            decode(&encode(&request).unwrap()).unwrap();
        assert_eq!(back.vote, request.vote);
        assert_eq!(back.prev_log_id, request.prev_log_id);
        assert_eq!(back.leader_commit, request.leader_commit);
        assert_eq!(back.entries.len(), 2);
        assert_eq!(
            format!("{:?}", back.entries),
            format!("{:?}", request.entries)
        );
    }

    #[test]
    fn vote_and_vote_request_round_trip() {
        let vote = Vote::new(5, 2);
        assert_eq!(decode::<Vote<u64>>(&encode(&vote).unwrap()).unwrap(), vote);
        let request = VoteRequest::new(Vote::new(6, 3), Some(log_id(5, 2, 100)));
        let back: VoteRequest<u64> = decode(&encode(&request).unwrap()).unwrap();
        assert_eq!(back, request);
    }

    #[test]
    fn snapshot_meta_and_install_request_round_trip() {
        let meta = SnapshotMeta::<u64, openraft::BasicNode> {
            last_log_id: Some(log_id(4, 1, 500)),
            last_membership: StoredMembership::new(Some(log_id(1, 1, 1)), membership()),
            snapshot_id: "4-1-500".to_string(),
        };
        let back: SnapshotMeta<u64, openraft::BasicNode> = decode(&encode(&meta).unwrap()).unwrap();
        assert_eq!(back, meta);
        let request = InstallSnapshotRequest::<PartitionConfig> {
            vote: Vote::new_committed(4, 1),
            meta,
            offset: 0,
            data: vec![1, 2, 3],
            done: true,
        };
        let back: InstallSnapshotRequest<PartitionConfig> =
            decode(&encode(&request).unwrap()).unwrap();
        assert_eq!(back, request);
    }

    #[test]
    fn applied_responses_round_trip() {
        let appended = Applied::Appended(Appended {
            base_offset: 10,
            last_offset: 19,
            log_append_time_ms: -1,
            duplicate: false,
        });
        assert_eq!(
            decode::<Applied>(&encode(&appended).unwrap()).unwrap(),
            appended
        );
        assert_eq!(
            decode::<Applied>(&encode(&Applied::Nothing).unwrap()).unwrap(),
            Applied::Nothing
        );
    }

    #[test]
    fn decode_refuses_truncated_trailing_and_garbage_input() {
        let bytes = encode(&write_entry(1)).unwrap();
        for cut in 0..bytes.len() {
            assert!(
                decode::<Entry>(&bytes[..cut]).is_err(),
                "prefix of {cut} bytes"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0xc0);
        assert!(matches!(
            decode::<Entry>(&longer),
            Err(CodecError::TrailingBytes { .. })
        ));
        // A bin claiming 4 GiB with nothing behind it: an error, no allocation of 4 GiB.
        assert!(decode::<Bytes>(&[0xc6, 0xff, 0xff, 0xff, 0xff]).is_err());
        // An array claiming 4 billion elements.
        assert!(decode::<Vec<u64>>(&[0xdd, 0xff, 0xff, 0xff, 0xff]).is_err());
        // Deep nesting.
        assert!(decode::<serde_json::Value>(&[0x91; 10_000]).is_err());
    }
}
