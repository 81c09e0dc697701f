//! The segmented, memory-mapped storage engine (placeholder; filled in by the storage work).
