//! `rill produce TOPIC`: append records read from stdin or a file, one per line.
//!
//! Lines are read as bytes (no UTF-8 requirement), parsed by
//! [`LineParser`](super::produce_input::LineParser) and handed to the batching
//! [`Producer`]; delivery futures are kept in order and awaited as the window fills, so
//! memory stays bounded while many requests are in flight. The command returns only
//! once every sent record is acknowledged or has failed; any failure makes it exit 1.
//!
//! With `--print-offsets`, each record's outcome is printed to stdout in input order,
//! one line per record: `PARTITION:OFFSET` (as `rill tail --print-offset` shows it), or
//! `-` for a record that failed; with `--output json`, `{"line", "topic",
//! "partition", "offset", "timestamp"}` or `{"line", "error"}`. The summary goes to
//! stderr, or with `--output json` to stdout as the last line (`{"topic", "sent",
//! "acknowledged", "failed", "bytes", "elapsed_ms"}`). On a terminal, a large input
//! shows a progress bar on stderr ([`super::produce_progress`]).

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use clap::Args;
use rill_client::{
    Acks, ClientError, Compression, DeliveryFuture, Producer, ProducerConfig, ProducerRecord,
};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, BufReader};

use super::args::{self, KeyValue};
use super::output::{human_bytes, print_stdout, DataOut, OutputFormat, Style};
use super::produce_input::{trim_line_ending, InputFormat, LineParser};
use super::produce_progress::{input_size, ProduceProgress};
use super::GlobalArgs;

/// Delivery futures kept before the oldest is awaited: bounds memory, not throughput
/// (the producer's own buffer limit pushes back long before this).
const PENDING_DELIVERIES_MAX: usize = 100_000;

const EXAMPLES: &str = "\
Examples:
  echo 'hello' | rill produce orders
  rill produce orders --file events.txt --compression zstd
  printf 'user-1:signed up\\nuser-2:paid\\n' | rill produce orders --key-separator :
  rill produce orders --header source=cli --header env=dev < lines.txt
  rill produce orders --print-offsets < lines.txt      where each line landed
  rill tail orders --format json --no-follow | rill produce orders-copy --format json";

/// Arguments of `rill produce`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct ProduceArgs {
    /// Topic to append to.
    pub topic: String,
    /// Read records from this file instead of stdin.
    #[arg(long, short = 'f', value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Split each line into KEY and VALUE at the first SEP (`\t` for a tab).
    #[arg(long, short = 'k', value_name = "SEP", value_parser = args::parse_separator, conflicts_with = "format")]
    pub key_separator: Option<String>,
    /// Add a header to every record (repeatable).
    #[arg(long = "header", short = 'H', value_name = "KEY=VALUE", value_parser = args::parse_key_value)]
    pub headers: Vec<KeyValue>,
    /// Write every record to this partition (default: by key hash, or sticky without a key).
    #[arg(long, short = 'p', value_name = "N", value_parser = clap::value_parser!(i32).range(0..))]
    pub partition: Option<i32>,
    /// Acknowledgement to wait for: 0 (none), 1 (leader) or all.
    #[arg(long, value_name = "0|1|all", default_value = "all", value_parser = args::parse_acks)]
    pub acks: Acks,
    /// Compress batches with none, gzip, snappy, lz4 or zstd.
    #[arg(long, value_name = "CODEC", default_value = "none", value_parser = args::parse_compression)]
    pub compression: Compression,
    /// Input lines: text (the value, or KEY<SEP>VALUE) or json ({"key", "value", "headers"}).
    #[arg(long, value_enum, default_value_t)]
    pub format: InputFormat,
    /// Print nothing on success (no summary or progress on stderr).
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Print where each record landed, one line per record in input order:
    /// PARTITION:OFFSET, or `-` if it failed (JSON objects with --output json).
    #[arg(long)]
    pub print_offsets: bool,
}

