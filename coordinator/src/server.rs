//! The coordinator's gRPC front: the collector stream and the fleet service, over TLS with
//! client certificates from the fleet CA required.
//!
//! Who a caller is comes from its certificate (see [`crate::certs`]): a collector may only
//! open its stream, for the site its certificate names; only an operator may use the fleet
//! service. Each reading is stored durably before its sequence number is acknowledged, and
//! a replayed number is acknowledged again without being stored twice.

use std::net::SocketAddr;
use std::pin::Pin;

use printwatch_proto::v1 as p;
use printwatch_proto::v1::collector_server::{Collector, CollectorServer};
use printwatch_proto::v1::fleet_server::{Fleet, FleetServer};
use tokio_stream::{Stream, StreamExt};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status, Streaming};

use crate::certs::{identity_of, Role};
use crate::registry::{Connected, Deliver, Disconnected, Registry};
use crate::store::Store;
use kameo::actor::Spawn;

/// Where and how to serve.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The fleet CA (PEM): the only issuer of client certificates accepted.
    pub ca_pem: String,
    /// The coordinator's certificate (PEM).
    pub cert_pem: String,
    /// Its key (PEM).
    pub key_pem: String,
    /// The largest message accepted, in bytes.
    pub max_message_bytes: usize,
}

impl ServerConfig {
    /// A configuration from a directory made by `printwatch certs init` (ca.pem,
    /// coordinator.pem, coordinator.key): what the demo and the tests run with.
    pub fn from_pki(
        dir: &std::path::Path,
        listen: SocketAddr,
        max_message_bytes: usize,
    ) -> std::io::Result<ServerConfig> {
        let files = crate::certs::paths(dir, Role::Coordinator, "coordinator");
        Ok(ServerConfig {
            listen,
            ca_pem: std::fs::read_to_string(dir.join("ca.pem"))?,
            cert_pem: std::fs::read_to_string(files.cert)?,
            key_pem: std::fs::read_to_string(files.key)?,
            max_message_bytes,
        })
    }
}

/// Who is calling, from the client certificate.
fn caller<T>(req: &Request<T>) -> Result<(Role, String), Status> {
    let certs = req.peer_certs().ok_or_else(|| {
        Status::unauthenticated("a client certificate from the fleet CA is required")
    })?;
    let leaf = certs
        .first()
        .ok_or_else(|| Status::unauthenticated("no client certificate"))?;
    identity_of(leaf.as_ref()).map_err(|e| Status::unauthenticated(e.to_string()))
}

fn require(role: Role, got: (Role, String)) -> Result<String, Status> {
    if got.0 == role {
        Ok(got.1)
    } else {
        Err(Status::permission_denied(
            format!("a {:?} certificate ({}) may not do this", got.0, got.1).to_lowercase(),
        ))
    }
}

fn internal(e: impl std::fmt::Display) -> Status {
    Status::internal(e.to_string())
}

/// The collector service: one stream per collector.
pub struct CollectorService {
    store: Store,
    registry: kameo::actor::ActorRef<Registry>,
    events: Events,
}

/// Fleet events for `watch`: every stored reading, every collector coming and going.
/// A broadcast channel: a slow watcher misses events rather than slowing ingest.
type Events = tokio::sync::broadcast::Sender<p::FleetEvent>;

fn event(body: p::fleet_event::Body) -> p::FleetEvent {
    p::FleetEvent {
        at: agent_core::poll::now_rfc3339(),
        body: Some(body),
    }
}

type AckStream = Pin<Box<dyn Stream<Item = Result<p::CoordinatorMessage, Status>> + Send>>;

#[tonic::async_trait]
impl Collector for CollectorService {
    type SessionStream = AckStream;

