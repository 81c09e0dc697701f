//! `rill bench produce`: producers send to acknowledgement, each over its own
//! connection.
//!
//! By default each producer is the client library's [`rill_client::Producer`] with the
//! library's defaults (idempotent, `acks=all`, its linger and batch size), one `send`
//! and one delivery future per record ([`super::producer_api`]): what an application
//! gets. `--raw` measures the transport instead: the bench encodes batches of exactly
//! `--batch-size` records itself and writes them over a raw pipelined connection
//! ([`super::raw`]). Either way the report says which (`parameters.path`) and how many
//! partitions received records (`partitions_written`).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use serde::Serialize;

use super::report::{ClientStats, Report};
use super::{check_raw_reaches_leaders, ensure_topic, latest_offsets, producer_api, raw};
use crate::GlobalArgs;

/// Options of `rill bench produce`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct ProduceArgs {
    /// The load.
    #[command(flatten)]
    pub load: super::args::LoadArgs,
    /// Send batches the bench builds itself over a raw connection, instead of the
    /// library's Producer: the transport's ceiling, not what applications get.
    #[arg(long)]
    pub raw: bool,
}

impl ProduceArgs {
    /// `producer` (the library) or `raw`.
    pub fn path(&self) -> &'static str {
        if self.raw {
            "raw"
        } else {
            "producer"
        }
    }
}

/// Runs `rill bench produce`.
pub async fn run(global: &GlobalArgs, args: ProduceArgs) -> anyhow::Result<()> {
    args.load.validate(0).map_err(anyhow::Error::msg)?;
    if !args.raw && args.load.batch_size.is_some() {
        bail!(
            "--batch-size sets the records of a bench-built batch: add --raw, or tune the \
             library's Producer with --batch-bytes and --linger"
        );
    }
    let topology = ensure_topic(global, &args.load).await?;
    let partitions = topology.partitions;
    if args.raw {
        check_raw_reaches_leaders(global, &args.load.topic).await?;
    }
    let before = latest_offsets(global, &args.load.topic).await?;
    let produced = if args.raw {
        raw::run_producers(global, &args.load, partitions).await?
    } else {
        producer_api::run_producers(global, &args.load, partitions, false, None).await?
    };
    let after = latest_offsets(global, &args.load.topic).await?;
    let mut parameters = serde_json::to_value(&args)?;
    parameters["path"] = args.path().into();
    let mut report = Report::new("produce", &produced.clients, produced.wall, parameters)?;
    report.partitions_written = Some(partitions_written(&before, &after));
    report.topology = Some(topology);
    report.print(global.output)
}

/// Partitions whose latest offset moved between `before` and `after`.
fn partitions_written(before: &BTreeMap<i32, i64>, after: &BTreeMap<i32, i64>) -> usize {
    after
        .iter()
        .filter(|(p, end)| before.get(p).is_none_or(|start| *end > start))
        .count()
}

/// What the producers of a run did.
#[derive(Debug)]
pub struct Produced {
    /// One per producer.
    pub clients: Vec<ClientStats>,
    /// From the end of the warmup to the last counted acknowledgement.
    pub wall: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_partitions_are_those_that_grew() {
        let before = BTreeMap::from([(0, 5), (1, 0), (2, 7)]);
        let after = BTreeMap::from([(0, 9), (1, 0), (2, 8), (3, 1)]);
        assert_eq!(partitions_written(&before, &after), 3);
    }
}