/// Prints each record's outcome for `--print-offsets`.
#[derive(Debug)]
struct OffsetPrinter {
    out: DataOut,
    output: OutputFormat,
}

impl OffsetPrinter {
    /// Prints the outcome of the record read from input line `line`.
    fn print(
        &mut self,
        line: u64,
        outcome: &Result<rill_client::RecordMetadata, ClientError>,
    ) -> std::io::Result<()> {
        let text = match (self.output, outcome) {
            (OutputFormat::Text, Ok(m)) => format!("{}:{}\n", m.partition, m.offset),
            (OutputFormat::Text, Err(_)) => "-\n".to_owned(),
            (OutputFormat::Json, Ok(m)) => format!(
                "{}\n",
                serde_json::json!({
                    "line": line,
                    "topic": &*m.topic,
                    "partition": m.partition,
                    "offset": m.offset,
                    "timestamp": m.timestamp,
                })
            ),
            (OutputFormat::Json, Err(e)) => format!(
                "{}\n",
                serde_json::json!({ "line": line, "error": e.to_string() })
            ),
        };
        std::io::Write::write_all(self.out.writer(), text.as_bytes())?;
        self.out.end_record()
    }
}

/// What was sent and what the broker said about it.
#[derive(Debug, Default)]
struct Tally {
    sent_records: u64,
    sent_bytes: u64,
    acknowledged: u64,
    failed: u64,
    first_failure: Option<ClientError>,
    offsets: Option<OffsetPrinter>,
}

impl Tally {
    fn settle(&mut self, line: u64, outcome: Result<rill_client::RecordMetadata, ClientError>) {
        if let Some(printer) = self.offsets.as_mut() {
            // A closed stdout stops the printing, not the produce.
            if printer.print(line, &outcome).is_err() {
                self.offsets = None;
            }
        }
        match outcome {
            Ok(_) => self.acknowledged += 1,
            Err(error) => {
                self.failed += 1;
                self.first_failure.get_or_insert(error);
            }
        }
    }
}

/// Runs `rill produce`.
pub async fn run(global: &GlobalArgs, args: ProduceArgs) -> anyhow::Result<()> {
    let parser = LineParser {
        format: args.format,
        key_separator: args.key_separator.clone(),
        headers: args
            .headers
            .iter()
            .map(|kv| (kv.key.clone(), Bytes::from(kv.value.clone())))
            .collect(),
    };
    let (mut input, source) = open_input(args.file.as_ref()).await?;
    if args.file.is_none() && !args.quiet && std::io::stdin().is_terminal() {
        eprintln!("reading records from stdin, one per line; end with Ctrl-D");
    }
    let config = producer_config(global, &args)?;
    let producer = Producer::connect(config)
        .await
        .context("cannot reach the broker")?;

    let started = Instant::now();
    let mut tally = Tally {
        offsets: args.print_offsets.then(|| OffsetPrinter {
            out: DataOut::stdout(),
            output: global.output,
        }),
        ..Tally::default()
    };
    let mut progress = ProduceProgress::start(args.quiet, input_size(args.file.as_deref()));
    let read = send_lines(
        &producer,
        &args,
        &parser,
        (&mut input, &source),
        &mut progress,
        &mut tally,
    )
    .await;
    progress.finish();
    let closed = producer.close().await;
    let elapsed = started.elapsed();
    if let Some(printer) = tally.offsets.as_mut() {
        printer.out.flush().context("writing to stdout")?;
    }

    if !args.quiet || tally.failed > 0 || read.is_err() {
        match global.output {
            OutputFormat::Text => eprint!("{}", summary(&args, &tally, elapsed, Style::stderr())),
            OutputFormat::Json => {
                print_stdout(&format!("{}\n", summary_json(&args, &tally, elapsed)))?
            }
        }
    }
    read?;
    closed.context("closing the producer")?;
    if let Some(error) = tally.first_failure {
        return Err(anyhow::Error::new(error).context(format!(
            "{} of {} records were not written to {}",
            tally.failed, tally.sent_records, args.topic
        )));
    }
    Ok(())
}

