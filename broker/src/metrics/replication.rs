//! Replication metrics (brokers running partition groups): groups running here, leader
//! elections their copies have seen, and, for each partition this broker leads, each
//! follower's lag in Raft log entries (so the label count is bounded by the partitions
//! led here times their replicas). Read from the replica manager at scrape time.

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use super::collector::family;
use crate::server::BrokerCtx;

/// The replication series, if the broker runs a replica manager.
pub fn encode(enc: &mut DescriptorEncoder, broker: &BrokerCtx) -> std::fmt::Result {
    let Some(manager) = &broker.replication else {
        return Ok(());
    };
    let m = manager.metrics();
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    enc.encode_descriptor(
        "rill_replication_groups",
        "Partition Raft groups running on this broker",
        None,
        MetricType::Gauge,
    )?
    .encode_gauge(&n(m.groups))?;
    enc.encode_descriptor(
        "rill_replication_leader_elections",
        "Leader elections (new Raft terms) the partition groups on this broker have seen",
        None,
        MetricType::Counter,
    )?
    .encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(
        &m.leader_elections_total,
        None,
    )?;
    family(
        enc,
        MetricType::Gauge,
        (
            "rill_replication_replica_lag",
            "Raft log entries a follower lacks behind the leader, for partitions this broker leads",
        ),
        &m.replica_lag,
        |(topic, partition, replica, _)| {
            [
                ("topic", topic.clone()),
                ("partition", partition.to_string()),
                ("replica", replica.to_string()),
            ]
        },
        |(_, _, _, lag)| n(*lag),
    )
}
