//! `rill bench consume`: consumers read the topic from the beginning with the client's
//! [`Consumer`], each over its own connection and on its own share of the partitions;
//! with `--raw`, a plain loop of Fetch requests on a raw connection instead
//! ([`super::raw_consume`]), the ceiling to read the Consumer's figures against (the
//! report's `parameters.path` says which).
//!
//! A consumer stops when it has read what its partitions held when the run started
//! (capped by its share of `--count`), or at the end of `--duration`. It reports
//! records/s and MB/s; there is no end-to-end latency to measure here (`latency_us` is
//! null; `rill bench e2e` measures it).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use rill_client::{Admin, Consumer, ConsumerConfig, SeekTo};
use serde::Serialize;

use super::args::{LoadArgs, Stop};
use super::progress::{Counters, Progress};
use super::raw_consume::RawConsumer;
use super::report::{ClientStats, Report};
use super::{check_raw_reaches_leaders, ensure_topic, partitions_of};
use crate::output::OutputFormat;
use crate::GlobalArgs;

/// Longest a single poll waits before the consumer checks its stop condition again.
const POLL_WAIT: Duration = Duration::from_millis(100);

/// Options of `rill bench consume`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct ConsumeArgs {
    /// The load.
    #[command(flatten)]
    pub load: LoadArgs,
    /// Read with a plain loop of Fetch requests on a raw connection (no record decoding)
    /// instead of the library's Consumer: the fetch path's ceiling, not what
    /// applications get.
    #[arg(long)]
    pub raw: bool,
}

impl ConsumeArgs {
    /// `consumer` (the library) or `raw`.
    pub fn path(&self) -> &'static str {
        if self.raw {
            "raw"
        } else {
            "consumer"
        }
    }
}

/// Runs `rill bench consume`.
pub async fn run(global: &GlobalArgs, args: ConsumeArgs) -> anyhow::Result<()> {
    let load = &args.load;
    load.validate(0).map_err(anyhow::Error::msg)?;
    let topology = ensure_topic(global, load).await?;
    let partitions = topology.partitions;
    if args.raw {
        check_raw_reaches_leaders(global, &load.topic).await?;
    }
    let (earliest, available) = records_per_partition(global, &load.topic).await?;
    let counters = Arc::new(Counters::default());
    let mut plans = Vec::new();
    for index in 0..load.consumers {
        let owned = partitions_of(index, load.consumers, partitions);
        let held: u64 = owned
            .iter()
            .map(|p| available.get(usize::try_from(*p).unwrap_or(0)).copied())
            .map(Option::unwrap_or_default)
            .sum();
        let target = match load.stop() {
            Stop::Count(count) if load.count.is_some() => {
                held.min(count.div_ceil(u64::from(load.consumers)))
            }
            _ => held,
        };
        plans.push((index, owned, target));
    }
    let total: u64 = plans.iter().map(|p| p.2).sum();
    if total == 0 && load.duration.is_none() {
        anyhow::bail!(
            "topic {} holds no records to consume; produce some first, e.g. `rill bench produce --topic {}`",
            load.topic,
            load.topic
        );
    }
    let quiet = global.output == OutputFormat::Json;
    let progress = Progress::start("consume", Arc::clone(&counters), Some(total), quiet);
    let measure_from = Instant::now() + load.warmup;
    let deadline = load.duration.map(|d| measure_from + d);
    let mut tasks = Vec::new();
    for (index, owned, target) in plans {
        let config = consumer_config(global, load)?;
        let (topic, counters) = (load.topic.clone(), Arc::clone(&counters));
        if args.raw {
            let raw = RawConsumer {
                name: format!("consumer {index}"),
                topic,
                starts: owned
                    .iter()
                    .map(|p| (*p, start_of(&earliest, *p)))
                    .collect(),
                target,
                message_size: load.message_size,
            };
            let size = load.message_size as u64;
            tasks.push(tokio::spawn(async move {
                let on_records = |n: u64| counters.add(n, n * size);
                raw.run(&config, measure_from, deadline, on_records).await
            }));
            continue;
        }
        let run = ConsumerRun {
            name: format!("consumer {index}"),
            topic,
            partitions: owned,
            target,
            measure_from,
            deadline,
            counters,
        };
        tasks.push(tokio::spawn(run.run(config)));
    }
    let mut clients = Vec::new();
    let mut last = measure_from;
    for task in tasks {
        let (stats, ended) = task.await.context("consumer task failed")??;
        last = last.max(ended);
        clients.push(stats);
    }
    progress.finish();
    let wall = last.saturating_duration_since(measure_from);
    let mut parameters = serde_json::to_value(&args)?;
    parameters["path"] = args.path().into();
    let mut report = Report::new("consume", &clients, wall, parameters)?;
    report.topology = Some(topology);
    report.print(global.output)
}

