//! The scrape: a `prometheus-client` [`Collector`] that reads every counter and gauge at
//! encode time and lets the crate write the exposition format.
//!
//! Gauges come from their owners (partition logs, `/proc`), counters from the atomics in
//! [`Metrics`], [`super::partition::PartitionStats`] and [`crate::storage::stats`].
//! Before the topics are open (during recovery) only broker-wide and process metrics are
//! reported.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeGaugeValue, EncodeLabelSet, NoLabelSet,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::partition::PartitionStatsSnapshot;
use super::{process, Metrics};
use crate::server::BrokerCtx;
use crate::storage::stats::{CHECKPOINT_FSYNC, SEGMENT_FSYNC};

/// Everything one scrape reports.
#[derive(Debug)]
pub struct BrokerCollector {
    /// Broker-wide counters.
    pub metrics: Arc<Metrics>,
    /// The open broker; `None` while topics are still being recovered.
    pub broker: Option<Arc<BrokerCtx>>,
    /// Whether the broker reports ready (see `/ready`).
    pub ready: bool,
}

/// Encodes one scrape in the OpenMetrics text format.
pub fn render(collector: BrokerCollector) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(collector));
    let mut out = String::with_capacity(16 * 1024);
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}

/// One partition's numbers, read once per scrape.
struct PartitionRow {
    topic: Arc<str>,
    partition: u32,
    stats: PartitionStatsSnapshot,
    high_watermark: i64,
    log_start_offset: i64,
    size_bytes: u64,
    segments: usize,
    recovery_truncated_bytes: u64,
    offline: bool,
}

impl PartitionRow {
    fn labels(&self) -> impl EncodeLabelSet {
        (
            [("topic", self.topic.to_string())],
            [("partition", self.partition)],
        )
    }
}

/// The encoder every `encode_*` helper writes to.
pub(super) type Enc<'a, 'b> = &'a mut DescriptorEncoder<'b>;

fn counter(enc: Enc, name: &str, help: &str, value: u64) -> std::fmt::Result {
    enc.encode_descriptor(name, help, None, MetricType::Counter)?
        .encode_counter::<NoLabelSet, _, u64>(&value, None)
}

fn gauge(enc: Enc, name: &str, help: &str, value: impl EncodeGaugeValue) -> std::fmt::Result {
    enc.encode_descriptor(name, help, None, MetricType::Gauge)?
        .encode_gauge(&value)
}

/// A labelled family, one sample per row.
pub(super) fn family<T, L: EncodeLabelSet>(
    enc: Enc,
    kind: MetricType,
    (name, help): (&str, &str),
    rows: &[T],
    labels: impl Fn(&T) -> L,
    value: impl Fn(&T) -> i64,
) -> std::fmt::Result {
    let mut metric = enc.encode_descriptor(name, help, None, kind)?;
    for row in rows {
        let labels = labels(row);
        let mut sample = metric.encode_family(&labels)?;
        match kind {
            MetricType::Counter => {
                let v = u64::try_from(value(row)).unwrap_or(0);
                sample.encode_counter::<NoLabelSet, _, u64>(&v, None)?
            }
            _ => sample.encode_gauge(&value(row))?,
        }
    }
    Ok(())
}

fn saturate(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Collector for BrokerCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let enc = &mut enc;
        self.encode_broker(enc)?;
        self.encode_api(enc)?;
        if let Some(broker) = &self.broker {
            let rows = partition_rows(broker);
            encode_partitions(enc, &rows)?;
            super::groups::encode(enc, &self.metrics, broker)?;
            super::cleaner::encode_dirty_ratios(enc, broker)?;
            super::tls::encode(enc, broker)?;
            super::authorization::encode(enc, broker)?;
            super::cluster::encode(enc, broker)?;
            super::replication::encode(enc, broker)?;
        }
        super::cleaner::encode_counters(enc)?;
        encode_storage(enc)?;
        self.encode_process(enc)
    }
}

