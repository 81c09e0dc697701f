//! Request and response types (placeholder; filled in by the API work).
