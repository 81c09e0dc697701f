//! `rill tail TOPIC`: print a topic's records, then follow new ones, like `tail -f`.
//!
//! The topic is described once (partitions, earliest and latest offsets); each chosen
//! partition is then placed by the start option (last N, beginning, an offset or a
//! time) and read with a manually assigned [`Consumer`]. Each partition may have an
//! end ([`stop_offsets`]): with `--no-follow` the latest offset seen at start, with
//! `--until-offset` that offset, with `--until-time` the first record at or after the
//! time. Records at or past the end are not printed and a partition is dropped from the
//! assignment once its position reaches its end; the command ends when none is left.
//! Ctrl-C ends a follow quietly (exit 0) after flushing what was printed.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use clap::{ArgGroup, Args};
use rill_client::{Admin, AutoOffsetReset, Consumer, ConsumerConfig};

use super::args::{self, Since};
use super::output::{stdout_closed, DataOut, OutputFormat, Style};
use super::record_format::{PrintFields, RecordFormat, RecordPrinter};
use super::tail_position::{choose_partitions, seek_for, stop_offsets, RecordFilter, Start};
use super::GlobalArgs;

/// Records printed per partition when no start option is given.
pub const LAST_RECORDS_DEFAULT: u64 = 10;

/// How long one poll waits before the loop checks for Ctrl-C and a closed stdout.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

const EXAMPLES: &str = "\
Examples:
  rill tail orders                          last 10 records per partition, then follow
  rill tail orders --from-beginning --no-follow
  rill tail orders -n 3 --partition 0 --print-offset --print-key
  rill tail orders --since 10m --format json | jq .value
  rill tail orders --offset 1000 --count 5
  rill tail orders --offset 1000 --until-offset 2000
  rill tail orders --since 2h --until-time 1h      the records of one hour
  rill tail orders --from-beginning --no-follow --format '%p:%o %k %s\\n'
  rill tail orders --since 2026-11-23T10:00:00Z --no-follow --format hex
  rill tail orders --group billing --from-beginning   as a group member, committing";

/// Arguments of `rill tail`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES, group(ArgGroup::new("start").multiple(false)))]
pub struct TailArgs {
    /// Topic to read.
    pub topic: String,
    /// Start with the last N records of each partition [default: 10].
    #[arg(short = 'n', long = "lines", value_name = "N", group = "start")]
    pub last: Option<u64>,
    /// Start at the oldest record kept.
    #[arg(long, group = "start")]
    pub from_beginning: bool,
    /// Start at this offset in each partition.
    #[arg(long, value_name = "N", group = "start", value_parser = clap::value_parser!(i64).range(0..))]
    pub offset: Option<i64>,
    /// Start at the first record at or after a time: a duration ago (10m, 2h) or RFC 3339.
    #[arg(long, value_name = "DURATION|RFC3339", group = "start", value_parser = args::parse_since)]
    pub since: Option<Since>,
    /// Read only this partition (repeatable; default: all).
    #[arg(long = "partition", short = 'p', value_name = "N", value_parser = clap::value_parser!(i32).range(0..))]
    pub partitions: Vec<i32>,
    /// Stop at the end of every partition as it was at start.
    #[arg(long)]
    pub no_follow: bool,
    /// Exit after printing N records.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Stop before this offset in each partition (records at N or later are not
    /// printed); a partition not there yet waits for records, unless --no-follow.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(0..))]
    pub until_offset: Option<i64>,
    /// Stop in each partition at its first record at or after a time: a duration ago
    /// (10m, 2h) or RFC 3339. A time still to come waits for such a record.
    #[arg(long, value_name = "DURATION|RFC3339", value_parser = args::parse_since)]
    pub until_time: Option<Since>,
    /// How to print records: text, json, hex, or a format string with fields %t topic,
    /// %p partition, %o offset, %k key, %s value, %T timestamp (ms), %h headers, %K / %S
    /// key / value length (-1 for null) and \n \t escapes [default: text, or json with
    /// --output json].
    #[arg(long, value_name = "text|json|hex|FORMAT", value_parser = RecordFormat::parse)]
    pub format: Option<RecordFormat>,
    /// Print the key before the value (text, hex).
    #[arg(long)]
    pub print_key: bool,
    /// Print PARTITION:OFFSET before the value (text, hex).
    #[arg(long)]
    pub print_offset: bool,
    /// Print the timestamp (RFC 3339) before the value (text, hex).
    #[arg(long)]
    pub print_timestamp: bool,
    /// Print the headers as k=v,k2=v2 before the value (text, hex).
    #[arg(long)]
    pub print_headers: bool,
    /// Consume as a member of this consumer group, from its committed offsets (a new
    /// group starts at the end, or the beginning with --from-beginning), committing
    /// what was printed.
    #[arg(long, value_name = "ID", conflicts_with_all = ["last", "offset", "since", "partitions"])]
    pub group: Option<String>,
}

