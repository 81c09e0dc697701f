//! Fetch requests and their records: building a Fetch for the current positions and
//! turning a partition's fetched bytes into [`ConsumerRecord`]s.
//!
//! Decoding rules (Kafka's): batches wholly below the position are skipped (a fetch
//! starts at the batch *containing* the offset asked for), records below the position
//! inside the first batch are skipped, control batches are skipped, and a partial
//! trailing batch (the broker cuts responses at `partition_max_bytes`) is left for the
//! next fetch, which starts at the offset after the last whole batch. Compressed
//! batches are decompressed here; uncompressed keys and values are slices of the
//! response frame (no copy).

use std::sync::Arc;

use bytes::Bytes;
use rill_protocol::api::common::TopicPartitions;
use rill_protocol::api::fetch::{FetchPartition, FetchRequest};
use rill_protocol::batch::{check_batch, BatchHeader, BatchIter, MAX_BATCH_BYTES_DEFAULT};

use crate::config::ConsumerConfig;
use crate::error::{ClientError, Result};
use crate::record::{ConsumerRecord, TopicPartition};

/// Clamps a byte count from the config into the wire's i32 (validated already).
fn clamp_i32(value: usize) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// A Fetch request for `positions` (sorted by topic so each topic appears once).
pub(crate) fn fetch_request(
    config: &ConsumerConfig,
    positions: &[(TopicPartition, i64)],
) -> FetchRequest {
    let mut topics: Vec<TopicPartitions<FetchPartition>> = Vec::new();
    for (tp, offset) in positions {
        let partition = FetchPartition {
            partition: tp.partition,
            fetch_offset: *offset,
            partition_max_bytes: clamp_i32(config.partition_max_bytes),
        };
        match topics.last_mut() {
            Some(topic) if *topic.name == *tp.topic => topic.partitions.push(partition),
            _ => topics.push(TopicPartitions {
                name: tp.topic.to_string(),
                partitions: vec![partition],
            }),
        }
    }
    let max_wait_ms = config.fetch_max_wait.as_millis();
    FetchRequest {
        max_wait_ms: i32::try_from(max_wait_ms).unwrap_or(i32::MAX),
        min_bytes: clamp_i32(config.fetch_min_bytes),
        max_bytes: clamp_i32(config.fetch_max_bytes),
        isolation_level: config.isolation.as_i8(),
        topics,
    }
}

/// Records decoded from one partition's fetched bytes.
#[derive(Debug, Default)]
pub(crate) struct Decoded {
    /// Records at or after the position, in offset order.
    pub(crate) records: Vec<ConsumerRecord>,
    /// Where the next fetch starts: after the last whole batch (or the old position).
    pub(crate) next_position: i64,
}

/// Smallest encoded record (length, attributes, three varints, two null lengths, no
/// headers): bounds a batch's record count by its size.
const RECORD_MIN_BYTES: usize = 7;

/// Where the fetch after this one starts: after the last whole batch in `bytes` that
/// ends past `position`, reading batch headers only (no CRC, no records), so the next
/// Fetch can be sent before the expensive [`decode_partition`]. For valid data it is
/// exactly `decode_partition`'s `next_position`; at the first malformed header it stops
/// (the decode then reports the error and the caller puts the position back).
pub(crate) fn next_position(position: i64, bytes: &[u8]) -> i64 {
    let mut next = position;
    let mut pos = 0;
    while let Some(rest) = bytes.get(pos..).filter(|rest| !rest.is_empty()) {
        let Ok(total) = check_batch(rest, MAX_BATCH_BYTES_DEFAULT) else {
            break;
        };
        let Ok(header) = BatchHeader::parse(rest, MAX_BATCH_BYTES_DEFAULT) else {
            break;
        };
        next = next.max(header.next_offset());
        pos += total;
    }
    next
}

/// Decodes the concatenated batches fetched for `tp` from `position`.
pub(crate) fn decode_partition(
    tp: &TopicPartition,
    position: i64,
    bytes: Bytes,
) -> Result<Decoded> {
    let batch_error = |cause| ClientError::Batch {
        topic: tp.topic.to_string(),
        partition: tp.partition,
        cause,
    };
    let mut decoded = Decoded {
        records: Vec::new(),
        next_position: position,
    };
    // One shared name for all the records: a reference-count bump per record instead of
    // an allocation and copy.
    let topic: Arc<str> = Arc::clone(&tp.topic);
    for batch in BatchIter::new(bytes, MAX_BATCH_BYTES_DEFAULT) {
        let batch = batch.map_err(batch_error)?;
        let header = *batch.header();
        if header.next_offset() <= decoded.next_position {
            continue;
        }
        if !header.is_control() {
            // Grow once per batch, not by doubling (each step moved every record so
            // far). The count is CRC-checked but still capped by the batch's size.
            let count = usize::try_from(header.record_count).unwrap_or(0);
            decoded
                .records
                .reserve(count.min(batch.len() / RECORD_MIN_BYTES));
            for record in batch.records().map_err(batch_error)? {
                let record = record.map_err(batch_error)?;
                if record.offset < decoded.next_position {
                    continue;
                }
                decoded
                    .records
                    .push(to_consumer_record(&topic, tp.partition, record));
            }
        }
        decoded.next_position = header.next_offset();
    }
    Ok(decoded)
}

fn to_consumer_record(
    topic: &Arc<str>,
    partition: i32,
    record: rill_protocol::batch::Record,
) -> ConsumerRecord {
    ConsumerRecord {
        topic: Arc::clone(topic),
        partition,
        offset: record.offset,
        timestamp: record.timestamp,
        key: record.key,
        value: record.value,
        headers: convert_headers(record.headers),
    }
}

