//! The printwatch collector: the site agent's parts that outlive one command, starting
//! with the durable outbox that carries readings to the coordinator.

pub mod outbox;
pub mod uplink;
