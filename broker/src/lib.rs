//! rill-broker: the segmented storage engine, the topic registry, and the network
//! server around them (binary `rilld`).

pub mod config;
pub mod metrics;
pub mod reload;
pub mod server;
pub mod shutdown;
pub mod storage;
pub mod testing;
pub mod topics;
