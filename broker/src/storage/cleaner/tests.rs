//! Unit tests of a cleaning pass on a real log directory.
