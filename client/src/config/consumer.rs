//! [`ConsumerConfig`] and its builder.

use std::time::Duration;

use super::{connection_setters, ConnectionConfig};
use crate::error::{ClientError, Result};

/// Default cap on one fetch response (Kafka's `fetch.max.bytes`).
pub const FETCH_MAX_BYTES_DEFAULT: usize = 50 * 1024 * 1024;
/// Default cap per partition in one fetch (Kafka's `max.partition.fetch.bytes`).
pub const PARTITION_MAX_BYTES_DEFAULT: usize = 1024 * 1024;
/// Default bytes the broker waits for before answering (Kafka's `fetch.min.bytes`).
pub const FETCH_MIN_BYTES_DEFAULT: usize = 1;
/// Default longest the broker parks a fetch (Kafka's `fetch.max.wait.ms`).
pub const FETCH_MAX_WAIT_DEFAULT: Duration = Duration::from_millis(500);
/// Default time without a heartbeat after which the broker removes a group member
/// (Kafka's `session.timeout.ms` for the KIP-848 protocol).
pub const SESSION_TIMEOUT_DEFAULT: Duration = Duration::from_secs(45);
/// Default time a group member may take to release partitions during a rebalance
/// (Kafka's `max.poll.interval.ms` plays this part): poll at least this often.
pub const REBALANCE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(300);
/// Default interval between automatic commits (Kafka's `auto.commit.interval.ms`).
pub const AUTO_COMMIT_INTERVAL_DEFAULT: Duration = Duration::from_secs(5);

/// Which records a fetch may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationLevel {
    /// Everything up to the high watermark (Kafka's default).
    #[default]
    ReadUncommitted,
    /// Only up to the last stable offset (committed transactions).
    ReadCommitted,
}

impl IsolationLevel {
    /// The wire value.
    pub fn as_i8(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => rill_protocol::api::fetch::READ_UNCOMMITTED,
            IsolationLevel::ReadCommitted => rill_protocol::api::fetch::READ_COMMITTED,
        }
    }
}

/// What to do when the fetch position is outside the partition's log
/// (`OFFSET_OUT_OF_RANGE`), e.g. after retention deleted it.
///
/// A group member also uses it for a partition its group has no committed offset for.
///
/// The default is [`AutoOffsetReset::Latest`], as in Kafka: a new group starts with the
/// records produced from now on. Choose [`AutoOffsetReset::Error`] when the application
/// must decide itself (silently moving a position can hide data loss), or
/// [`AutoOffsetReset::Earliest`] to read a new group's topics from the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutoOffsetReset {
    /// Jump to the log start offset.
    Earliest,
    /// Jump to the high watermark (only new records).
    #[default]
    Latest,
    /// Return [`ClientError::OffsetOutOfRange`] (or [`ClientError::NoPosition`]) from
    /// `poll`.
    Error,
}

/// Everything a [`crate::Consumer`] is configured with. Build with
/// [`ConsumerConfig::builder`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConsumerConfig {
    /// Connection settings (bootstrap address, timeouts).
    pub connection: ConnectionConfig,
    /// Cap on one fetch response's records (at least one batch is always returned).
    pub fetch_max_bytes: usize,
    /// Cap per partition in one fetch.
    pub partition_max_bytes: usize,
    /// Bytes the broker waits for before answering.
    pub fetch_min_bytes: usize,
    /// Longest the broker parks a fetch waiting for `fetch_min_bytes`.
    pub fetch_max_wait: Duration,
    /// Which records a fetch may return.
    pub isolation: IsolationLevel,
    /// What to do when the position is out of range, and where a group member starts
    /// on a partition its group has no committed offset for.
    pub auto_offset_reset: AutoOffsetReset,
    /// Group membership: removed by the broker after this long without a heartbeat.
    pub session_timeout: Duration,
    /// Group membership: longest a revocation may take (poll at least this often).
    pub rebalance_timeout: Duration,
    /// Group membership: commit the consumed positions every `auto_commit_interval`
    /// (from `poll`), when partitions are revoked and on `close`.
    pub enable_auto_commit: bool,
    /// Interval between automatic commits.
    pub auto_commit_interval: Duration,
    /// Group membership: the assignor to ask for (`range`, `round-robin`, `sticky`);
    /// `None` leaves the choice to the broker (sticky).
    pub group_assignor: Option<String>,
}

