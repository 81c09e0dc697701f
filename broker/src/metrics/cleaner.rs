//! Log cleaner metrics: process-wide pass counters and, per compacted partition, the dirty
//! ratio of the cleaner's last look.

use std::sync::atomic::Ordering;

use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, NoLabelSet};
use prometheus_client::metrics::MetricType;

use crate::server::BrokerCtx;
use crate::storage::cleaner::stats;

type Enc<'a, 'b> = &'a mut DescriptorEncoder<'b>;

/// Passes, failures, bytes read/written/removed, records removed, seconds spent.
pub fn encode_counters(enc: Enc) -> std::fmt::Result {
    let counters = [
        (
            "rill_cleaner_passes",
            "Log cleaner passes run",
            &stats::PASSES,
        ),
        (
            "rill_cleaner_failures",
            "Log cleaner passes that failed",
            &stats::FAILURES,
        ),
        (
            "rill_cleaner_bytes_read",
            "Bytes the log cleaner read",
            &stats::BYTES_READ,
        ),
        (
            "rill_cleaner_bytes_written",
            "Bytes of cleaned segments written",
            &stats::BYTES_WRITTEN,
        ),
        (
            "rill_cleaner_bytes_removed",
            "Bytes compaction removed from logs",
            &stats::BYTES_REMOVED,
        ),
        (
            "rill_cleaner_records_removed",
            "Records compaction removed",
            &stats::RECORDS_REMOVED,
        ),
    ];
    for (name, help, value) in counters {
        enc.encode_descriptor(name, help, None, MetricType::Counter)?
            .encode_counter::<NoLabelSet, _, u64>(&value.load(Ordering::Relaxed), None)?;
    }
    let seconds = stats::MICROS_SPENT.load(Ordering::Relaxed) as f64 / 1e6;
    enc.encode_descriptor(
        "rill_cleaner_seconds",
        "Wall time the log cleaner spent in passes",
        None,
        MetricType::Counter,
    )?
    .encode_counter::<NoLabelSet, f64, u64>(&seconds, None)
}

/// `rill_partition_dirty_ratio{topic,partition}` for every compacted partition.
pub fn encode_dirty_ratios(enc: Enc, broker: &BrokerCtx) -> std::fmt::Result {
    let mut metric = enc.encode_descriptor(
        "rill_partition_dirty_ratio",
        "Share of a compacted partition's cleanable bytes not yet cleaned (last look)",
        None,
        MetricType::Gauge,
    )?;
    for topic in broker.topics.list() {
        if !topic.log_config.compaction.policy.compacts() {
            continue;
        }
        for p in &topic.partitions {
            let Ok(log) = p.log() else {
                continue;
            };
            let labels = Labels {
                topic: p.topic.to_string(),
                partition: p.index,
            };
            metric
                .encode_family(&labels)?
                .encode_gauge(&log.dirty_ratio())?;
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Labels {
    topic: String,
    partition: u32,
}
