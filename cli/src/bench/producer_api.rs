//! Producers that go through the client library's [`Producer`]: one `send` and one
//! [`rill_client::DeliveryFuture`] per record, batching by `--linger` and
//! `--batch-bytes`. Used by `produce --client producer` (to measure that path) and by
//! `e2e` (where each value starts with its send time, see [`super::clock_ns`]).
//!
//! A producer task sends; an acker task awaits the futures in send order, so latency is
//! send-to-acknowledgement per record.

use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use anyhow::Context;
use bytes::{BufMut, Bytes, BytesMut};
use rill_client::{DeliveryFuture, Producer, ProducerConfig, ProducerRecord};
use tokio::sync::mpsc;

use super::args::{LoadArgs, Stop, E2E_STAMP_BYTES};
use super::produce::{Produced, Window};
use super::progress::{Counters, Progress};
use super::report::ClientStats;
use super::{clock_ns, payload};
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
            let bar = Progress::start("produce", Arc::clone(&counters), total, load.json);
            (counters, Some(bar))
        }
    };
    let config = producer_config(global, load)?;
    let window = Window::new(load, load.producers);
    let mut tasks = Vec::new();
    for index in 0..load.producers {
        let (config, load, counters) = (config.clone(), load.clone(), Arc::clone(&counters));
        let name = format!("producer {index}");
        tasks.push(tokio::spawn(async move {
            produce(name, config, load, window, stamped, counters).await
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

fn producer_config(global: &GlobalArgs, load: &LoadArgs) -> anyhow::Result<ProducerConfig> {
    let mut builder = ProducerConfig::builder(global.broker.clone())
        .acks(load.acks)
        .compression(load.compression)
        .max_in_flight(load.max_in_flight)
        .client_id("rill-bench");
    if let Some(timeout) = global.timeout {
        builder = builder.request_timeout(timeout).connect_timeout(timeout);
    }
    if let Some(linger) = load.linger {
        builder = builder.linger(linger);
    }
    let batch_bytes = load
        .batch_bytes
        .unwrap_or(load.records_per_batch() * (load.message_size + 16));
    Ok(builder.batch_bytes(batch_bytes).build()?)
}

/// A delivery on its way, for the acker.
struct Sent {
    at: Instant,
    counted: bool,
    delivery: DeliveryFuture,
}

async fn produce(
    name: String,
    config: ProducerConfig,
    load: LoadArgs,
    window: Window,
    stamped: bool,
    counters: Arc<Counters>,
) -> anyhow::Result<(ClientStats, Instant)> {
    let producer = Producer::connect(config).await?;
    let (tx, rx) = mpsc::channel(ACK_QUEUE_DEPTH);
    let acker = tokio::spawn(ack(rx, ClientStats::new(name)?, load.message_size, window));
    let fixed = payload(load.message_size);
    // One shared topic name: each record clones an `Arc`, not the string.
    let topic: Arc<str> = Arc::from(load.topic.as_str());
    let start = Instant::now();
    let (mut sent, mut counted) = (0u64, 0u64);
    let result = async {
        loop {
            window.pace(start, sent).await;
            let at = Instant::now();
            let measuring = at >= window.measure_from;
            if measuring && !window.more(counted, at) {
                return Ok::<(), anyhow::Error>(());
            }
            let value = match stamped {
                true => stamp(&fixed, measuring),
                false => fixed.clone(),
            };
            let delivery = producer
                .send(ProducerRecord::new(Arc::clone(&topic), value))
                .await?;
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
    producer.flush().await?;
    let acked = acker.await.context("acker task failed")?;
    producer.close().await?;
    result?;
    let (mut stats, ended) = acked?;
    stats.elapsed = ended.saturating_duration_since(window.measure_from);
    Ok((stats, ended))
}

/// A copy of `fixed` whose first bytes hold the send time (e2e), or 0 for a warmup
/// record the consumers must not count.
fn stamp(fixed: &Bytes, measuring: bool) -> Bytes {
    let mut value = BytesMut::with_capacity(fixed.len());
    value.put_u64(if measuring { clock_ns().max(1) } else { 0 });
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
        match futures::poll!(&mut sent.delivery) {
            Poll::Ready(result) => drop(result?),
            Poll::Pending => {
                (&mut sent.delivery).await?;
                now = Instant::now();
            }
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
