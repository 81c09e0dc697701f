//! The `rill` command line: argument structure (clap derive), dispatch to one module per
//! subcommand, and the settings every subcommand shares (broker address, timeout).
//!
//! Each subcommand module holds its clap `Args` struct and a `run` function; this module
//! only wires them together. Helpers sit beside them: value parsers in [`args`], stdout,
//! colour and tables in [`output`], record rendering in [`record_format`] and [`format_string`], input lines
//! in [`produce_input`], start/stop positions in [`tail_position`], topic views in
//! [`topic_view`], error reporting and exit codes in [`errors`].

pub mod acl;
pub mod args;
pub mod bench;
pub mod cluster;
pub mod completions;
pub mod errors;
pub mod format_string;
pub mod group;
pub mod output;
pub mod produce;
pub mod produce_input;
pub mod produce_progress;
pub mod raw_connection;
pub mod raw_sasl;
pub mod reassign;
pub mod record_format;
pub mod sasl;
pub mod status;
pub mod tail;
pub mod tail_position;
pub mod tls_args;
pub mod topic;
pub mod topic_view;
pub mod user;

use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rill_client::ConnectionConfig;

use self::output::OutputFormat;

/// Default broker address, as `rilld` listens by default.
pub const BROKER_DEFAULT: &str = "127.0.0.1:9420";

const MAIN_EXAMPLES: &str = "\
Examples:
  rill topic create orders --partitions 3
  printf 'hello\\nworld\\n' | rill produce orders
  rill tail orders --from-beginning --no-follow
  rill --broker 10.0.0.5:9420 topic list --output json
  rill --broker 10.0.0.5:9420,10.0.0.6:9420 cluster status   # any members of a cluster
  rill --broker broker.example.com:9420 --tls-ca ca.pem tail orders   # TLS
  rill --tls-ca ca.pem --tls-cert alice.pem --tls-key alice.key topic list   # mTLS
  RILL_SASL_PASSWORD=... rill --sasl-username alice topic list   # a broker with SASL

Start a broker first: cargo run --release --bin rilld";

/// The Rill command line: manage topics, produce and tail records.
#[derive(Debug, Parser)]
#[command(name = "rill", version, after_help = MAIN_EXAMPLES)]
pub struct Cli {
    /// Options every subcommand accepts.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand accepts.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Broker address (host:port; the port defaults to 9420), or several
    /// comma-separated members of a cluster, tried in order (a:9420,b:9420).
    #[arg(long, global = true, value_name = "ADDR[,ADDR...]", env = "RILL_BROKER", default_value = BROKER_DEFAULT, value_parser = args::parse_brokers)]
    pub broker: String,
    /// Limit on connecting and on each request (e.g. 500ms, 10s, 1m).
    #[arg(long, global = true, value_name = "DURATION", value_parser = args::parse_timeout)]
    pub timeout: Option<Duration>,
    /// How commands that describe things print them: text tables or JSON
    /// (`rill tail` takes it as the default of its --format).
    #[arg(long, global = true, value_enum, default_value_t)]
    pub output: OutputFormat,
    /// TLS to the broker.
    #[command(flatten)]
    pub tls: tls_args::TlsArgs,
    /// SASL authentication (brokers started with --sasl-mechanisms).
    #[command(flatten)]
    pub sasl: sasl::SaslArgs,
}

