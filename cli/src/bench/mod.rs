//! `rill bench`: drives a running broker with producers and consumers and reports
//! msgs/s, MB/s and latency percentiles; `baseline` measures the bare loopback socket
//! with the same frame sizes, the ceiling to read broker figures against.
//!
//! One module per mode ([`produce`], [`consume`], [`e2e`], [`baseline`]); options in
//! [`args`], the send schedule in [`schedule`], figures in [`report`], the live bar in
//! [`progress`], the brokers and replicas a run used in [`topology`]. Each client has its own connection and its own
//! [`report::ClientStats`]; the run's wall time is measured from the end of the warmup
//! to the last client's last counted message. `--output json` prints the report as one
//! JSON line.
//!
//! How `produce` builds its load: by default through the client library's `Producer`
//! with the library's defaults ([`producer_api`]), what applications get; `--raw`
//! encodes batches in the bench and writes them over a raw connection ([`raw`]), the
//! transport's ceiling. `consume` likewise reads through the library's `Consumer`, or
//! with `--raw` in a plain Fetch loop ([`raw_consume`]).

pub mod args;
pub mod baseline;
pub mod consume;
pub mod e2e;
pub mod produce;
pub mod producer_api;
pub mod progress;
pub mod raw;
pub mod raw_consume;
pub mod report;
pub mod schedule;
pub mod topology;

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Instant;

use bytes::Bytes;
use clap::{Args, Subcommand};
use rill_client::{Admin, ClientError};

use self::args::{BaselineArgs, LoadArgs};
pub use self::topology::{ensure_topic, RunTopology};
use super::GlobalArgs;

const BENCH_EXAMPLES: &str = "\
Examples:
  rill bench baseline --duration 5s
  rill bench produce --topic b1 --message-size 1024 --count 1000000     the library's Producer
  rill bench produce --topic r1 --raw --batch-size 1000 --count 1000000 bench-built batches
  rill bench consume --topic b1 --output json
  rill bench consume --topic b1 --raw                                   plain Fetch loop
  rill bench produce --topic b8 --partitions 8 --producers 8
  rill bench e2e --topic lat --rate 50000 --linger 1ms --duration 20s
  rill --broker a:9420,b:9420,c:9420 bench produce --topic r3 --replication-factor 3
                                         three replicas per partition, acks=all";

/// Options of `rill bench`.
#[derive(Debug, Args)]
#[command(after_help = BENCH_EXAMPLES)]
pub struct BenchArgs {
    /// Which load to run.
    #[command(subcommand)]
    pub mode: BenchMode,
}

/// The bench modes.
#[derive(Debug, Subcommand)]
pub enum BenchMode {
    /// Producers only: send to acknowledgement.
    #[command(after_help = BENCH_EXAMPLES)]
    Produce(produce::ProduceArgs),
    /// Consumers only: read the topic from the beginning.
    #[command(after_help = BENCH_EXAMPLES)]
    Consume(consume::ConsumeArgs),
    /// Producers and consumers together: produce timestamp to consumer receipt.
    #[command(after_help = BENCH_EXAMPLES)]
    E2e(LoadArgs),
    /// Raw TCP over loopback with Rill's frame sizes, no broker: the ceiling.
    #[command(after_help = BENCH_EXAMPLES)]
    Baseline(BaselineArgs),
}

/// Runs `rill bench`.
pub async fn run(global: &GlobalArgs, args: BenchArgs) -> anyhow::Result<()> {
    match args.mode {
        BenchMode::Produce(args) => produce::run(global, args).await,
        BenchMode::Consume(args) => consume::run(global, args).await,
        BenchMode::E2e(args) => e2e::run(global, args).await,
        BenchMode::Baseline(args) => baseline::run(args, global.output).await,
    }
}

/// `--raw` sends every partition's requests over one connection, to the first broker
/// of `--broker` that answers: on a cluster, every partition of the topic must be led
/// by that broker. Fails with what to do when one is not.
pub async fn check_raw_reaches_leaders(global: &GlobalArgs, topic: &str) -> anyhow::Result<()> {
    let admin = Admin::connect(global.connection_config()).await?;
    let checked = async {
        let answering = admin.status().await?.node_id;
        let described = admin.describe_topic(topic).await?;
        Ok::<_, ClientError>((answering, described))
    }
    .await;
    // A close that fails after the answer arrived changes nothing here.
    let _ = admin.close().await;
    let (answering, described) = checked?;
    if let Some(p) = described
        .partitions
        .iter()
        .find(|p| p.leader >= 0 && p.leader != answering)
    {
        anyhow::bail!(
            "--raw writes and reads every partition over one connection to broker {answering}, \
             but partition {} of {topic} is led by broker {}; drop --raw (the library routes \
             each partition to its leader) or give --broker the address of broker {}",
            p.partition,
            p.leader,
            p.leader
        );
    }
    Ok(())
}

