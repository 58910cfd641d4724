//! The printwatch coordinator and operator tools.
//!
//! Today this crate holds the live fleet view that `printwatch demo` draws; the gRPC
//! ingest and query services, the sled store and alerting join it as the fleet is built.

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
pub mod working_set;
