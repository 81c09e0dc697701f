//! rill-client: the async Rust client for Rill (tokio).
//!
//! Three entry points, each configured with a builder that starts from Kafka's
//! defaults:
//!
//! - [`Producer`] appends records. `send` picks a partition (explicit, Kafka's murmur2
//!   hash of the key, or a sticky partition for keyless records), batches records per
//!   partition (`linger`, `batch_bytes`, compression), keeps several requests in flight
//!   and retries retriable failures without reordering a partition. Memory is bounded:
//!   `send` waits when `buffer_memory_bytes` are queued, for at most `max_block`; a
//!   record it cannot queue comes back inside the [`SendError`].
//! - [`Consumer`] reads manually assigned partitions from positions you choose
//!   ([`SeekTo`]), or joins a consumer group ([`Consumer::subscribe`]) whose broker
//!   spreads the partitions over its members; the next fetch is always in flight while
//!   you process the last one; use [`Consumer::poll`] or [`Consumer::into_stream`].
//! - [`Admin`] creates, deletes, lists, describes and reconfigures topics, lists,
//!   describes, deletes and resets the offsets of consumer groups, and describes the
//!   cluster ([`Admin::describe_cluster`]).
//!
//! All three bootstrap from the first reachable address (one `host:port`, several
//! comma-separated, or a list: [`BootstrapServers`]) over pipelined connections,
//! re-established with exponential backoff when they break. On a cluster they learn
//! from Metadata which broker leads each partition and keep one connection per broker
//! they need: produce and fetch requests go to each partition's leader, group requests
//! to the group's coordinator (FindCoordinator), and a leader or coordinator that moves
//! (`NOT_LEADER_OR_FOLLOWER`, `NOT_COORDINATOR`, a broken connection) is looked up again
//! and the request retried there; a producer's retried batch keeps its sequence number,
//! so it is not written twice. A single broker needs one connection, as before.
//! Errors are [`ClientError`] values with context; [`ClientError::is_retriable`] says
//! whether trying again may help.
//!
//! `close` behaves alike on the three handles: it finishes what the handle owes
//! (delivers queued records; commits and leaves the group), returns a `Result`, does
//! nothing when called again, and every later call fails with [`ClientError::Closed`].
//!
//! # Producing
//!
//! ```no_run
//! use rill_client::{Producer, ProducerConfig, ProducerRecord};
//! use std::time::Duration;
//!
//! # async fn demo() -> rill_client::Result<()> {
//! let config = ProducerConfig::builder("127.0.0.1:9420")
//!     .linger(Duration::from_millis(5))
//!     .build()?;
//! let producer = Producer::connect(config).await?;
//! // `send` queues the record; the returned future resolves when the broker has it.
//! let delivery = producer
//!     .send(ProducerRecord::new("events", "hello").with_key("user-1"))
//!     .await?;
//! let written = delivery.await?;
//! println!("partition {} offset {}", written.partition, written.offset);
//! producer.close().await?;
//! # Ok(()) }
//! ```
//!
//! # Consuming
//!
//! ```no_run
//! use rill_client::{Consumer, ConsumerConfig, SeekTo, TopicPartition};
//! use std::time::Duration;
//!
//! # async fn demo() -> rill_client::Result<()> {
//! let mut consumer = Consumer::connect(ConsumerConfig::builder("127.0.0.1:9420").build()?).await?;
//! let events_0 = TopicPartition::new("events", 0);
//! consumer.assign([events_0.clone()]);
//! consumer.seek(&events_0, SeekTo::Beginning).await?;
//! for record in consumer.poll(Duration::from_secs(1)).await? {
//!     println!("{}: {:?}", record.offset, record.value);
//! }
//! # Ok(()) }
//! ```
//!
//! # Consuming in a group
//!
//! Members of one group share the partitions of the topics they subscribe to; the
//! broker moves partitions as members come and go (only those that must move), and
//! keeps each partition's committed offset.
//!
//! ```no_run
//! use rill_client::{AutoOffsetReset, Consumer, ConsumerConfig, RebalanceCallbacks};
//! use std::time::Duration;
//!
//! # async fn demo() -> rill_client::Result<()> {
//! let config = ConsumerConfig::builder("127.0.0.1:9420")
//!     .auto_offset_reset(AutoOffsetReset::Earliest) // where a new group starts
//!     .build()?;
//! let mut consumer = Consumer::connect(config).await?;
//! let listener = RebalanceCallbacks::new()
//!     .on_revoked(|revocation| println!("handing over {:?}", revocation.partitions()));
//! consumer.subscribe_with("billing", &["events"], listener).await?;
//! for _ in 0..100 {
//!     for record in consumer.poll(Duration::from_secs(1)).await? {
//!         println!("{}-{}@{}", record.topic, record.partition, record.offset);
//!     }
//! }
//! consumer.close().await?; // commits what was consumed, then leaves the group
//! # Ok(()) }
//! ```
//!
//! **Delivery is at least once.** After any failure (a crash, an expired session, a
//! broker restart) the group resumes each partition from its last committed offset:
//! nothing is lost, and the only records delivered again are those after the last
//! commit. With `enable_auto_commit` (the default) `poll` commits, every
//! `auto_commit_interval`, the positions after the records earlier polls returned;
//! partitions being revoked are committed before they are handed over, and `close`
//! commits before leaving. For tighter control, turn auto-commit off and call
//! [`Consumer::commit`] after processing. Streams keep the promise too: records a
//! stream fetched but never handed out are not counted as consumed (dropping a
//! [`Consumer::stream`] rewinds to them), and [`ConsumerStream::close`] ends an
//! [`Consumer::into_stream`] cleanly (commit what was delivered, leave the group).
//!
//! # Administering
//!
//! ```no_run
//! use rill_client::{Admin, ConnectionConfig};
//!
//! # async fn demo() -> rill_client::Result<()> {
//! let admin = Admin::connect(ConnectionConfig::new("127.0.0.1:9420")).await?;
//! admin.create_topic("events", 3, &[("retention.ms", "86400000")]).await?;
//! let description = admin.describe_topic("events").await?;
//! for p in &description.partitions {
//!     println!("{}: {}..{}", p.partition, p.earliest_offset, p.latest_offset);
//! }
//! # Ok(()) }
//! ```