impl BrokerCollector {
    fn encode_broker(&self, enc: Enc) -> std::fmt::Result {
        let s = self.metrics.snapshot();
        gauge(
            enc,
            "rill_ready",
            "1 once recovery finished and the protocol listener accepts",
            i64::from(self.ready),
        )?;
        gauge(
            enc,
            "rill_connections_open",
            "Client connections open now",
            saturate(s.connections_open),
        )?;
        counter(
            enc,
            "rill_connections_accepted",
            "Client connections accepted",
            s.connections_accepted,
        )?;
        counter(
            enc,
            "rill_connections_refused",
            "Client connections refused at max_connections",
            s.connections_refused,
        )?;
        counter(
            enc,
            "rill_connections_refused_per_ip",
            "Client connections refused at max_connections_per_ip (too many from one client IP)",
            s.connections_refused_per_ip,
        )?;
        if let Some(broker) = &self.broker {
            gauge(
                enc,
                "rill_connection_buffer_bytes",
                "Bytes all connections hold in requests not yet handled and responses not yet written",
                saturate(broker.buffers.used_bytes() as u64),
            )?;
        }
        counter(
            enc,
            "rill_frames_rejected",
            "Unparsable frames or requests (each closed its connection)",
            s.frames_rejected,
        )?;
        counter(
            enc,
            "rill_produce_batches_rejected",
            "Produced batches rejected as corrupt or too large",
            s.batches_rejected,
        )?;
        let reloads = [
            ("ok", s.config_reloads),
            ("error", s.config_reload_failures),
        ];
        family(
            enc,
            MetricType::Counter,
            ("rill_config_reloads", "Config reloads (SIGHUP) by result"),
            &reloads,
            |r| [("result", r.0)],
            |r| saturate(r.1),
        )?;
        family(
            enc,
            MetricType::Counter,
            (
                "rill_sasl_authentications",
                "SASL logins by mechanism and result (success or failure)",
            ),
            &self.metrics.sasl.rows(),
            |r| [("mechanism", r.0), ("result", r.1)],
            |r| saturate(r.2),
        )
    }

    fn encode_api(&self, enc: Enc) -> std::fmt::Result {
        let apis = self.metrics.api.all();
        let names: Vec<String> = apis.iter().map(|a| format!("{:?}", a.api)).collect();
        let rows: Vec<(&str, &super::api::ApiStats)> =
            names.iter().map(String::as_str).zip(apis).collect();
        family(
            enc,
            MetricType::Counter,
            ("rill_api_requests", "Requests handled, by API"),
            &rows,
            |r| [("api", r.0)],
            |r| saturate(r.1.requests()),
        )?;
        let errors: Vec<(&str, &str, u64)> = rows
            .iter()
            .flat_map(|(api, stats)| {
                stats
                    .errors()
                    .into_iter()
                    .map(move |(code, n)| (*api, code, n))
            })
            .collect();
        family(enc, MetricType::Counter, ("rill_api_errors", "Error codes other than NONE returned, by API and code (per topic, partition or group)"), &errors, |r| [("api", r.0), ("code", r.1)], |r| saturate(r.2))?;
        let mut latency = enc.encode_descriptor(
            "rill_api_request_duration_seconds",
            "Time from decoded request to encoded response, by API",
            None,
            MetricType::Histogram,
        )?;
        for (api, stats) in rows.iter().filter(|(_, s)| s.requests() > 0) {
            stats
                .latency()
                .encode_labelled(&mut latency, &[("api", *api)])?;
        }
        Ok(())
    }

    fn encode_process(&self, enc: Enc) -> std::fmt::Result {
        if let Some(bytes) = process::resident_memory_bytes() {
            gauge(
                enc,
                "process_resident_memory_bytes",
                "Resident memory of the broker process",
                saturate(bytes),
            )?;
        }
        if let Some(fds) = process::open_fds() {
            gauge(
                enc,
                "process_open_fds",
                "File descriptors the broker holds open",
                saturate(fds),
            )?;
        }
        if let Some(max) = process::max_fds() {
            gauge(
                enc,
                "process_max_fds",
                "Soft limit on open file descriptors",
                saturate(max),
            )?;
        }
        gauge(
            enc,
            "process_start_time_seconds",
            "Start time of the broker, seconds since the Unix epoch",
            self.metrics.start_time_unix_seconds(),
        )?;
        gauge(
            enc,
            "rill_uptime_seconds",
            "Seconds since the broker started",
            self.metrics.uptime_seconds(),
        )
    }
}