    async fn session(
        &self,
        req: Request<Streaming<p::CollectorMessage>>,
    ) -> Result<Response<AckStream>, Status> {
        let site = require(Role::Collector, caller(&req)?)?;
        let mut inbound = req.into_inner();
        let hello = match inbound.next().await {
            Some(Ok(p::CollectorMessage {
                body: Some(p::collector_message::Body::Hello(h)),
            })) => h,
            Some(Err(e)) => return Err(e),
            _ => {
                return Err(Status::invalid_argument(
                    "a collector's stream must start with hello",
                ))
            }
        };
        if hello.site != site {
            return Err(Status::permission_denied(format!(
                "this certificate is for site {site:?}, not {:?}",
                hello.site
            )));
        }
        let store = self.store.clone();
        let events = self.events.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let registry = self.registry.clone();
        let _ = events.send(event(p::fleet_event::Body::CollectorConnected(
            site.clone(),
        )));
        let connection = registry
            .ask(Connected {
                site: site.clone(),
                outbound: tx.clone(),
            })
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        tokio::spawn(async move {
            while let Some(msg) = inbound.next().await {
                let reply = match msg {
                    Err(status) => Err(status),
                    Ok(p::CollectorMessage {
                        body: Some(p::collector_message::Body::Envelope(env)),
                    }) => ingest(&store, &events, &site, env).await,
                    Ok(_) => continue,
                };
                let stop = reply.is_err();
                if tx.send(reply).await.is_err() || stop {
                    break;
                }
            }
            let _ = events.send(event(p::fleet_event::Body::CollectorDisconnected(
                site.clone(),
            )));
            let _ = registry.tell(Disconnected { site, connection }).await;
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

async fn ingest(
    store: &Store,
    events: &Events,
    site: &str,
    env: p::Envelope,
) -> Result<p::CoordinatorMessage, Status> {
    let seq = env.seq;
    if seq == 0 {
        return Err(Status::invalid_argument("sequence numbers start at 1"));
    }
    let reading = match env.body {
        Some(p::envelope::Body::Reading(r)) => Some(
            agent_core::model::Reading::try_from(r)
                .map_err(|e| Status::invalid_argument(format!("reading {seq}: {e}")))?,
        ),
        Some(p::envelope::Body::Discovered(d)) => d
            .reading
            .map(agent_core::model::Reading::try_from)
            .transpose()
            .map_err(|e| Status::invalid_argument(format!("discovery {seq}: {e}")))?,
        Some(p::envelope::Body::SweepDone(_)) | None => None,
    };
    if let Some(reading) = reading {
        // Stored now, or stored before (a replay): either way the sequence number is safe.
        let outcome = store
            .ingest(site, site, seq, &reading)
            .await
            .map_err(internal)?;
        announce(store, events, outcome);
    }
    Ok(p::CoordinatorMessage {
        body: Some(p::coordinator_message::Body::Ack(p::Ack { seq })),
    })
}

/// Tells watchers about a device that has just been stored.
fn announce(store: &Store, events: &Events, outcome: crate::store::Ingested) {
    if events.receiver_count() == 0 {
        return;
    }
    if let crate::store::Ingested::Stored { device_id, .. } = outcome {
        if let Ok(Some(d)) = store.device(&device_id) {
            if let Ok(device) = device_message(store, d) {
                let _ = events.send(event(p::fleet_event::Body::DeviceUpdated(device)));
            }
        }
    }
}

/// The fleet service, for operators.
pub struct FleetService {
    store: Store,
    registry: kameo::actor::ActorRef<Registry>,
    events: Events,
}

impl FleetService {
    async fn deliver(
        &self,
        site: String,
        body: p::command::Body,
    ) -> Result<Response<p::CommandAccepted>, Status> {
        let id = self
            .registry
            .ask(Deliver {
                site: site.clone(),
                body,
            })
            .await
            .map_err(|e| match e {
                kameo::error::SendError::HandlerError(msg) => Status::failed_precondition(msg),
                other => Status::internal(other.to_string()),
            })?;
        Ok(Response::new(p::CommandAccepted {
            command_id: id,
            site,
        }))
    }
}

fn device_message(store: &Store, d: crate::store::DeviceRecord) -> Result<p::Device, Status> {
    let latest = store.latest(&d.id).map_err(internal)?.map(Into::into);
    Ok(p::Device {
        id: d.id,
        site: d.site,
        addresses: d.addresses,
        identity: Some(d.identity.into()),
        latest,
        first_seen: d.first_seen,
        last_seen: d.last_seen,
    })
}

#[tonic::async_trait]
impl Fleet for FleetService {
    async fn list_devices(
        &self,
        req: Request<p::ListDevicesRequest>,
    ) -> Result<Response<p::ListDevicesResponse>, Status> {
        require(Role::Operator, caller(&req)?)?;
        let site = req.into_inner().site;
        let devices = self
            .store
            .devices()
            .map_err(internal)?
            .into_iter()
            .filter(|d| site.is_empty() || d.site == site)
            .map(|d| device_message(&self.store, d))
            .collect::<Result<_, _>>()?;
        Ok(Response::new(p::ListDevicesResponse { devices }))
    }

    async fn get_device(
        &self,
        req: Request<p::GetDeviceRequest>,
    ) -> Result<Response<p::Device>, Status> {
        require(Role::Operator, caller(&req)?)?;
        let id = req.into_inner().id;
        let d = self
            .store
            .device(&id)
            .map_err(internal)?
            .ok_or_else(|| Status::not_found(format!("no device {id:?}")))?;
        Ok(Response::new(device_message(&self.store, d)?))
    }

    async fn list_supplies(
        &self,
        req: Request<p::ListSuppliesRequest>,
    ) -> Result<Response<p::ListSuppliesResponse>, Status> {
        require(Role::Operator, caller(&req)?)?;
        let q = req.into_inner();
        let mut supplies = Vec::new();
        for d in self.store.devices().map_err(internal)? {
            if !q.site.is_empty() && d.site != q.site {
                continue;
            }
            let Some(r) = self.store.latest(&d.id).map_err(internal)? else {
                continue;
            };
            for s in r.supplies {
                let low = matches!(
                    s.state,
                    agent_core::model::SupplyState::Low | agent_core::model::SupplyState::Empty
                );
                if q.low_only && !low {
                    continue;
                }
                supplies.push(p::SupplyRow {
                    device_id: d.id.clone(),
                    site: d.site.clone(),
                    identity: Some(d.identity.clone().into()),
                    supply: Some(s.into()),
                });
            }
        }
        supplies.sort_by_key(|row| row.supply.as_ref().and_then(|s| s.percent).unwrap_or(101));
        Ok(Response::new(p::ListSuppliesResponse { supplies }))
    }

    /// What each printer reports now: its prtAlertTable rows and hrPrinterDetectedErrorState
    /// bits from the latest reading. (Alerts with a life of their own, opened and closed
    /// with hysteresis, come from the alert engine.)
    async fn list_alerts(
        &self,
        req: Request<p::ListAlertsRequest>,
    ) -> Result<Response<p::ListAlertsResponse>, Status> {
        require(Role::Operator, caller(&req)?)?;
        let mut alerts = Vec::new();
        for d in self.store.devices().map_err(internal)? {
            let Some(r) = self.store.latest(&d.id).map_err(internal)? else {
                continue;
            };
            let mut add = |kind: String, detail: String| {
                alerts.push(p::FleetAlert {
                    id: format!("{}/{kind}", d.id),
                    device_id: d.id.clone(),
                    site: d.site.clone(),
                    kind,
                    detail,
                    opened_at: r.polled_at.clone(),
                    closed_at: None,
                })
            };
            for a in &r.status.alerts {
                add(
                    a.code.clone(),
                    format!("{} {}: {}", a.severity, a.group, a.description),
                );
            }
            for e in &r.status.errors {
                add(e.clone(), "hrPrinterDetectedErrorState".into());
            }
        }
        Ok(Response::new(p::ListAlertsResponse { alerts }))
    }

    async fn history(
        &self,
        req: Request<p::HistoryRequest>,
    ) -> Result<Response<p::HistoryResponse>, Status> {
        require(Role::Operator, caller(&req)?)?;
        let q = req.into_inner();
        let readings = self
            .store
            .history(&q.device_id, &q.since)
            .map_err(internal)?
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(Response::new(p::HistoryResponse { readings }))
    }

    async fn add_printer(
        &self,
        req: Request<p::AddPrinterRequest>,
    ) -> Result<Response<p::CommandAccepted>, Status> {
        require(Role::Operator, caller(&req)?)?;
        let q = req.into_inner();
        if q.host.trim().is_empty() {
            return Err(Status::invalid_argument(
                "give the printer's address or host name",
            ));
        }
        self.deliver(
            q.site,
            p::command::Body::AddTarget(p::Target {
                host: q.host,
                community: q.community,
            }),
        )
        .await
    }

    async fn remove_printer(
        &self,
        req: Request<p::RemovePrinterRequest>,
    ) -> Result<Response<p::CommandAccepted>, Status> {
        require(Role::Operator, caller(&req)?)?;
        let id = req.into_inner().device_id;
        let d = self
            .store
            .device(&id)
            .map_err(internal)?
            .ok_or_else(|| Status::not_found(format!("no device {id:?}")))?;
        let host =
            d.addresses.last().cloned().ok_or_else(|| {
                Status::failed_precondition(format!("device {id:?} has no address"))
            })?;
        self.deliver(
            d.site,
            p::command::Body::RemoveTarget(p::Target {
                host,
                community: String::new(),
            }),
        )
        .await
    }

    async fn discover(
        &self,
        req: Request<p::DiscoverRequest>,
    ) -> Result<Response<p::CommandAccepted>, Status> {
        require(Role::Operator, caller(&req)?)?;
        let q = req.into_inner();
        if q.ranges.is_empty() {
            return Err(Status::invalid_argument("give at least one range to sweep"));
        }
        for r in q.ranges.iter().chain(&q.exclude) {
            r.parse::<agent_core::range::Range>()
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
        }
        let sweep = p::Sweep {
            ranges: q.ranges,
            exclude: q.exclude,
            communities: q.communities,
            rate: q.rate,
            port: q.port,
        };
        self.deliver(q.site, p::command::Body::Sweep(sweep)).await
    }

    type WatchStream = Pin<Box<dyn Stream<Item = Result<p::FleetEvent, Status>> + Send>>;

    async fn watch(
        &self,
        req: Request<p::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        require(Role::Operator, caller(&req)?)?;
        let rx = self.events.subscribe();
        let stream =
            tokio_stream::wrappers::BroadcastStream::new(rx).filter_map(|e| e.ok().map(Ok));
        Ok(Response::new(Box::pin(stream)))
    }
}

/// Serves until `shutdown` completes.
pub async fn serve(
    config: ServerConfig,
    store: Store,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(&config.cert_pem, &config.key_pem))
        .client_ca_root(Certificate::from_pem(&config.ca_pem));
    let limit = config.max_message_bytes;
    let registry = Registry::spawn(());
    let (events, _) = tokio::sync::broadcast::channel(1024);
    Server::builder()
        .tls_config(tls)?
        .add_service(
            CollectorServer::new(CollectorService {
                store: store.clone(),
                registry: registry.clone(),
                events: events.clone(),
            })
            .max_decoding_message_size(limit),
        )
        .add_service(
            FleetServer::new(FleetService {
                store,
                registry,
                events,
            })
            .max_decoding_message_size(limit),
        )
        .serve_with_shutdown(config.listen, shutdown)
        .await
}
