//! `rill status`: the broker's address, version, uptime, topics, partitions and
//! connections, as a short text block or one JSON object.

use anyhow::Context as _;
use clap::Args;
use rill_client::Admin;
use serde::Serialize;

use super::output::{print_json, print_stdout, OutputFormat, Style};
use super::GlobalArgs;

const EXAMPLES: &str = "\
Examples:
  rill status
  rill --broker 10.0.0.5:9420 status --output json";

/// Arguments of `rill status` (none of its own).
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct StatusArgs {}

/// The JSON shape of `rill status --output json`.
#[derive(Debug, Serialize)]
struct StatusView {
    broker: String,
    node_id: i32,
    version: String,
    uptime_seconds: u64,
    topics: i32,
    partitions: i32,
    connections_open: i32,
    data_dir: String,
}

/// Runs `rill status`.
pub async fn run(global: &GlobalArgs, _args: StatusArgs) -> anyhow::Result<()> {
    let admin = Admin::connect(global.connection_config())
        .await
        .context("cannot reach the broker")?;
    let status = admin
        .status()
        .await
        .context("cannot read the broker's status")?;
    admin.close().await?;
    let view = StatusView {
        broker: global.broker.clone(),
        node_id: status.node_id,
        version: status.version,
        uptime_seconds: status.uptime.as_secs(),
        topics: status.topics,
        partitions: status.partitions,
        connections_open: status.connections_open,
        data_dir: status.data_dir,
    };
    match global.output {
        OutputFormat::Json => print_json(&view)?,
        OutputFormat::Text => print_stdout(&render(&view, Style::stdout()))?,
    }
    Ok(())
}

fn render(view: &StatusView, style: Style) -> String {
    let uptime = humantime::format_duration(std::time::Duration::from_secs(view.uptime_seconds));
    let rows = [
        ("broker", view.broker.clone()),
        ("version", view.version.clone()),
        ("uptime", uptime.to_string()),
        ("topics", view.topics.to_string()),
        ("partitions", view.partitions.to_string()),
        ("connections", view.connections_open.to_string()),
        ("data dir", view.data_dir.clone()),
    ];
    let mut out = String::new();
    for (key, value) in rows {
        // Pad before styling so escape codes do not upset the alignment.
        let label = format!("{key:<12}");
        out.push_str(&style.bold(&label));
        out.push_str(&value);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_field() {
        let view = StatusView {
            broker: "127.0.0.1:9420".into(),
            node_id: 0,
            version: "0.1.0".into(),
            uptime_seconds: 3725,
            topics: 2,
            partitions: 7,
            connections_open: 1,
            data_dir: "./rill-data".into(),
        };
        let text = render(&view, Style::new(false));
        assert!(text.contains("broker      127.0.0.1:9420\n"), "{text}");
        assert!(text.contains("uptime      1h 2m 5s\n"), "{text}");
        assert!(text.contains("partitions  7\n"), "{text}");
    }
}
