//! `rill acl`: add, remove and list ACLs (Kafka's model) through [`Admin`].
//!
//! `add` makes one ACL per operation named; `remove` and `list` take the same flags as
//! filters, where a flag left out matches everything (`remove` needs at least one filter,
//! or `--all`). A resource name without `--prefixed` is a literal name; `list` then also
//! shows prefixed ACLs of exactly that name unless `--literal` is given.

use anyhow::{bail, Context as _};
use clap::{ArgGroup, Args, Subcommand};
use rill_client::{
    AclBinding, AclFilter, AclOperation, AclPermission, Admin, PatternType, ResourceType,
};
use rill_protocol::api::acls::{CLUSTER_RESOURCE_NAME, WILDCARD};
use serde::Serialize;

use super::output::{print_json, print_stdout, OutputFormat, Style, Table};
use super::GlobalArgs;

const EXAMPLES: &str = "\
Examples:
  rill acl add --allow --principal User:alice --topic orders --operation read,describe
  rill acl add --allow --principal User:alice --group billing --operation read
  rill acl add --deny --principal User:bob --topic secret- --prefixed --operation all
  rill acl add --allow --principal User:ops --cluster --operation describe,alter
  rill acl list --principal User:alice
  rill acl remove --principal User:bob --topic secret- --prefixed";

/// Arguments of `rill acl`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct AclArgs {
    /// The acl subcommand.
    #[command(subcommand)]
    pub command: AclCommand,
}

/// The acl subcommands.
#[derive(Debug, Subcommand)]
pub enum AclCommand {
    /// Add ACLs: allow or deny a principal operations on a topic, group or the cluster.
    #[command(
        after_help = "Examples:\n  rill acl add --allow --principal User:alice --topic orders --operation read,write\n  rill acl add --allow --principal 'User:*' --topic public- --prefixed --operation read\n  rill acl add --deny --principal User:bob --host 10.0.0.7 --topic orders --operation write"
    )]
    Add(AddArgs),
    /// Remove every ACL the filters select.
    #[command(
        after_help = "Examples:\n  rill acl remove --principal User:alice --topic orders\n  rill acl remove --deny --principal User:bob\n  rill acl remove --all"
    )]
    Remove(RemoveArgs),
    /// List the ACLs the filters select (all without filters).
    #[command(
        after_help = "Examples:\n  rill acl list\n  rill acl list --topic orders\n  rill acl list --principal User:alice --output json"
    )]
    List(FilterArgs),
}

/// The resource an ACL names.
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("resource").multiple(false)))]
pub struct ResourceArgs {
    /// A topic name (or prefix with --prefixed; `*` for every topic).
    #[arg(long, value_name = "TOPIC", group = "resource")]
    pub topic: Option<String>,
    /// A consumer group id (or prefix with --prefixed; `*` for every group).
    #[arg(long, value_name = "GROUP", group = "resource")]
    pub group: Option<String>,
    /// The cluster itself (managing ACLs, creating topics, broker status).
    #[arg(long, group = "resource")]
    pub cluster: bool,
    /// The name is a prefix: the ACL covers every name that starts with it.
    #[arg(long, conflicts_with = "literal")]
    pub prefixed: bool,
}

/// `rill acl add`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("permission").required(true).multiple(false)))]
#[command(group(ArgGroup::new("target").required(true).multiple(false).args(["topic", "group", "cluster"])))]
pub struct AddArgs {
    /// Allow the operations.
    #[arg(long, group = "permission")]
    pub allow: bool,
    /// Deny the operations (a deny wins over every allow).
    #[arg(long, group = "permission")]
    pub deny: bool,
    /// Who: `User:<name>`, or `User:*` for everyone.
    #[arg(long, value_name = "PRINCIPAL", required = true)]
    pub principal: String,
    /// The client's IP address the ACL applies to [default: * (any)].
    #[arg(long, value_name = "IP", default_value = WILDCARD)]
    pub host: String,
    /// The resource.
    #[command(flatten)]
    pub resource: ResourceArgs,
    /// Never used by add (there for the shared resource flags).
    #[arg(long, hide = true)]
    pub literal: bool,
    /// Operations, comma-separated: all, read, write, create, delete, alter, describe,
    /// describe_configs, alter_configs, idempotent_write, cluster_action.
    #[arg(long, value_name = "OPS", required = true, value_delimiter = ',')]
    pub operation: Vec<AclOperation>,
}

