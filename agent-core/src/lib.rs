//! agent-core: the printwatch domain, shared by the collector, the coordinator and the tools.
//!
//! Data flows one way: the [`transport`] sends SNMP requests and matches replies; a
//! [`session`] turns requests into GETs and column walks for one target; [`poll`] decides
//! what to ask a printer and [`decode`] turns the answers into a [`model::Reading`], with
//! the [`mib`] tables and the [`vendor`] profiles. The [`sim`] module serves recorded and
//! synthetic printers for tests, benchmarks and the demo.

pub mod classify;
pub mod decode;
pub mod discover;
pub mod ipp;
pub mod message;
pub mod mib;
pub mod model;
pub mod oid;
pub mod output;
pub mod poll;
pub mod range;
pub mod report;
pub mod session;
pub mod settings;
pub mod sim;
pub mod snmprec;
pub mod text;
pub mod transport;
pub mod usm;
pub mod v3;
pub mod vendor;

pub use model::Reading;
pub use oid::Oid;
