//! The printwatch coordinator: the on-prem server that merges every site's readings into
//! one fleet, keeps it in sled, raises alerts, mails them, uploads to the dealer and
//! answers operators. The operator's `printwatch` command lives in the `printwatch-cli`
//! crate; this crate is the server and its library.

pub mod config;
pub mod dealer;
pub mod disk;
pub mod export;
pub mod heap;
pub mod ingest;
pub mod mail;
pub mod metrics;
pub mod policy;
pub mod queries;
pub mod registry;
pub mod schedule;
pub mod server;
pub mod service;
pub mod store;
pub mod timestamp;
pub mod users;
pub mod watchdog;
pub mod web;
pub mod wire_reading;
