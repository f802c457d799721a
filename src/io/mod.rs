//! Owned-buffer I/O traits and buffered readers and writers.
