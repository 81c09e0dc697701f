//! rill-client: the async Rust client for Rill.
//!
//! (Crate documentation with examples is at the end of this work; see README.)

pub mod config;
pub mod connection;
pub mod error;
mod metadata;
pub mod partitioner;
pub mod producer;
pub mod record;
pub mod slot;

pub use config::{Acks, Compression, ConnectionConfig, ProducerConfig};
pub use error::{ClientError, Result};
pub use producer::{DeliveryFuture, Producer};
pub use record::{ConsumerRecord, ProducerRecord, RecordMetadata, TopicPartition};