impl ConsumerConfig {
    /// A builder with Kafka-like defaults for a broker at `bootstrap` (`host:port`, several
    /// comma-separated, or a list; see [`super::BootstrapServers`]).
    pub fn builder(bootstrap: impl Into<super::BootstrapServers>) -> ConsumerConfigBuilder {
        ConsumerConfigBuilder {
            config: ConsumerConfig {
                connection: ConnectionConfig::new(bootstrap),
                fetch_max_bytes: FETCH_MAX_BYTES_DEFAULT,
                partition_max_bytes: PARTITION_MAX_BYTES_DEFAULT,
                fetch_min_bytes: FETCH_MIN_BYTES_DEFAULT,
                fetch_max_wait: FETCH_MAX_WAIT_DEFAULT,
                isolation: IsolationLevel::ReadUncommitted,
                auto_offset_reset: AutoOffsetReset::Latest,
                session_timeout: SESSION_TIMEOUT_DEFAULT,
                rebalance_timeout: REBALANCE_TIMEOUT_DEFAULT,
                enable_auto_commit: true,
                auto_commit_interval: AUTO_COMMIT_INTERVAL_DEFAULT,
                group_assignor: None,
            },
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        self.connection.validate()?;
        let as_i32 = |field: &'static str, v: usize| {
            i32::try_from(v).map_err(|_| ClientError::config(field, "must fit in an i32"))
        };
        as_i32("fetch_max_bytes", self.fetch_max_bytes)?;
        as_i32("partition_max_bytes", self.partition_max_bytes)?;
        as_i32("fetch_min_bytes", self.fetch_min_bytes)?;
        if self.partition_max_bytes == 0 || self.fetch_max_bytes == 0 {
            return Err(ClientError::config("fetch_max_bytes", "must be positive"));
        }
        let as_ms = |field: &'static str, d: Duration| {
            i32::try_from(d.as_millis())
                .ok()
                .filter(|ms| *ms > 0)
                .ok_or_else(|| ClientError::config(field, "must be between 1 ms and i32::MAX ms"))
        };
        as_ms("session_timeout", self.session_timeout)?;
        as_ms("rebalance_timeout", self.rebalance_timeout)?;
        if self.auto_commit_interval.is_zero() {
            return Err(ClientError::config(
                "auto_commit_interval",
                "must be positive",
            ));
        }
        if self.fetch_max_wait >= self.connection.request_timeout {
            return Err(ClientError::config(
                "fetch_max_wait",
                "must be below request_timeout",
            ));
        }
        Ok(())
    }
}

/// Builds a validated [`ConsumerConfig`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ConsumerConfigBuilder {
    config: ConsumerConfig,
}

impl ConsumerConfigBuilder {
    connection_setters!(config.connection);

    /// Sets the cap on one fetch response.
    pub fn fetch_max_bytes(mut self, bytes: usize) -> Self {
        self.config.fetch_max_bytes = bytes;
        self
    }

    /// Sets the cap per partition in one fetch.
    pub fn partition_max_bytes(mut self, bytes: usize) -> Self {
        self.config.partition_max_bytes = bytes;
        self
    }

    /// Sets the bytes the broker waits for.
    pub fn fetch_min_bytes(mut self, bytes: usize) -> Self {
        self.config.fetch_min_bytes = bytes;
        self
    }

    /// Sets the longest the broker parks a fetch.
    pub fn fetch_max_wait(mut self, wait: Duration) -> Self {
        self.config.fetch_max_wait = wait;
        self
    }

    /// Sets the isolation level.
    pub fn isolation(mut self, isolation: IsolationLevel) -> Self {
        self.config.isolation = isolation;
        self
    }

    /// Sets the out-of-range policy.
    pub fn auto_offset_reset(mut self, reset: AutoOffsetReset) -> Self {
        self.config.auto_offset_reset = reset;
        self
    }

    /// Sets the group session timeout (the broker bounds it, 500 ms to 30 min by default).
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.config.session_timeout = timeout;
        self
    }

    /// Sets the time a group member may take to release partitions.
    pub fn rebalance_timeout(mut self, timeout: Duration) -> Self {
        self.config.rebalance_timeout = timeout;
        self
    }

    /// Turns automatic commits on or off (on by default).
    pub fn enable_auto_commit(mut self, enable: bool) -> Self {
        self.config.enable_auto_commit = enable;
        self
    }

    /// Sets the interval between automatic commits.
    pub fn auto_commit_interval(mut self, interval: Duration) -> Self {
        self.config.auto_commit_interval = interval;
        self
    }

    /// Asks the broker for an assignor (`range`, `round-robin`, `sticky`).
    pub fn group_assignor(mut self, assignor: impl Into<String>) -> Self {
        self.config.group_assignor = Some(assignor.into());
        self
    }

    /// Validates and returns the config.
    pub fn build(self) -> Result<ConsumerConfig> {
        self.config.validate()?;
        Ok(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let c = ConsumerConfig::builder("h:1").build().unwrap();
        assert_eq!(c.fetch_max_bytes, 50 << 20);
        assert_eq!(c.partition_max_bytes, 1 << 20);
        assert_eq!(c.fetch_max_wait, Duration::from_millis(500));
        assert_eq!(c.auto_offset_reset, AutoOffsetReset::Latest);
        assert!(c.enable_auto_commit);
        assert_eq!(c.auto_commit_interval, Duration::from_secs(5));
        let err = ConsumerConfig::builder("h:1")
            .session_timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert!(matches!(
            err,
            ClientError::InvalidConfig {
                field: "session_timeout",
                ..
            }
        ));
        let err = ConsumerConfig::builder("h:1")
            .fetch_max_wait(Duration::from_secs(60))
            .build()
            .unwrap_err();
        assert!(matches!(
            err,
            ClientError::InvalidConfig {
                field: "fetch_max_wait",
                ..
            }
        ));
    }
}
