//! Broker counters: plain atomics bumped on the hot path, read by whoever reports them.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of the broker's activity since start.
#[derive(Debug, Default)]
pub struct Metrics {
    connections_accepted: AtomicU64,
    connections_refused: AtomicU64,
    connections_open: AtomicU64,
    frames_rejected: AtomicU64,
    requests: AtomicU64,
    records_in: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    batches_rejected: AtomicU64,
}

/// A point-in-time copy of [`Metrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MetricsSnapshot {
    /// Connections accepted since start.
    pub connections_accepted: u64,
    /// Connections refused because `max_connections` were open.
    pub connections_refused: u64,
    /// Connections open now.
    pub connections_open: u64,
    /// Frames or requests that could not be parsed (each closed its connection).
    pub frames_rejected: u64,
    /// Requests handled.
    pub requests: u64,
    /// Records appended.
    pub records_in: u64,
    /// Record-batch bytes appended.
    pub bytes_in: u64,
    /// Record-batch bytes served by fetches.
    pub bytes_out: u64,
    /// Produced batches rejected (corrupt, too large, ...).
    pub batches_rejected: u64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Metrics {
    /// A connection was accepted.
    pub fn connection_accepted(&self) {
        bump(&self.connections_accepted, 1);
        bump(&self.connections_open, 1);
    }

    /// A connection closed.
    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    /// A connection was refused at the limit.
    pub fn connection_refused(&self) {
        bump(&self.connections_refused, 1);
    }

    /// An unparsable frame or request closed a connection.
    pub fn frame_rejected(&self) {
        bump(&self.frames_rejected, 1);
    }

    /// A request was handled.
    pub fn request(&self) {
        bump(&self.requests, 1);
    }

    /// Records and bytes were appended.
    pub fn produced(&self, records: u64, bytes: u64) {
        bump(&self.records_in, records);
        bump(&self.bytes_in, bytes);
    }

    /// Bytes were served by a fetch.
    pub fn fetched(&self, bytes: u64) {
        bump(&self.bytes_out, bytes);
    }

    /// A produced batch was rejected.
    pub fn batch_rejected(&self) {
        bump(&self.batches_rejected, 1);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            connections_accepted: get(&self.connections_accepted),
            connections_refused: get(&self.connections_refused),
            connections_open: get(&self.connections_open),
            frames_rejected: get(&self.frames_rejected),
            requests: get(&self.requests),
            records_in: get(&self.records_in),
            bytes_in: get(&self.bytes_in),
            bytes_out: get(&self.bytes_out),
            batches_rejected: get(&self.batches_rejected),
        }
    }
}
