//! The printwatch collector: the site agent's parts that outlive one command, starting
//! with the durable outbox that carries readings to the coordinator.

pub mod agent;
pub mod commands;
pub mod config;
pub mod credentials;
pub mod flags;
pub mod heap;
pub mod json_map;
pub mod metrics;
pub mod outbox;
pub mod pins;
pub mod poller;
pub mod ranges;
pub mod scheduler;
pub mod stop;
pub mod sweeper;
pub mod target;
pub mod uplink;
pub mod ways;