/// The producer settings for the flags; `--timeout` also bounds delivery.
fn producer_config(global: &GlobalArgs, args: &ProduceArgs) -> anyhow::Result<ProducerConfig> {
    let connection = global.connection_config();
    let mut builder = ProducerConfig::builder(connection.bootstrap.clone())
        .client_id(connection.client_id.clone())
        .tls(connection.tls.clone())
        .connect_timeout(connection.connect_timeout)
        .request_timeout(connection.request_timeout)
        .acks(args.acks)
        .compression(args.compression);
    if let Some(timeout) = global.timeout {
        builder = builder.delivery_timeout(timeout + Duration::from_millis(100));
    }
    builder.build().context("invalid producer settings")
}

/// Opens the file or stdin, with a name for error messages.
async fn open_input(
    file: Option<&PathBuf>,
) -> anyhow::Result<(Box<dyn AsyncBufRead + Unpin + Send>, String)> {
    match file {
        Some(path) => {
            let file = tokio::fs::File::open(path)
                .await
                .with_context(|| format!("cannot open {}", path.display()))?;
            Ok((Box::new(BufReader::new(file)), path.display().to_string()))
        }
        None => Ok((
            Box::new(BufReader::new(tokio::io::stdin())),
            "stdin".to_owned(),
        )),
    }
}

/// Reads, parses and sends every line, settling deliveries as the window fills, then
/// waits for the rest. Stops at the first line that cannot be read or parsed or a send
/// that fails, after settling what was sent before it.
async fn send_lines(
    producer: &Producer,
    args: &ProduceArgs,
    parser: &LineParser,
    (input, source): (&mut (dyn AsyncBufRead + Unpin + Send), &str),
    progress: &mut ProduceProgress,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let max_line_bytes = producer.config().connection.max_frame_bytes;
    let mut pending: VecDeque<(u64, DeliveryFuture)> = VecDeque::new();
    let mut line = Vec::new();
    let mut line_number = 0u64;
    let outcome =
        loop {
            line.clear();
            line_number += 1;
            let limit = u64::try_from(max_line_bytes)
                .unwrap_or(u64::MAX)
                .saturating_add(1);
            let read = (&mut *input).take(limit).read_until(b'\n', &mut line).await;
            match read {
                Ok(0) => break Ok(()),
                Ok(_) if line.len() > max_line_bytes => {
                    break Err(anyhow::anyhow!(
                        "line {line_number} of {source} is longer than {} (the largest frame)",
                        human_bytes(max_line_bytes as u64)
                    ))
                }
                Ok(read) => progress.record(read as u64),
                Err(error) => {
                    break Err(anyhow::Error::new(error).context(format!("cannot read {source}")))
                }
            }
            let parsed = match parser.parse(trim_line_ending(&line)) {
                Ok(parsed) => parsed,
                Err(error) => {
                    break Err(anyhow::Error::new(error)
                        .context(format!("line {line_number} of {source}")))
                }
            };
            let record = ProducerRecord {
                topic: args.topic.as_str().into(),
                partition: args.partition,
                key: parsed.key,
                value: parsed.value,
                headers: parsed.headers,
                timestamp: parsed.timestamp_ms,
            };
            let record_bytes = record.key.as_ref().map_or(0, Bytes::len)
                + record.value.as_ref().map_or(0, Bytes::len);
            match producer.send(record).await {
                Ok(delivery) => pending.push_back((line_number, delivery)),
                Err(error) => {
                    break Err(anyhow::Error::new(error)
                        .context(format!("cannot produce to {}", args.topic)))
                }
            }
            tally.sent_records += 1;
            tally.sent_bytes += record_bytes as u64;
            while pending.len() > PENDING_DELIVERIES_MAX {
                if let Some((line, oldest)) = pending.pop_front() {
                    tally.settle(line, oldest.await);
                }
            }
        };
    if let Err(error) = producer.flush().await {
        tally.first_failure.get_or_insert(error);
    }
    for (line, delivery) in pending {
        tally.settle(line, delivery.await);
    }
    outcome
}

