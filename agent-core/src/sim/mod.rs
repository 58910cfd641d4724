//! `printwatch-sim`'s engine: printers that answer SNMP on loopback.
//!
//! Tests, benchmarks and the demo need printers: the corpus recordings of real ones, and
//! synthetic ones whose supplies drain as they print. [`agent`] answers GET, GETNEXT and
//! GETBULK from an ordered view exactly as RFC 3416 says; [`synthetic`] makes printers from
//! a seed; [`server`] puts each one on its own loopback address and injects faults on request.

pub mod agent;
pub mod server;
pub mod synthetic;
pub mod usm;

pub use agent::{alert_row, Faults, SimDevice};
pub use server::{serve, SimHandle, Traffic};
pub use usm::SimUsm;
