//! `rill topic`: create, list, describe, alter and delete topics through [`Admin`].
//!
//! Every subcommand prints a table or a confirmation in text, or one JSON document with
//! `--output json`. `describe` shows per-partition leader, leader epoch, replicas and
//! in-sync replicas, earliest and latest offsets (the broker's API has no size on disk,
//! so none is shown) and the effective settings.

use anyhow::Context as _;
use clap::{ArgGroup, Args, Subcommand};
use rill_client::{Admin, ClientError, NewTopic};
use rill_protocol::api::create_topics::DEFAULT_NUM_PARTITIONS;
use rill_protocol::error_code::ErrorCode;
use serde::Serialize;

use super::args::{self, KeyValue};
use super::output::{print_json, print_stdout, OutputFormat, Style};
use super::topic_view::{render_describe, render_list, DescribedTopic, ListedTopic};
use super::GlobalArgs;

const EXAMPLES: &str = "\
Examples:
  rill topic create orders --partitions 3
  rill topic create orders --partitions 12 --replication-factor 3   # on a cluster
  rill topic list
  rill topic describe orders --output json";

/// Arguments of `rill topic`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct TopicArgs {
    /// The topic subcommand.
    #[command(subcommand)]
    pub command: TopicCommand,
}

/// The topic subcommands.
#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// Create a topic.
    #[command(
        after_help = "Examples:\n  rill topic create orders\n  rill topic create orders --partitions 6 --config retention.ms=86400000 --config flush=always\n  rill --broker a:9420,b:9420 topic create orders --partitions 12 --replication-factor 3"
    )]
    Create(CreateArgs),
    /// List topics with their partition counts.
    #[command(
        after_help = "Examples:\n  rill topic list\n  rill topic list --output json | jq -r '.[].name'"
    )]
    List,
    /// Show a topic's partitions (leader, replicas, in-sync replicas), offsets and
    /// settings.
    #[command(
        after_help = "Examples:\n  rill topic describe orders\n  rill topic describe orders --output json"
    )]
    Describe(NameArgs),
    /// Change a topic's settings.
    #[command(
        after_help = "Examples:\n  rill topic alter orders --config retention.ms=3600000\n  rill topic alter orders --reset retention.ms"
    )]
    Alter(AlterArgs),
    /// Move a replicated partition to other brokers (its data follows through its Raft
    /// group); see also `rill cluster rebalance` and `rill cluster drain`.
    #[command(
        after_help = "Examples:\n  rill topic reassign orders --partition 0 --replicas 2,3,4 --wait\n  rill topic reassign orders --partition 0 --cancel"
    )]
    Reassign(ReassignArgs),
    /// Delete a topic and all its records.
    #[command(
        after_help = "Examples:\n  rill topic delete orders\n  rill topic delete scratch --if-exists"
    )]
    Delete(DeleteArgs),
}

/// `rill topic create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Topic name.
    pub name: String,
    /// Number of partitions (default: the broker's default).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..))]
    pub partitions: Option<i32>,
    /// Copies of each partition, on different brokers of a cluster (default: the
    /// cluster's --default-replication-factor). At most the number of brokers.
    #[arg(long, short = 'r', value_name = "N", value_parser = clap::value_parser!(i16).range(1..))]
    pub replication_factor: Option<i16>,
    /// A setting for this topic, e.g. retention.ms=86400000 (repeatable).
    #[arg(long, short = 'c', value_name = "KEY=VALUE", value_parser = args::parse_key_value)]
    pub config: Vec<KeyValue>,
    /// Succeed without changes if the topic already exists.
    #[arg(long)]
    pub if_not_exists: bool,
}

/// `rill topic reassign`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true)))]
pub struct ReassignArgs {
    /// Topic name.
    pub name: String,
    /// The partition to move.
    #[arg(long, short = 'p', value_name = "N")]
    pub partition: i32,
    /// Its new replicas, preferred leader first, e.g. `2,3,4`.
    #[arg(long, value_name = "IDS", value_delimiter = ',', group = "target")]
    pub replicas: Vec<i32>,
    /// Cancel a move still under way instead.
    #[arg(long, group = "target")]
    pub cancel: bool,
    /// Follow the move until the partition has its new replicas.
    #[arg(long, conflicts_with = "cancel")]
    pub wait: bool,
    /// How long --wait waits, e.g. `10m` [default: 5m].
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5m")]
    pub timeout: std::time::Duration,
}