/// The headers as the client spells them (keys as text).
#[inline]
fn convert_headers(headers: Vec<rill_protocol::batch::Header>) -> Vec<(String, Option<Bytes>)> {
    if headers.capacity() == 0 {
        // Nothing was allocated (a record without headers): skip the out-of-line drop
        // of an empty vector, once per record.
        std::mem::forget(headers);
        return Vec::new();
    }
    headers
        .into_iter()
        .map(|h| (String::from_utf8_lossy(&h.key).into_owned(), h.value))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rill_protocol::batch::{set_base_offset, BatchBuilder, Compression, RecordInput};

    /// A batch of `count` records stamped at `base_offset`, values "v{offset}".
    fn batch(base_offset: i64, count: i64, compression: Compression) -> Vec<u8> {
        let mut builder = BatchBuilder::new(compression);
        for i in 0..count {
            let record = RecordInput::new(1000 + i, format!("v{}", base_offset + i))
                .with_key(format!("k{i}"))
                .with_header("h", Some("x"));
            builder.append(&record).unwrap();
        }
        let mut bytes = builder.build().unwrap().to_vec();
        set_base_offset(&mut bytes, base_offset);
        bytes
    }

    fn values(decoded: &Decoded) -> Vec<String> {
        decoded
            .records
            .iter()
            .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
            .collect()
    }

    #[test]
    fn skips_records_below_position_in_first_batch() {
        let tp = TopicPartition::new("t", 0);
        let mut bytes = batch(10, 5, Compression::None);
        bytes.extend(batch(15, 2, Compression::None));
        let decoded = decode_partition(&tp, 13, Bytes::from(bytes)).unwrap();
        assert_eq!(values(&decoded), ["v13", "v14", "v15", "v16"]);
        assert_eq!(decoded.next_position, 17);
        let first = &decoded.records[0];
        assert_eq!((first.offset, first.timestamp), (13, 1003));
        assert_eq!(first.key.as_deref(), Some(&b"k3"[..]));
        assert_eq!(
            first.headers,
            vec![("h".to_owned(), Some(Bytes::from("x")))]
        );
    }

    #[test]
    fn next_position_from_headers_matches_the_full_decode() {
        let tp = TopicPartition::new("t", 0);
        let mut bytes = batch(10, 5, Compression::None);
        bytes.extend(batch(15, 2, Compression::Lz4));
        let whole = bytes.len();
        let third = batch(17, 3, Compression::None);
        bytes.extend_from_slice(&third[..third.len() - 1]); // cut by partition_max_bytes
        for (position, cut) in [
            (10, whole),
            (13, whole),
            (16, whole),
            (13, bytes.len()),
            (13, 3),
        ] {
            let data = Bytes::copy_from_slice(&bytes[..cut]);
            let decoded = decode_partition(&tp, position, data.clone()).unwrap();
            assert_eq!(
                next_position(position, &data),
                decoded.next_position,
                "from {position}, {cut} bytes"
            );
        }
        assert_eq!(
            next_position(13, &bytes),
            17,
            "the partial third batch is not counted"
        );
        assert_eq!(next_position(40, &bytes), 40, "never moves backwards");
    }

    #[test]
    fn next_position_stops_at_a_malformed_header() {
        let mut bytes = batch(0, 2, Compression::None);
        let mut bad = batch(2, 2, Compression::None);
        bad[16] = 7; // magic
        bytes.extend(bad);
        assert_eq!(next_position(0, &bytes), 2);
        assert_eq!(next_position(0, &[0xff; 80]), 0);
    }

    #[test]
    fn partial_trailing_batch_is_left_for_the_next_fetch() {
        let tp = TopicPartition::new("t", 0);
        let mut bytes = batch(0, 3, Compression::None);
        let second = batch(3, 3, Compression::None);
        bytes.extend_from_slice(&second[..second.len() - 5]);
        let decoded = decode_partition(&tp, 0, Bytes::from(bytes)).unwrap();
        assert_eq!(decoded.records.len(), 3);
        assert_eq!(decoded.next_position, 3);
        // Fetching again from 3 returns the whole second batch.
        let again = decode_partition(&tp, 3, Bytes::from(second)).unwrap();
        assert_eq!(values(&again), ["v3", "v4", "v5"]);
    }

    #[test]
    fn decompresses_compressed_batches() {
        let tp = TopicPartition::new("t", 1);
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let decoded = decode_partition(&tp, 0, Bytes::from(batch(0, 4, codec))).unwrap();
            assert_eq!(values(&decoded), ["v0", "v1", "v2", "v3"], "{codec:?}");
        }
    }

    #[test]
    fn corrupt_batch_is_an_error_with_context() {
        let tp = TopicPartition::new("t", 2);
        let mut bytes = batch(0, 2, Compression::None);
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let err = decode_partition(&tp, 0, Bytes::from(bytes)).unwrap_err();
        assert!(
            matches!(err, ClientError::Batch { partition: 2, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn request_groups_partitions_by_topic() {
        let config = ConsumerConfig::builder("h:1").build().unwrap();
        let positions = vec![
            (TopicPartition::new("a", 0), 5),
            (TopicPartition::new("a", 1), 6),
            (TopicPartition::new("b", 0), 7),
        ];
        let request = fetch_request(&config, &positions);
        assert_eq!(request.topics.len(), 2);
        assert_eq!(request.topics[0].partitions[1].fetch_offset, 6);
        assert_eq!(request.max_wait_ms, 500);
        assert_eq!(request.max_bytes, 50 << 20);
    }
}
