//! Producers that go through the client library's [`Producer`] with the library's
//! defaults (idempotent, `acks=all`, its linger and batch size) unless `--acks`,
//! `--linger`, `--batch-bytes` or `--max-in-flight` say otherwise: one `send` and one
//! [`rill_client::DeliveryFuture`] per record. Used by `produce` (the default path) and
//! by `e2e` (where each value starts with its due time, see [`super::clock_ns`]).
//!
//! Records go round-robin over the producer's partitions (explicit partitions), so a
//! many-partition topic is written in every partition. The sending task keeps each
//! record's future in a local queue and takes the acknowledged ones off its front in
//! send order, so the bench adds no channel hop, lock or task switch per record: what
//! it measures is the library. Latency is from each record's due time
//! ([`super::schedule`]) to the moment its acknowledgement is seen: for every record
//! with `--rate` (the schedule gives the due time without a clock read, and the task
//! waits for acknowledgements while it sleeps) and in e2e; unpaced, for one record in
//! [`LATENCY_SAMPLE_EVERY`] (the clock is read for that record only), the others are
//! counted but not timed. A record whose delivery fails is counted as lost.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use bytes::{BufMut, Bytes, BytesMut};
use futures::FutureExt;
use rill_client::{DeliveryFuture, Producer, ProducerConfig, ProducerRecord};

use super::args::{LoadArgs, Stop, E2E_STAMP_BYTES};
use super::produce::Produced;
use super::progress::{Counters, Progress};
use super::report::ClientStats;
use super::schedule::Window;
use super::{clock_ns_at, partitions_of, payload};
use crate::output::OutputFormat;
use crate::GlobalArgs;

/// Deliveries a producer task keeps unanswered before it waits for the oldest: a bound
/// below the producer's own buffer memory (64 MiB is ~550,000 records of 100 bytes), so
/// an unpaced run does not report the time records sat in a full buffer as latency.
/// It is above what the library keeps moving (five requests of 1 MiB batches in
/// flight and one batch filling: ~52,000 records of 100 bytes).
const ACK_QUEUE_DEPTH: usize = 64 * 1024;
/// Unpaced runs time one record in this many; the clock is read for those only.
pub const LATENCY_SAMPLE_EVERY: u64 = 32;
/// Sends between two looks at the oldest deliveries and progress updates (unpaced).
const CHECK_EVERY: u64 = LATENCY_SAMPLE_EVERY;

/// Runs `load.producers` Producers. For e2e (`stamped`), each value starts with the
/// send time in nanoseconds and `counters` feeds a progress bar the caller owns;
/// otherwise this shows its own bar.
pub async fn run_producers(
    global: &GlobalArgs,
    load: &LoadArgs,
    partitions: i32,
    stamped: bool,
    counters: Option<Arc<Counters>>,
) -> anyhow::Result<Produced> {
    let (counters, progress) = match counters {
        Some(counters) => (counters, None),
        None => {
            let counters = Arc::new(Counters::default());
            let total = match load.stop() {
                Stop::Count(n) => Some(n * u64::from(load.producers)),
                Stop::After(_) => None,
            };
            let quiet = global.output == OutputFormat::Json;
            let bar = Progress::start("produce", Arc::clone(&counters), total, quiet);
            (counters, Some(bar))
        }
    };
    let config = producer_config(global, load)?;
    let window = Window::new(load, load.producers);
    let mut tasks = Vec::new();
    for index in 0..load.producers {
        let (config, load, counters) = (config.clone(), load.clone(), Arc::clone(&counters));
        let client = Client {
            name: format!("producer {index}"),
            partitions: partitions_of(index, load.producers, partitions),
            stamped,
        };
        tasks.push(tokio::spawn(async move {
            produce(client, config, load, window, counters).await
        }));
    }
    let mut clients = Vec::new();
    let mut last = window.measure_from;
    for task in tasks {
        let (stats, ended) = task.await.context("producer task failed")??;
        last = last.max(ended);
        clients.push(stats);
    }
    if let Some(progress) = progress {
        progress.finish();
    }
    Ok(Produced {
        clients,
        wall: last.saturating_duration_since(window.measure_from),
    })
}

/// The library's defaults, changed only where an option was given.
fn producer_config(global: &GlobalArgs, load: &LoadArgs) -> anyhow::Result<ProducerConfig> {
    let mut builder = ProducerConfig::builder(global.broker.clone())
        .compression(load.compression)
        .client_id("rill-bench")
        .tls(global.tls.config());
    if let Some(acks) = load.acks {
        builder = builder.acks(acks);
    }
    if let Some(max_in_flight) = load.max_in_flight {
        builder = builder.max_in_flight(max_in_flight);
    }
    if let Some(timeout) = global.timeout {
        builder = builder.request_timeout(timeout).connect_timeout(timeout);
    }
    if let Some(linger) = load.linger {
        builder = builder.linger(linger);
    }
    if let Some(batch_bytes) = load.batch_bytes {
        builder = builder.batch_bytes(batch_bytes);
    }
    Ok(builder.build()?)
}

/// Who one producer task is.
struct Client {
    name: String,
    /// Its partitions, written round-robin.
    partitions: Vec<i32>,
    /// e2e: each value starts with its due time.
    stamped: bool,
}

/// A delivery on its way.
struct Sent {
    /// The due time when this record is timed.
    due: Option<Instant>,
    /// Sent after the warmup.
    counted: bool,
    delivery: DeliveryFuture,
}

/// The deliveries of one producer task, oldest first, and what their answers added up to.
struct Acks {
    queue: VecDeque<Sent>,
    stats: ClientStats,
    message_size: usize,
    /// The instant of the last counted answer.
    ended: Instant,
}

