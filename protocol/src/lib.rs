//! rill-protocol: the bytes Rill puts on the wire and on disk.
//!
//! - [`frame`]: the length-prefixed frame codec every connection speaks.
//! - [`batch`]: Kafka RecordBatch v2 record batches (builder, validating parser,
//!   zero-copy record iterator, offset stamping).
//! - [`api`]: request and response types for every API, each with encode/decode.
//!
//! This crate never touches a socket or a file: bytes in, values out.

pub mod api;
pub mod batch;
pub mod frame;
pub mod varint;