/// The partitions client `index` of `clients` works on: every `clients`-th one, or one
/// shared partition when there are more clients than partitions.
pub fn partitions_of(index: u32, clients: u32, partitions: i32) -> Vec<i32> {
    let clients = i32::try_from(clients.max(1)).unwrap_or(i32::MAX);
    let index = i32::try_from(index).unwrap_or(0);
    if partitions <= clients {
        return vec![index % partitions.max(1)];
    }
    (0..partitions).filter(|p| p % clients == index).collect()
}

/// A message value of `size` bytes (a repeating printable pattern).
pub fn payload(size: usize) -> Bytes {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

/// The latest offset of every partition of `topic`.
pub async fn latest_offsets(
    global: &GlobalArgs,
    topic: &str,
) -> anyhow::Result<BTreeMap<i32, i64>> {
    let admin = Admin::connect(global.connection_config()).await?;
    let description = admin.describe_topic(topic).await;
    // A close that fails after the answer arrived changes nothing here.
    let _ = admin.close().await;
    Ok(description?
        .partitions
        .iter()
        .map(|p| (p.partition, p.latest_offset))
        .collect())
}

/// The e2e stamp clock's origin, shared by producers and consumers of one run.
fn clock_epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds since the stamp clock's origin: the e2e receive time.
pub fn clock_ns() -> u64 {
    clock_ns_at(Instant::now())
}

/// `at` on the stamp clock (an instant before its origin is 0).
pub fn clock_ns_at(at: Instant) -> u64 {
    let since = at.saturating_duration_since(clock_epoch());
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::*;
    use crate::{Cli, Command};

    fn bench(args: &[&str]) -> BenchMode {
        let mut argv = vec!["rill", "bench"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).map(|c| c.command) {
            Ok(Command::Bench(b)) => b.mode,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn produce_options_parse() {
        let BenchMode::Produce(p) = bench(&[
            "produce",
            "--topic",
            "t",
            "--partitions",
            "8",
            "--producers",
            "8",
            "--message-size",
            "100",
            "--batch-size",
            "500",
            "--count",
            "10",
            "--acks",
            "all",
            "--compression",
            "lz4",
            "--rate",
            "1000",
            "--warmup",
            "1s",
            "--raw",
            "--replication-factor",
            "3",
        ]) else {
            panic!("not produce")
        };
        let l = &p.load;
        assert_eq!((l.partitions, l.producers, l.message_size), (8, 8, 100));
        assert_eq!(l.records_per_batch(), 500);
        assert_eq!(l.stop(), args::Stop::Count(10));
        assert_eq!(l.warmup, Duration::from_secs(1));
        assert!(p.raw);
        assert_eq!(l.replication_factor, Some(3));
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["load"]["acks"], "all");
        assert_eq!(json["load"]["warmup"], 1000);
    }

    #[test]
    fn conflicting_and_bad_options_are_usage_errors() {
        let argv = |extra: &[&str]| {
            let mut v = vec!["rill", "bench", "produce"];
            v.extend_from_slice(extra);
            Cli::try_parse_from(v).map(|_| ()).unwrap_err().exit_code()
        };
        assert_eq!(argv(&["--count", "1", "--duration", "1s"]), 2);
        assert_eq!(argv(&["--batch-size", "1", "--linger", "1ms"]), 2);
        assert_eq!(argv(&["--acks", "2"]), 2);
        assert_eq!(argv(&["--partitions", "0"]), 2);
        assert_eq!(argv(&["--replication-factor", "0"]), 2);
    }

    #[test]
    fn batch_size_from_batch_bytes() {
        let BenchMode::E2e(l) = bench(&["e2e", "--message-size", "100", "--batch-bytes", "1000"])
        else {
            panic!("not e2e")
        };
        assert_eq!(l.records_per_batch(), 10);
        assert_eq!(l.stop(), args::Stop::Count(args::COUNT_DEFAULT));
        assert!(l.validate(args::E2E_STAMP_BYTES).is_ok());
    }

    #[test]
    fn partitions_are_spread_over_clients() {
        assert_eq!(partitions_of(0, 1, 3), vec![0, 1, 2]);
        assert_eq!(partitions_of(1, 2, 4), vec![1, 3]);
        assert_eq!(partitions_of(5, 8, 8), vec![5]);
        assert_eq!(partitions_of(3, 4, 1), vec![0]);
    }
}
