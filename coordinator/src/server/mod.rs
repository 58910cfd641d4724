//! The coordinator's gRPC front, over TLS with client certificates from the fleet CA
//! required: [`auth`] turns a certificate into a caller and keeps each service to its role,
//! [`collector_stream`] takes collectors' envelopes to ingest, [`fleet_service`] answers
//! operators. The work is done by actors spawned elsewhere (see [`crate::service`]); this
//! module only checks who is calling and translates between the wire and them.

pub mod auth;
pub mod collector_stream;
pub mod fleet_service;
pub mod front_door;

use printwatch_pki::Role;
use printwatch_proto::v1 as p;
use printwatch_proto::v1::collector_server::CollectorServer;
use printwatch_proto::v1::fleet_server::FleetServer;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Server;

use auth::RequireRole;
use collector_stream::CollectorService;
use fleet_service::FleetService;

/// How to serve: the TLS material and the largest message accepted.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The fleet CA (PEM): the only issuer of client certificates accepted.
    pub ca_pem: String,
    /// The coordinator's certificate (PEM).
    pub cert_pem: String,
    /// Its key (PEM).
    pub key_pem: String,
    /// The largest message accepted, in bytes.
    pub max_message_bytes: usize,
    /// The most connections open at once (less if the process may open fewer files).
    pub max_connections: usize,
}

/// Fleet events for `watch`: every stored reading, every collector coming and going.
/// A broadcast channel: a slow watcher misses events rather than slowing ingest.
pub type Events = tokio::sync::broadcast::Sender<p::FleetEvent>;

/// An event, stamped now.
pub fn event(body: p::fleet_event::Body) -> p::FleetEvent {
    p::FleetEvent {
        at: agent_core::poll::now_rfc3339(),
        body: Some(body),
    }
}

/// Serves both services on `listener` until `shutdown` completes. Then `stop` turns
/// true, which ends every collector stream, so the graceful shutdown does not wait on
/// collectors that never hang up.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: &ServerConfig,
    collectors: CollectorService,
    fleet: FleetService,
    stop: tokio::sync::watch::Sender<bool>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServeError> {
    let tls = front_door::tls_config(&config.ca_pem, &config.cert_pem, &config.key_pem)
        .map_err(ServeError::Tls)?;
    let limits = front_door::Limits::within_file_limit(config.max_connections);
    let limit = config.max_message_bytes;
    Server::builder()
        .add_service(InterceptedService::new(
            CollectorServer::new(collectors).max_decoding_message_size(limit),
            RequireRole(Role::Collector),
        ))
        .add_service(InterceptedService::new(
            FleetServer::new(fleet).max_decoding_message_size(limit),
            RequireRole(Role::Operator),
        ))
        .serve_with_incoming_shutdown(front_door::admit(listener, tls, limits), async move {
            shutdown.await;
            let _ = stop.send(true);
        })
        .await
        .map_err(ServeError::Serve)
}

/// Why serving stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The certificates do not make a TLS configuration.
    #[error("TLS: {0}")]
    Tls(String),
    /// tonic's server failed.
    #[error(transparent)]
    Serve(#[from] tonic::transport::Error),
}
