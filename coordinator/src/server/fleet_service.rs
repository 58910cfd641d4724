//! The fleet service, for operators (the interceptor lets only operator certificates
//! in): listings and history through the query side, commands to a site's collector
//! through the registry, and the live event stream.

use std::pin::Pin;

use kameo::actor::ActorRef;
use kameo::error::SendError;
use printwatch_proto::v1 as p;
use printwatch_proto::v1::fleet_server::Fleet;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use super::Events;
use crate::ingest::{Ingestor, MoveDevice, PutUser, RemoveUser};
use crate::queries::{self, Queries, QueryError};
use crate::registry::{Deliver, Registry};
use crate::store::users::{UserRecord, UserRole};
use crate::timestamp::Timestamp;

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

/// A listing sent in parts (see [`printwatch_proto::listing`]).
type Parts<M> = Pin<Box<dyn Stream<Item = Result<M, Status>> + Send>>;

/// `items` as a stream of messages of about a MiB, each made by `wrap`.
fn in_parts<T: prost::Message, M: Send + 'static>(
    items: Vec<T>,
    wrap: impl Fn(Vec<T>) -> M,
) -> Response<Parts<M>> {
    let parts: Vec<Result<M, Status>> = printwatch_proto::listing::parts(items)
        .into_iter()
        .map(|p| Ok(wrap(p)))
        .collect();
    Response::new(Box::pin(tokio_stream::iter(parts)))
}

/// A user as the wire shows it: never with its hash.
fn user_message(u: UserRecord) -> p::User {
    p::User {
        name: u.name,
        role: u.role.name().into(),
        sites: u.sites,
        password_hash: String::new(),
        created: u.created.rfc3339(),
    }
}

/// The fleet service, for operators.
pub struct FleetService {
    queries: ActorRef<Queries>,
    ingestor: ActorRef<Ingestor>,
    registry: ActorRef<Registry>,
    events: Events,
}

/// An operator's `since`: empty for all, else an RFC 3339 time.
fn since(text: &str) -> Result<Option<Timestamp>, Status> {
    if text.is_empty() {
        return Ok(None);
    }
    Timestamp::parse(text).map(Some).ok_or_else(|| {
        Status::invalid_argument(format!(
            "since: {text:?} is not an RFC 3339 time (2026-11-01T00:00:00Z)"
        ))
    })
}

impl FleetService {
    /// The service, answering through these actors.
    pub fn new(
        queries: ActorRef<Queries>,
        ingestor: ActorRef<Ingestor>,
        registry: ActorRef<Registry>,
        events: Events,
    ) -> FleetService {
        FleetService {
            queries,
            ingestor,
            registry,
            events,
        }
    }

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
    type ListDevicesStream = Parts<p::ListDevicesResponse>;
    type ListSuppliesStream = Parts<p::ListSuppliesResponse>;
    type ListAlertsStream = Parts<p::ListAlertsResponse>;
    type HistoryStream = Parts<p::HistoryResponse>;
    type ExportStream = Parts<p::ExportResponse>;

    async fn list_devices(
        &self,
        req: Request<p::ListDevicesRequest>,
    ) -> Result<Response<Self::ListDevicesStream>, Status> {
        let devices = self
            .queries
            .ask(queries::ListDevices(req.into_inner().site))
            .await
            .map_err(from_query)?;
        Ok(in_parts(devices, |devices| p::ListDevicesResponse {
            devices,
        }))
    }

    async fn get_device(
        &self,
        req: Request<p::GetDeviceRequest>,
    ) -> Result<Response<p::Device>, Status> {
        let device = self
            .queries
            .ask(queries::GetDevice(req.into_inner().id))
            .await
            .map_err(from_query)?;
        Ok(Response::new(device))
    }

    async fn put_user(&self, req: Request<p::User>) -> Result<Response<p::User>, Status> {
        let u = req.into_inner();
        crate::users::check_name(&u.name).map_err(|e| Status::invalid_argument(e.to_string()))?;
        crate::users::check_hash(&u.password_hash)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let role = UserRole::parse(&u.role)
            .ok_or_else(|| Status::invalid_argument("role: viewer or admin"))?;
        let record = UserRecord {
            name: u.name,
            role,
            sites: u.sites,
            hash: u.password_hash,
            created: Timestamp::now(),
        };
        self.ingestor
            .ask(PutUser(record.clone()))
            .await
            .map_err(|e| Status::internal(format!("the store: {e}")))?;
        Ok(Response::new(user_message(record)))
    }

    async fn set_password(
        &self,
        req: Request<p::SetPasswordRequest>,
    ) -> Result<Response<p::User>, Status> {
        let q = req.into_inner();
        crate::users::check_hash(&q.password_hash)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let mut found = self
            .queries
            .ask(queries::Users(Some(q.name.clone())))
            .await
            .map_err(from_query)?;
        let Some(mut record) = found.pop() else {
            return Err(Status::not_found(format!("no user {:?}", q.name)));
        };
        record.hash = q.password_hash;
        self.ingestor
            .ask(PutUser(record.clone()))
            .await
            .map_err(|e| Status::internal(format!("the store: {e}")))?;
        Ok(Response::new(user_message(record)))
    }

    async fn list_users(
        &self,
        _: Request<p::ListUsersRequest>,
    ) -> Result<Response<p::ListUsersResponse>, Status> {
        let users = self
            .queries
            .ask(queries::Users(None))
            .await
            .map_err(from_query)?;
        Ok(Response::new(p::ListUsersResponse {
            users: users.into_iter().map(user_message).collect(),
        }))
    }

