//! The coordinator's gRPC front: the collector stream and the fleet service, over TLS with
//! client certificates from the fleet CA required.
//!
//! Who a caller is comes from its certificate (see [`printwatch_pki`]): a collector may only
//! open its stream, for the site its certificate names; only an operator may use the fleet
//! service. Each reading is stored durably before its sequence number is acknowledged, and
//! a replayed number is acknowledged again without being stored twice.
//!
//! The work is done by actors: the [`Ingestor`] writes, [`Queries`] answers operators, and
//! the [`Registry`] routes commands to collectors. This module only checks who is calling
//! and translates between the wire and them.

use std::net::SocketAddr;
use std::pin::Pin;

use printwatch_proto::v1 as p;
use printwatch_proto::v1::collector_server::{Collector, CollectorServer};
use printwatch_proto::v1::fleet_server::{Fleet, FleetServer};
use tokio_stream::{Stream, StreamExt};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status, Streaming};

use crate::ingest::{IngestBatch, Ingestor, IngestorArgs, Notifiers};
use crate::queries::{self, Queries, QueryError};
use crate::registry::{Connected, Deliver, Disconnected, Registry};
use crate::store::{Answer, Incoming, Ingested, Policy, PollFailure, Store};
use crate::wire_reading::WireReading;
use kameo::actor::{ActorRef, Spawn};
use kameo::error::SendError;
use printwatch_pki::{identity_of, Role};

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
        let files = printwatch_pki::paths(dir, Role::Coordinator, "coordinator");
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

/// An actor's answer as a gRPC status.
fn from_query<M>(e: SendError<M, QueryError>) -> Status {
    match e {
        SendError::HandlerError(QueryError::NotFound(id)) => {
            Status::not_found(format!("no device {id:?}"))
        }
        SendError::HandlerError(other) => Status::internal(other.to_string()),
        other => Status::internal(format!("the query actor: {other}")),
    }
}