impl Acks {
    /// Counts one answered delivery seen at `now`.
    fn settle(&mut self, sent: Sent, delivered: rill_client::Result<()>, now: Instant) {
        if !sent.counted {
            return;
        }
        if let Err(error) = delivered {
            if self.stats.lost == 0 {
                eprintln!("warning: {}: a record was lost: {error}", self.stats.name);
            }
            self.stats.lost += 1;
            return;
        }
        if let Some(due) = sent.due {
            self.stats
                .record_latency(now.saturating_duration_since(due), 1);
        }
        self.stats.messages += 1;
        self.stats.bytes += self.message_size as u64;
        self.ended = now;
    }

    /// Takes the already answered deliveries off the front, without waiting; the clock
    /// is read once, and only if one was answered.
    fn take_answered(&mut self) {
        let mut now = None;
        while let Some(front) = self.queue.front_mut() {
            let Some(result) = (&mut front.delivery).now_or_never() else {
                return;
            };
            let at = *now.get_or_insert_with(Instant::now);
            if let Some(sent) = self.queue.pop_front() {
                self.settle(sent, result.map(drop), at);
            }
        }
    }

    /// Waits for the oldest delivery's answer and counts it.
    async fn take_oldest(&mut self) {
        if let Some(mut sent) = self.queue.pop_front() {
            let result = (&mut sent.delivery).await;
            self.settle(sent, result.map(drop), Instant::now());
        }
    }

    /// Waits until `due`, counting the answers that arrive meanwhile.
    async fn sleep_until(&mut self, due: Instant) {
        let sleep = tokio::time::sleep_until(due.into());
        tokio::pin!(sleep);
        loop {
            let Some(front) = self.queue.front_mut() else {
                return sleep.await;
            };
            tokio::select! {
                biased;
                () = &mut sleep => return,
                // Cancel-safe: polling a delivery future does not consume it.
                result = &mut front.delivery => {
                    if let Some(sent) = self.queue.pop_front() {
                        self.settle(sent, result.map(drop), Instant::now());
                    }
                }
            }
        }
    }
}

async fn produce(
    client: Client,
    config: ProducerConfig,
    load: LoadArgs,
    window: Window,
    counters: Arc<Counters>,
) -> anyhow::Result<(ClientStats, Instant)> {
    let producer = Producer::connect(config).await?;
    let mut acks = Acks {
        queue: VecDeque::new(),
        stats: ClientStats::new(&client.name)?,
        message_size: load.message_size,
        ended: window.measure_from,
    };
    let result = send_all(&producer, &client, &load, window, &counters, &mut acks).await;
    // Every record's outcome arrives through its own future; a failed flush shows
    // there as lost records.
    let _ = producer.flush().await;
    while !acks.queue.is_empty() {
        acks.take_answered();
        acks.take_oldest().await;
    }
    producer.close().await?;
    result?;
    let mut stats = acks.stats;
    stats.elapsed = acks.ended.saturating_duration_since(window.measure_from);
    Ok((stats, acks.ended))
}

/// Sends until the window says stop. Per record: build it, `send`, queue the future;
/// the clock, the progress counters and the answered futures only every
/// [`CHECK_EVERY`] records unless each record is timed (`--rate`, e2e).
async fn send_all(
    producer: &Producer,
    client: &Client,
    load: &LoadArgs,
    window: Window,
    counters: &Counters,
    acks: &mut Acks,
) -> anyhow::Result<()> {
    let fixed = payload(load.message_size);
    // One shared topic name: each record clones an `Arc`, not the string.
    let topic: Arc<str> = Arc::from(load.topic.as_str());
    let every_record_timed = window.rate_per_client.is_some() || client.stamped;
    let start = Instant::now();
    let (mut sent, mut counted, mut uncounted_progress) = (0u64, 0u64, 0u64);
    let mut clock = start;
    loop {
        let due = if every_record_timed {
            let due = window.due(start, sent);
            if due > Instant::now() {
                acks.sleep_until(due).await;
            }
            clock = Instant::now();
            Some(due)
        } else if sent % CHECK_EVERY == 0 {
            clock = Instant::now();
            Some(clock)
        } else {
            None
        };
        if due.is_some() {
            counters.add(
                uncounted_progress,
                uncounted_progress * load.message_size as u64,
            );
            uncounted_progress = 0;
            acks.take_answered();
        }
        let measuring = due.unwrap_or(clock) >= window.measure_from;
        if measuring && !window.more(counted, clock) {
            counters.add(
                uncounted_progress,
                uncounted_progress * load.message_size as u64,
            );
            return Ok(());
        }
        let value = match client.stamped {
            true => stamp(&fixed, due.filter(|_| measuring)),
            false => fixed.clone(),
        };
        let partition = client.partitions[(sent % client.partitions.len() as u64) as usize];
        let record = ProducerRecord::new(Arc::clone(&topic), value).with_partition(partition);
        let delivery = producer.send(record).await?;
        sent += 1;
        counted += u64::from(measuring);
        uncounted_progress += 1;
        if acks.queue.len() >= ACK_QUEUE_DEPTH {
            acks.take_oldest().await;
        }
        acks.queue.push_back(Sent {
            due,
            counted: measuring,
            delivery,
        });
    }
}

/// A copy of `fixed` whose first bytes hold the due time (e2e), or 0 for a warmup
/// record the consumers must not count.
fn stamp(fixed: &Bytes, due: Option<Instant>) -> Bytes {
    let mut value = BytesMut::with_capacity(fixed.len());
    value.put_u64(due.map_or(0, |due| clock_ns_at(due).max(1)));
    value.extend_from_slice(fixed.get(E2E_STAMP_BYTES..).unwrap_or_default());
    value.freeze()
}
