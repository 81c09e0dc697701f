//! `rill bench produce --raw`: the transport's ceiling. Each producer encodes batches
//! of exactly `--batch-size` records with `BatchBuilder` and writes one Produce request
//! per batch on a raw pipelined connection ([`crate::raw_connection`]), up to
//! `--max-in-flight` unanswered; an acker task reads the answers in order and records
//! each batch's latency (from its due time, see [`super::schedule`]) for all of its
//! records. Partitions of a producer take turns batch by batch. A batch the broker
//! refuses is counted as lost, not retried.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use rill_client::{Acks, ConnectionConfig};
use rill_protocol::api::common::TopicPartitions;
use rill_protocol::api::produce::{ProducePartition, ProduceRequest, ProduceResponse};
use rill_protocol::batch::{BatchBuilder, RecordInput};
use rill_protocol::error_code::ErrorCode;
use tokio::sync::mpsc;

use super::args::{LoadArgs, Stop, RAW_MAX_IN_FLIGHT_DEFAULT};
use super::produce::Produced;
use super::progress::{Counters, Progress};
use super::report::ClientStats;
use super::schedule::Window;
use super::{partitions_of, payload};
use crate::output::OutputFormat;
use crate::raw_connection::{self, RawReceiver, RawSender, Sent};
use crate::GlobalArgs;

/// Runs `load.producers` raw producers on `partitions` partitions.
pub async fn run_producers(
    global: &GlobalArgs,
    load: &LoadArgs,
    partitions: i32,
) -> anyhow::Result<Produced> {
    let counters = Arc::new(Counters::default());
    let total = match load.stop() {
        Stop::Count(n) => Some(n * u64::from(load.producers)),
        Stop::After(_) => None,
    };
    let quiet = global.output == OutputFormat::Json;
    let progress = Progress::start("produce", Arc::clone(&counters), total, quiet);
    let mut config = global.connection_config();
    config.max_in_flight = load.max_in_flight.unwrap_or(RAW_MAX_IN_FLIGHT_DEFAULT);
    let window = Window::new(load, load.producers);
    let mut tasks = Vec::new();
    for index in 0..load.producers {
        let producer = BatchProducer {
            name: format!("producer {index}"),
            topic: load.topic.clone(),
            partitions: partitions_of(index, load.producers, partitions),
            load: load.clone(),
            window,
            counters: Arc::clone(&counters),
        };
        let config = config.clone();
        tasks.push(tokio::spawn(async move { producer.run(&config).await }));
    }
    let mut clients = Vec::new();
    let mut last = window.measure_from;
    for task in tasks {
        let (stats, ended) = task.await.context("producer task failed")??;
        last = last.max(ended);
        clients.push(stats);
    }
    progress.finish();
    Ok(Produced {
        clients,
        wall: last.saturating_duration_since(window.measure_from),
    })
}

/// One bench-built-batch producer.
struct BatchProducer {
    name: String,
    topic: String,
    partitions: Vec<i32>,
    load: LoadArgs,
    window: Window,
    counters: Arc<Counters>,
}

/// A request queued on the connection, for the acker.
struct InFlight {
    sent_at: Instant,
    records: u64,
    counted: bool,
    answer: Answer,
}

enum Answer {
    /// The broker answers this request.
    Response(Sent),
    /// `acks=0`: written and flushed, no answer comes.
    Written,
}

impl BatchProducer {
    async fn run(self, config: &ConnectionConfig) -> anyhow::Result<(ClientStats, Instant)> {
        let (mut sender, receiver) = raw_connection::connect(config).await?;
        // The queue bounds the requests in flight: one being awaited plus those queued.
        let (tx, rx) = mpsc::channel(config.max_in_flight.saturating_sub(1).max(1));
        let stats = ClientStats::new(&self.name)?;
        let acker = tokio::spawn(ack(
            receiver,
            rx,
            stats,
            config.request_timeout,
            self.load.message_size,
            self.window,
        ));
        let sent = self.send_all(&mut sender, tx).await;
        let acked = acker.await.context("acker task failed")?;
        sender.shutdown().await;
        sent?;
        let (mut stats, ended) = acked?;
        stats.elapsed = ended.saturating_duration_since(self.window.measure_from);
        Ok((stats, ended))
    }

