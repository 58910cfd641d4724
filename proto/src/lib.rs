//! The gRPC contract between collectors, the coordinator and operators, generated from
//! `proto/*.proto` by tonic + prost, and the lossless conversions between its messages and
//! agent-core's reading model.

/// printwatch.v1: readings, the collector service (one bidirectional stream per collector)
/// and the fleet service for operators.
pub mod v1 {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("printwatch.v1");
}

pub mod arrived;
pub mod convert;
pub mod listing;
