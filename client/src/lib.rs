//! rill-client: the async Rust client for Rill.
