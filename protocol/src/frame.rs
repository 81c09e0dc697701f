//! Length-prefixed frames (placeholder; filled in by the frame codec work).
