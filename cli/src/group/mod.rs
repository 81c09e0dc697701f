//! `rill group`: list, describe, delete consumer groups and reset their offsets through
//! [`Admin`]; and `rill tail --group` ([`tail`]), which consumes as a group member.
//!
//! Every subcommand prints a table or a confirmation in text, or one JSON document with
//! `--output json`. Views (JSON shapes and tables) live in [`view`].

pub mod tail;
pub mod view;

use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use clap::{ArgGroup, Args, Subcommand};
use rill_client::{Admin, OffsetReset};

use super::args::{self, Since};
use super::output::{print_json, print_stdout, OutputFormat, Style};
use super::GlobalArgs;
use view::{DescribedGroup, ListedGroup, ResetRow};

const EXAMPLES: &str = "\
Examples:
  rill group list
  rill group describe billing
  rill group reset-offsets billing --topic orders --to-earliest --dry-run
  rill tail orders --group billing";

/// Arguments of `rill group`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct GroupArgs {
    /// The group subcommand.
    #[command(subcommand)]
    pub command: GroupCommand,
}

/// The group subcommands.
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// List consumer groups with their state.
    #[command(
        after_help = "Examples:\n  rill group list\n  rill group list --output json | jq -r '.[].group'"
    )]
    List,
    /// Show a group's members, assignment, committed offsets and lag.
    #[command(
        after_help = "Examples:\n  rill group describe billing\n  rill group describe billing --output json | jq .total_lag"
    )]
    Describe(IdArgs),
    /// Delete a group without members, with its committed offsets.
    #[command(after_help = "Examples:\n  rill group delete billing")]
    Delete(IdArgs),
    /// Move the committed offsets of a group without active members.
    #[command(after_help = "Examples:
  rill group reset-offsets billing --topic orders --to-earliest
  rill group reset-offsets billing --topic orders --to offset:1000
  rill group reset-offsets billing --topic orders --to timestamp:2026-11-23T10:00:00Z
  rill group reset-offsets billing --topic orders --to-offset 1000 --dry-run
  rill group reset-offsets billing --topic orders --to-datetime 2026-11-23T10:00:00Z
  rill group reset-offsets billing --topic orders --by-duration 1h")]
    ResetOffsets(ResetArgs),
}

/// A subcommand that takes only a group id.
#[derive(Debug, Args)]
pub struct IdArgs {
    /// Group id.
    pub group: String,
}

/// `rill group reset-offsets`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).multiple(false)))]
pub struct ResetArgs {
    /// Group id.
    pub group: String,
    /// Topic whose partitions to reset (repeatable).
    #[arg(long, short = 't', value_name = "TOPIC", required = true)]
    pub topic: Vec<String>,
    /// Where to: `earliest`, `latest`, `offset:N`, or `timestamp:T` (T an RFC 3339 time,
    /// a duration ago such as `30m`, or ms since the epoch).
    #[arg(long, value_name = "SPEC", group = "target", value_parser = parse_to)]
    pub to: Option<ResetTo>,
    /// To the oldest record kept.
    #[arg(long, group = "target")]
    pub to_earliest: bool,
    /// To the end (skip everything produced so far).
    #[arg(long, group = "target")]
    pub to_latest: bool,
    /// To this offset (clamped into each partition's range).
    #[arg(long, value_name = "N", group = "target", value_parser = clap::value_parser!(i64).range(0..))]
    pub to_offset: Option<i64>,
    /// To the first record at or after this time (RFC 3339).
    #[arg(long, value_name = "RFC3339", group = "target", value_parser = parse_datetime)]
    pub to_datetime: Option<Since>,
    /// To the first record at or after this long ago (e.g. 30m, 2h).
    #[arg(long, value_name = "DURATION", group = "target", value_parser = args::parse_duration)]
    pub by_duration: Option<Duration>,
    /// Show the new offsets without committing them.
    #[arg(long)]
    pub dry_run: bool,
}

