//! Network benchmarks (filled in by the TCP benchmark work).

fn main() {}
