//! `rill bench produce`: producers send to acknowledgement, each over its own
//! connection.
//!
//! With `--client batch` (the default) a producer encodes batches of exactly
//! `--batch-size` records with `BatchBuilder` and writes one Produce request per batch on
//! a raw pipelined connection ([`super::raw_connection`]), up to `--max-in-flight`
//! unanswered; an acker task
//! awaits the answers in order and records each batch's send-to-ack latency for all of
//! its records. Partitions of a producer take turns batch by batch. `--client producer`
//! (or `--linger`) uses [`super::producer_api`] instead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Args, ValueEnum};
use rill_client::{Acks, ConnectionConfig};
use rill_protocol::api::common::TopicPartitions;
use rill_protocol::api::produce::{ProducePartition, ProduceRequest, ProduceResponse};
use rill_protocol::batch::{BatchBuilder, RecordInput};
use rill_protocol::error_code::ErrorCode;
use serde::Serialize;
use tokio::sync::mpsc;

use super::args::{LoadArgs, Stop};
use super::progress::{Counters, Progress};
use super::raw_connection::{self, RawReceiver, RawSender, Sent};
use super::report::{ClientStats, Report};
use super::{ensure_topic, partitions_of, payload, producer_api};
use crate::GlobalArgs;

/// How `produce` builds its load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProduceClient {
    /// Batches built by the bench with BatchBuilder over a raw connection.
    #[default]
    Batch,
    /// The client library's Producer: one `send` and DeliveryFuture per record.
    Producer,
}

/// Options of `rill bench produce`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct ProduceArgs {
    /// The load.
    #[command(flatten)]
    pub load: LoadArgs,
    /// How records are batched: by the bench (batch) or by the client's Producer.
    #[arg(long, value_enum, default_value_t)]
    pub client: ProduceClient,
}

/// Runs `rill bench produce`.
pub async fn run(global: &GlobalArgs, args: ProduceArgs) -> anyhow::Result<()> {
    args.load.validate(0).map_err(anyhow::Error::msg)?;
    let partitions = ensure_topic(global, &args.load).await?;
    let report = if args.client == ProduceClient::Producer || args.load.linger.is_some() {
        producer_api::run_producers(global, &args.load, false, None).await?
    } else {
        run_batch_producers(global, &args.load, partitions).await?
    };
    Report::new("produce", &report.clients, report.wall, &args)?.print(args.load.json)
}

/// What the producers of a run did.
#[derive(Debug)]
pub struct Produced {
    /// One per producer.
    pub clients: Vec<ClientStats>,
    /// From the end of the warmup to the last counted acknowledgement.
    pub wall: Duration,
}

/// The shared timing of a run.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Messages sent before this are warmup.
    pub measure_from: Instant,
    /// Stop condition.
    pub stop: Stop,
    /// Messages per second for one client, if paced.
    pub rate_per_client: Option<f64>,
}

impl Window {
    /// The window of `load` split over `clients`, starting now.
    pub fn new(load: &LoadArgs, clients: u32) -> Window {
        Window {
            measure_from: Instant::now() + load.warmup,
            stop: load.stop(),
            rate_per_client: load.rate.map(|r| r as f64 / f64::from(clients.max(1))),
        }
    }

    /// Whether a client that has counted `counted` messages should send more.
    pub fn more(&self, counted: u64, now: Instant) -> bool {
        match self.stop {
            Stop::Count(count) => counted < count,
            Stop::After(d) => now < self.measure_from + d,
        }
    }

    /// Sleeps until message number `sent` (since the start) is due under `--rate`.
    pub async fn pace(&self, start: Instant, sent: u64) {
        if let Some(rate) = self.rate_per_client {
            let due = start + Duration::from_secs_f64(sent as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
        }
    }
}

async fn run_batch_producers(
    global: &GlobalArgs,
    load: &LoadArgs,
    partitions: i32,
) -> anyhow::Result<Produced> {
    let counters = Arc::new(Counters::default());
    let total = match load.stop() {
        Stop::Count(n) => Some(n * u64::from(load.producers)),
        Stop::After(_) => None,
    };
    let progress = Progress::start("produce", Arc::clone(&counters), total, load.json);
    let mut config = global.connection_config();
    config.max_in_flight = load.max_in_flight;
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
        let (mut sender, receiver) = raw_connection::connect(
            config.bootstrap.as_str(),
            config.connect_timeout,
            config.max_frame_bytes,
        )
        .await?;
        // The queue bounds the requests in flight: one being awaited plus those queued.
        let (tx, rx) = mpsc::channel(self.load.max_in_flight.saturating_sub(1).max(1));
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
            self.window.pace(start, sent).await;
            let partition = self.partitions[turn % self.partitions.len()];
            turn += 1;
            let request = self.request(partition, build_batch(&self.load, &value, records)?);
            let sent_at = Instant::now();
            let written = sender.send(&request).await?;
            let answer = match self.load.acks {
                Acks::None => Answer::Written,
                _ => Answer::Response(written),
            };
            sent += records;
            if measuring {
                counted += records;
            }
            let in_flight = InFlight {
                sent_at,
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

    fn request(&self, partition: i32, records: Bytes) -> ProduceRequest {
        ProduceRequest {
            transactional_id: None,
            acks: self.load.acks.as_i16(),
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
        if let Answer::Response(sent) = in_flight.answer {
            check(receiver.receive::<ProduceResponse>(sent, timeout).await?)?;
        }
        if in_flight.counted {
            let now = Instant::now();
            stats.record_latency(now - in_flight.sent_at, in_flight.records);
            stats.messages += in_flight.records;
            stats.bytes += in_flight.records * message_size as u64;
            ended = now;
        }
    }
    Ok((stats, ended))
}

fn check(response: ProduceResponse) -> anyhow::Result<()> {
    for topic in &response.topics {
        for p in &topic.partitions {
            if p.error_code != ErrorCode::None {
                bail!(
                    "broker refused a batch for {}-{}: {:?} {}",
                    topic.name,
                    p.partition,
                    p.error_code,
                    p.error_message.as_deref().unwrap_or("")
                );
            }
        }
    }
    Ok(())
}
