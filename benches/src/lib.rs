//! Benchmarks of printwatch: `cargo bench -p printwatch-benches`. The fleet benchmark joins
//! these as the collector and coordinator are built.
