//! `rill group reset-offsets`: plan new committed offsets for a group without active
//! members, and apply them only with `--execute` (Kafka's tool does the same).
//!
//! The plan lists, per partition, the group's current committed offset and the new
//! one. Absolute targets (earliest, latest, an offset, a time) are computed by the
//! broker (a dry-run ResetOffsets request, or the real one with `--execute`).
//! `--shift-by N` moves each partition's committed offset by N, clamped into the log;
//! partitions the group never committed are left out and named. Shifted offsets are
//! applied with one ResetOffsets request per distinct new offset, naming its partitions
//! ([`Admin::reset_partition_offsets`], sent to the group's coordinator); they are not
//! applied atomically.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context as _};
use clap::{ArgGroup, Args};
use rill_client::{Admin, GroupDescription, OffsetReset};
use rill_protocol::error_code::ErrorCode;
use serde::Serialize;

use crate::args::{self, Since};
use crate::output::{print_json, print_stdout, OutputFormat, Style, Table};

/// `--help` examples.
pub const EXAMPLES: &str = "\
Examples:
  rill group reset-offsets billing --topic orders --to-earliest        show the plan
  rill group reset-offsets billing --topic orders --to-earliest --execute
  rill group reset-offsets billing --all-topics --to-latest --execute
  rill group reset-offsets billing --topic orders --shift-by -100 --execute
  rill group reset-offsets billing --topic orders --to offset:1000
  rill group reset-offsets billing --topic orders --to-datetime 2026-11-23T10:00:00Z
  rill group reset-offsets billing --topic orders --by-duration 1h --output json";

/// `rill group reset-offsets`.
#[derive(Debug, Args)]
#[command(
    group(ArgGroup::new("target").required(true).multiple(false)),
    group(ArgGroup::new("scope").required(true).multiple(false))
)]
pub struct ResetArgs {
    /// Group id.
    pub group: String,
    /// Topic whose partitions to reset (repeatable).
    #[arg(long, short = 't', value_name = "TOPIC", group = "scope")]
    pub topic: Vec<String>,
    /// Every topic the group has committed offsets for.
    #[arg(long, group = "scope")]
    pub all_topics: bool,
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
    /// Move each committed offset by N (negative: back), clamped into the log.
    #[arg(long, value_name = "N", group = "target", allow_hyphen_values = true)]
    pub shift_by: Option<i64>,
    /// Commit the new offsets (without it, only the plan is shown).
    #[arg(long, conflicts_with = "dry_run")]
    pub execute: bool,
    /// Only show the plan (the default; kept for scripts that say so).
    #[arg(long)]
    pub dry_run: bool,
}

