//! The gRPC contract between collectors, the coordinator and operators, generated from
//! `proto/*.proto` by tonic + prost. The messages mirror agent-core's reading model field
//! for field; conversions live with the services that use them.

/// printwatch.v1: readings and, as the fleet grows, the collector and fleet services.
pub mod v1 {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("printwatch.v1");
}
