//! rill-broker: the segmented storage engine, the topic registry, the consumer group
//! coordinator, and the network server around them (binary `rilld`).

pub mod cluster;
pub mod config;
pub mod data_dir_lock;
pub mod durable_file;
pub mod fd_limit;
pub mod group;
pub mod kafka;
pub mod malloc_tuning;
pub mod metrics;
pub mod producer_ids;
pub mod reload;
pub mod replication;
pub mod security;
pub mod server;
pub mod shutdown;
pub mod storage;
pub mod testing;
pub mod tls;
pub mod topics;
