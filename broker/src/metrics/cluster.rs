//! Cluster metrics (clustered brokers only): whether this broker is the controller,
//! brokers alive and fenced, offline and under-replicated partitions (replicas not in
//! the ISR), the last applied metadata index and whether this broker's metadata is
//! stale. Read from the image and the quorum's status at scrape time.

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use crate::cluster::image::MetadataImage;
use crate::cluster::Cluster;
use crate::server::BrokerCtx;

/// The counts one image yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClusterCounts {
    /// Registered brokers not fenced.
    pub brokers_alive: u64,
    /// Registered brokers fenced.
    pub brokers_fenced: u64,
    /// Partitions without a leader.
    pub partitions_offline: u64,
    /// Partitions with fewer in-sync replicas than replicas.
    pub under_replicated: u64,
}

/// Counts brokers and partitions of `image`.
pub fn counts(image: &MetadataImage) -> ClusterCounts {
    let fenced = image.brokers.values().filter(|b| b.fenced).count() as u64;
    let partitions = image.topics.values().flat_map(|t| t.partitions.iter());
    let (mut offline, mut under) = (0, 0);
    for p in partitions {
        offline += u64::from(p.leader.is_none());
        under += u64::from(p.isr.len() < p.replicas.len());
    }
    ClusterCounts {
        brokers_alive: image.brokers.len() as u64 - fenced,
        brokers_fenced: fenced,
        partitions_offline: offline,
        under_replicated: under,
    }
}

/// The cluster gauges, if the broker is clustered.
pub fn encode(enc: &mut DescriptorEncoder, broker: &BrokerCtx) -> std::fmt::Result {
    let Some(cluster) = &broker.cluster else {
        return Ok(());
    };
    for (name, help, value) in gauges(cluster) {
        enc.encode_descriptor(name, help, None, MetricType::Gauge)?
            .encode_gauge(&value)?;
    }
    Ok(())
}

fn gauges(cluster: &Cluster) -> [(&'static str, &'static str, i64); 7] {
    let status = cluster.status();
    let c = counts(&cluster.image());
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    [
        (
            "rill_cluster_controller",
            "1 when this broker is the cluster's controller (the metadata quorum's leader)",
            i64::from(status.controller == Some(cluster.node_id())),
        ),
        (
            "rill_cluster_brokers_alive",
            "Registered brokers heartbeating within their session (not fenced)",
            n(c.brokers_alive),
        ),
        (
            "rill_cluster_brokers_fenced",
            "Registered brokers fenced for missing their session",
            n(c.brokers_fenced),
        ),
        (
            "rill_cluster_partitions_offline",
            "Partitions without a leader (no in-sync replica alive)",
            n(c.partitions_offline),
        ),
        (
            "rill_cluster_under_replicated_partitions",
            "Partitions with replicas outside the in-sync set",
            n(c.under_replicated),
        ),
        (
            "rill_cluster_metadata_applied_index",
            "Index of the last metadata log entry this broker applied (-1 before any)",
            status
                .applied_index
                .map_or(-1, |i| i64::try_from(i).unwrap_or(i64::MAX)),
        ),
        (
            "rill_cluster_metadata_stale",
            "1 while this broker has not heard from a controller lately (its metadata may be old)",
            i64::from(status.stale),
        ),
    ]
}