pub mod admin;
mod brokers;
mod clock;
#[cfg(test)]
mod cluster_tests;
pub mod config;
mod connection;
pub mod consumer;
pub mod error;
mod fast_map;
mod metadata;
mod offsets;
pub mod partitioner;
pub mod producer;
pub mod record;
mod slot;
#[cfg(test)]
mod test_support;

pub use admin::{
    Admin, BrokerStatus, ClusterBrokerDescription, ClusterDescription, GroupDescription,
    GroupListing, GroupMemberDescription, GroupPartitionOffset, NewTopic, OffsetReset,
    PartitionDescription, PartitionMove, ResetOffset, TopicDescription, TopicListing, UserListing,
};
pub use config::{
    Acks, AutoOffsetReset, BootstrapServers, Compression, ConnectionConfig, ConsumerConfig,
    IsolationLevel, ProducerConfig, SaslConfig, SaslMechanism, TlsConfig, TlsConfigBuilder,
};
pub use consumer::{
    Consumer, ConsumerStream, PendingCommit, RebalanceCallbacks, RebalanceListener, Revocation,
    SeekTo,
};
pub use error::{ClientError, Disconnect, Result};
pub use producer::{DeliveryFuture, Producer, SendError};
pub use record::{ConsumerRecord, ProducerRecord, RecordMetadata, TopicPartition};
/// Types from `rill-protocol` that appear in this crate's API (error codes and the
/// causes inside [`ClientError`]), re-exported so applications need no direct
/// dependency on `rill-protocol`.
pub use rill_protocol::{
    api::acls::{AclBinding, AclFilter, AclOperation, AclPermission, PatternType, ResourceType},
    api::ApiKey,
    batch::BatchError,
    error_code::ErrorCode,
    frame::FrameError,
    sasl::ScramMechanism,
    wire::{DecodeError, EncodeError},
};

#[cfg(test)]
mod thread_safety {
    //! The handles and their futures must work across tasks and threads.
    use super::*;

    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}

    #[test]
    fn handles_are_send_and_sync() {
        send_sync::<Producer>();
        send_sync::<Admin>();
        send_sync::<Consumer>();
        send_sync::<DeliveryFuture>();
        send_sync::<ClientError>();
        send_sync::<SendError>();
        fn send_only<T: Send>() {}
        send_only::<ConsumerStream>();
    }

    #[allow(dead_code)]
    async fn futures_are_send(producer: &Producer, consumer: &mut Consumer, admin: &Admin) {
        send(&producer.send(ProducerRecord::new("t", "v")));
        send(&producer.flush());
        send(&consumer.poll(std::time::Duration::ZERO));
        send(&consumer.seek(&TopicPartition::new("t", 0), SeekTo::End));
        send(&admin.describe_topic("t"));
    }
}