/// The line on stderr after producing: records, bytes, time, and failures if any.
fn summary(args: &ProduceArgs, tally: &Tally, elapsed: Duration, style: Style) -> String {
    let verb = if args.acks == Acks::None {
        "sent"
    } else {
        "produced"
    };
    let done = if args.acks == Acks::None {
        tally.sent_records
    } else {
        tally.acknowledged
    };
    let mut line = format!(
        "{verb} {done} record{} ({}) to {} in {}",
        if done == 1 { "" } else { "s" },
        human_bytes(tally.sent_bytes),
        args.topic,
        format_elapsed(elapsed)
    );
    line = if tally.failed == 0 {
        style.ok(&line)
    } else {
        line
    };
    if tally.failed > 0 {
        line.push_str(&format!(", {} failed", tally.failed));
    }
    line.push('\n');
    line
}

/// The summary as one JSON object (`--output json`), printed last on stdout.
fn summary_json(args: &ProduceArgs, tally: &Tally, elapsed: Duration) -> serde_json::Value {
    serde_json::json!({
        "topic": args.topic,
        "sent": tally.sent_records,
        "acknowledged": tally.acknowledged,
        "failed": tally.failed,
        "bytes": tally.sent_bytes,
        "elapsed_ms": elapsed.as_secs_f64() * 1000.0,
    })
}

/// A short elapsed time: `0.4ms`, `850ms`, `2.31s`.
fn format_elapsed(elapsed: Duration) -> String {
    if elapsed < Duration::from_millis(10) {
        format!("{:.1}ms", elapsed.as_secs_f64() * 1000.0)
    } else if elapsed < Duration::from_secs(1) {
        format!("{}ms", elapsed.as_millis())
    } else {
        format!("{:.2}s", elapsed.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::{Cli, Command};

    fn parse(args: &[&str]) -> ProduceArgs {
        let cli = Cli::try_parse_from(std::iter::once("rill").chain(args.iter().copied())).unwrap();
        match cli.command {
            Command::Produce(args) => args,
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let args = parse(&["produce", "t"]);
        assert_eq!(args.acks, Acks::All);
        assert_eq!(args.compression, Compression::None);
        assert_eq!(args.format, InputFormat::Text);
        assert!(args.key_separator.is_none() && args.headers.is_empty() && !args.quiet);
    }

    #[test]
    fn flags() {
        let args = parse(&[
            "produce",
            "t",
            "-k",
            "\\t",
            "-H",
            "a=1",
            "--header",
            "b=2",
            "-p",
            "3",
            "--acks",
            "1",
            "--compression",
            "lz4",
            "-q",
        ]);
        assert_eq!(args.key_separator.as_deref(), Some("\t"));
        assert_eq!(args.headers.len(), 2);
        assert_eq!(args.partition, Some(3));
        assert_eq!(args.acks, Acks::Leader);
        assert_eq!(args.compression, Compression::Lz4);
        assert!(args.quiet);
    }

    #[test]
    fn key_separator_and_json_conflict() {
        let err = Cli::try_parse_from(["rill", "produce", "t", "-k", ":", "--format", "json"])
            .unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(Cli::try_parse_from(["rill", "produce", "t", "-p", "-1"]).is_err());
    }

    #[test]
    fn summary_line() {
        let args = parse(&["produce", "orders"]);
        let tally = Tally {
            sent_records: 2,
            sent_bytes: 2048,
            acknowledged: 2,
            ..Tally::default()
        };
        let line = summary(&args, &tally, Duration::from_millis(12), Style::new(false));
        assert_eq!(line, "produced 2 records (2.0 KiB) to orders in 12ms\n");
        assert_eq!(format_elapsed(Duration::from_millis(2_310)), "2.31s");
        assert_eq!(format_elapsed(Duration::from_micros(420)), "0.4ms");
    }
}
