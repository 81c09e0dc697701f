//! Rill umbrella package: re-exports the workspace crates so end-to-end tests and
//! benchmarks in `tests/` and `benches/` can use one name.

pub use rill_broker as broker;
pub use rill_client as client;
pub use rill_protocol as protocol;