/// The collector service: one stream per collector.
pub struct CollectorService {
    /// Turns true when the coordinator stops: every collector stream ends then, so a
    /// graceful shutdown does not wait on collectors that never hang up.
    stopping: tokio::sync::watch::Receiver<bool>,
    ingestor: ActorRef<Ingestor>,
    queries: ActorRef<Queries>,
    registry: ActorRef<Registry>,
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
        let (ingestor, queries, events) = (
            self.ingestor.clone(),
            self.queries.clone(),
            self.events.clone(),
        );
        let mut stopping = self.stopping.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let registry = self.registry.clone();
        let connection = registry
            .ask(Connected {
                site: site.clone(),
                outbound: tx.clone(),
            })
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        let _ = events.send(event(p::fleet_event::Body::CollectorConnected(
            site.clone(),
        )));
        // Two tasks, so that reading and decoding the next batch overlaps storing this
        // one: the reader takes what the collector has sent, turns it into items and hands
        // them to the ingest actor (group commit: one flush per batch); the acker waits for
        // each batch's answer, in order, and acknowledges it. At most a few batches are in
        // flight between them, so a slow disk slows the collector down.
        let (sent_tx, mut sent_rx) = tokio::sync::mpsc::channel::<Sent>(2);
        let collector = site.clone();
        let reader = tokio::spawn(async move {
            let mut follows = None;
            loop {
                let first = tokio::select! {
                    msg = inbound.next() => match msg {
                        Some(msg) => msg,
                        None => break,
                    },
                    _ = stopping.wait_for(|stop| *stop) => break,
                };
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match printwatch_proto::arrived::arrived(&mut inbound) {
                        Some(Some(msg)) => batch.push(msg),
                        _ => break,
                    }
                }
                let Decoded {
                    order,
                    items,
                    error,
                } = decode(batch);
                let answer = if items.is_empty() {
                    None
                } else {
                    let top = items.iter().map(|(seq, _)| *seq).max();
                    let batch = IngestBatch {
                        collector: collector.clone(),
                        site: collector.clone(),
                        items,
                        follows,
                    };
                    follows = top;
                    Some(
                        ingestor
                            .ask(batch)
                            .enqueue()
                            .await
                            .map_err(|e| Status::internal(format!("the ingest actor: {e}"))),
                    )
                };
                let last = error.is_some() || matches!(answer, Some(Err(_)));
                let sent = Sent {
                    order,
                    answer,
                    error,
                };
                if sent_tx.send(sent).await.is_err() || last {
                    break;
                }
            }
        });
        tokio::spawn(async move {
            while let Some(sent) = sent_rx.recv().await {
                let (acked, error) = settle(&queries, &events, sent).await;
                // Acknowledgements are cumulative: the batch's highest stored number
                // covers every envelope before it, stored now or before.
                if let Some(seq) = acked.into_iter().max() {
                    let ack = p::CoordinatorMessage {
                        body: Some(p::coordinator_message::Body::Ack(p::Ack { seq })),
                    };
                    if tx.send(Ok(ack)).await.is_err() {
                        break;
                    }
                }
                if let Some(status) = error {
                    let _ = tx.send(Err(status)).await;
                    break;
                }
            }
            // The stream is over for whatever reason: nothing more is read from it.
            reader.abort();
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

/// The most envelopes stored with one flush.
const MAX_BATCH: usize = 256;

/// What an envelope asks the store to keep: a reading, a failed poll, or nothing (a sweep's
/// end, which is only acknowledged).
fn incoming(env: p::Envelope) -> Result<(u64, Option<Incoming>), Status> {
    let seq = env.seq;
    if seq == 0 {
        return Err(Status::invalid_argument("sequence numbers start at 1"));
    }
    let item = match env.body {
        Some(p::envelope::Body::Reading(r)) => Some(Incoming::Reading(Box::new(
            WireReading::from_wire(r)
                .map_err(|e| Status::invalid_argument(format!("reading {seq}: {e}")))?,
        ))),
        Some(p::envelope::Body::Discovered(d)) => d
            .reading
            .map(WireReading::from_wire)
            .transpose()
            .map_err(|e| Status::invalid_argument(format!("discovery {seq}: {e}")))?
            .map(|r| Incoming::Reading(Box::new(r))),
        Some(p::envelope::Body::PollFailed(f)) => Some(Incoming::PollFailed(PollFailure {
            address: f.address,
            consecutive: f.consecutive,
            error: f.error,
            at: f.at,
        })),
        Some(p::envelope::Body::SweepDone(_)) | None => None,
    };
    Ok((seq, item))
}

/// A batch of what a collector sent, made ready for the store.
struct Decoded {
    /// Every envelope's sequence number in order, and whether it carries an item.
    order: Vec<(u64, bool)>,
    /// The items for the store, in order.
    items: Vec<(u64, Incoming)>,
    /// The error that ends the stream after these, if one did: a bad message, or the
    /// stream's own failure.
    error: Option<Status>,
}

/// Turns received messages into items for the store. Everything before the first bad
/// message is kept; the bad one ends the stream.
fn decode(batch: Vec<Result<p::CollectorMessage, Status>>) -> Decoded {
    let mut decoded = Decoded {
        order: Vec::with_capacity(batch.len()),
        items: Vec::with_capacity(batch.len()),
        error: None,
    };
    for msg in batch {
        let env = match msg {
            Ok(p::CollectorMessage {
                body: Some(p::collector_message::Body::Envelope(env)),
            }) => env,
            Ok(_) => continue,
            Err(status) => {
                decoded.error = Some(status);
                break;
            }
        };
        match incoming(env) {
            Ok((seq, Some(item))) => {
                decoded.order.push((seq, true));
                decoded.items.push((seq, item));
            }
            Ok((seq, None)) => decoded.order.push((seq, false)),
            Err(status) => {
                decoded.error = Some(status);
                break;
            }
        }
    }
    decoded
}

/// A batch handed to the ingest actor, as the acker sees it.
struct Sent {
    /// Every envelope's sequence number in order, and whether it carries an item.
    order: Vec<(u64, bool)>,
    /// The ingest actor's answer to come (none when no envelope carried an item), or why
    /// it could not be asked.
    answer: Option<Result<PendingAnswers, Status>>,
    /// The error that ends the stream after this batch, if one did.
    error: Option<Status>,
}

type PendingAnswers = kameo::request::PendingReply<
    IngestBatch,
    kameo::reply::DelegatedReply<crate::ingest::BatchAnswers>,
>;

/// Waits for the store's answer to a batch and tells watchers what changed. Returns the
/// sequence numbers to acknowledge (each one stored, in order) and the error that ends the
/// stream, if one did: the batch's own, or a store that failed.
async fn settle(
    queries: &ActorRef<Queries>,
    events: &Events,
    sent: Sent,
) -> (Vec<u64>, Option<Status>) {
    let Sent {
        order,
        answer,
        error,
    } = sent;
    let answers = match answer {
        None => Vec::new(),
        Some(Ok(pending)) => match pending.await {
            Ok(a) => a,
            Err(e) => {
                return (
                    Vec::new(),
                    Some(Status::internal(format!("the ingest actor: {e}"))),
                )
            }
        },
        Some(Err(status)) => return (Vec::new(), Some(status)),
    };
    let mut answers = answers.into_iter();
    let mut acked = Vec::new();
    for (seq, stored) in order {
        if stored {
            match answers.next() {
                Some(Ok(answer)) => publish(queries, events, answer).await,
                Some(Err(e)) => {
                    return (
                        acked,
                        Some(Status::internal(format!("storing message {seq}: {e}"))),
                    )
                }
                None => break,
            }
        }
        acked.push(seq);
    }
    (acked, error)
}

/// Tells `watch` what one stored message changed.
async fn publish(queries: &ActorRef<Queries>, events: &Events, answer: Answer) {
    match answer {
        Answer::PollFailed(Some(a)) => {
            let _ = events.send(event(p::fleet_event::Body::Alert(queries::alert_message(
                *a,
            ))));
        }
        Answer::Reading(Ingested::Stored {
            device_id, changes, ..
        }) => {
            for a in changes.opened.into_iter().chain(changes.closed) {
                let _ = events.send(event(p::fleet_event::Body::Alert(queries::alert_message(
                    a,
                ))));
            }
            for r in changes.replaced {
                let _ = events.send(event(p::fleet_event::Body::Replaced(p::SupplyReplaced {
                    device_id: r.device_id,
                    site: r.site,
                    supply: r.supply,
                    description: r.description,
                    from_percent: u32::from(r.from),
                    to_percent: u32::from(r.to),
                    at: r.at,
                })));
            }
            if events.receiver_count() > 0 {
                if let Ok(device) = queries.ask(queries::GetDevice(device_id)).await {
                    let _ = events.send(event(p::fleet_event::Body::DeviceUpdated(device)));
                }
            }
        }
        Answer::PollFailed(None) | Answer::Reading(Ingested::Duplicate) => {}
    }
}

/// The fleet service, for operators.
pub struct FleetService {
    queries: ActorRef<Queries>,
    registry: ActorRef<Registry>,
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
                SendError::HandlerError(msg) => Status::failed_precondition(msg),
                other => Status::internal(other.to_string()),
            })?;
        Ok(Response::new(p::CommandAccepted {
            command_id: id,
            site,
        }))
    }
}