/// A subcommand that takes only a topic name.
#[derive(Debug, Args)]
pub struct NameArgs {
    /// Topic name.
    pub name: String,
}

/// `rill topic alter`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("change").required(true).multiple(true)))]
pub struct AlterArgs {
    /// Topic name.
    pub name: String,
    /// Set a setting, e.g. retention.ms=3600000 (repeatable).
    #[arg(long, short = 'c', value_name = "KEY=VALUE", value_parser = args::parse_key_value, group = "change")]
    pub config: Vec<KeyValue>,
    /// Reset a setting to the broker's default (repeatable).
    #[arg(long, value_name = "KEY", group = "change")]
    pub reset: Vec<String>,
}

/// `rill topic delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Topic name.
    pub name: String,
    /// Succeed if the topic does not exist.
    #[arg(long)]
    pub if_exists: bool,
}

/// Runs `rill topic ...`.
pub async fn run(global: &GlobalArgs, args: TopicArgs) -> anyhow::Result<()> {
    let admin = Admin::connect(global.connection_config())
        .await
        .context("cannot reach the broker")?;
    let output = global.output;
    let result = match args.command {
        TopicCommand::Create(create) => run_create(&admin, create, output).await,
        TopicCommand::List => run_list(&admin, output).await,
        TopicCommand::Describe(NameArgs { name }) => run_describe(&admin, &name, output).await,
        TopicCommand::Alter(alter) => run_alter(&admin, alter, output).await,
        TopicCommand::Delete(delete) => run_delete(&admin, delete, output).await,
        TopicCommand::Reassign(reassign) => run_reassign(&admin, reassign, output).await,
    };
    admin.close().await?;
    result
}

/// The JSON answer of the commands that change something.
#[derive(Debug, Serialize)]
struct Changed<'a> {
    topic: &'a str,
    action: &'a str,
    changed: bool,
}

fn print_changed(output: OutputFormat, changed: Changed<'_>, text: &str) -> anyhow::Result<()> {
    match output {
        OutputFormat::Json => print_json(&changed)?,
        OutputFormat::Text => print_stdout(&format!("{text}\n"))?,
    }
    Ok(())
}

fn is_code(error: &ClientError, code: ErrorCode) -> bool {
    error.error_code() == Some(code)
}

async fn run_create(admin: &Admin, args: CreateArgs, output: OutputFormat) -> anyhow::Result<()> {
    let mut topic = NewTopic::new(
        &args.name,
        args.partitions.unwrap_or(DEFAULT_NUM_PARTITIONS),
    );
    for kv in args.config {
        topic = topic.with_config(kv.key, kv.value);
    }
    if let Some(replication_factor) = args.replication_factor {
        topic = topic.with_replication_factor(replication_factor);
    }
    let (changed, text) = match admin.create_topics(vec![topic]).await {
        Ok(()) => (true, format!("created topic {}", args.name)),
        Err(e) if args.if_not_exists && is_code(&e, ErrorCode::TopicAlreadyExists) => {
            (false, format!("topic {} already exists", args.name))
        }
        Err(e) => return Err(e).with_context(|| format!("cannot create topic {}", args.name)),
    };
    let answer = Changed {
        topic: &args.name,
        action: "create",
        changed,
    };
    print_changed(output, answer, &text)
}

async fn run_delete(admin: &Admin, args: DeleteArgs, output: OutputFormat) -> anyhow::Result<()> {
    let (changed, text) = match admin.delete_topics(&[args.name.as_str()]).await {
        Ok(()) => (true, format!("deleted topic {}", args.name)),
        Err(e) if args.if_exists && is_code(&e, ErrorCode::UnknownTopicOrPartition) => {
            (false, format!("topic {} does not exist", args.name))
        }
        Err(e) => return Err(e).with_context(|| format!("cannot delete topic {}", args.name)),
    };
    let answer = Changed {
        topic: &args.name,
        action: "delete",
        changed,
    };
    print_changed(output, answer, &text)
}

