//! `rill cluster status`: the cluster as the answering broker knows it (DescribeCluster):
//! its id, the controller, and each broker's id, address, rack, liveness, quorum role
//! and inter-broker address, as a table or one JSON object.
//!
//! The answering broker is marked; when it lost touch with the controller its view may
//! be old, and the command says so (on stderr in text, `metadata_stale` in JSON).

use anyhow::Context as _;
use clap::{Args, Subcommand};
use rill_client::{Admin, ClusterDescription};
use serde::Serialize;

use super::output::{print_json, print_stdout, OutputFormat, Style, Table};
use super::GlobalArgs;

const EXAMPLES: &str = "\
Examples:
  rill cluster status
  rill --broker 127.0.0.1:9421,127.0.0.1:9422 cluster status
  rill cluster status --output json | jq '.brokers[] | select(.alive | not) | .node_id'
  rill cluster rebalance                    # show how replicas would move
  rill cluster rebalance --execute --wait   # move them and follow the moves
  rill cluster drain 3 --execute --wait     # empty broker 3 before removing it";

/// Arguments of `rill cluster`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct ClusterArgs {
    /// The cluster subcommand.
    #[command(subcommand)]
    pub command: ClusterCommand,
}

/// The cluster subcommands.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Show the cluster's id, controller and brokers (alive, voter, addresses).
    #[command(after_help = EXAMPLES)]
    Status,
    /// Spread the replicas of replicated partitions evenly over the live brokers
    /// (after adding one); shows the plan, moves with --execute.
    #[command(after_help = EXAMPLES)]
    Rebalance(MoveArgs),
    /// Move every replica off a broker (before removing it); shows the plan, moves
    /// with --execute.
    #[command(after_help = EXAMPLES)]
    Drain(DrainArgs),
}

/// How a planned move is carried out.
#[derive(Debug, Args)]
pub struct MoveArgs {
    /// Record the moves with the controller (without it, only the plan is shown).
    #[arg(long)]
    pub execute: bool,
    /// With --execute: follow the moves until every partition has its new replicas.
    #[arg(long, requires = "execute")]
    pub wait: bool,
    /// How long --wait waits, e.g. `10m` [default: 5m].
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5m")]
    pub timeout: std::time::Duration,
}

/// `rill cluster drain`.
#[derive(Debug, Args)]
pub struct DrainArgs {
    /// The broker's node id.
    pub node_id: i32,
    #[command(flatten)]
    pub how: MoveArgs,
}

/// `rill cluster status --output json`.
#[derive(Debug, Serialize)]
pub struct ClusterView {
    pub cluster_id: String,
    /// Node id of the active controller; `null` while the quorum has no leader.
    pub controller_id: Option<i32>,
    /// Node id of the broker that answered.
    pub answered_by: i32,
    /// The answering broker lost touch with the controller: its view may be old.
    pub metadata_stale: bool,
    pub brokers: Vec<BrokerView>,
}

/// One broker of [`ClusterView`].
#[derive(Debug, Serialize)]
pub struct BrokerView {
    pub node_id: i32,
    /// `host:port` clients connect to.
    pub address: String,
    pub rack: Option<String>,
    pub alive: bool,
    /// A voting member of the metadata quorum.
    pub voter: bool,
    pub controller: bool,
    /// The inter-broker (`--cluster`) address.
    pub inter_broker: String,
}

impl From<ClusterDescription> for ClusterView {
    fn from(d: ClusterDescription) -> Self {
        let brokers = d
            .brokers
            .into_iter()
            .map(|b| BrokerView {
                controller: d.controller_id == Some(b.node_id),
                address: format_address(&b.host, b.port),
                node_id: b.node_id,
                rack: b.rack,
                alive: b.alive,
                voter: b.voter,
                inter_broker: b.inter_broker,
            })
            .collect();
        Self {
            cluster_id: d.cluster_id,
            controller_id: d.controller_id,
            answered_by: d.node_id,
            metadata_stale: d.metadata_stale,
            brokers,
        }
    }
}

fn format_address(host: &str, port: i32) -> String {
    match host.contains(':') && !host.starts_with('[') {
        true => format!("[{host}]:{port}"),
        false => format!("{host}:{port}"),
    }
}

/// Runs `rill cluster ...`.
pub async fn run(global: &GlobalArgs, args: ClusterArgs) -> anyhow::Result<()> {
    match args.command {
        ClusterCommand::Status => run_status(global).await,
        ClusterCommand::Rebalance(how) => run_rebalance(global, how).await,
        ClusterCommand::Drain(drain) => run_drain(global, drain).await,
    }
}

async fn run_rebalance(global: &GlobalArgs, how: MoveArgs) -> anyhow::Result<()> {
    let admin = Admin::connect(global.connection_config())
        .await
        .context("cannot reach the broker")?;
    let result = async {
        let (placements, live) = crate::reassign::placements(&admin).await?;
        let moves = crate::reassign::plan_rebalance(&placements, &live);
        let wait = how.wait.then_some(how.timeout);
        crate::reassign::carry_out(&admin, &moves, how.execute, wait, global.output).await
    }
    .await;
    let _ = admin.close().await;
    result
}