#[tonic::async_trait]
impl Fleet for FleetService {
    async fn list_devices(
        &self,
        req: Request<p::ListDevicesRequest>,
    ) -> Result<Response<p::ListDevicesResponse>, Status> {
        require(Role::Operator, caller(&req)?)?;
        let devices = self
            .queries
            .ask(queries::ListDevices(req.into_inner().site))
            .await
            .map_err(from_query)?;
        Ok(Response::new(p::ListDevicesResponse { devices }))
    }

    async fn get_device(
        &self,
        req: Request<p::GetDeviceRequest>,
    ) -> Result<Response<p::Device>, Status> {
        require(Role::Operator, caller(&req)?)?;
        let device = self
            .queries
            .ask(queries::GetDevice(req.into_inner().id))
            .await
            .map_err(from_query)?;
        Ok(Response::new(device))
    }

    async fn list_supplies(
        &self,
        req: Request<p::ListSuppliesRequest>,
    ) -> Result<Response<p::ListSuppliesResponse>, Status> {
        require(Role::Operator, caller(&req)?)?;
        let q = req.into_inner();
        let supplies = self
            .queries
            .ask(queries::ListSupplies {
                low_only: q.low_only,
                site: q.site,
            })
            .await
            .map_err(from_query)?;
        Ok(Response::new(p::ListSuppliesResponse { supplies }))
    }

