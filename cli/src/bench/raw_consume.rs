//! `rill bench consume --raw`: the fetch path's ceiling, to read the library's
//! [`rill_client::Consumer`] figures against. Each consumer is a plain loop of Fetch
//! requests on one raw connection ([`crate::raw_connection`]) with the Consumer's
//! fetch settings (its defaults and `--partition-max-bytes`): as soon as a response
//! arrives, the positions move past its whole batches (batch headers only) and the next
//! Fetch is sent, then the response is counted, so one Fetch is always in flight, as
//! the Consumer does it. No record is decoded and no CRC checked: that is the work the
//! Consumer adds. Records are counted from the batch headers; bytes as records ×
//! `--message-size` (the value size `rill bench produce` wrote).

use std::time::{Duration, Instant};

use anyhow::bail;
use rill_client::ConsumerConfig;
use rill_protocol::api::common::TopicPartitions;
use rill_protocol::api::fetch::{FetchPartition, FetchRequest, FetchResponse};
use rill_protocol::batch::{check_batch, BatchHeader, MAX_BATCH_BYTES_DEFAULT};
use rill_protocol::error_code::ErrorCode;

use super::report::ClientStats;
use crate::raw_connection::{self, RawReceiver, RawSender, Sent};

/// One raw consumer's work: where each of its partitions starts and how many records
/// to read.
pub struct RawConsumer {
    /// Name in the report.
    pub name: String,
    /// Topic to read.
    pub topic: String,
    /// Partitions and their first offsets.
    pub starts: Vec<(i32, i64)>,
    /// Records to read before stopping.
    pub target: u64,
    /// Value bytes of each record, for the MB/s figure.
    pub message_size: usize,
}

/// What counting one response found.
#[derive(Debug, Default, PartialEq, Eq)]
struct Counted {
    records: u64,
}

impl RawConsumer {
    /// Reads until `target` records or `deadline`; returns the stats and the instant of
    /// the last counted response. `on_records` sees each response's record count.
    pub async fn run(
        mut self,
        config: &ConsumerConfig,
        measure_from: Instant,
        deadline: Option<Instant>,
        on_records: impl Fn(u64),
    ) -> anyhow::Result<(ClientStats, Instant)> {
        let connection = &config.connection;
        let (mut sender, mut receiver) = raw_connection::connect(connection).await?;
        let timeout = connection.request_timeout + config.fetch_max_wait;
        let mut stats = ClientStats::new(&self.name)?;
        let (mut read, mut ended) = (0u64, measure_from);
        let mut sent = self.send_fetch(&mut sender, config).await?;
        while read < self.target && deadline.is_none_or(|d| Instant::now() < d) {
            let response: FetchResponse = receiver.receive(sent, timeout).await?;
            let previous = self.starts.clone();
            self.advance(&response)?;
            sent = self.send_fetch(&mut sender, config).await?;
            let counted = count(&response, &previous);
            let now = Instant::now();
            read += counted.records;
            on_records(counted.records);
            if now >= measure_from && counted.records > 0 {
                stats.messages += counted.records;
                stats.bytes += counted.records * self.message_size as u64;
                ended = now;
            }
        }
        drain(&mut receiver, sent, timeout).await;
        sender.shutdown().await;
        stats.elapsed = ended.saturating_duration_since(measure_from);
        Ok((stats, ended))
    }

    async fn send_fetch(
        &self,
        sender: &mut RawSender,
        config: &ConsumerConfig,
    ) -> anyhow::Result<Sent> {
        let clamp = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        let partitions = self
            .starts
            .iter()
            .map(|&(partition, fetch_offset)| FetchPartition {
                partition,
                fetch_offset,
                partition_max_bytes: clamp(config.partition_max_bytes),
            })
            .collect();
        let request = FetchRequest {
            max_wait_ms: clamp(
                usize::try_from(config.fetch_max_wait.as_millis()).unwrap_or(usize::MAX),
            ),
            min_bytes: clamp(config.fetch_min_bytes),
            max_bytes: clamp(config.fetch_max_bytes),
            isolation_level: config.isolation.as_i8(),
            topics: vec![TopicPartitions {
                name: self.topic.clone(),
                partitions,
            }],
        };
        sender.send(&request).await
    }

    /// Moves each partition's position past the whole batches of `response`.
    fn advance(&mut self, response: &FetchResponse) -> anyhow::Result<()> {
        if response.error_code != ErrorCode::None {
            bail!("the broker refused the fetch: {:?}", response.error_code);
        }
        for partition in response.topics.iter().flat_map(|t| &t.partitions) {
            if partition.error_code != ErrorCode::None {
                bail!(
                    "the broker refused to fetch {}-{}: {:?}",
                    self.topic,
                    partition.partition,
                    partition.error_code
                );
            }
            let Some(start) = self
                .starts
                .iter_mut()
                .find(|(p, _)| *p == partition.partition)
            else {
                continue;
            };
            for chunk in partition.records.chunks() {
                start.1 = next_position(start.1, chunk);
            }
        }
        Ok(())
    }
}