/// The earliest offset of `partition` (0 if unknown).
fn start_of(earliest: &[i64], partition: i32) -> i64 {
    usize::try_from(partition)
        .ok()
        .and_then(|i| earliest.get(i))
        .copied()
        .unwrap_or(0)
}

/// The earliest offset of each partition of `topic` and the records it holds now, by
/// partition index.
async fn records_per_partition(
    global: &GlobalArgs,
    topic: &str,
) -> anyhow::Result<(Vec<i64>, Vec<u64>)> {
    let admin = Admin::connect(global.connection_config()).await?;
    let description = admin.describe_topic(topic).await?;
    admin.close().await?;
    let mut earliest = vec![0i64; description.partitions.len()];
    let mut held = vec![0u64; description.partitions.len()];
    for p in &description.partitions {
        let Ok(i) = usize::try_from(p.partition) else {
            continue;
        };
        if let (Some(start), Some(slot)) = (earliest.get_mut(i), held.get_mut(i)) {
            *start = p.earliest_offset;
            *slot = u64::try_from(p.latest_offset - p.earliest_offset).unwrap_or(0);
        }
    }
    Ok((earliest, held))
}

/// The Consumer settings of the bench: the client's defaults, the global options and
/// `--partition-max-bytes`.
pub fn consumer_config(global: &GlobalArgs, load: &LoadArgs) -> anyhow::Result<ConsumerConfig> {
    let mut builder = ConsumerConfig::builder(global.broker.clone())
        .client_id("rill-bench")
        .tls(global.tls.config())
        .sasl(global.connection_config().sasl);
    if let Some(bytes) = load.partition_max_bytes {
        builder = builder.partition_max_bytes(bytes);
    }
    if let Some(timeout) = global.timeout {
        builder = builder.request_timeout(timeout).connect_timeout(timeout);
    }
    Ok(builder.build()?)
}

/// One consumer's work.
struct ConsumerRun {
    name: String,
    topic: String,
    partitions: Vec<i32>,
    target: u64,
    measure_from: Instant,
    deadline: Option<Instant>,
    counters: Arc<Counters>,
}

impl ConsumerRun {
    async fn run(self, config: ConsumerConfig) -> anyhow::Result<(ClientStats, Instant)> {
        let mut stats = ClientStats::new(&self.name)?;
        let mut consumer = Consumer::connect(config).await?;
        let assignment = self
            .partitions
            .iter()
            .map(|p| rill_client::TopicPartition::new(self.topic.clone(), *p));
        consumer.assign(assignment);
        for p in &self.partitions {
            consumer
                .seek(
                    &rill_client::TopicPartition::new(self.topic.as_str(), *p),
                    SeekTo::Beginning,
                )
                .await?;
        }
        let (mut read, mut ended) = (0u64, self.measure_from);
        while read < self.target && self.deadline.is_none_or(|d| Instant::now() < d) {
            let records = consumer.poll(POLL_WAIT).await?;
            if records.is_empty() {
                continue;
            }
            let now = Instant::now();
            let n = records.len() as u64;
            let bytes: u64 = records
                .iter()
                .map(|r| r.value.as_ref().map_or(0, |v| v.len() as u64))
                .sum();
            read += n;
            self.counters.add(n, bytes);
            if now >= self.measure_from {
                stats.messages += n;
                stats.bytes += bytes;
                ended = now;
            }
        }
        stats.elapsed = ended.saturating_duration_since(self.measure_from);
        Ok((stats, ended))
    }
}
