//! `rill bench e2e`: producers (the client's [`rill_client::Producer`], batching by
//! `--linger`) and consumers run together; latency is from the due time stamped in each
//! value (the `--rate` schedule, see [`super::schedule`]) to the moment a consumer's poll
//! returns it.
//!
//! Consumers start at the end of the log before any producer sends. Warmup records carry
//! a zero stamp and are not counted. The run ends when the consumers have counted every
//! record the producers counted, or [`DRAIN_LIMIT`] after the producers finished; the
//! records that never arrived are reported as `lost` (and fail the run).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rill_client::{Consumer, SeekTo};

use super::args::{LoadArgs, E2E_STAMP_BYTES};
use super::consume::consumer_config;
use super::progress::{Counters, Progress};
use super::report::{ClientStats, Report};
use super::{clock_ns, ensure_topic, partitions_of, producer_api};
use crate::output::OutputFormat;
use crate::GlobalArgs;

/// How long consumers may keep reading after the producers finished.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);
/// Longest a single poll waits before the consumer checks its stop condition again.
const POLL_WAIT: Duration = Duration::from_millis(50);

/// Progress shared by the consumers of a run.
#[derive(Debug)]
struct Tally {
    /// Stamped records counted by all consumers.
    consumed: AtomicU64,
    /// Records the producers counted, once they have all finished.
    produced: AtomicU64,
    /// When the producers finished, as [`clock_ns`]; 0 while running.
    producers_done_ns: AtomicU64,
}

/// Runs `rill bench e2e`.
pub async fn run(global: &GlobalArgs, load: LoadArgs) -> anyhow::Result<()> {
    load.validate(E2E_STAMP_BYTES).map_err(anyhow::Error::msg)?;
    let topology = ensure_topic(global, &load).await?;
    let partitions = topology.partitions;
    let counters = Arc::new(Counters::default());
    let tally = Arc::new(Tally {
        consumed: AtomicU64::new(0),
        produced: AtomicU64::new(u64::MAX),
        producers_done_ns: AtomicU64::new(0),
    });
    let mut consumers = Vec::new();
    for index in 0..load.consumers {
        let owned = partitions_of(index, load.consumers, partitions);
        let mut consumer = Consumer::connect(consumer_config(global, &load)?).await?;
        consumer.assign(
            owned
                .iter()
                .map(|p| rill_client::TopicPartition::new(load.topic.clone(), *p)),
        );
        for p in &owned {
            consumer
                .seek(
                    &rill_client::TopicPartition::new(load.topic.as_str(), *p),
                    SeekTo::End,
                )
                .await?;
        }
        let stats = ClientStats::new(format!("consumer {index}"))?;
        let (tally, counters) = (Arc::clone(&tally), Arc::clone(&counters));
        consumers.push(tokio::spawn(consume(consumer, stats, tally, counters)));
    }
    let quiet = global.output == OutputFormat::Json;
    let progress = Progress::start("e2e", Arc::clone(&counters), None, quiet);
    let measure_from = Instant::now() + load.warmup;
    // The bar shows what consumers receive; producers count on their own.
    let sent = Some(Arc::new(Counters::default()));
    let produced = producer_api::run_producers(global, &load, partitions, true, sent).await;
    let produced_count = produced
        .as_ref()
        .map_or(0, |p| p.clients.iter().map(|c| c.messages).sum());
    tally.produced.store(produced_count, Ordering::Release);
    tally
        .producers_done_ns
        .store(clock_ns().max(1), Ordering::Release);
    let mut clients = Vec::new();
    let mut last = measure_from;
    for task in consumers {
        let (mut stats, ended) = task.await.context("consumer task failed")??;
        stats.elapsed = ended.saturating_duration_since(measure_from);
        last = last.max(ended);
        clients.push(stats);
    }
    progress.finish();
    let lost_in_production: u64 = produced?.clients.iter().map(|c| c.lost).sum();
    let received: u64 = clients.iter().map(|c| c.messages).sum();
    let wall = last.saturating_duration_since(measure_from);
    let mut parameters = serde_json::to_value(&load).context("cannot encode parameters")?;
    parameters["produced"] = produced_count.into();
    let mut report = Report::new("e2e", &clients, wall, parameters)?;
    report.topology = Some(topology);
    // Acknowledged but never received, plus never acknowledged at all.
    report.lost = produced_count.saturating_sub(received) + lost_in_production;
    report.print(global.output)
}

async fn consume(
    mut consumer: Consumer,
    mut stats: ClientStats,
    tally: Arc<Tally>,
    counters: Arc<Counters>,
) -> anyhow::Result<(ClientStats, Instant)> {
    let started = Instant::now();
    let mut ended = started;
    loop {
        let done_ns = tally.producers_done_ns.load(Ordering::Acquire);
        let all_in =
            tally.consumed.load(Ordering::Acquire) >= tally.produced.load(Ordering::Acquire);
        let too_late =
            done_ns > 0 && clock_ns().saturating_sub(done_ns) > DRAIN_LIMIT.as_nanos() as u64;
        if all_in || too_late {
            break;
        }
        let records = consumer.poll(POLL_WAIT).await?;
        let now_ns = clock_ns();
        let now = Instant::now();
        let mut counted = 0u64;
        let mut bytes = 0u64;
        for record in &records {
            let Some(value) = &record.value else { continue };
            let Some(stamp) = value.get(..E2E_STAMP_BYTES) else {
                continue;
            };
            let mut raw = [0u8; E2E_STAMP_BYTES];
            raw.copy_from_slice(stamp);
            let sent_ns = u64::from_be_bytes(raw);
            if sent_ns == 0 {
                continue; // warmup
            }
            stats.record_latency(Duration::from_nanos(now_ns.saturating_sub(sent_ns)), 1);
            counted += 1;
            bytes += value.len() as u64;
        }
        if counted > 0 {
            stats.messages += counted;
            stats.bytes += bytes;
            tally.consumed.fetch_add(counted, Ordering::AcqRel);
            counters.add(counted, bytes);
            ended = now;
        }
    }
    Ok((stats, ended))
}
