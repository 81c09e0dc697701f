//! `rill bench` options: what every mode shares, and the load shape of a run.
//!
//! Parsing is clap's; [`LoadArgs::validate`] checks the combinations clap cannot
//! express (a batch of at least one record, a message big enough for a timestamp in e2e).

use std::time::Duration;

use clap::Args;
use rill_client::{Acks, Compression};
use serde::Serialize;

use crate::args::{parse_acks, parse_compression, parse_duration};

/// Message size when `--message-size` is not given.
pub const MESSAGE_SIZE_BYTES_DEFAULT: usize = 1024;
/// Records per bench-built batch (`--raw`) when neither `--batch-size` nor
/// `--batch-bytes` is given.
pub const BATCH_SIZE_DEFAULT: usize = 1000;
/// Requests in flight per raw connection (`--raw`) when `--max-in-flight` is not given.
pub const RAW_MAX_IN_FLIGHT_DEFAULT: usize = 5;
/// Messages per client when neither `--count` nor `--duration` is given.
pub const COUNT_DEFAULT: u64 = 100_000;
/// Replicas per partition of a topic the bench creates, when not given.
pub const REPLICATION_FACTOR_DEFAULT: u16 = 1;
/// Bytes e2e writes at the start of each value (the send time in nanoseconds).
pub const E2E_STAMP_BYTES: usize = 8;

/// Options shared by `produce`, `consume` and `e2e`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct LoadArgs {
    /// Topic to use; created if missing (with --partitions).
    #[arg(long, default_value = "rill-bench")]
    pub topic: String,
    /// Partitions of the topic when it is created.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..))]
    pub partitions: i32,
    /// Replicas per partition of the topic when it is created (on a cluster: 3 puts
    /// each partition on three brokers, and acks=all waits for a majority of them). An
    /// existing topic with another replication factor is refused when this is given
    /// [default: 1].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=32767))]
    pub replication_factor: Option<u16>,
    /// Producer clients, each with its own connection.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub producers: u32,
    /// Consumer clients, each with its own connection.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub consumers: u32,
    /// Bytes of each message value.
    #[arg(long, value_name = "BYTES", default_value_t = MESSAGE_SIZE_BYTES_DEFAULT)]
    pub message_size: usize,
    /// With `produce --raw`: records per bench-built batch (exactly this many).
    #[arg(long, value_name = "N", conflicts_with = "linger")]
    pub batch_size: Option<usize>,
    /// The Producer's linger: send a partition's batch this long after its first record
    /// (e.g. 1ms) [default: the library's].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    #[serde(serialize_with = "serialize_opt_duration_ms")]
    pub linger: Option<Duration>,
    /// Cut a batch at this many bytes: the Producer's batch_bytes [default: the
    /// library's], or with `--raw` as many records as fit.
    #[arg(long, value_name = "BYTES")]
    pub batch_bytes: Option<usize>,
    /// Messages per producer (produce, e2e) or in total (consume).
    #[arg(long, value_name = "N", conflicts_with = "duration")]
    pub count: Option<u64>,
    /// Run for this long instead of a count (e.g. 10s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    #[serde(serialize_with = "serialize_opt_duration_ms")]
    pub duration: Option<Duration>,
    /// Acknowledgement level: 0, 1 or all [default: all, the library's, idempotent].
    #[arg(long, value_name = "0|1|all", value_parser = parse_acks)]
    #[serde(serialize_with = "serialize_opt_debug")]
    pub acks: Option<Acks>,
    /// Batch compression: none, gzip, snappy, lz4, zstd.
    #[arg(long, value_name = "CODEC", default_value = "none", value_parser = parse_compression)]
    #[serde(serialize_with = "serialize_debug")]
    pub compression: Compression,
    /// Total messages per second across producers: a fixed schedule, and latency is
    /// measured from each message's scheduled send time (no coordinated omission).
    #[arg(long, value_name = "MSGS_PER_SEC")]
    pub rate: Option<u64>,
    /// Run this long before measuring (e.g. 2s); not counted.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "0s")]
    #[serde(serialize_with = "serialize_duration_ms")]
    pub warmup: Duration,
    /// Requests in flight per connection [default: the library's; 5 with --raw].
    #[arg(long, value_name = "N")]
    pub max_in_flight: Option<usize>,
    /// Bytes one fetch may return per partition (consume, e2e); the client's default
    /// when not given.
    #[arg(long, value_name = "BYTES")]
    pub partition_max_bytes: Option<usize>,
}

impl LoadArgs {
    /// Checks the option combinations clap cannot.
    pub fn validate(&self, min_message_size: usize) -> Result<(), String> {
        if self.message_size < min_message_size {
            return Err(format!(
                "--message-size must be at least {min_message_size} bytes for this mode"
            ));
        }
        if self.batch_size == Some(0) {
            return Err("--batch-size must be at least 1".to_owned());
        }
        if self.rate == Some(0) {
            return Err("--rate must be at least 1 message per second".to_owned());
        }
        if self.count == Some(0) {
            return Err("--count must be at least 1".to_owned());
        }
        if self.max_in_flight == Some(0) {
            return Err("--max-in-flight must be at least 1".to_owned());
        }
        Ok(())
    }

    /// Records per bench-built batch: `--batch-size`, else as many as fit in
    /// `--batch-bytes`, else [`BATCH_SIZE_DEFAULT`].
    pub fn records_per_batch(&self) -> usize {
        match (self.batch_size, self.batch_bytes) {
            (Some(n), _) => n,
            (None, Some(bytes)) => (bytes / self.message_size.max(1)).max(1),
            (None, None) => BATCH_SIZE_DEFAULT,
        }
    }

    /// When the run stops: a count per client or a deadline.
    pub fn stop(&self) -> Stop {
        match (self.count, self.duration) {
            (_, Some(duration)) => Stop::After(duration),
            (Some(count), None) => Stop::Count(count),
            (None, None) => Stop::Count(COUNT_DEFAULT),
        }
    }
}

/// When a measured run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// After this many messages (per producer; in total for consumers).
    Count(u64),
    /// After this long, measured from the end of the warmup.
    After(Duration),
}

/// Options of `rill bench baseline`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct BaselineArgs {
    /// How long to send.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5s")]
    #[serde(serialize_with = "serialize_duration_ms")]
    pub duration: Duration,
    /// Bytes of each message (sets the frame size with --batch-size).
    #[arg(long, value_name = "BYTES", default_value_t = MESSAGE_SIZE_BYTES_DEFAULT)]
    pub message_size: usize,
    /// Messages per frame.
    #[arg(long, value_name = "N", default_value_t = BATCH_SIZE_DEFAULT)]
    pub batch_size: usize,
    /// Sender connections, each with its own discarding reader.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub producers: u32,
    /// Frames in flight per connection before the sender waits for an answer.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub max_in_flight: usize,
}

fn serialize_duration_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn serialize_opt_duration_ms<S: serde::Serializer>(
    d: &Option<Duration>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => serialize_duration_ms(d, s),
        None => s.serialize_none(),
    }
}

fn serialize_opt_debug<T: std::fmt::Debug, S: serde::Serializer>(
    value: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => serialize_debug(value, s),
        None => s.serialize_none(),
    }
}

fn serialize_debug<T: std::fmt::Debug, S: serde::Serializer>(
    value: &T,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{value:?}").to_ascii_lowercase())
}
