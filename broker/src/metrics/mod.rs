//! Broker metrics: cheap atomics bumped on the hot path, exposed in the Prometheus /
//! OpenMetrics text format by [`collector`] at scrape time.
//!
//! - [`Metrics`] (one per broker, in `BrokerCtx`): connections, rejected frames and
//!   batches, per-API requests, errors and latency ([`api`]), config reloads, and the hook
//!   through which committed group offsets reach the lag metrics ([`groups`]).
//! - [`partition::PartitionStats`] (one per partition): messages and bytes in and out,
//!   retention deletions.
//! - Gauges (high watermark, log size, segments, process memory and files) are read from
//!   their owners when scraped, never stored twice.
//! - Storage fsync histograms are process-wide statics in [`crate::storage::stats`];
//!   the log cleaner's counters likewise, in [`crate::storage::cleaner::stats`] ([`cleaner`]).

pub mod api;
pub mod authorization;
pub mod cleaner;
pub mod cluster;
pub mod collector;
pub mod groups;
pub mod histogram;
pub mod partition;
pub mod process;
pub mod replication;
pub mod tls;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use api::ApiMetrics;
pub use groups::{GroupOffset, GroupOffsetsSource};

/// Broker-wide counters since start.
pub struct Metrics {
    connections_accepted: AtomicU64,
    connections_refused: AtomicU64,
    connections_refused_per_ip: AtomicU64,
    connections_open: AtomicU64,
    frames_rejected: AtomicU64,
    batches_rejected: AtomicU64,
    config_reloads: AtomicU64,
    config_reload_failures: AtomicU64,
    /// Per-API requests, errors and latency.
    pub api: ApiMetrics,
    /// SASL logins by mechanism and result.
    pub sasl: crate::security::sasl::metrics::SaslMetrics,
    started: Instant,
    start_time_unix_seconds: f64,
    group_offsets: OnceLock<Arc<dyn GroupOffsetsSource>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("snapshot", &self.snapshot())
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            connections_accepted: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
            connections_refused_per_ip: AtomicU64::new(0),
            connections_open: AtomicU64::new(0),
            frames_rejected: AtomicU64::new(0),
            batches_rejected: AtomicU64::new(0),
            config_reloads: AtomicU64::new(0),
            config_reload_failures: AtomicU64::new(0),
            api: ApiMetrics::default(),
            sasl: Default::default(),
            started: Instant::now(),
            start_time_unix_seconds: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            group_offsets: OnceLock::new(),
        }
    }
}

/// A point-in-time copy of the broker-wide counters of [`Metrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MetricsSnapshot {
    /// Connections accepted since start.
    pub connections_accepted: u64,
    /// Connections refused because `max_connections` were open.
    pub connections_refused: u64,
    /// Connections refused because `max_connections_per_ip` were open from that IP.
    pub connections_refused_per_ip: u64,
    /// Connections open now.
    pub connections_open: u64,
    /// Frames or requests that could not be parsed (each closed its connection).
    pub frames_rejected: u64,
    /// Produced batches rejected (corrupt, too large, ...).
    pub batches_rejected: u64,
    /// Successful config reloads (SIGHUP).
    pub config_reloads: u64,
    /// Config reloads that failed (the running settings were kept).
    pub config_reload_failures: u64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    /// A connection was accepted.
    pub fn connection_accepted(&self) {
        bump(&self.connections_accepted);
        bump(&self.connections_open);
    }

    /// A connection closed.
    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    /// A connection was refused at the limit.
    pub fn connection_refused(&self) {
        bump(&self.connections_refused);
    }

    /// A connection was refused at the per-client-IP limit.
    pub fn connection_refused_per_ip(&self) {
        bump(&self.connections_refused_per_ip);
    }

    /// An unparsable frame or request closed a connection.
    pub fn frame_rejected(&self) {
        bump(&self.frames_rejected);
    }

    /// A produced batch was rejected.
    pub fn batch_rejected(&self) {
        bump(&self.batches_rejected);
    }

    /// A config reload finished, applied (`ok`) or refused.
    pub fn config_reloaded(&self, ok: bool) {
        bump(match ok {
            true => &self.config_reloads,
            false => &self.config_reload_failures,
        });
    }

    /// Seconds since the broker started.
    pub fn uptime_seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// When the broker started, in seconds since the Unix epoch.
    pub fn start_time_unix_seconds(&self) -> f64 {
        self.start_time_unix_seconds
    }

    /// Registers a source of committed group offsets in place of the broker's group
    /// coordinator (tests, embedding). Only the first registration counts; a second one
    /// is handed back.
    pub fn set_group_offsets(
        &self,
        source: Arc<dyn GroupOffsetsSource>,
    ) -> Result<(), Arc<dyn GroupOffsetsSource>> {
        self.group_offsets.set(source)
    }

    /// Committed group offsets from the registered source, else from `default`.
    pub fn group_offsets(&self, default: &dyn GroupOffsetsSource) -> Vec<GroupOffset> {
        match self.group_offsets.get() {
            Some(source) => source.committed_offsets(),
            None => default.committed_offsets(),
        }
    }

    /// Reads the broker-wide counters.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            connections_accepted: get(&self.connections_accepted),
            connections_refused: get(&self.connections_refused),
            connections_refused_per_ip: get(&self.connections_refused_per_ip),
            connections_open: get(&self.connections_open),
            frames_rejected: get(&self.frames_rejected),
            batches_rejected: get(&self.batches_rejected),
            config_reloads: get(&self.config_reloads),
            config_reload_failures: get(&self.config_reload_failures),
        }
    }
}
