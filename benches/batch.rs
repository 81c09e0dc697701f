//! criterion benchmarks (batch): filled in by the batch work.
fn main() {}
