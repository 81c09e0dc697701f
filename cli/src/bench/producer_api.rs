//! Producers that go through the client library's [`Producer`] with the library's
//! defaults (idempotent, `acks=all`, its linger and batch size) unless `--acks`,
//! `--linger`, `--batch-bytes` or `--max-in-flight` say otherwise: one `send` and one
//! [`rill_client::DeliveryFuture`] per record. Used by `produce` (the default path) and
//! by `e2e` (where each value starts with its due time, see [`super::clock_ns`]).
//!
//! Records go round-robin over the producer's partitions (explicit partitions), so a
//! many-partition topic is written in every partition. A producer task sends; an acker
//! task awaits the futures in send order, so latency is from each record's due time
//! ([`super::schedule`]) to its acknowledgement. A record whose delivery fails is
//! counted as lost.

use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use anyhow::Context;
use bytes::{BufMut, Bytes, BytesMut};
use rill_client::{DeliveryFuture, Producer, ProducerConfig, ProducerRecord};
use tokio::sync::mpsc;

use super::args::{LoadArgs, Stop, E2E_STAMP_BYTES};
use super::produce::Produced;
use super::progress::{Counters, Progress};
use super::report::ClientStats;
use super::schedule::Window;
use super::{clock_ns_at, partitions_of, payload};
use crate::output::OutputFormat;
use crate::GlobalArgs;

/// Futures queued between a producer and its acker (back-pressure beyond the
/// producer's own buffer memory).
const ACK_QUEUE_DEPTH: usize = 64 * 1024;

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
        .sasl(global.connection_config().sasl);
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

/// A delivery on its way, for the acker.
struct Sent {
    at: Instant,
    counted: bool,
    delivery: DeliveryFuture,
}

async fn produce(
    client: Client,
    config: ProducerConfig,
    load: LoadArgs,
    window: Window,
    counters: Arc<Counters>,
) -> anyhow::Result<(ClientStats, Instant)> {
    let producer = Producer::connect(config).await?;
    let (tx, rx) = mpsc::channel(ACK_QUEUE_DEPTH);
    let stats = ClientStats::new(&client.name)?;
    let acker = tokio::spawn(ack(rx, stats, load.message_size, window));
    let fixed = payload(load.message_size);
    // One shared topic name: each record clones an `Arc`, not the string.
    let topic: Arc<str> = Arc::from(load.topic.as_str());
    let start = Instant::now();
    let (mut sent, mut counted) = (0u64, 0u64);
    let result = async {
        loop {
            let at = window.pace(start, sent).await;
            let measuring = at >= window.measure_from;
            if measuring && !window.more(counted, Instant::now()) {
                return Ok::<(), anyhow::Error>(());
            }
            let value = match client.stamped {
                true => stamp(&fixed, measuring.then_some(at)),
                false => fixed.clone(),
            };
            let partition = client.partitions[(sent % client.partitions.len() as u64) as usize];
            let record = ProducerRecord::new(Arc::clone(&topic), value).with_partition(partition);
            let delivery = producer.send(record).await?;
            sent += 1;
            counted += u64::from(measuring);
            counters.add(1, load.message_size as u64);
            let queued = Sent {
                at,
                counted: measuring,
                delivery,
            };
            if tx.send(queued).await.is_err() {
                return Ok(()); // the acker failed; it reports why
            }
        }
    }
    .await;
    drop(tx);
    // Every record's outcome reaches the acker through its own future; a failed flush
    // shows there as lost records.
    let _ = producer.flush().await;
    let acked = acker.await.context("acker task failed")?;
    producer.close().await?;
    result?;
    let (mut stats, ended) = acked?;
    stats.elapsed = ended.saturating_duration_since(window.measure_from);
    Ok((stats, ended))
}

/// A copy of `fixed` whose first bytes hold the due time (e2e), or 0 for a warmup
/// record the consumers must not count.
fn stamp(fixed: &Bytes, due: Option<Instant>) -> Bytes {
    let mut value = BytesMut::with_capacity(fixed.len());
    value.put_u64(due.map_or(0, |due| clock_ns_at(due).max(1)));
    value.extend_from_slice(fixed.get(E2E_STAMP_BYTES..).unwrap_or_default());
    value.freeze()
}

async fn ack(
    mut rx: mpsc::Receiver<Sent>,
    mut stats: ClientStats,
    message_size: usize,
    window: Window,
) -> anyhow::Result<(ClientStats, Instant)> {
    let mut ended = window.measure_from;
    let mut now = Instant::now();
    while let Some(mut sent) = rx.recv().await {
        // Records of one batch complete together: read the clock only after a wait.
        let delivered = match futures::poll!(&mut sent.delivery) {
            Poll::Ready(result) => result,
            Poll::Pending => {
                let result = (&mut sent.delivery).await;
                now = Instant::now();
                result
            }
        };
        if let Err(error) = delivered {
            if sent.counted {
                if stats.lost == 0 {
                    eprintln!("warning: {}: a record was lost: {error}", stats.name);
                }
                stats.lost += 1;
            }
            continue;
        }
        if sent.counted {
            stats.record_latency(now.saturating_duration_since(sent.at), 1);
            stats.messages += 1;
            stats.bytes += message_size as u64;
            ended = now;
        }
    }
    Ok((stats, ended))
}
