//! Kafka's own wire protocol on a second listener (`--kafka-listen`), so unmodified Kafka
//! clients (librdkafka and kcat, kafka-python, kafkajs, the Java client...) use the same
//! topics, records, committed offsets and producer ids as Rill's native protocol.
//!
//! Codecs come from the `kafka-protocol` crate (generated from Kafka's message specs).
//! A request body reaches it only after [`bounds`] has checked every array count and
//! length against the bytes left, since the crate sizes vectors from wire counts. Each
//! handler translates the Kafka request into the native one and runs the native handler
//! in `server::handlers`, so both protocols share one validated append, one fetch path
//! and one offsets store. Record batches pass through as bytes in both directions:
//! Rill stores Kafka's RecordBatch v2, so a produced batch is validated and appended as
//! sent and a fetch returns whole stored batches.

pub mod apis;
pub mod bounds;
pub mod connection;
pub mod groups;
pub mod handlers;
pub mod listener;
pub mod produce_legacy;
pub mod request;
pub mod response;
pub mod topic_id;

use std::sync::Arc;

use crate::config::HostPort;
use crate::server::BrokerCtx;

pub use request::{decode_request, KafkaRequest, RequestError};

/// What the Kafka listener's handlers share: the broker and the address Kafka clients
/// are told to dial.
#[derive(Debug)]
pub struct KafkaCtx {
    /// The broker's topics, groups, producer ids and configuration.
    pub broker: Arc<BrokerCtx>,
    /// The host and port given to clients in Metadata and FindCoordinator.
    pub advertised: HostPort,
    /// Classic consumer groups (live membership of Kafka clients).
    pub groups: Arc<groups::ClassicGroups>,
    /// What each KIP-848 member last reported owning.
    pub owned: handlers::consumer_group::OwnedPartitions,
}