impl ResetArgs {
    /// The reset target, resolving times against `now`.
    pub fn target(&self, now: SystemTime) -> OffsetReset {
        if let Some(to) = self.to {
            return match to {
                ResetTo::Earliest => OffsetReset::Earliest,
                ResetTo::Latest => OffsetReset::Latest,
                ResetTo::Offset(offset) => OffsetReset::Offset(offset),
                ResetTo::TimestampMs(ms) => OffsetReset::Timestamp(ms),
                ResetTo::Since(since) => OffsetReset::Timestamp(since.to_timestamp_ms(now)),
            };
        }
        if self.to_earliest {
            OffsetReset::Earliest
        } else if self.to_latest {
            OffsetReset::Latest
        } else if let Some(offset) = self.to_offset {
            OffsetReset::Offset(offset)
        } else if let Some(at) = self.to_datetime {
            OffsetReset::Timestamp(at.to_timestamp_ms(now))
        } else {
            let ago = self.by_duration.unwrap_or_default();
            OffsetReset::Timestamp(Since::Ago(ago).to_timestamp_ms(now))
        }
    }
}

/// A `--to` reset target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTo {
    /// `earliest`.
    Earliest,
    /// `latest`.
    Latest,
    /// `offset:N`.
    Offset(i64),
    /// `timestamp:MS` (ms since the epoch).
    TimestampMs(i64),
    /// `timestamp:RFC3339` or `timestamp:DURATION` (that long ago).
    Since(Since),
}

/// Parses `earliest`, `latest`, `offset:N` or `timestamp:T`.
fn parse_to(s: &str) -> Result<ResetTo, String> {
    let bad = || {
        format!("{s:?}: use earliest, latest, offset:N or timestamp:T (RFC 3339, 30m, or epoch ms)")
    };
    match s.split_once(':') {
        None if s == "earliest" => Ok(ResetTo::Earliest),
        None if s == "latest" => Ok(ResetTo::Latest),
        Some(("offset", n)) => n
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(ResetTo::Offset)
            .ok_or_else(bad),
        Some(("timestamp", t)) => match t.parse::<i64>() {
            Ok(ms) if ms >= 0 => Ok(ResetTo::TimestampMs(ms)),
            _ => args::parse_since(t).map(ResetTo::Since).map_err(|_| bad()),
        },
        _ => Err(bad()),
    }
}

/// Parses an RFC 3339 time (not a duration: that is `--by-duration`).
fn parse_datetime(s: &str) -> Result<Since, String> {
    humantime::parse_rfc3339_weak(s)
        .map(Since::At)
        .map_err(|_| format!("{s:?} is not an RFC 3339 time (e.g. 2026-11-23T10:00:00Z)"))
}

/// Runs `rill group ...`.
pub async fn run(global: &GlobalArgs, args: GroupArgs) -> anyhow::Result<()> {
    let admin = Admin::connect(global.connection_config())
        .await
        .context("cannot reach the broker")?;
    let output = global.output;
    let result = match args.command {
        GroupCommand::List => run_list(&admin, output).await,
        GroupCommand::Describe(IdArgs { group }) => run_describe(&admin, &group, output).await,
        GroupCommand::Delete(IdArgs { group }) => run_delete(&admin, &group, output).await,
        GroupCommand::ResetOffsets(reset) => run_reset(&admin, reset, output).await,
    };
    admin.close().await?;
    result
}

async fn run_list(admin: &Admin, output: OutputFormat) -> anyhow::Result<()> {
    let groups: Vec<ListedGroup> = admin
        .list_groups()
        .await
        .context("cannot list groups")?
        .into_iter()
        .map(ListedGroup::from)
        .collect();
    match output {
        OutputFormat::Json => print_json(&groups)?,
        OutputFormat::Text => print_stdout(&view::render_list(&groups, Style::stdout()))?,
    }
    Ok(())
}

async fn run_describe(admin: &Admin, group: &str, output: OutputFormat) -> anyhow::Result<()> {
    let description = admin
        .describe_group(group)
        .await
        .with_context(|| format!("cannot describe group {group}"))?;
    let described = DescribedGroup::from(description);
    match output {
        OutputFormat::Json => print_json(&described)?,
        OutputFormat::Text => print_stdout(&view::render_describe(&described, Style::stdout()))?,
    }
    Ok(())
}

