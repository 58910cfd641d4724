//! Benchmarks of printwatch (`cargo bench -p printwatch-benches`): criterion benches of the
//! hot paths, the /16 discovery sweep, and the fleet benchmark against net-snmp.

pub mod discovery;
pub mod fleet;
pub mod ipp;
pub mod process;