async fn run_alter(admin: &Admin, args: AlterArgs, output: OutputFormat) -> anyhow::Result<()> {
    let changes: Vec<(String, Option<String>)> = args
        .config
        .into_iter()
        .map(|kv| (kv.key, Some(kv.value)))
        .chain(args.reset.into_iter().map(|key| (key, None)))
        .collect();
    let summary = changes
        .iter()
        .map(|(k, v)| match v {
            Some(v) => format!("{k}={v}"),
            None => format!("{k} reset"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    admin
        .alter_topic_config(&args.name, changes)
        .await
        .with_context(|| format!("cannot change the settings of topic {}", args.name))?;
    let answer = Changed {
        topic: &args.name,
        action: "alter",
        changed: true,
    };
    print_changed(
        output,
        answer,
        &format!("altered topic {}: {summary}", args.name),
    )
}

async fn run_list(admin: &Admin, output: OutputFormat) -> anyhow::Result<()> {
    let topics = admin.list_topics().await.context("cannot list topics")?;
    let listed: Vec<ListedTopic> = topics
        .into_iter()
        .map(|t| ListedTopic {
            name: t.name,
            partitions: t.partitions,
            internal: t.is_internal,
        })
        .collect();
    match output {
        OutputFormat::Json => print_json(&listed)?,
        OutputFormat::Text => print_stdout(&render_list(&listed, Style::stdout()))?,
    }
    Ok(())
}

async fn run_describe(admin: &Admin, name: &str, output: OutputFormat) -> anyhow::Result<()> {
    let description = admin
        .describe_topic(name)
        .await
        .with_context(|| format!("cannot describe topic {name}"))?;
    let described = DescribedTopic::from(description);
    match output {
        OutputFormat::Json => print_json(&described)?,
        OutputFormat::Text => print_stdout(&render_describe(&described, Style::stdout()))?,
    }
    Ok(())
}

async fn run_reassign(
    admin: &Admin,
    args: ReassignArgs,
    output: OutputFormat,
) -> anyhow::Result<()> {
    let described = admin
        .describe_topic(&args.name)
        .await
        .with_context(|| format!("cannot describe topic `{}`", args.name))?;
    let Some(now) = described
        .partitions
        .iter()
        .find(|p| p.partition == args.partition)
    else {
        anyhow::bail!("topic `{}` has no partition {}", args.name, args.partition);
    };
    if args.cancel {
        admin
            .reassign_partitions(&[rill_client::PartitionMove {
                topic: args.name.clone(),
                partition: args.partition,
                replicas: None,
            }])
            .await
            .context("the controller refused to cancel the move")?;
        return print_changed(
            output,
            Changed {
                topic: &args.name,
                action: "reassign-cancel",
                changed: true,
            },
            &format!(
                "cancelled the move of partition {} of `{}`",
                args.partition, args.name
            ),
        );
    }
    let moves = [crate::reassign::Move {
        topic: args.name.clone(),
        partition: args.partition,
        from: now.replicas.clone(),
        to: args.replicas.clone(),
    }];
    let wait = args.wait.then_some(args.timeout);
    crate::reassign::carry_out(admin, &moves, true, wait, output).await
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::{Cli, Command};

    fn parse(args: &[&str]) -> TopicArgs {
        let cli = Cli::try_parse_from(std::iter::once("rill").chain(args.iter().copied())).unwrap();
        match cli.command {
            Command::Topic(args) => args,
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn create_flags() {
        let args = parse(&[
            "topic",
            "create",
            "t",
            "--partitions",
            "3",
            "-c",
            "a=1",
            "--config",
            "b=2",
        ]);
        let TopicCommand::Create(create) = args.command else {
            panic!("not create")
        };
        assert_eq!(create.partitions, Some(3));
        assert_eq!(create.config.len(), 2);
        assert!(!create.if_not_exists);
    }

    #[test]
    fn bad_usage_is_rejected() {
        for bad in [
            &["rill", "topic", "create", "t", "--partitions", "0"][..],
            &["rill", "topic", "alter", "t"],
            &["rill", "topic", "alter", "t", "--config", "novalue"],
            &["rill", "topic", "describe"],
        ] {
            let err = Cli::try_parse_from(bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
    }
}
