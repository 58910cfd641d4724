//! A poller: a kameo actor that reads one printer at a time, over SNMP or over IPP. The
//! scheduler owns a fixed set of them, the bounded pool that caps how many printers are
//! read at once; each reports back to the scheduler when its poll is done and its reading
//! is in the outbox.

use std::net::SocketAddr;

use agent_core::ipp::{Failure, IppClient};
use agent_core::poll::{first_poll, steady_poll, Due, PollPlan};
use agent_core::session::Session;
use agent_core::transport::{Security, SnmpError, Target, Transport};
use kameo::prelude::*;
use printwatch_proto::v1 as p;

use crate::metrics::{CollectorMetrics, PollKind};
use crate::outbox::Outbox;
use crate::scheduler::{PollDone, Scheduler};

/// A poller's state: its place in the pool and what it needs to read and report.
pub struct Poller {
    id: usize,
    transport: Transport,
    outbox: Outbox,
    scheduler: WeakActorRef<Scheduler>,
    metrics: CollectorMetrics,
}

/// What a poller starts with.
pub struct PollerArgs {
    /// Its index in the scheduler's pool.
    pub id: usize,
    /// The shared SNMP transport.
    pub transport: Transport,
    /// Where readings go.
    pub outbox: Outbox,
    /// Whom to tell when done (weakly: the scheduler owns the pool).
    pub scheduler: WeakActorRef<Scheduler>,
    /// Where each poll's cost is recorded.
    pub metrics: CollectorMetrics,
}

impl Actor for Poller {
    type Args = PollerArgs;
    type Error = kameo::error::Infallible;

    async fn on_start(a: PollerArgs, _: ActorRef<Self>) -> Result<Self, Self::Error> {
        Ok(Poller {
            id: a.id,
            transport: a.transport,
            outbox: a.outbox,
            scheduler: a.scheduler,
            metrics: a.metrics,
        })
    }
}

/// Read this printer over IPP: the client (with its kept connection) goes to the poller
/// and comes back in [`PollDone`].
pub struct IppPoll {
    /// The printer's client.
    pub client: Box<IppClient>,
    /// Polls of it that failed in a row before this one.
    pub failures: u32,
}

/// What came back of an IPP poll, beside its outcome.
pub struct IppDone {
    /// The client, to keep its connection for the next poll.
    pub client: Box<IppClient>,
    /// The printer showed another certificate than the one pinned.
    pub certificate_changed: bool,
}

impl Message<IppPoll> for Poller {
    type Reply = ();
    async fn handle(&mut self, m: IppPoll, _: &mut Context<Self, ()>) {
        let IppPoll {
            mut client,
            failures,
        } = m;
        // The reading names the printer by its URI.
        let uri = client.uri().to_string();
        let started = std::time::Instant::now();
        let result = agent_core::ipp::poll(&mut client, &uri).await;
        let (cost, certificate_changed) = match &result {
            Ok((_, cost)) => (*cost, false),
            Err(e) => (
                Default::default(),
                matches!(e.failure, Failure::CertificateChanged { .. }),
            ),
        };
        self.metrics
            .ipp_poll_done(result.is_ok(), &cost, started.elapsed());
        let outcome = match result {
            Ok((reading, _)) => self.store(reading).await.map(|()| None),
            Err(e) => {
                let error = e.failure.to_string();
                self.failed(uri, failures, error.clone(), certificate_changed)
                    .await;
                Err(error)
            }
        };
        self.report(PollDone {
            addr: client.addr(),
            outcome,
            credential: None,
            poller: self.id,
            ipp: Some(IppDone {
                client,
                certificate_changed,
            }),
        })
        .await;
    }
}

impl Poller {
    /// Puts a reading in the outbox.
    async fn store(&self, reading: agent_core::Reading) -> Result<(), String> {
        self.outbox
            .push(p::envelope::Body::Reading(reading.into()))
            .await
            .map(|_| ())
            .map_err(|e| format!("storing the reading: {e}"))
    }

    /// Tells the coordinator of a failed poll, through the outbox like any reading: it
    /// decides when failures make a printer unreachable.
    async fn failed(&self, address: String, before: u32, error: String, certificate_changed: bool) {
        let failed = p::PollFailed {
            address,
            consecutive: before.saturating_add(1),
            error,
            at: agent_core::poll::now_rfc3339(),
            certificate_changed,
        };
        let address = failed.address.clone();
        if let Err(e) = self
            .outbox
            .push(p::envelope::Body::PollFailed(failed))
            .await
        {
            tracing::error!(address = %address, "storing a poll failure in the outbox: {e}");
        }
    }

    /// Tells the scheduler the poll is done and this poller idle.
    async fn report(&self, done: PollDone) {
        if let Some(scheduler) = self.scheduler.upgrade() {
            let _ = scheduler.tell(done).await;
        }
    }
}