impl ResetArgs {
    /// The absolute reset target, resolving times against `now`; `None` for `--shift-by`.
    pub fn target(&self, now: SystemTime) -> Option<OffsetReset> {
        if let Some(to) = self.to {
            return Some(match to {
                ResetTo::Earliest => OffsetReset::Earliest,
                ResetTo::Latest => OffsetReset::Latest,
                ResetTo::Offset(offset) => OffsetReset::Offset(offset),
                ResetTo::TimestampMs(ms) => OffsetReset::Timestamp(ms),
                ResetTo::Since(since) => OffsetReset::Timestamp(since.to_timestamp_ms(now)),
            });
        }
        if self.to_earliest {
            Some(OffsetReset::Earliest)
        } else if self.to_latest {
            Some(OffsetReset::Latest)
        } else if let Some(offset) = self.to_offset {
            Some(OffsetReset::Offset(offset))
        } else if let Some(at) = self.to_datetime {
            Some(OffsetReset::Timestamp(at.to_timestamp_ms(now)))
        } else {
            let ago = self.by_duration?;
            Some(OffsetReset::Timestamp(Since::Ago(ago).to_timestamp_ms(now)))
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

/// One partition of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanRow {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The group's committed offset now (`None`: never committed).
    pub current_offset: Option<i64>,
    /// The committed offset after the reset.
    pub new_offset: i64,
}

/// Runs `rill group reset-offsets`.
pub async fn run(admin: &Admin, args: ResetArgs, output: OutputFormat) -> anyhow::Result<()> {
    let group = args.group.clone();
    let description = admin
        .describe_group(&group)
        .await
        .with_context(|| format!("cannot describe group {group}"))?;
    let topics = scope(&args, &description)?;
    let current = committed(&description);
    let (plan, skipped) = match args.shift_by {
        Some(shift) => {
            let (plan, skipped) = shifted_plan(admin, &topics, &current, shift).await?;
            if args.execute {
                apply_shift(admin, &group, &plan).await?;
            }
            (plan, skipped)
        }
        None => {
            let target = args
                .target(SystemTime::now())
                .context("no reset target given")?;
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            let reset = admin
                .reset_offsets(&group, &names, target, !args.execute)
                .await
                .with_context(|| format!("cannot reset the offsets of group {group}"))?;
            let plan = reset
                .into_iter()
                .map(|r| PlanRow {
                    current_offset: current.get(&(r.topic.clone(), r.partition)).copied(),
                    topic: r.topic,
                    partition: r.partition,
                    new_offset: r.offset,
                })
                .collect();
            (plan, Vec::new())
        }
    };
    print_plan(&group, &plan, &skipped, args.execute, output)
}

/// The topics to reset: `--topic`, or with `--all-topics` those the group committed.
fn scope(args: &ResetArgs, description: &GroupDescription) -> anyhow::Result<Vec<String>> {
    if !args.all_topics {
        return Ok(args.topic.clone());
    }
    let topics: BTreeSet<String> = description
        .offsets
        .iter()
        .filter(|o| o.committed_offset.is_some())
        .map(|o| o.topic.clone())
        .collect();
    if topics.is_empty() {
        bail!(
            "group {} has no committed offsets, so --all-topics names no topic; name them with --topic",
            args.group
        );
    }
    Ok(topics.into_iter().collect())
}

/// The group's committed offsets by topic and partition.
fn committed(description: &GroupDescription) -> BTreeMap<(String, i32), i64> {
    description
        .offsets
        .iter()
        .filter_map(|o| Some(((o.topic.clone(), o.partition), o.committed_offset?)))
        .collect()
}

/// Each committed partition of `topics` moved by `shift`, clamped into
/// `earliest..=latest`; partitions without a committed offset are returned apart.
async fn shifted_plan(
    admin: &Admin,
    topics: &[String],
    current: &BTreeMap<(String, i32), i64>,
    shift: i64,
) -> anyhow::Result<(Vec<PlanRow>, Vec<(String, i32)>)> {
    let (mut plan, mut skipped) = (Vec::new(), Vec::new());
    for topic in topics {
        let description = admin
            .describe_topic(topic)
            .await
            .with_context(|| format!("cannot read topic {topic}"))?;
        for p in &description.partitions {
            let key = (topic.clone(), p.partition);
            let Some(&committed) = current.get(&key) else {
                skipped.push(key);
                continue;
            };
            plan.push(PlanRow {
                topic: topic.clone(),
                partition: p.partition,
                current_offset: Some(committed),
                new_offset: shift_offset(committed, shift, p.earliest_offset, p.latest_offset),
            });
        }
    }
    Ok((plan, skipped))
}

/// `committed + shift`, clamped into `earliest..=latest`.
pub fn shift_offset(committed: i64, shift: i64, earliest: i64, latest: i64) -> i64 {
    committed
        .saturating_add(shift)
        .clamp(earliest, latest.max(earliest))
}

/// Commits the shifted plan: one ResetOffsets request per distinct new offset.
async fn apply_shift(admin: &Admin, group: &str, plan: &[PlanRow]) -> anyhow::Result<()> {
    let mut by_offset: BTreeMap<i64, BTreeMap<&str, Vec<i32>>> = BTreeMap::new();
    for row in plan {
        by_offset
            .entry(row.new_offset)
            .or_default()
            .entry(&row.topic)
            .or_default()
            .push(row.partition);
    }
    for (offset, topics) in by_offset {
        let partitions: Vec<(&str, Vec<i32>)> = topics.into_iter().collect();
        if let Err(error) = admin
            .reset_partition_offsets(group, &partitions, offset)
            .await
        {
            let hint = error.error_code().map_or("", hint);
            return Err(error)
                .with_context(|| format!("cannot reset the offsets of group {group}{hint}"));
        }
    }
    Ok(())
}

fn hint(code: ErrorCode) -> &'static str {
    if code == ErrorCode::NonEmptyGroup {
        " (stop the group's consumers first)"
    } else {
        ""
    }
}

fn print_plan(
    group: &str,
    plan: &[PlanRow],
    skipped: &[(String, i32)],
    executed: bool,
    output: OutputFormat,
) -> anyhow::Result<()> {
    let skipped_names: Vec<String> = skipped.iter().map(|(t, p)| format!("{t}-{p}")).collect();
    match output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "group": group,
            "executed": executed,
            "offsets": plan,
            "skipped_uncommitted": skipped_names,
        }))?,
        OutputFormat::Text => {
            print_stdout(&render_plan(plan, Style::stdout()))?;
            if !skipped_names.is_empty() {
                eprintln!(
                    "left alone (never committed, nothing to shift): {}",
                    skipped_names.join(", ")
                );
            }
            if executed {
                eprintln!("committed the new offsets of group {group}");
            } else {
                eprintln!("plan only, nothing changed: add --execute to commit these offsets");
            }
        }
    }
    Ok(())
}