impl TailArgs {
    /// Where each partition stops, given the latest offsets at start and `now`.
    pub fn stop_offsets(
        &self,
        latest: &BTreeMap<i32, i64>,
        now: SystemTime,
    ) -> Option<BTreeMap<i32, i64>> {
        let now_ms = Since::Ago(Duration::ZERO).to_timestamp_ms(now);
        let until_time_passed = self.until_time_ms(now).map(|until| until <= now_ms);
        stop_offsets(latest, self.no_follow, self.until_offset, until_time_passed)
    }

    /// `--until-time` in ms since the epoch, resolved against `now`.
    pub fn until_time_ms(&self, now: SystemTime) -> Option<i64> {
        self.until_time.map(|until| until.to_timestamp_ms(now))
    }

    /// The start option, resolving `--since` against `now`.
    pub fn start(&self, now: SystemTime) -> Start {
        if self.from_beginning {
            Start::Beginning
        } else if let Some(offset) = self.offset {
            Start::Offset(offset)
        } else if let Some(since) = self.since {
            Start::Timestamp(since.to_timestamp_ms(now))
        } else {
            Start::Last(self.last.unwrap_or(LAST_RECORDS_DEFAULT))
        }
    }

    /// How records are printed, given the global `--output`.
    pub fn printer(&self, output: OutputFormat) -> RecordPrinter {
        let format = self.format.clone().unwrap_or(match output {
            OutputFormat::Text => RecordFormat::Text,
            OutputFormat::Json => RecordFormat::Json,
        });
        RecordPrinter {
            format,
            fields: PrintFields {
                offset: self.print_offset,
                timestamp: self.print_timestamp,
                key: self.print_key,
                headers: self.print_headers,
            },
            style: Style::stdout(),
        }
    }
}

/// Runs `rill tail`.
pub async fn run(global: &GlobalArgs, args: TailArgs) -> anyhow::Result<()> {
    if let Some(group) = args.group.clone() {
        return super::group::tail::run(global, args, &group).await;
    }
    let connection = global.connection_config();
    let admin = Admin::connect(connection.clone())
        .await
        .context("cannot reach the broker")?;
    let description = admin
        .describe_topic(&args.topic)
        .await
        .with_context(|| format!("cannot read topic {}", args.topic));
    admin.close().await?;
    let description = description?;
    let chosen = choose_partitions(&description, &args.partitions)?;
    warn_unavailable(&description, &chosen);

    let fetch_max_wait = (connection.request_timeout / 2).min(Duration::from_millis(500));
    let config = ConsumerConfig::builder(connection.bootstrap.clone())
        .client_id(connection.client_id.clone())
        .tls(connection.tls.clone())
        .sasl(connection.sasl.clone())
        .connect_timeout(connection.connect_timeout)
        .request_timeout(connection.request_timeout)
        .fetch_max_wait(fetch_max_wait)
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .build()
        .context("invalid consumer settings")?;
    let mut consumer = Consumer::connect(config)
        .await
        .context("cannot reach the broker")?;
    consumer.assign(
        chosen
            .keys()
            .map(|&p| rill_client::TopicPartition::new(args.topic.clone(), p)),
    );
    let now = SystemTime::now();
    let start = args.start(now);
    for (&partition, &(earliest, latest)) in &chosen {
        consumer
            .seek(
                &rill_client::TopicPartition::new(args.topic.as_str(), partition),
                seek_for(start, earliest, latest),
            )
            .await
            .with_context(|| format!("cannot find where to start in {}-{partition}", args.topic))?;
    }
    let latest = chosen
        .iter()
        .map(|(&p, &(_, latest))| (p, latest))
        .collect();
    let filter = RecordFilter {
        ends: args.stop_offsets(&latest, now),
        since: match start {
            Start::Timestamp(timestamp_ms) => chosen.keys().map(|&p| (p, timestamp_ms)).collect(),
            _ => BTreeMap::new(),
        },
        until_ms: args.until_time_ms(now),
    };
    let mut out = DataOut::stdout();
    let printer = args.printer(global.output);
    let printed = read_loop(&mut consumer, &args, printer, filter, &mut out).await;
    out.flush().context("writing to stdout")?;
    printed
}