async fn run_delete(admin: &Admin, group: &str, output: OutputFormat) -> anyhow::Result<()> {
    admin
        .delete_group(group)
        .await
        .with_context(|| format!("cannot delete group {group}"))?;
    match output {
        OutputFormat::Json => print_json(&serde_json::json!({ "deleted": group }))?,
        OutputFormat::Text => eprintln!("deleted group {group}"),
    }
    Ok(())
}

async fn run_reset(admin: &Admin, reset: ResetArgs, output: OutputFormat) -> anyhow::Result<()> {
    let target = reset.target(SystemTime::now());
    let topics: Vec<&str> = reset.topic.iter().map(String::as_str).collect();
    let rows: Vec<ResetRow> = admin
        .reset_offsets(&reset.group, &topics, target, reset.dry_run)
        .await
        .with_context(|| format!("cannot reset the offsets of group {}", reset.group))?
        .into_iter()
        .map(ResetRow::from)
        .collect();
    match output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "group": reset.group,
            "dry_run": reset.dry_run,
            "offsets": rows,
        }))?,
        OutputFormat::Text => {
            print_stdout(&view::render_reset(&rows, Style::stdout()))?;
            if reset.dry_run {
                eprintln!("dry run: nothing committed (run again without --dry-run to apply)");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::{Cli, Command};

    fn parse(args: &[&str]) -> Result<GroupArgs, clap::Error> {
        let cli = Cli::try_parse_from(std::iter::once("rill").chain(args.iter().copied()))?;
        match cli.command {
            Command::Group(args) => Ok(args),
            other => panic!("parsed {other:?}"),
        }
    }

    fn reset(args: &[&str]) -> ResetArgs {
        match parse(args).unwrap().command {
            GroupCommand::ResetOffsets(reset) => reset,
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn reset_targets() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let base = ["group", "reset-offsets", "g", "--topic", "t"];
        let with = |extra: &[&str]| reset(&[&base[..], extra].concat()).target(now);
        assert_eq!(with(&["--to-earliest"]), OffsetReset::Earliest);
        assert_eq!(with(&["--to-latest"]), OffsetReset::Latest);
        assert_eq!(with(&["--to-offset", "7"]), OffsetReset::Offset(7));
        assert_eq!(
            with(&["--by-duration", "10s"]),
            OffsetReset::Timestamp(90_000)
        );
        assert_eq!(
            with(&["--to-datetime", "1970-01-01T00:00:05Z"]),
            OffsetReset::Timestamp(5_000)
        );
        assert!(reset(&[&base[..], &["--to-latest", "--dry-run"]].concat()).dry_run);
    }

    #[test]
    fn reset_needs_exactly_one_target_and_a_topic() {
        for bad in [
            &["group", "reset-offsets", "g", "--topic", "t"][..],
            &["group", "reset-offsets", "g", "--to-earliest"],
            &[
                "group",
                "reset-offsets",
                "g",
                "-t",
                "t",
                "--to-earliest",
                "--to-latest",
            ],
            &[
                "group",
                "reset-offsets",
                "g",
                "-t",
                "t",
                "--to-datetime",
                "10m",
            ],
        ] {
            assert_eq!(parse(bad).unwrap_err().exit_code(), 2, "{bad:?}");
        }
    }
}

#[cfg(test)]
mod to_tests {
    use super::*;

    #[test]
    fn to_specs_parse() {
        assert_eq!(parse_to("earliest"), Ok(ResetTo::Earliest));
        assert_eq!(parse_to("latest"), Ok(ResetTo::Latest));
        assert_eq!(parse_to("offset:42"), Ok(ResetTo::Offset(42)));
        assert_eq!(
            parse_to("timestamp:1700000000000"),
            Ok(ResetTo::TimestampMs(1_700_000_000_000))
        );
        assert!(matches!(
            parse_to("timestamp:30m"),
            Ok(ResetTo::Since(Since::Ago(_)))
        ));
        assert!(matches!(
            parse_to("timestamp:2026-11-23T10:00:00Z"),
            Ok(ResetTo::Since(Since::At(_)))
        ));
        for bad in [
            "",
            "offset:-1",
            "offset:x",
            "timestamp:soon",
            "middle",
            "earliest:1",
        ] {
            assert!(parse_to(bad).is_err(), "{bad}");
        }
    }
}
