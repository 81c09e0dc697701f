//! `rill group`: list, describe, delete consumer groups and reset their offsets through
//! [`Admin`]; and `rill tail --group` ([`tail`]), which consumes as a group member.
//!
//! Every subcommand prints a table or a confirmation in text, or one JSON document with
//! `--output json`. Views (JSON shapes and tables) live in [`view`].

pub mod reset;
pub mod tail;
pub mod view;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use rill_client::Admin;

use super::output::{print_json, print_stdout, OutputFormat, Style};
use super::GlobalArgs;
use reset::ResetArgs;
use view::{DescribedGroup, ListedGroup};

const EXAMPLES: &str = "\
Examples:
  rill group list
  rill group describe billing
  rill group reset-offsets billing --topic orders --to-earliest            shows the plan
  rill group reset-offsets billing --topic orders --to-earliest --execute  applies it
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
    /// Plan (and with --execute, apply) new committed offsets for a group without
    /// active members.
    #[command(after_help = reset::EXAMPLES)]
    ResetOffsets(ResetArgs),
}

/// A subcommand that takes only a group id.
#[derive(Debug, Args)]
pub struct IdArgs {
    /// Group id.
    pub group: String,
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
        GroupCommand::ResetOffsets(args) => reset::run(&admin, args, output).await,
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