    async fn list_alerts(
        &self,
        req: Request<p::ListAlertsRequest>,
    ) -> Result<Response<p::ListAlertsResponse>, Status> {
        require(Role::Operator, caller(&req)?)?;
        let include_closed = req.into_inner().include_closed;
        let alerts = self
            .queries
            .ask(queries::ListAlerts { include_closed })
            .await
            .map_err(from_query)?;
        Ok(Response::new(p::ListAlertsResponse { alerts }))
    }

    async fn history(
        &self,
        req: Request<p::HistoryRequest>,
    ) -> Result<Response<p::HistoryResponse>, Status> {
        require(Role::Operator, caller(&req)?)?;
        let q = req.into_inner();
        let readings = self
            .queries
            .ask(queries::History {
                device_id: q.device_id,
                since: q.since,
            })
            .await
            .map_err(from_query)?;
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
        let d = self
            .queries
            .ask(queries::GetRecord(req.into_inner().device_id))
            .await
            .map_err(from_query)?;
        let host = d.addresses.last().cloned().ok_or_else(|| {
            Status::failed_precondition(format!("device {:?} has no address", d.id))
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

    async fn export(
        &self,
        req: Request<p::ExportRequest>,
    ) -> Result<Response<p::ExportResponse>, Status> {
        require(Role::Operator, caller(&req)?)?;
        let since = req.into_inner().since;
        if !since.is_empty() && crate::store::seconds(&since).is_none() {
            return Err(Status::invalid_argument(format!(
                "since: {since:?} is not an RFC 3339 time (2026-11-01T00:00:00Z)"
            )));
        }
        let rows = self
            .queries
            .ask(queries::Export { since })
            .await
            .map_err(from_query)?;
        Ok(Response::new(p::ExportResponse { rows }))
    }

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
    serve_with(config, store, Alerting::default(), shutdown).await
}

/// The alerting side of a coordinator: rules, the senders alerts wake, and the watchdog.
#[derive(Default)]
pub struct Alerting {
    /// Alert rules and what to queue.
    pub policy: Policy,
    /// The mailer and dealer uplink, where configured.
    pub notify: Notifiers,
    /// The watchdog's settings and how often it checks (None: no watchdog).
    pub watchdog: Option<(crate::watchdog::WatchdogConfig, std::time::Duration)>,
    /// The instruments ingest records into (none by default).
    pub metrics: crate::metrics::CoordinatorMetrics,
}

/// [`serve`], with alert rules, the senders the alerts wake, and the watchdog.
pub async fn serve_with(
    config: ServerConfig,
    store: Store,
    alerting: Alerting,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let Alerting {
        policy,
        notify,
        watchdog,
        metrics,
    } = alerting;
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(&config.cert_pem, &config.key_pem))
        .client_ca_root(Certificate::from_pem(&config.ca_pem));
    let limit = config.max_message_bytes;
    let registry = Registry::spawn(());
    let notify_for_watchdog = notify.clone();
    let ingestor = Ingestor::spawn(IngestorArgs {
        store: store.clone(),
        policy: policy.clone(),
        notify,
        metrics,
    });
    if let Some((wc, every)) = watchdog {
        let w = crate::watchdog::Watchdog::spawn(crate::watchdog::WatchdogArgs {
            store: store.clone(),
            config: wc,
            registry: registry.clone(),
            notify: notify_for_watchdog,
        });
        crate::watchdog::tick(w, every);
    }
    let queries = Queries::spawn((store, policy));
    let (events, _) = tokio::sync::broadcast::channel(1024);
    let (stop, stopping) = tokio::sync::watch::channel(false);
    Server::builder()
        .tls_config(tls)?
        .add_service(
            CollectorServer::new(CollectorService {
                stopping,
                ingestor,
                queries: queries.clone(),
                registry: registry.clone(),
                events: events.clone(),
            })
            .max_decoding_message_size(limit),
        )
        .add_service(
            FleetServer::new(FleetService {
                queries,
                registry,
                events,
            })
            .max_decoding_message_size(limit),
        )
        .serve_with_shutdown(config.listen, async move {
            shutdown.await;
            let _ = stop.send(true);
        })
        .await
}