fn partition_rows(broker: &BrokerCtx) -> Vec<PartitionRow> {
    let mut rows = Vec::new();
    for topic in broker.topics.list() {
        for p in &topic.partitions {
            let log = p.log().ok();
            rows.push(PartitionRow {
                topic: p.topic.clone(),
                partition: p.index,
                stats: p.stats.snapshot(),
                high_watermark: log.map_or(0, |l| l.high_watermark()),
                log_start_offset: log.map_or(0, |l| l.log_start_offset()),
                size_bytes: log.map_or(0, |l| l.size_bytes()),
                segments: log.map_or(0, |l| l.segment_count()),
                recovery_truncated_bytes: log.map_or(0, |l| l.recovery_truncated_bytes()),
                offline: log.is_none(),
            });
        }
    }
    rows
}

/// Kind, name, help and value of one per-partition family.
type PartitionFamily = (
    MetricType,
    &'static str,
    &'static str,
    fn(&PartitionRow) -> i64,
);

fn encode_partitions(enc: Enc, rows: &[PartitionRow]) -> std::fmt::Result {
    use MetricType::{Counter, Gauge};
    let families: [PartitionFamily; 13] = [
        (
            Counter,
            "rill_partition_messages_in",
            "Records appended",
            |r| saturate(r.stats.messages_in),
        ),
        (
            Counter,
            "rill_partition_bytes_in",
            "Record-batch bytes appended",
            |r| saturate(r.stats.bytes_in),
        ),
        (
            Counter,
            "rill_partition_messages_out",
            "Records served by fetches (whole batches)",
            |r| saturate(r.stats.messages_out),
        ),
        (
            Counter,
            "rill_partition_bytes_out",
            "Record-batch bytes served by fetches",
            |r| saturate(r.stats.bytes_out),
        ),
        (
            Gauge,
            "rill_partition_high_watermark",
            "Offset after the last readable record",
            |r| r.high_watermark,
        ),
        (
            Gauge,
            "rill_partition_log_start_offset",
            "First offset still in the log",
            |r| r.log_start_offset,
        ),
        (
            Gauge,
            "rill_partition_size_bytes",
            "Bytes of all segments on disk",
            |r| saturate(r.size_bytes),
        ),
        (
            Gauge,
            "rill_partition_segments",
            "Segments, the active one included",
            |r| saturate(r.segments as u64),
        ),
        (
            Counter,
            "rill_partition_retention_deleted_segments",
            "Segments deleted by retention",
            |r| saturate(r.stats.retention_segments_deleted),
        ),
        (
            Counter,
            "rill_partition_retention_deleted_bytes",
            "Bytes deleted by retention",
            |r| saturate(r.stats.retention_bytes_deleted),
        ),
        (
            Counter,
            "rill_partition_recovery_truncated_bytes",
            "Torn or corrupt bytes recovery cut off at start",
            |r| saturate(r.recovery_truncated_bytes),
        ),
        (
            Gauge,
            "rill_partition_offline",
            "1 if the partition's directory could not be opened at startup (no reads or writes)",
            |r| i64::from(r.offline),
        ),
        (
            Gauge,
            "rill_partition_messages_retained",
            "Offsets between log start and high watermark",
            |r| r.high_watermark - r.log_start_offset,
        ),
    ];
    for (kind, name, help, value) in families {
        family(enc, kind, (name, help), rows, PartitionRow::labels, value)?;
    }
    Ok(())
}

fn encode_storage(enc: Enc) -> std::fmt::Result {
    let mut fsync = enc.encode_descriptor(
        "rill_storage_fsync_duration_seconds",
        "fsync latency (its _count is the fsync count), by file kind",
        None,
        MetricType::Histogram,
    )?;
    SEGMENT_FSYNC.encode_labelled(&mut fsync, &[("file", "segment")])?;
    CHECKPOINT_FSYNC.encode_labelled(&mut fsync, &[("file", "checkpoint")])
}
