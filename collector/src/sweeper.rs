//! The sweeper: a kameo actor that runs discovery sweeps the coordinator asks for. Each
//! sweep runs as a task of its own; every device found goes to the outbox as a Discovered
//! envelope (the coordinator stores its first reading), every printer found is handed to
//! the scheduler to be polled from then on, and a SweepDone envelope says how it ended.
//! A sweep that asks for IPP then asks the addresses SNMP did not answer over IPP
//! ([`agent_core::ipp::sweep`]); a printer found that way is polled over IPP.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use agent_core::classify::DeviceClass;
use agent_core::discover::{sweep, EndReason, SweepConfig, SweepStats, DEFAULT_RATE};
use agent_core::ipp::sweep::{IppFound, IppSweepConfig, IppSweepSummary};
use agent_core::message::Version;
use agent_core::transport::{Security, Transport, TransportConfig};
use kameo::prelude::*;
use printwatch_proto::v1 as p;

use crate::outbox::Outbox;
use crate::scheduler::{AddTarget, Scheduler};

/// The sweeper's state: the sweeps running, by command number.
pub struct Sweeper {
    outbox: Outbox,
    scheduler: ActorRef<Scheduler>,
    community_version: Version,
    timeout: Duration,
    default_credentials: Arc<Vec<Security>>,
    ipp_port: u16,
    /// Each running sweep's stop switch: true ends it as cancelled.
    running: BTreeMap<u64, tokio::sync::watch::Sender<bool>>,
    me: ActorRef<Sweeper>,
}

/// What the sweeper starts with.
pub struct SweeperArgs {
    /// Where found devices and results go.
    pub outbox: Outbox,
    /// Who polls the printers found.
    pub scheduler: ActorRef<Scheduler>,
    /// The version of the communities a sweep names.
    pub community_version: Version,
    /// Probe timeout.
    pub timeout: Duration,
    /// The collector's credentials, for a sweep that names no communities.
    pub default_credentials: Arc<Vec<Security>>,
    /// The port a sweep asking for IPP asks.
    pub ipp_port: u16,
}

impl Actor for Sweeper {
    type Args = SweeperArgs;
    type Error = kameo::error::Infallible;

    async fn on_start(a: SweeperArgs, me: ActorRef<Self>) -> Result<Self, Self::Error> {
        Ok(Sweeper {
            outbox: a.outbox,
            scheduler: a.scheduler,
            community_version: a.community_version,
            timeout: a.timeout,
            default_credentials: a.default_credentials,
            ipp_port: a.ipp_port,
            running: BTreeMap::new(),
            me,
        })
    }
}

/// Sweep, as the coordinator asked.
pub struct StartSweep {
    /// The command's number, echoed in what the sweep reports.
    pub command_id: u64,
    /// What to sweep.
    pub sweep: p::Sweep,
}

fn address_of(shown: &str, port: u16) -> Option<SocketAddr> {
    shown.parse::<SocketAddr>().ok().or_else(|| {
        shown
            .parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, port))
    })
}

/// What a sweep works with, from the sweeper.
struct Tools {
    outbox: Outbox,
    scheduler: ActorRef<Scheduler>,
    community_version: Version,
    timeout: Duration,
    default_credentials: Arc<Vec<Security>>,
    ipp_port: u16,
}

