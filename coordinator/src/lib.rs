//! The printwatch coordinator and operator tools.
//!
//! Today this crate holds the live fleet view that `printwatch demo` draws; the gRPC
//! ingest and query services, the sled store and alerting join it as the fleet is built.

/// The allocator the coordinator's binaries run with. Ingest allocates and frees many
/// short-lived buffers (sled's node copies, each reading's strings); with glibc's
/// allocator that was four tenths of the store's time, with mimalloc far less.
pub use mimalloc::MiMalloc as Allocator;

pub mod alerts;
pub mod certs;
pub mod client;
pub mod config;
pub mod dealer;
pub mod export;
pub mod fleet_view;
pub mod forecast;
pub mod ingest;
pub mod mail;
pub mod metrics;
pub mod queries;
pub mod registry;
pub mod schedule;
pub mod server;
pub mod service;
pub mod store;
pub mod watchdog;
pub mod wire_reading;
pub mod working_set;