/// Reads the answer of the last Fetch (sent before the loop knew it was done), so the
/// connection closes cleanly.
async fn drain(receiver: &mut RawReceiver, sent: Sent, timeout: Duration) {
    let _ = receiver.receive::<FetchResponse>(sent, timeout).await;
}

/// Where the next fetch starts: after the last whole batch in `bytes` ending past
/// `position` (a trailing partial batch is fetched again).
fn next_position(position: i64, bytes: &[u8]) -> i64 {
    let mut next = position;
    for header in whole_batches(bytes) {
        next = next.max(header.next_offset());
    }
    next
}

/// The headers of the whole batches at the start of `bytes`.
fn whole_batches(bytes: &[u8]) -> impl Iterator<Item = BatchHeader> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let rest = bytes.get(pos..).filter(|rest| !rest.is_empty())?;
        let total = check_batch(rest, MAX_BATCH_BYTES_DEFAULT).ok()?;
        let header = BatchHeader::parse(rest, MAX_BATCH_BYTES_DEFAULT).ok()?;
        pos += total;
        Some(header)
    })
}

/// Records at or after each partition's position (`previous`) in `response`, from the
/// batch headers; control batches hold none.
fn count(response: &FetchResponse, previous: &[(i32, i64)]) -> Counted {
    let mut counted = Counted::default();
    for partition in response.topics.iter().flat_map(|t| &t.partitions) {
        let Some(&(_, mut position)) = previous.iter().find(|(p, _)| *p == partition.partition)
        else {
            continue;
        };
        for chunk in partition.records.chunks() {
            for header in whole_batches(chunk) {
                let next = header.next_offset();
                if next <= position {
                    continue;
                }
                if !header.is_control() {
                    let from = position.max(header.base_offset);
                    let below = u64::try_from(from - header.base_offset).unwrap_or(0);
                    let records = u64::try_from(header.record_count).unwrap_or(0);
                    counted.records += records.saturating_sub(below);
                }
                position = next;
            }
        }
    }
    counted
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use rill_protocol::api::fetch::FetchPartitionResponse;
    use rill_protocol::batch::{set_base_offset, BatchBuilder, Compression, RecordInput};

    fn batch(base_offset: i64, records: i64) -> Bytes {
        let mut builder = BatchBuilder::new(Compression::None);
        for i in 0..records {
            builder.append(&RecordInput::new(i, vec![1u8; 10])).unwrap();
        }
        let mut bytes = BytesMut::from(&builder.build().unwrap()[..]);
        set_base_offset(&mut bytes, base_offset);
        bytes.freeze()
    }

    fn response(records: Bytes) -> FetchResponse {
        FetchResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::None,
            topics: vec![TopicPartitions {
                name: "t".into(),
                partitions: vec![FetchPartitionResponse {
                    partition: 0,
                    error_code: ErrorCode::None,
                    high_watermark: 100,
                    last_stable_offset: 100,
                    log_start_offset: 0,
                    records: records.into(),
                }],
            }],
        }
    }

    #[test]
    fn counts_records_from_the_position_and_skips_a_partial_tail() {
        let whole = [batch(10, 5), batch(15, 5)].concat();
        let partial = batch(20, 5).slice(..30);
        let bytes = Bytes::from([whole, partial.to_vec()].concat());
        let fetched = response(bytes.clone());
        // From offset 12: 3 records of the first batch, 5 of the second.
        assert_eq!(count(&fetched, &[(0, 12)]), Counted { records: 8 });
        assert_eq!(next_position(12, &bytes), 20);
        let mut consumer = RawConsumer {
            name: "c".into(),
            topic: "t".into(),
            starts: vec![(0, 12)],
            target: 8,
            message_size: 10,
        };
        consumer.advance(&fetched).unwrap();
        assert_eq!(consumer.starts, [(0, 20)]);
    }

    #[test]
    fn a_refused_partition_is_an_error() {
        let mut refused = response(Bytes::new());
        refused.topics[0].partitions[0].error_code = ErrorCode::OffsetOutOfRange;
        let mut consumer = RawConsumer {
            name: "c".into(),
            topic: "t".into(),
            starts: vec![(0, 0)],
            target: 1,
            message_size: 10,
        };
        let error = consumer.advance(&refused).unwrap_err().to_string();
        assert!(error.contains("OffsetOutOfRange"), "{error}");
    }
}
