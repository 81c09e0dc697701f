//! rill-broker: the segmented storage engine, and the server around it (binary `rilld`).

pub mod storage;
