//! rill-protocol: the bytes Rill puts on the wire and on disk.
//!
//! - [`frame`]: the length-prefixed frame codec every connection speaks.
//! - [`batch`]: Kafka RecordBatch v2 record batches (builder, validating parser,
//!   zero-copy record iterator, offset stamping).
//! - [`wire`]: primitive field readers and writers shared by every message.
//! - [`error_code`]: the per-topic/partition/group error codes in responses.
//! - [`api`]: request and response types for every API, each with encode/decode.
//!
//! This crate never touches a socket or a file: bytes in, values out.

pub mod api;
pub mod batch;
pub mod error_code;
pub mod frame;
pub mod sasl;
pub mod tls_sniff;
pub mod varint;
pub mod wire;
