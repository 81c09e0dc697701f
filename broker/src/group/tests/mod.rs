//! Tests of the coordinator with a fake clock and fake topics, and of the offsets log.
mod coordinator_tests;