    async fn remove_user(
        &self,
        req: Request<p::RemoveUserRequest>,
    ) -> Result<Response<p::RemoveUserResponse>, Status> {
        let name = req.into_inner().name;
        let removed = self
            .ingestor
            .ask(RemoveUser(name.clone()))
            .await
            .map_err(|e| Status::internal(format!("the store: {e}")))?;
        if !removed {
            return Err(Status::not_found(format!("no user {name:?}")));
        }
        Ok(Response::new(p::RemoveUserResponse { removed }))
    }

    async fn move_device(
        &self,
        req: Request<p::MoveDeviceRequest>,
    ) -> Result<Response<p::Device>, Status> {
        let q = req.into_inner();
        if q.site.trim().is_empty() {
            return Err(Status::invalid_argument("move to which site?"));
        }
        self.ingestor
            .ask(MoveDevice {
                id: q.id.clone(),
                to: q.site,
            })
            .await
            .map_err(|e| match e {
                SendError::HandlerError(msg) if msg.starts_with("refused: no device") => {
                    Status::not_found(format!("no device {:?}", q.id))
                }
                other => Status::internal(format!("the store: {other}")),
            })?;
        let _ = self
            .queries
            .tell(queries::Changed(vec![q.id.clone()]))
            .await;
        let device = self
            .queries
            .ask(queries::GetDevice(q.id))
            .await
            .map_err(from_query)?;
        Ok(Response::new(device))
    }

    async fn list_supplies(
        &self,
        req: Request<p::ListSuppliesRequest>,
    ) -> Result<Response<Self::ListSuppliesStream>, Status> {
        let q = req.into_inner();
        let supplies = self
            .queries
            .ask(queries::ListSupplies {
                low_only: q.low_only,
                site: q.site,
            })
            .await
            .map_err(from_query)?;
        Ok(in_parts(supplies, |supplies| p::ListSuppliesResponse {
            supplies,
        }))
    }

    async fn list_alerts(
        &self,
        req: Request<p::ListAlertsRequest>,
    ) -> Result<Response<Self::ListAlertsStream>, Status> {
        let include_closed = req.into_inner().include_closed;
        let alerts = self
            .queries
            .ask(queries::ListAlerts { include_closed })
            .await
            .map_err(from_query)?;
        Ok(in_parts(alerts, |alerts| p::ListAlertsResponse { alerts }))
    }

    async fn history(
        &self,
        req: Request<p::HistoryRequest>,
    ) -> Result<Response<Self::HistoryStream>, Status> {
        let q = req.into_inner();
        let readings = self
            .queries
            .ask(queries::History {
                since: since(&q.since)?,
                device_id: q.device_id,
            })
            .await
            .map_err(from_query)?;
        Ok(in_parts(readings, |readings| p::HistoryResponse {
            readings,
        }))
    }

    async fn add_printer(
        &self,
        req: Request<p::AddPrinterRequest>,
    ) -> Result<Response<p::CommandAccepted>, Status> {
        let q = req.into_inner();
        if q.host.trim().is_empty() {
            return Err(Status::invalid_argument(
                "give the printer's address or host name",
            ));
        }
        agent_core::range::check_target(q.host.trim()).map_err(Status::invalid_argument)?;
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
        let q = req.into_inner();
        if q.cancel {
            return self
                .deliver(q.site, p::command::Body::CancelSweeps(p::CancelSweeps {}))
                .await;
        }
        if q.ranges.is_empty() {
            return Err(Status::invalid_argument("give at least one range to sweep"));
        }
        let spans = |list: &[String]| -> Result<Vec<agent_core::range::Span>, Status> {
            list.iter()
                .map(|r| match r.parse::<agent_core::range::Range>() {
                    Ok(agent_core::range::Range::Span(s)) => Ok(Some(s)),
                    // A name is one address, resolved by the collector.
                    Ok(agent_core::range::Range::Name(_)) => Ok(None),
                    Err(e) => Err(Status::invalid_argument(e.to_string())),
                })
                .filter_map(Result::transpose)
                .collect()
        };
        let set = agent_core::range::SpanSet::new(&spans(&q.ranges)?, &spans(&q.exclude)?);
        if set.len() > agent_core::range::LARGE_SWEEP && !q.large {
            return Err(Status::invalid_argument(format!(
                "{} addresses is more than a /16: ask for a large sweep to go ahead (--large)",
                set.len()
            )));
        }
        let sweep = p::Sweep {
            ranges: q.ranges,
            exclude: q.exclude,
            communities: q.communities,
            rate: q.rate,
            port: q.port,
            large: q.large,
            ipp: q.ipp,
            ipp_budget_seconds: q.ipp_budget_seconds,
        };
        self.deliver(q.site, p::command::Body::Sweep(sweep)).await
    }

    type WatchStream = Pin<Box<dyn Stream<Item = Result<p::FleetEvent, Status>> + Send>>;

    async fn export(
        &self,
        req: Request<p::ExportRequest>,
    ) -> Result<Response<Self::ExportStream>, Status> {
        let since = since(&req.into_inner().since)?;
        let rows = self
            .queries
            .ask(queries::Export { since })
            .await
            .map_err(from_query)?;
        Ok(in_parts(rows, |rows| p::ExportResponse { rows }))
    }

    async fn watch(
        &self,
        _: Request<p::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let rx = self.events.subscribe();
        let stream =
            tokio_stream::wrappers::BroadcastStream::new(rx).filter_map(|e| e.ok().map(Ok));
        Ok(Response::new(Box::pin(stream)))
    }
}
