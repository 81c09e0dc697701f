//! criterion benchmarks (storage): filled in by the storage work.
fn main() {}