/// The filters of `rill acl list` and `rill acl remove`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("permission").multiple(false)))]
pub struct FilterArgs {
    /// Only ACLs that allow.
    #[arg(long, group = "permission")]
    pub allow: bool,
    /// Only ACLs that deny.
    #[arg(long, group = "permission")]
    pub deny: bool,
    /// Only ACLs of this principal (`User:*` selects the ACLs for everyone).
    #[arg(long, value_name = "PRINCIPAL")]
    pub principal: Option<String>,
    /// Only ACLs for this host.
    #[arg(long, value_name = "IP")]
    pub host: Option<String>,
    /// The resource.
    #[command(flatten)]
    pub resource: ResourceArgs,
    /// With a name: only literal ACLs (not prefixed ones of that same name).
    #[arg(long)]
    pub literal: bool,
    /// Only these operations, comma-separated.
    #[arg(long, value_name = "OPS", value_delimiter = ',')]
    pub operation: Vec<AclOperation>,
}

/// `rill acl remove`.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The filters.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Remove every ACL (needed when no filter is given).
    #[arg(long)]
    pub all: bool,
}

/// Runs `rill acl ...`.
pub async fn run(global: &GlobalArgs, args: AclArgs) -> anyhow::Result<()> {
    let admin = Admin::connect(global.connection_config())
        .await
        .context("cannot reach the broker")?;
    let output = global.output;
    let result = match args.command {
        AclCommand::Add(add) => run_add(&admin, add, output).await,
        AclCommand::Remove(remove) => run_remove(&admin, remove, output).await,
        AclCommand::List(filter) => run_list(&admin, filter, output).await,
    };
    admin.close().await?;
    result
}

/// The resource type and name the flags give, if any.
fn resource(args: &ResourceArgs) -> Option<(ResourceType, String)> {
    if let Some(topic) = &args.topic {
        return Some((ResourceType::Topic, topic.clone()));
    }
    if let Some(group) = &args.group {
        return Some((ResourceType::Group, group.clone()));
    }
    args.cluster
        .then(|| (ResourceType::Cluster, CLUSTER_RESOURCE_NAME.to_owned()))
}

fn bindings(args: &AddArgs) -> anyhow::Result<Vec<AclBinding>> {
    let Some((resource_type, resource_name)) = resource(&args.resource) else {
        bail!("name a resource: --topic, --group or --cluster");
    };
    if args.resource.prefixed && resource_type == ResourceType::Cluster {
        bail!("--prefixed does not apply to --cluster");
    }
    let permission = match args.deny {
        true => AclPermission::Deny,
        false => AclPermission::Allow,
    };
    let pattern_type = match args.resource.prefixed {
        true => PatternType::Prefixed,
        false => PatternType::Literal,
    };
    let mut out = Vec::with_capacity(args.operation.len());
    for &operation in &args.operation {
        let binding = AclBinding {
            resource_type,
            resource_name: resource_name.clone(),
            pattern_type,
            principal: args.principal.clone(),
            host: args.host.clone(),
            operation,
            permission,
        };
        binding.validate()?;
        out.push(binding);
    }
    Ok(out)
}

/// One filter per operation named (one for any operation when none is).
fn filters(args: &FilterArgs, named_pattern: PatternType) -> Vec<AclFilter> {
    let (resource_type, resource_name) = match resource(&args.resource) {
        Some((t, name)) => (t, Some(name)),
        None => (ResourceType::Any, None),
    };
    let pattern_type = if args.resource.prefixed {
        PatternType::Prefixed
    } else if args.literal {
        PatternType::Literal
    } else if resource_name.is_some() {
        named_pattern
    } else {
        PatternType::Any
    };
    let permission = match (args.allow, args.deny) {
        (true, _) => AclPermission::Allow,
        (_, true) => AclPermission::Deny,
        _ => AclPermission::Any,
    };
    let operations = match args.operation.is_empty() {
        true => vec![AclOperation::Any],
        false => args.operation.clone(),
    };
    operations
        .into_iter()
        .map(|operation| AclFilter {
            resource_type,
            resource_name: resource_name.clone(),
            pattern_type,
            principal: args.principal.clone(),
            host: args.host.clone(),
            operation,
            permission,
        })
        .collect()
}

fn is_unfiltered(args: &FilterArgs) -> bool {
    resource(&args.resource).is_none()
        && args.principal.is_none()
        && args.host.is_none()
        && args.operation.is_empty()
        && !args.allow
        && !args.deny
}

async fn run_add(admin: &Admin, args: AddArgs, output: OutputFormat) -> anyhow::Result<()> {
    let acls = bindings(&args)?;
    admin.create_acls(acls.clone()).await?;
    match output {
        OutputFormat::Json => print_json(&acls.iter().map(AclRow::from).collect::<Vec<_>>())?,
        OutputFormat::Text => {
            let lines: Vec<String> = acls.iter().map(|a| format!("added: {a}\n")).collect();
            print_stdout(&lines.concat())?
        }
    }
    Ok(())
}