/// Read this printer: in full without a plan, in steady state with one.
pub struct Poll {
    /// Who and how.
    pub target: Target,
    /// The place of `target`'s credential in the collector's list, and the list: when it
    /// fails, the others are tried in order before the printer is called unreachable.
    pub credentials: Option<(usize, std::sync::Arc<Vec<Security>>)>,
    /// What an earlier poll learnt; `None` for a full read.
    pub plan: Option<PollPlan>,
    /// Read the vendor's meters too.
    pub meters: bool,
    /// Polls of this printer that failed in a row before this one.
    pub failures: u32,
    /// IPP clients for the same printer, tried in order when SNMP gives no answer or no
    /// supplies (empty: SNMP only). The first that answers is the printer's way from now
    /// on: it comes back in [`PollDone`].
    pub fallback: Vec<IppClient>,
}

impl Message<Poll> for Poller {
    type Reply = ();
    async fn handle(&mut self, m: Poll, _: &mut Context<Self, ()>) {
        let addr: SocketAddr = m.target.addr;
        let mut session = Session::new(self.transport.clone(), m.target);
        let kind = if m.plan.is_some() {
            PollKind::Steady
        } else {
            PollKind::First
        };
        let started = std::time::Instant::now();
        let target = session.target().clone();
        let mut result = match m.plan {
            Some(mut plan) => steady_poll(&mut session, &mut plan, Due { meters: m.meters })
                .await
                .map(|r| (r, plan)),
            None => first_poll(&mut session).await,
        };
        let mut credential = None;
        if let (Err(e), Some((used, list))) = (&result, &m.credentials) {
            if credential_may_be_wrong(e) {
                // The credential that worked stopped working (a new password, v3 turned
                // on): walk the rest of the list before calling the printer unreachable.
                for (i, security) in list.iter().enumerate() {
                    if i == *used {
                        continue;
                    }
                    let mut other = Session::new(
                        self.transport.clone(),
                        target.with_security(security.clone()),
                    );
                    let r = first_poll(&mut other).await;
                    session.counters += other.counters;
                    if r.is_ok() {
                        tracing::info!(address = %addr, credential = %agent_core::discover::credential_name(list, i), "the printer answers to another credential");
                        credential = Some(i);
                        result = r;
                        break;
                    }
                }
            }
        }
        self.metrics
            .poll_done(kind, result.is_ok(), &session.counters, started.elapsed());
        // SNMP silent (turned off on the printer) or saying nothing of its supplies: the
        // same printer over IPP, when the scheduler offered it.
        let thin = match &result {
            Ok((reading, _)) => reading.supplies.is_empty(),
            Err(e) => matches!(e, SnmpError::Timeout { .. }),
        };
        let mut switched = None;
        if thin && !m.fallback.is_empty() {
            let metrics = &self.metrics;
            let found = agent_core::ipp::first_way(m.fallback, |uri, result, took| {
                let cost = result.as_ref().map(|(_, c)| *c).unwrap_or_default();
                metrics.ipp_poll_done(result.is_ok(), &cost, took);
                if let Err(e) = result {
                    tracing::debug!(address = %uri, "no IPP either: {e}");
                }
            })
            .await;
            // Over a thin SNMP agent, IPP is worth it only for the supplies it gives.
            let found = found.filter(|(_, r)| result.is_err() || !r.supplies.is_empty());
            if let Some((client, reading)) = found {
                tracing::info!(address = %addr, way = %client.uri(), "the printer answers over IPP: it is read that way from now on");
                switched = Some(self.store(reading).await.map(|()| Box::new(client)));
            }
        }
        if let Some(outcome) = switched {
            let (outcome, ipp) = match outcome {
                Ok(client) => (
                    Ok(None),
                    Some(IppDone {
                        client,
                        certificate_changed: false,
                    }),
                ),
                Err(e) => (Err(e), None),
            };
            self.report(PollDone {
                addr,
                outcome,
                credential,
                poller: self.id,
                ipp,
            })
            .await;
            return;
        }
        let outcome = match result {
            Ok((reading, plan)) => self.store(reading).await.map(|()| Some(plan)),
            Err(e) => {
                // The address as the coordinator knows the printer.
                let address = if addr.port() == 161 {
                    addr.ip().to_string()
                } else {
                    addr.to_string()
                };
                self.failed(address, m.failures, e.to_string(), false).await;
                Err(e.to_string())
            }
        };
        self.report(PollDone {
            addr,
            outcome,
            credential,
            poller: self.id,
            ipp: None,
        })
        .await;
    }
}

/// Errors a different credential could cure: silence (a wrong community is silent) and
/// every refusal of a v3 user.
fn credential_may_be_wrong(e: &SnmpError) -> bool {
    matches!(
        e,
        SnmpError::Timeout { .. }
            | SnmpError::UnknownUser { .. }
            | SnmpError::WrongAuth { .. }
            | SnmpError::WrongPriv { .. }
            | SnmpError::UnsupportedLevel { .. }
            | SnmpError::NotInTimeWindow { .. }
            | SnmpError::Refused { .. }
    )
}