async fn run_drain(global: &GlobalArgs, drain: DrainArgs) -> anyhow::Result<()> {
    let admin = Admin::connect(global.connection_config())
        .await
        .context("cannot reach the broker")?;
    let result = async {
        let (placements, live) = crate::reassign::placements(&admin).await?;
        let (moves, stuck) = crate::reassign::plan_drain(&placements, &live, drain.node_id);
        for p in &stuck {
            eprintln!(
                "warning: partition {} of `{}` (replicas {:?}) cannot leave broker {}: {}",
                p.partition,
                p.topic,
                p.replicas,
                drain.node_id,
                if p.replicas.len() < 2 {
                    "it has one replica, so no Raft group to carry its data (re-create the topic with --replication-factor 2 or more)"
                } else {
                    "no other live broker is free to take it"
                }
            );
        }
        let wait = drain.how.wait.then_some(drain.how.timeout);
        crate::reassign::carry_out(&admin, &moves, drain.how.execute, wait, global.output)
            .await?;
        if !stuck.is_empty() {
            anyhow::bail!(
                "{} partition(s) stay on broker {}",
                stuck.len(),
                drain.node_id
            );
        }
        Ok(())
    }
    .await;
    let _ = admin.close().await;
    result
}

async fn run_status(global: &GlobalArgs) -> anyhow::Result<()> {
    let admin = Admin::connect(global.connection_config())
        .await
        .context("cannot reach the broker")?;
    let described = admin.describe_cluster().await;
    // A close that fails after the answer arrived changes nothing here.
    let _ = admin.close().await;
    let view = ClusterView::from(described.context("cannot describe the cluster")?);
    match global.output {
        OutputFormat::Json => print_json(&view)?,
        OutputFormat::Text => {
            if let Some(warning) = stale_warning(&view) {
                eprintln!("{}", Style::stderr().bold(&warning));
            }
            print_stdout(&render(&view, Style::stdout()))?;
        }
    }
    Ok(())
}

/// The warning printed when the answering broker's view may be old.
pub fn stale_warning(view: &ClusterView) -> Option<String> {
    view.metadata_stale.then(|| {
        format!(
            "warning: broker {} has lost touch with the controller; this view may be out of \
             date (ask another broker with --broker)",
            view.answered_by
        )
    })
}

/// The text form: a summary line, then one row per broker.
pub fn render(view: &ClusterView, style: Style) -> String {
    let controller = view.controller_id.map_or_else(
        || "none (no quorum leader now)".to_owned(),
        |id| id.to_string(),
    );
    let alive = view.brokers.iter().filter(|b| b.alive).count();
    let mut out = format!(
        "{} {}  {} {}  {} {alive}/{} alive\n\n",
        style.bold("cluster:"),
        view.cluster_id,
        style.bold("controller:"),
        controller,
        style.bold("brokers:"),
        view.brokers.len(),
    );
    let mut table = Table::new(["ID", "ADDRESS", "RACK", "ALIVE", "ROLE", "INTER-BROKER", ""]);
    for b in &view.brokers {
        let role = match (b.controller, b.voter) {
            (true, _) => "controller",
            (false, true) => "voter",
            (false, false) => "broker",
        };
        let answered = match b.node_id == view.answered_by {
            true => "(answered)",
            false => "",
        };
        table.row([
            b.node_id.to_string(),
            b.address.clone(),
            b.rack.clone().unwrap_or_else(|| "-".to_owned()),
            if b.alive { "yes" } else { "NO" }.to_owned(),
            role.to_owned(),
            if b.inter_broker.is_empty() {
                "-".to_owned()
            } else {
                b.inter_broker.clone()
            },
            answered.to_owned(),
        ]);
    }
    out.push_str(&table.render(style));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rill_client::ClusterBrokerDescription;

    fn view() -> ClusterView {
        let broker = |node_id, alive, voter| ClusterBrokerDescription {
            node_id,
            host: "127.0.0.1".into(),
            port: 9420 + node_id,
            rack: (node_id == 1).then(|| "a".to_owned()),
            alive,
            voter,
            inter_broker: format!("127.0.0.1:{}", 9430 + node_id),
        };
        ClusterView::from(ClusterDescription {
            cluster_id: "c1".into(),
            controller_id: Some(2),
            node_id: 1,
            metadata_stale: true,
            brokers: vec![
                broker(1, true, true),
                broker(2, true, true),
                broker(3, false, false),
            ],
        })
    }

    #[test]
    fn text_marks_controller_answering_broker_and_dead_brokers() {
        let text = render(&view(), Style::new(false));
        assert!(
            text.starts_with("cluster: c1  controller: 2  brokers: 2/3 alive\n"),
            "{text}"
        );
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip(3)
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            rows,
            [
                vec![
                    "1",
                    "127.0.0.1:9421",
                    "a",
                    "yes",
                    "voter",
                    "127.0.0.1:9431",
                    "(answered)"
                ],
                vec![
                    "2",
                    "127.0.0.1:9422",
                    "-",
                    "yes",
                    "controller",
                    "127.0.0.1:9432"
                ],
                vec!["3", "127.0.0.1:9423", "-", "NO", "broker", "127.0.0.1:9433"],
            ],
            "{text}"
        );
        let warning = stale_warning(&view()).unwrap();
        assert!(warning.contains("broker 1 has lost touch"), "{warning}");
    }

    #[test]
    fn json_names_every_field() {
        let v = serde_json::to_value(view()).unwrap();
        assert_eq!(v["cluster_id"], "c1");
        assert_eq!(v["controller_id"], 2);
        assert_eq!(v["answered_by"], 1);
        assert_eq!(v["metadata_stale"], true);
        let third = &v["brokers"][2];
        assert_eq!(third["address"], "127.0.0.1:9423");
        assert_eq!(third["alive"], false);
        assert_eq!(third["voter"], false);
        assert_eq!(third["controller"], false);
        assert_eq!(third["inter_broker"], "127.0.0.1:9433");
        assert_eq!(v["brokers"][1]["controller"], true);
        assert_eq!(v["brokers"][0]["rack"], "a");
    }
}
