//! [`ProducerConfig`] and its builder.

use std::time::Duration;

use rill_protocol::batch::Compression;

use super::{connection_setters, ConnectionConfig};
use crate::error::{ClientError, Result};

/// Default wait for more records before a non-full batch is sent (Kafka's `linger.ms`
/// is 5 ms since 3.x).
pub const LINGER_DEFAULT: Duration = Duration::from_millis(5);
/// Default batch size at which a batch is sent without waiting.
pub const BATCH_BYTES_DEFAULT: usize = 1024 * 1024;
/// Default bound on bytes buffered by the producer (Kafka's `buffer.memory`).
pub const BUFFER_MEMORY_BYTES_DEFAULT: usize = 64 * 1024 * 1024;
/// Default retries of a failed batch; bounded in practice by the delivery timeout.
pub const RETRIES_DEFAULT: u32 = i32::MAX as u32;
/// Default limit from `send` to acknowledgement, retries included.
pub const DELIVERY_TIMEOUT_DEFAULT: Duration = Duration::from_secs(120);
/// Default wait before retrying a failed batch.
pub const RETRY_BACKOFF_DEFAULT: Duration = Duration::from_millis(100);
/// Most requests in flight with idempotence: the broker keeps the last five batches of
/// each producer and partition to recognise a retry (Kafka's limit too).
pub const IDEMPOTENT_MAX_IN_FLIGHT: usize = 5;
/// Default longest wait of one `send` for buffer memory and the topic's metadata:
/// 60 s, Kafka's `max.block.ms`.
pub const MAX_BLOCK_DEFAULT: Duration = Duration::from_secs(60);
/// Default `metadata_max_age`: 5 minutes, Kafka's `metadata.max.age.ms`.
pub const METADATA_MAX_AGE_DEFAULT: Duration = Duration::from_secs(300);

/// How many acknowledgements the broker waits for before answering a produce request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Acks {
    /// The broker sends no response; records are "delivered" once written to the socket
    /// and their offsets are unknown (`-1`). Fastest, can lose data silently.
    None,
    /// The leader appended the batch.
    Leader,
    /// Every in-sync replica has it (on one broker: appended and flushed per the topic's
    /// flush policy). The default, as in Kafka 3.x.
    #[default]
    All,
}

impl Acks {
    /// The wire value: 0, 1 or -1.
    pub fn as_i16(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

/// Everything a [`crate::Producer`] is configured with. Build with
/// [`ProducerConfig::builder`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProducerConfig {
    /// Connection settings (bootstrap address, timeouts, `max_in_flight` default 5).
    pub connection: ConnectionConfig,
    /// Wait for more records before sending a non-full batch.
    pub linger: Duration,
    /// A batch is sent once its records reach this many bytes.
    pub batch_bytes: usize,
    /// Acknowledgements required (default [`Acks::All`]).
    pub acks: Acks,
    /// Batch compression (default none).
    pub compression: Compression,
    /// Retries of a batch that failed with a retriable error.
    pub retries: u32,
    /// Limit from a record's batch creation to its acknowledgement, retries included.
    pub delivery_timeout: Duration,
    /// Wait before retrying a failed batch.
    pub retry_backoff: Duration,
    /// Bound on bytes of records queued or in flight; `send` waits when it is reached.
    pub buffer_memory_bytes: usize,
    /// Longest a `send` waits for buffer memory and the topic's metadata together
    /// before failing with [`ClientError::MaxBlockExceeded`] (Kafka's `max.block.ms`).
    pub max_block: Duration,
    /// Let `send` create missing topics through the Metadata API (broker permitting).
    pub allow_auto_create_topics: bool,
    /// Topic metadata older than this is fetched again (Kafka's `metadata.max.age.ms`),
    /// so that partitions whose storage comes back online get keyless records again.
    pub metadata_max_age: Duration,
    /// Idempotent producing (default on, as in Kafka 3+): the broker numbers this
    /// producer's batches and drops a retried duplicate, so retries never write a record
    /// twice. Needs `acks = all`; with other acks it is off.
    pub enable_idempotence: bool,
}

impl ProducerConfig {
    /// True when batches carry a producer id and sequence numbers.
    pub fn idempotent(&self) -> bool {
        self.enable_idempotence && self.acks == Acks::All
    }

