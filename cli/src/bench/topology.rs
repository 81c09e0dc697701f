//! Which brokers and replicas a bench run used: the `--broker` bootstrap list, the
//! topic's replication factor and each partition's leader, as the cluster described
//! the topic when the run started. Printed with the figures (`topology` in the JSON
//! line), so a replicated figure is never read as a single broker's.

use std::collections::BTreeSet;

use anyhow::{bail, Context};
use rill_client::{Admin, ClientError, NewTopic, TopicDescription};
use rill_protocol::error_code::ErrorCode;
use serde::Serialize;

use super::args::{LoadArgs, REPLICATION_FACTOR_DEFAULT};
use crate::GlobalArgs;

/// The brokers and replicas behind a run's topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunTopology {
    /// The bootstrap list the clients were given (`--broker`).
    pub bootstrap: Vec<String>,
    /// Partitions of the topic.
    pub partitions: i32,
    /// Replicas per partition (the largest, should partitions differ).
    pub replication_factor: usize,
    /// Leader of each partition by index (`-1`: none when described).
    pub leaders: Vec<i32>,
    /// Every broker holding a replica of the topic.
    pub replica_brokers: Vec<i32>,
}

impl RunTopology {
    /// The layout of `description`, reached through `bootstrap`.
    pub fn of(bootstrap: &str, description: &TopicDescription) -> anyhow::Result<RunTopology> {
        let mut partitions: Vec<_> = description.partitions.iter().collect();
        partitions.sort_by_key(|p| p.partition);
        let replica_brokers: BTreeSet<i32> = partitions
            .iter()
            .flat_map(|p| p.replicas.iter().copied())
            .collect();
        Ok(RunTopology {
            bootstrap: bootstrap.split(',').map(str::to_owned).collect(),
            partitions: i32::try_from(partitions.len()).context("too many partitions")?,
            replication_factor: partitions
                .iter()
                .map(|p| p.replicas.len())
                .max()
                .unwrap_or(0),
            leaders: partitions.iter().map(|p| p.leader).collect(),
            replica_brokers: replica_brokers.into_iter().collect(),
        })
    }

    /// One line for the table output.
    pub fn describe(&self) -> String {
        format!(
            "brokers: {} (replicas on {:?}); replication factor {}; leader by partition {:?}",
            self.bootstrap.join(","),
            self.replica_brokers,
            self.replication_factor,
            self.leaders
        )
    }
}

/// Creates `args.topic` with `args.partitions` and the replication factor unless it
/// exists, and returns its layout. An existing topic whose replication factor differs
/// from an explicit `--replication-factor` is an error: the figures would be read for
/// a layout the run did not have.
pub async fn ensure_topic(global: &GlobalArgs, args: &LoadArgs) -> anyhow::Result<RunTopology> {
    let admin = Admin::connect(global.connection_config()).await?;
    let replication_factor = args
        .replication_factor
        .unwrap_or(REPLICATION_FACTOR_DEFAULT);
    let topic = NewTopic::new(&args.topic, args.partitions)
        .with_replication_factor(i16::try_from(replication_factor).unwrap_or(i16::MAX));
    match admin.create_topics(vec![topic]).await {
        Ok(()) => {}
        Err(ClientError::Broker {
            code: ErrorCode::TopicAlreadyExists,
            ..
        }) => {}
        Err(error) => {
            return Err(error).with_context(|| {
                format!(
                    "cannot create topic {} with replication factor {replication_factor}",
                    args.topic
                )
            })
        }
    }
    let description = admin.describe_topic(&args.topic).await;
    // A close that fails after the answer arrived changes nothing here.
    let _ = admin.close().await;
    let topology = RunTopology::of(&global.broker, &description?)?;
    if let Some(asked) = args.replication_factor {
        if topology.replication_factor != usize::from(asked) {
            bail!(
                "topic {} exists with replication factor {}, not the {asked} asked for; \
                 give another --topic or delete it first (rill topic delete {})",
                args.topic,
                topology.replication_factor,
                args.topic
            );
        }
    }
    Ok(topology)
}

#[cfg(test)]
mod tests {
    use rill_client::PartitionDescription;

    use super::*;

    fn partition(partition: i32, leader: i32, replicas: &[i32]) -> PartitionDescription {
        PartitionDescription {
            partition,
            leader,
            leader_epoch: 0,
            replicas: replicas.to_vec(),
            isr: replicas.to_vec(),
            earliest_offset: 0,
            latest_offset: 0,
            high_watermark: 0,
            error: None,
        }
    }

    #[test]
    fn the_layout_names_leaders_in_partition_order_and_every_replica_broker() {
        let description = TopicDescription {
            name: "b".into(),
            partitions: vec![
                partition(1, 3, &[3, 1, 2]),
                partition(0, 2, &[2, 3, 1]),
                partition(2, -1, &[1, 2, 3]),
            ],
            is_internal: false,
            configs: Default::default(),
        };
        let t = RunTopology::of("a:1,b:2,c:3", &description).unwrap();
        assert_eq!(t.bootstrap, ["a:1", "b:2", "c:3"]);
        assert_eq!((t.partitions, t.replication_factor), (3, 3));
        assert_eq!(t.leaders, [2, 3, -1]);
        assert_eq!(t.replica_brokers, [1, 2, 3]);
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["replication_factor"], 3);
        assert!(t.describe().contains("replication factor 3"));
    }
}