impl GlobalArgs {
    /// Connection settings for the broker, with `--timeout` and the SASL options
    /// applied ([`run`] has checked the SASL options first, with a clear error).
    pub fn connection_config(&self) -> ConnectionConfig {
        let mut config = ConnectionConfig::new(self.broker.clone());
        config.client_id = "rill-cli".to_owned();
        if let Some(timeout) = self.timeout {
            config.connect_timeout = timeout;
            config.request_timeout = timeout;
        }
        config.tls = self.tls.config();
        config.sasl = self.sasl.config().ok().flatten();
        config
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, list, describe, alter and delete topics.
    Topic(topic::TopicArgs),
    /// Append records read from stdin or a file, one per line.
    Produce(produce::ProduceArgs),
    /// Print a topic's records, then follow new ones (like tail -f).
    Tail(tail::TailArgs),
    /// Measure a broker: produce, consume, end-to-end latency, or the socket baseline.
    Bench(bench::BenchArgs),
    /// List, describe and delete consumer groups; reset their offsets.
    Group(group::GroupArgs),
    /// Show the broker's version, uptime, topics, partitions and connections.
    Status(status::StatusArgs),
    /// Show the cluster: its id, controller and brokers.
    Cluster(cluster::ClusterArgs),
    /// Create, delete and list SASL users.
    User(user::UserArgs),
    /// Add, remove and list ACLs (who may do what, when authorization is on).
    Acl(acl::AclArgs),
    /// Print shell completions (bash, zsh, fish, ...).
    Completions(completions::CompletionsArgs),
}

impl Command {
    /// True for commands that run many connections and want every core (`bench`).
    pub fn wants_all_cores(&self) -> bool {
        matches!(self, Command::Bench(_))
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let Cli {
        mut global,
        command,
    } = cli;
    global.tls.load()?;
    global.sasl.config()?;
    match command {
        Command::Topic(args) => topic::run(&global, args).await,
        Command::Produce(args) => produce::run(&global, args).await,
        Command::Tail(args) => tail::run(&global, args).await,
        Command::Bench(args) => bench::run(&global, args).await,
        Command::Group(args) => group::run(&global, args).await,
        Command::Status(args) => status::run(&global, args).await,
        Command::Cluster(args) => cluster::run(&global, args).await,
        Command::User(args) => user::run(&global, args).await,
        Command::Acl(args) => acl::run(&global, args).await,
        Command::Completions(args) => completions::run(args),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use clap::CommandFactory;

    use super::*;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_subcommand_has_examples_in_its_help() {
        fn check(cmd: &clap::Command, path: &str) {
            let path = format!("{path} {}", cmd.get_name());
            if cmd.get_subcommands().next().is_none() {
                let after = cmd
                    .get_after_help()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                assert!(
                    after.contains("Examples:"),
                    "`{path} --help` has no examples"
                );
            }
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                check(sub, &path);
            }
        }
        check(&Cli::command(), "");
    }

    #[test]
    fn short_flags_mean_the_same_everywhere() {
        fn collect(cmd: &clap::Command, path: &str, seen: &mut BTreeMap<char, (String, String)>) {
            let path = format!("{path} {}", cmd.get_name());
            for arg in cmd.get_arguments() {
                let (Some(short), Some(long)) = (arg.get_short(), arg.get_long()) else {
                    continue;
                };
                let entry = seen
                    .entry(short)
                    .or_insert_with(|| (long.to_owned(), path.clone()));
                assert_eq!(
                    entry.0, long,
                    "-{short} is --{} in `{}` but --{long} in `{path}`",
                    entry.0, entry.1
                );
            }
            for sub in cmd.get_subcommands() {
                collect(sub, &path, seen);
            }
        }
        let mut seen = BTreeMap::new();
        collect(&Cli::command(), "", &mut seen);
        assert_eq!(
            seen.get(&'p').map(|(long, _)| long.as_str()),
            Some("partition")
        );
    }

    #[test]
    fn global_options_parse_anywhere() {
        let cli = Cli::try_parse_from([
            "rill",
            "topic",
            "list",
            "--broker",
            "h:1",
            "--timeout",
            "2s",
        ])
        .unwrap();
        assert_eq!(cli.global.broker, "h:1");
        let config = cli.global.connection_config();
        assert_eq!(config.request_timeout, Duration::from_secs(2));
        assert_eq!(config.connect_timeout, Duration::from_secs(2));
    }

    #[test]
    fn output_is_global() {
        for args in [
            &["rill", "--output", "json", "topic", "list"][..],
            &["rill", "topic", "--output", "json", "list"],
            &["rill", "topic", "list", "--output", "json"],
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            assert_eq!(cli.global.output, OutputFormat::Json, "{args:?}");
        }
    }

    #[test]
    fn usage_errors_exit_with_2() {
        let err = Cli::try_parse_from(["rill", "tail"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let err = Cli::try_parse_from(["rill", "produce", "t", "--acks", "3"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