    async fn send_all(
        &self,
        sender: &mut RawSender,
        tx: mpsc::Sender<InFlight>,
    ) -> anyhow::Result<()> {
        let value = payload(self.load.message_size);
        let per_batch = self.load.records_per_batch() as u64;
        let start = Instant::now();
        let (mut sent, mut counted) = (0u64, 0u64);
        let mut turn = 0usize;
        loop {
            let now = Instant::now();
            let measuring = now >= self.window.measure_from;
            if measuring && !self.window.more(counted, now) {
                return Ok(());
            }
            let records = match self.window.stop {
                Stop::Count(count) if measuring => per_batch.min(count - counted),
                _ => per_batch,
            };
            let due = self.window.pace(start, sent).await;
            let partition = self.partitions[turn % self.partitions.len()];
            turn += 1;
            let request = self.request(partition, build_batch(&self.load, &value, records)?);
            let written = sender.send(&request).await?;
            let answer = match self.acks() {
                Acks::None => Answer::Written,
                _ => Answer::Response(written),
            };
            sent += records;
            if measuring {
                counted += records;
            }
            let in_flight = InFlight {
                sent_at: due,
                records,
                counted: measuring,
                answer,
            };
            if tx.send(in_flight).await.is_err() {
                return Ok(()); // the acker failed; it reports why
            }
            self.counters
                .add(records, records * self.load.message_size as u64);
        }
    }

    /// `--acks`, or `all` as the library's default.
    fn acks(&self) -> Acks {
        self.load.acks.unwrap_or(Acks::All)
    }

    fn request(&self, partition: i32, records: Bytes) -> ProduceRequest {
        ProduceRequest {
            transactional_id: None,
            acks: self.acks().as_i16(),
            timeout_ms: 30_000,
            topics: vec![TopicPartitions {
                name: self.topic.clone(),
                partitions: vec![ProducePartition { partition, records }],
            }],
        }
    }
}

/// Encodes `records` messages of `value` into one batch.
fn build_batch(load: &LoadArgs, value: &Bytes, records: u64) -> anyhow::Result<Bytes> {
    let bytes = (load.message_size + 32) * records as usize;
    let mut builder = BatchBuilder::with_capacity(load.compression, bytes);
    let record = RecordInput {
        timestamp: now_ms(),
        key: None,
        value: Some(value.clone()),
        headers: Vec::new(),
    };
    for _ in 0..records {
        builder.append(&record).context("cannot encode a record")?;
    }
    builder.build().context("cannot encode a batch")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Awaits answers in order; records latency of counted batches. Returns the stats and
/// the instant of the last counted answer.
async fn ack(
    mut receiver: RawReceiver,
    mut rx: mpsc::Receiver<InFlight>,
    mut stats: ClientStats,
    timeout: Duration,
    message_size: usize,
    window: Window,
) -> anyhow::Result<(ClientStats, Instant)> {
    let mut ended = window.measure_from;
    while let Some(in_flight) = rx.recv().await {
        let refused = match in_flight.answer {
            Answer::Response(sent) => {
                refusal(&receiver.receive::<ProduceResponse>(sent, timeout).await?)
            }
            Answer::Written => None,
        };
        if let Some(code) = refused.filter(|_| stats.lost == 0) {
            eprintln!(
                "warning: {}: the broker refused a batch: {code:?}",
                stats.name
            );
        }
        let accepted = refused.is_none();
        if in_flight.counted {
            let now = Instant::now();
            if accepted {
                stats.record_latency(now - in_flight.sent_at, in_flight.records);
                stats.messages += in_flight.records;
                stats.bytes += in_flight.records * message_size as u64;
            } else {
                stats.lost += in_flight.records;
            }
            ended = now;
        }
    }
    Ok((stats, ended))
}

/// Why the broker refused the batch in `response`, if it did.
fn refusal(response: &ProduceResponse) -> Option<ErrorCode> {
    response
        .topics
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| p.error_code)
        .find(|code| *code != ErrorCode::None)
}