    /// A builder with Kafka-like defaults for a broker at `bootstrap` (`host:port`, several
    /// comma-separated, or a list; see [`super::BootstrapServers`]).
    pub fn builder(bootstrap: impl Into<super::BootstrapServers>) -> ProducerConfigBuilder {
        ProducerConfigBuilder {
            config: ProducerConfig {
                connection: ConnectionConfig::new(bootstrap),
                linger: LINGER_DEFAULT,
                batch_bytes: BATCH_BYTES_DEFAULT,
                acks: Acks::All,
                compression: Compression::None,
                retries: RETRIES_DEFAULT,
                delivery_timeout: DELIVERY_TIMEOUT_DEFAULT,
                retry_backoff: RETRY_BACKOFF_DEFAULT,
                buffer_memory_bytes: BUFFER_MEMORY_BYTES_DEFAULT,
                max_block: MAX_BLOCK_DEFAULT,
                allow_auto_create_topics: true,
                metadata_max_age: METADATA_MAX_AGE_DEFAULT,
                enable_idempotence: true,
            },
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        self.connection.validate()?;
        if self.batch_bytes == 0 {
            return Err(ClientError::config("batch_bytes", "must be positive"));
        }
        if self.buffer_memory_bytes < self.batch_bytes {
            return Err(ClientError::config(
                "buffer_memory_bytes",
                "must be at least batch_bytes",
            ));
        }
        if u32::try_from(self.buffer_memory_bytes).is_err() {
            return Err(ClientError::config(
                "buffer_memory_bytes",
                "must be below 4 GiB",
            ));
        }
        if self.batch_bytes > self.connection.max_frame_bytes {
            return Err(ClientError::config(
                "batch_bytes",
                "must not exceed max_frame_bytes",
            ));
        }
        if self.idempotent() && self.connection.max_in_flight > IDEMPOTENT_MAX_IN_FLIGHT {
            return Err(ClientError::config(
                "max_in_flight",
                "must be at most 5 with idempotence: the broker remembers a producer's last 5 \
                 batches per partition to recognise retries (as in Kafka)",
            ));
        }
        if self.delivery_timeout < self.linger + self.connection.request_timeout {
            return Err(ClientError::config(
                "delivery_timeout",
                "must be at least linger + request_timeout (as in Kafka)",
            ));
        }
        Ok(())
    }
}

/// Builds a validated [`ProducerConfig`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ProducerConfigBuilder {
    config: ProducerConfig,
}

impl ProducerConfigBuilder {
    connection_setters!(config.connection);

    /// Sets how long a non-full batch waits for more records (0 = send at once).
    pub fn linger(mut self, linger: Duration) -> Self {
        self.config.linger = linger;
        self
    }

    /// Sets the batch size that triggers a send.
    pub fn batch_bytes(mut self, bytes: usize) -> Self {
        self.config.batch_bytes = bytes;
        self
    }

    /// Sets the acknowledgements required.
    pub fn acks(mut self, acks: Acks) -> Self {
        self.config.acks = acks;
        self
    }

    /// Sets the batch compression codec.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.config.compression = compression;
        self
    }

    /// Sets the retries of a failed batch.
    pub fn retries(mut self, retries: u32) -> Self {
        self.config.retries = retries;
        self
    }

    /// Sets the limit from batch creation to acknowledgement.
    pub fn delivery_timeout(mut self, timeout: Duration) -> Self {
        self.config.delivery_timeout = timeout;
        self
    }

    /// Sets how old topic metadata may get before it is fetched again.
    pub fn metadata_max_age(mut self, age: Duration) -> Self {
        self.config.metadata_max_age = age;
        self
    }

    /// Sets the wait before a retry.
    pub fn retry_backoff(mut self, backoff: Duration) -> Self {
        self.config.retry_backoff = backoff;
        self
    }

    /// Sets the bound on buffered bytes.
    pub fn buffer_memory_bytes(mut self, bytes: usize) -> Self {
        self.config.buffer_memory_bytes = bytes;
        self
    }

    /// Sets the longest a `send` waits for buffer memory and metadata (Kafka's
    /// `max.block.ms`; default 60 s).
    pub fn max_block(mut self, max_block: Duration) -> Self {
        self.config.max_block = max_block;
        self
    }

    /// Sets whether `send` may auto-create missing topics.
    pub fn allow_auto_create_topics(mut self, allow: bool) -> Self {
        self.config.allow_auto_create_topics = allow;
        self
    }

    /// Turns idempotent producing on or off (on by default; needs `acks = all`).
    pub fn enable_idempotence(mut self, enable: bool) -> Self {
        self.config.enable_idempotence = enable;
        self
    }

    /// Validates and returns the config.
    pub fn build(self) -> Result<ProducerConfig> {
        self.config.validate()?;
        Ok(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafka_like() {
        let c = ProducerConfig::builder("localhost:9420").build().unwrap();
        assert_eq!(c.linger, Duration::from_millis(5));
        assert_eq!(c.batch_bytes, 1 << 20);
        assert_eq!(c.acks, Acks::All);
        assert_eq!(c.connection.max_in_flight, 5);
        assert_eq!(c.buffer_memory_bytes, 64 << 20);
        assert_eq!(c.delivery_timeout, Duration::from_secs(120));
        assert_eq!(Acks::All.as_i16(), -1);
    }

    #[test]
    fn idempotence_allows_at_most_five_in_flight() {
        let err = ProducerConfig::builder("h:1")
            .max_in_flight(6)
            .build()
            .unwrap_err();
        assert!(matches!(
            err,
            ClientError::InvalidConfig {
                field: "max_in_flight",
                ..
            }
        ));
        let without = ProducerConfig::builder("h:1")
            .max_in_flight(6)
            .enable_idempotence(false)
            .build();
        assert!(without.is_ok());
    }

    #[test]
    fn invalid_values_name_the_field() {
        let err = ProducerConfig::builder("h:1")
            .batch_bytes(10)
            .buffer_memory_bytes(5)
            .build()
            .unwrap_err();
        assert!(matches!(
            err,
            ClientError::InvalidConfig {
                field: "buffer_memory_bytes",
                ..
            }
        ));
        let err = ProducerConfig::builder("h:1")
            .delivery_timeout(Duration::from_secs(1))
            .build()
            .unwrap_err();
        assert!(matches!(
            err,
            ClientError::InvalidConfig {
                field: "delivery_timeout",
                ..
            }
        ));
    }
}