async fn run_sweep(
    command_id: u64,
    s: p::Sweep,
    mut cancel: tokio::sync::watch::Receiver<bool>,
    tools: Tools,
) {
    let Tools {
        outbox,
        scheduler,
        community_version,
        timeout,
        default_credentials,
        ipp_port,
    } = tools;
    let port = u16::try_from(s.port)
        .ok()
        .filter(|p| *p != 0)
        .unwrap_or(161);
    let rate = if s.rate == 0 { DEFAULT_RATE } else { s.rate };
    let done = |reason: &str,
                summary: Option<agent_core::discover::Summary>,
                ipp: Option<IppSweepSummary>| {
        let mut d = p::SweepDone {
            command_id,
            reason: reason.to_string(),
            ..Default::default()
        };
        if let Some(x) = summary {
            d.probed = x.probed;
            d.printers = x.printers;
            d.others = x.others;
            d.bytes_sent = x.bytes_sent;
            d.bytes_received = x.bytes_received;
            d.seconds = x.seconds;
        }
        if let Some(i) = ipp {
            d.ipp_asked = i.probed;
            d.ipp_printers = i.found;
            d.ipp_not_asked = i.not_probed;
            d.printers += i.found;
            d.bytes_sent += i.bytes_sent;
            d.bytes_received += i.bytes_received;
        }
        p::envelope::Body::SweepDone(d)
    };
    let addresses = match crate::ranges::addresses(&s.ranges, &s.exclude).await {
        Ok((a, unresolved)) => {
            for e in unresolved {
                tracing::warn!(sweep = command_id, "a range is skipped: {e}");
            }
            a
        }
        Err(e) => {
            let _ = outbox
                .push(done(&format!("error: {e:#}"), None, None))
                .await;
            return;
        }
    };
    if let Err(e) = crate::ranges::check_size(&addresses, s.large) {
        let _ = outbox
            .push(done(&format!("error: {e:#}"), None, None))
            .await;
        return;
    }
    let transport = match Transport::bind(TransportConfig {
        max_pps: Some(rate),
        ..TransportConfig::default()
    })
    .await
    {
        Ok(t) => t,
        Err(e) => {
            let _ = outbox
                .push(done(&format!("error: opening sockets: {e}"), None, None))
                .await;
            return;
        }
    };
    // A sweep naming communities tries those; otherwise the collector's own list, whose
    // places the scheduler knows, so a printer found keeps the credential that answered.
    let own_list = s.communities.is_empty();
    let credentials: Vec<Security> = if own_list {
        default_credentials.to_vec()
    } else {
        s.communities
            .iter()
            .map(|c| Security::Community {
                version: community_version,
                community: c.as_bytes().to_vec(),
            })
            .collect()
    };
    // A printer found with one of the sweep's communities keeps that community as its own.
    let named = s.communities;
    let swept = s.ipp.then(|| addresses.clone());
    let config = SweepConfig {
        addresses,
        port,
        credentials,
        timeout,
        retries: 0,
        read_printers: true,
        rate,
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let publisher = {
        let outbox = outbox.clone();
        let scheduler = scheduler.clone();
        tokio::spawn(async move {
            let mut answered = std::collections::HashSet::new();
            while let Some(f) = rx.recv().await {
                let f: agent_core::discover::Found = f;
                if let Some(ip) = f.ipv4() {
                    answered.insert(ip);
                }
                if f.class == DeviceClass::Printer {
                    if let Some(addr) = address_of(&f.identity.address, port) {
                        let _ = scheduler
                            .tell(AddTarget {
                                addr,
                                name: f.identity.address.clone(),
                                community: named.get(f.credential).cloned(),
                                credential: own_list.then_some(f.credential),
                                ipp: None,
                            })
                            .await;
                    }
                }
                let class = match f.class {
                    DeviceClass::Printer => "printer",
                    DeviceClass::Other => "other",
                };
                let body = p::envelope::Body::Discovered(p::Discovered {
                    class: class.into(),
                    identity: Some(f.identity.into()),
                    reading: f.reading.map(Into::into),
                    command_id,
                });
                if let Err(e) = outbox.push(body).await {
                    tracing::error!(
                        sweep = command_id,
                        "storing a found device in the outbox: {e}"
                    );
                }
            }
            answered
        })
    };
    let in_flight = (rate as usize).saturating_mul(2).clamp(64, 100_000);
    let summary = sweep(
        transport,
        config,
        in_flight,
        Arc::new(SweepStats::default()),
        tx,
        {
            let mut cancel = cancel.clone();
            async move {
                let _ = cancel.wait_for(|c| *c).await;
                EndReason::Cancelled
            }
        },
    )
    .await;
    let answered = publisher.await.unwrap_or_default();
    let mut reason = match summary.reason {
        EndReason::Complete => "complete",
        EndReason::TimeLimit => "time_limit",
        EndReason::Cancelled => "cancelled",
    };
    let mut ipp = None;
    if let (Some(swept), false) = (swept, summary.reason == EndReason::Cancelled) {
        let budget = match s.ipp_budget_seconds {
            0 => 60,
            n => u64::from(n),
        };
        let config =
            IppSweepConfig::after_snmp(ipp_port, Duration::from_secs(budget), rate, timeout);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let publish = tokio::spawn(publish_ipp(command_id, rx, outbox.clone(), scheduler));
        tokio::select! {
            s = agent_core::ipp::sweep::sweep(&swept, &answered, &config, tx) => ipp = Some(s),
            _ = cancel.wait_for(|c| *c) => reason = "cancelled",
        }
        let _ = publish.await;
    }
    let _ = outbox.push(done(reason, Some(summary), ipp)).await;
}

/// Each printer an IPP sweep found: polled over IPP from now on, and reported.
async fn publish_ipp(
    command_id: u64,
    mut found: tokio::sync::mpsc::UnboundedReceiver<IppFound>,
    outbox: Outbox,
    scheduler: ActorRef<Scheduler>,
) {
    while let Some(f) = found.recv().await {
        let Ok(ip) = f.uri.host.parse::<IpAddr>() else {
            continue;
        };
        let _ = scheduler
            .tell(AddTarget {
                addr: SocketAddr::new(ip, f.uri.port),
                name: f.uri.to_string(),
                community: None,
                credential: None,
                ipp: Some(f.uri.clone()),
            })
            .await;
        let body = p::envelope::Body::Discovered(p::Discovered {
            class: "printer".into(),
            identity: Some(f.reading.identity.clone().into()),
            reading: Some(f.reading.into()),
            command_id,
        });
        if let Err(e) = outbox.push(body).await {
            tracing::error!(
                sweep = command_id,
                "storing a found printer in the outbox: {e}"
            );
        }
    }
}

impl Message<StartSweep> for Sweeper {
    type Reply = ();
    async fn handle(&mut self, m: StartSweep, _: &mut Context<Self, ()>) {
        let me = self.me.clone();
        let tools = Tools {
            outbox: self.outbox.clone(),
            scheduler: self.scheduler.clone(),
            community_version: self.community_version,
            timeout: self.timeout,
            default_credentials: self.default_credentials.clone(),
            ipp_port: self.ipp_port,
        };
        let id = m.command_id;
        let (stop, cancel) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            run_sweep(id, m.sweep, cancel, tools).await;
            let _ = me.tell(SweepFinished(id)).await;
        });
        self.running.insert(id, stop);
    }
}

/// Stop every running sweep: each ends as cancelled and says so in its SweepDone.
pub struct CancelSweeps;

impl Message<CancelSweeps> for Sweeper {
    type Reply = ();
    async fn handle(&mut self, _: CancelSweeps, _: &mut Context<Self, ()>) {
        for (id, stop) in &self.running {
            tracing::info!(sweep = id, "a sweep is cancelled");
            let _ = stop.send(true);
        }
    }
}

/// A sweep ended.
pub struct SweepFinished(pub u64);

impl Message<SweepFinished> for Sweeper {
    type Reply = ();
    async fn handle(&mut self, m: SweepFinished, _: &mut Context<Self, ()>) {
        self.running.remove(&m.0);
    }
}