/// Polls and prints until `--count` is reached, every partition reached its end
/// (`--no-follow`), Ctrl-C, or stdout closes.
async fn read_loop(
    consumer: &mut Consumer,
    args: &TailArgs,
    printer: RecordPrinter,
    mut filter: RecordFilter,
    out: &mut DataOut,
) -> anyhow::Result<()> {
    let mut remaining = args.count.unwrap_or(u64::MAX);
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        if let Some(ends) = filter.ends.as_mut() {
            drop_finished(consumer, &args.topic, ends);
            if ends.is_empty() {
                return Ok(());
            }
        }
        let records = tokio::select! {
            polled = consumer.poll(POLL_INTERVAL) => polled.with_context(|| format!("cannot read topic {}", args.topic))?,
            _ = &mut interrupted => return Ok(()),
        };
        for record in &records {
            if !filter.admits(record) {
                continue;
            }
            printer
                .write(out.writer(), record)
                .context("writing to stdout")?;
            out.end_record().context("writing to stdout")?;
            remaining -= 1;
            if remaining == 0 {
                return Ok(());
            }
        }
        // In a pipe, records wait in the buffer only while more are coming in.
        out.flush().context("writing to stdout")?;
        if records.is_empty() && stdout_closed() {
            return Ok(());
        }
    }
}

/// Removes partitions whose position reached their end from `ends` and from the
/// consumer's assignment.
fn drop_finished(consumer: &mut Consumer, topic: &str, ends: &mut BTreeMap<i32, i64>) {
    let before = ends.len();
    ends.retain(|&partition, end| {
        consumer
            .position(&rill_client::TopicPartition::new(topic, partition))
            .is_none_or(|position| position < *end)
    });
    if ends.len() != before {
        consumer.assign(
            ends.keys()
                .map(|&p| rill_client::TopicPartition::new(topic, p)),
        );
    }
}

/// Says on stderr which chosen partitions cannot be read now (offline storage, or a
/// cluster broker that is down): their records are missing from the output.
fn warn_unavailable(
    description: &rill_client::TopicDescription,
    chosen: &std::collections::BTreeMap<i32, (i64, i64)>,
) {
    for p in &description.partitions {
        if let (Some(code), true) = (p.error, chosen.contains_key(&p.partition)) {
            eprintln!(
                "warning: partition {} of {} is unavailable now ({}); its records are not \
                 shown (see `rill topic describe {}`)",
                p.partition,
                description.name,
                code.name(),
                description.name
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::{Cli, Command};

    fn parse(args: &[&str]) -> TailArgs {
        let cli = Cli::try_parse_from(std::iter::once("rill").chain(args.iter().copied())).unwrap();
        match cli.command {
            Command::Tail(args) => args,
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn start_options() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        assert_eq!(parse(&["tail", "t"]).start(now), Start::Last(10));
        assert_eq!(parse(&["tail", "t", "-n", "3"]).start(now), Start::Last(3));
        assert_eq!(
            parse(&["tail", "t", "--from-beginning"]).start(now),
            Start::Beginning
        );
        assert_eq!(
            parse(&["tail", "t", "--offset", "7"]).start(now),
            Start::Offset(7)
        );
        assert_eq!(
            parse(&["tail", "t", "--since", "10s"]).start(now),
            Start::Timestamp(90_000)
        );
    }

    #[test]
    fn start_options_are_exclusive() {
        for bad in [
            &["rill", "tail", "t", "-n", "3", "--from-beginning"][..],
            &["rill", "tail", "t", "--offset", "1", "--since", "1m"],
            &["rill", "tail", "t", "--offset", "-1"],
            &["rill", "tail", "t", "--count", "0"],
            &["rill", "tail", "t", "--format", "xml"],
        ] {
            assert_eq!(
                Cli::try_parse_from(bad).unwrap_err().exit_code(),
                2,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn flags() {
        let args = parse(&[
            "tail",
            "t",
            "-p",
            "0",
            "--partition",
            "2",
            "--no-follow",
            "--count",
            "5",
            "--format",
            "json",
            "--print-key",
            "--print-offset",
            "--print-timestamp",
            "--print-headers",
        ]);
        assert_eq!(args.partitions, vec![0, 2]);
        assert!(args.no_follow);
        assert_eq!(args.count, Some(5));
        let printer = args.printer(OutputFormat::Text);
        assert_eq!(printer.format, RecordFormat::Json);
        assert!(
            printer.fields.key
                && printer.fields.offset
                && printer.fields.timestamp
                && printer.fields.headers
        );
    }

    #[test]
    fn output_json_is_the_default_format() {
        let args = parse(&["tail", "t"]);
        assert_eq!(args.printer(OutputFormat::Json).format, RecordFormat::Json);
        assert_eq!(args.printer(OutputFormat::Text).format, RecordFormat::Text);
        let args = parse(&["tail", "t", "--format", "hex"]);
        assert_eq!(args.printer(OutputFormat::Json).format, RecordFormat::Hex);
    }
}