/// The plan as a table: topic, partition, current and new offset.
pub fn render_plan(plan: &[PlanRow], style: Style) -> String {
    let mut table = Table::new(["TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET"]);
    for row in plan {
        table.row([
            row.topic.clone(),
            row.partition.to_string(),
            row.current_offset
                .map_or_else(|| "-".to_owned(), |o| o.to_string()),
            row.new_offset.to_string(),
        ]);
    }
    table.render(style)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::group::GroupCommand;
    use crate::{Cli, Command};

    fn parse(args: &[&str]) -> Result<ResetArgs, clap::Error> {
        let cli = Cli::try_parse_from(std::iter::once("rill").chain(args.iter().copied()))?;
        match cli.command {
            Command::Group(group) => match group.command {
                GroupCommand::ResetOffsets(reset) => Ok(reset),
                other => panic!("parsed {other:?}"),
            },
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn reset_targets() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let base = ["group", "reset-offsets", "g", "--topic", "t"];
        let with = |extra: &[&str]| parse(&[&base[..], extra].concat()).unwrap();
        assert_eq!(
            with(&["--to-earliest"]).target(now),
            Some(OffsetReset::Earliest)
        );
        assert_eq!(
            with(&["--to-latest"]).target(now),
            Some(OffsetReset::Latest)
        );
        assert_eq!(
            with(&["--to-offset", "7"]).target(now),
            Some(OffsetReset::Offset(7))
        );
        assert_eq!(
            with(&["--by-duration", "10s"]).target(now),
            Some(OffsetReset::Timestamp(90_000))
        );
        assert_eq!(
            with(&["--to-datetime", "1970-01-01T00:00:05Z"]).target(now),
            Some(OffsetReset::Timestamp(5_000))
        );
        let shift = with(&["--shift-by", "-3"]);
        assert_eq!(shift.shift_by, Some(-3));
        assert_eq!(shift.target(now), None);
        assert!(!with(&["--to-latest"]).execute);
        assert!(with(&["--to-latest", "--execute"]).execute);
    }

    #[test]
    fn reset_needs_one_target_and_one_scope() {
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
            &[
                "group",
                "reset-offsets",
                "g",
                "-t",
                "t",
                "--all-topics",
                "--to-latest",
            ],
            &[
                "group",
                "reset-offsets",
                "g",
                "-t",
                "t",
                "--to-latest",
                "--execute",
                "--dry-run",
            ],
            &["group", "reset-offsets", "g", "-t", "t", "--shift-by", "x"],
        ] {
            assert_eq!(parse(bad).unwrap_err().exit_code(), 2, "{bad:?}");
        }
        assert!(parse(&["group", "reset-offsets", "g", "--all-topics", "--to-latest"]).is_ok());
    }

    #[test]
    fn shifts_are_clamped_into_the_log() {
        assert_eq!(shift_offset(10, -3, 0, 20), 7);
        assert_eq!(shift_offset(10, -30, 5, 20), 5);
        assert_eq!(shift_offset(10, 30, 0, 20), 20);
        assert_eq!(shift_offset(10, i64::MAX, 0, 20), 20);
        assert_eq!(shift_offset(3, 1, 5, 2), 5);
    }

    #[test]
    fn plan_table_shows_current_and_new() {
        let plan = [
            PlanRow {
                topic: "t".into(),
                partition: 0,
                current_offset: Some(4),
                new_offset: 0,
            },
            PlanRow {
                topic: "t".into(),
                partition: 1,
                current_offset: None,
                new_offset: 2,
            },
        ];
        assert_eq!(
            render_plan(&plan, Style::new(false)),
            "TOPIC  PARTITION  CURRENT-OFFSET  NEW-OFFSET\n\
             t      0          4               0\n\
             t      1          -               2\n"
        );
    }

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
