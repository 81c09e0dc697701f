//! Consumer-group metrics through a seam: each scrape asks a [`GroupOffsetsSource`] (the
//! broker's group coordinator, or one registered with
//! [`super::Metrics::set_group_offsets`]) for committed offsets and computes the lag
//! against the partitions' high watermarks. Nothing is counted on the group request path.

use prometheus_client::metrics::MetricType;

use super::collector::{family, Enc};
use super::Metrics;
use crate::server::BrokerCtx;

/// One consumer group's committed offset of one partition, as the coordinator reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOffset {
    /// The group id.
    pub group: String,
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The next offset the group will consume (Kafka's committed offset).
    pub committed_offset: i64,
}

/// Where the lag metrics get committed offsets from: implemented by the group
/// coordinator. Called on every scrape, off the request path; it should copy what it
/// holds and return quickly.
pub trait GroupOffsetsSource: Send + Sync {
    /// Every committed offset the coordinator knows.
    fn committed_offsets(&self) -> Vec<GroupOffset>;
}

impl<F> GroupOffsetsSource for F
where
    F: Fn() -> Vec<GroupOffset> + Send + Sync,
{
    fn committed_offsets(&self) -> Vec<GroupOffset> {
        self()
    }
}

/// Encodes committed offsets and lag, if a source is registered.
pub(super) fn encode(enc: Enc, metrics: &Metrics, broker: &BrokerCtx) -> std::fmt::Result {
    let offsets = metrics.group_offsets(&broker.groups);
    if offsets.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = offsets
        .iter()
        .map(|o| {
            let hw = broker
                .topics
                .partition(&o.topic, o.partition)
                .ok()
                .and_then(|p| p.log().ok().map(|log| log.high_watermark()));
            (o, hw)
        })
        .collect();
    let labels = |r: &(&GroupOffset, Option<i64>)| {
        let names = [("group", r.0.group.clone()), ("topic", r.0.topic.clone())];
        (names, [("partition", r.0.partition)])
    };
    family(
        enc,
        MetricType::Gauge,
        (
            "rill_group_committed_offset",
            "Committed offset of a consumer group",
        ),
        &rows,
        labels,
        |r| r.0.committed_offset,
    )?;
    let known: Vec<_> = rows.iter().filter(|r| r.1.is_some()).copied().collect();
    family(
        enc,
        MetricType::Gauge,
        (
            "rill_group_lag",
            "High watermark minus committed offset (records the group has not consumed)",
        ),
        &known,
        labels,
        |r| {
            r.1.map_or(0, |hw| (hw - r.0.committed_offset.max(0)).max(0))
        },
    )
}