async fn run_remove(admin: &Admin, args: RemoveArgs, output: OutputFormat) -> anyhow::Result<()> {
    if is_unfiltered(&args.filter) && !args.all {
        bail!("no filter given: name what to remove (--principal, --topic, ...) or pass --all to remove every ACL");
    }
    let removed = admin
        .delete_acls(filters(&args.filter, PatternType::Literal))
        .await?;
    match output {
        OutputFormat::Json => print_json(&removed.iter().map(AclRow::from).collect::<Vec<_>>())?,
        OutputFormat::Text if removed.is_empty() => {
            print_stdout("no ACL matched; nothing removed\n")?
        }
        OutputFormat::Text => {
            let lines: Vec<String> = removed.iter().map(|a| format!("removed: {a}\n")).collect();
            print_stdout(&lines.concat())?
        }
    }
    Ok(())
}

async fn run_list(admin: &Admin, args: FilterArgs, output: OutputFormat) -> anyhow::Result<()> {
    let mut acls = Vec::new();
    for filter in filters(&args, PatternType::Any) {
        acls.extend(admin.describe_acls(filter).await?);
    }
    acls.sort();
    acls.dedup();
    let rows: Vec<AclRow> = acls.iter().map(AclRow::from).collect();
    match output {
        OutputFormat::Json => print_json(&rows)?,
        OutputFormat::Text => print_stdout(&render(&rows, Style::stdout()))?,
    }
    Ok(())
}

/// One ACL as `list` prints it.
#[derive(Debug, Serialize)]
struct AclRow {
    permission: String,
    principal: String,
    operation: String,
    resource_type: String,
    pattern_type: String,
    resource_name: String,
    host: String,
}

impl From<&AclBinding> for AclRow {
    fn from(b: &AclBinding) -> Self {
        AclRow {
            permission: b.permission.to_string(),
            principal: b.principal.clone(),
            operation: b.operation.to_string(),
            resource_type: b.resource_type.to_string(),
            pattern_type: b.pattern_type.to_string(),
            resource_name: b.resource_name.clone(),
            host: b.host.clone(),
        }
    }
}

fn render(rows: &[AclRow], style: Style) -> String {
    if rows.is_empty() {
        return "no ACLs\n".to_owned();
    }
    let mut table = Table::new([
        "PERMISSION",
        "PRINCIPAL",
        "OPERATION",
        "RESOURCE",
        "PATTERN",
        "NAME",
        "HOST",
    ]);
    for r in rows {
        table.row([
            r.permission.as_str(),
            &r.principal,
            &r.operation,
            &r.resource_type,
            &r.pattern_type,
            &r.resource_name,
            &r.host,
        ]);
    }
    table.render(style)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::{Cli, Command};

    fn parse(line: &str) -> AclCommand {
        let cli = Cli::try_parse_from(line.split_whitespace()).expect("parses");
        match cli.command {
            Command::Acl(AclArgs { command }) => command,
            other => panic!("not an acl command: {other:?}"),
        }
    }

    #[test]
    fn add_makes_one_binding_per_operation() {
        let AclCommand::Add(add) = parse(
            "rill acl add --allow --principal User:alice --topic logs- --prefixed --operation read,describe_configs",
        ) else {
            panic!("not add");
        };
        let acls = bindings(&add).unwrap();
        assert_eq!(acls.len(), 2);
        assert_eq!(acls[0].pattern_type, PatternType::Prefixed);
        assert_eq!(acls[1].operation, AclOperation::DescribeConfigs);
        assert_eq!(acls[0].host, "*");
    }

    #[test]
    fn add_needs_a_permission_a_resource_and_valid_values() {
        let needs = |line: &str| Cli::try_parse_from(line.split_whitespace()).is_err();
        assert!(needs(
            "rill acl add --principal User:a --topic t --operation read"
        ));
        assert!(needs(
            "rill acl add --allow --principal User:a --operation read"
        ));
        assert!(needs(
            "rill acl add --allow --principal User:a --topic t --operation reed"
        ));
        assert!(needs(
            "rill acl add --allow --deny --principal User:a --topic t --operation read"
        ));
        let AclCommand::Add(add) =
            parse("rill acl add --allow --principal alice --topic t --operation read")
        else {
            panic!("not add");
        };
        assert!(bindings(&add)
            .unwrap_err()
            .to_string()
            .contains("User:alice"));
    }

    #[test]
    fn filters_follow_the_flags() {
        let AclCommand::List(list) = parse("rill acl list --topic orders") else {
            panic!("not list");
        };
        let f = &filters(&list, PatternType::Any)[0];
        assert_eq!(f.resource_type, ResourceType::Topic);
        assert_eq!(f.pattern_type, PatternType::Any);
        assert_eq!(f.operation, AclOperation::Any);
        let AclCommand::Remove(remove) = parse("rill acl remove --deny --group g") else {
            panic!("not remove");
        };
        let f = &filters(&remove.filter, PatternType::Literal)[0];
        assert_eq!(
            (f.pattern_type, f.permission),
            (PatternType::Literal, AclPermission::Deny)
        );
        let AclCommand::Remove(remove) = parse("rill acl remove") else {
            panic!("not remove");
        };
        assert!(is_unfiltered(&remove.filter));
    }
}
