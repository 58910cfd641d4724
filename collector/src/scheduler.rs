//! The scheduler: a kameo actor that owns the collector's targets and decides when each is
//! polled. Polls are spread over the interval (each target starts at its own offset, so a
//! site is never polled in one burst) and handed to a bounded pool of [`Poller`] actors,
//! which write their reading to the outbox before they report back. Status and supply levels share the steady-state poll (two
//! round trips); vendor meters are read on their own, slower cadence; a target is read in
//! full again when its plan is lost or every `identity` interval. A target given as an
//! `ipp://` or `ipps://` URI is read over IPP instead, one request per status poll on a
//! connection its client keeps; the scheduler keeps each client between polls and pins
//! each `ipps://` printer's first certificate in the [`PinStore`].

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::SocketAddr;
use std::time::Duration;

use agent_core::ipp::{IppClient, IppUri, Trust};
use agent_core::poll::{PackedPlan, PollPlan};
use agent_core::transport::{Security, Target, Transport};
use kameo::prelude::*;
use tokio::time::Instant;

use crate::outbox::Outbox;
use crate::pins::PinStore;
use crate::poller::{IppDone, IppPoll, Poll, Poller, PollerArgs};
use crate::ways::WayStore;

/// How often each kind of poll happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intervals {
    /// Status and supply levels.
    pub status: Duration,
    /// Vendor page meters.
    pub meters: Duration,
    /// A full read (identity, supply table shape).
    pub identity: Duration,
}

/// How to talk SNMP to the targets.
#[derive(Debug, Clone)]
pub struct SnmpSettings {
    /// The credentials to try, in order, on a printer that has none of its own.
    pub credentials: std::sync::Arc<Vec<Security>>,
    /// The version of a community given with one printer (`printwatch add --community`).
    pub community_version: agent_core::message::Version,
    /// First timeout.
    pub timeout: Duration,
    /// Retries.
    pub retries: u32,
}

/// How to talk IPP to the `ipp://` and `ipps://` targets.
pub struct IppSettings {
    /// The CAs an `ipps://` printer's certificate must chain to; `None`: each printer's
    /// first certificate, pinned.
    pub roots: Option<Trust>,
    /// The whole exchange of one poll.
    pub timeout: Duration,
    /// The pinned certificates.
    pub pins: PinStore,
    /// The printers given by address that answer IPP instead of SNMP.
    pub ways: WayStore,
    /// The port on which a printer given by address is asked over IPP when its SNMP is
    /// silent or says nothing of its supplies; `None`: never.
    pub fallback_port: Option<u16>,
}

impl IppSettings {
    /// The settings with the pins and ways kept in `data_dir`: trusting `roots` (or each
    /// printer's first certificate), each exchange within `timeout`, and asking a printer
    /// given by address over IPP on `fallback_port` when its SNMP is silent or thin.
    pub fn open(
        data_dir: &std::path::Path,
        roots: Option<Trust>,
        timeout: Duration,
        fallback_port: Option<u16>,
    ) -> Result<IppSettings, crate::json_map::MapError> {
        Ok(IppSettings {
            roots,
            timeout,
            pins: PinStore::open(data_dir)?,
            ways: WayStore::open(data_dir)?,
            fallback_port,
        })
    }

    /// A new client for the printer at `uri`, reached at `at`, trusting what the settings
    /// and the printer's pin say.
    fn client(&self, uri: IppUri, at: SocketAddr) -> IppClient {
        let trust = match &self.roots {
            Some(roots) => roots.clone(),
            None => Trust::FirstUse(self.pins.get(&uri.to_string())),
        };
        IppClient::new(uri, at, trust, self.timeout)
    }
}

/// An IPP target's part of its state.
struct IppWay {
    uri: IppUri,
    /// Found by falling back from SNMP (and so kept in the [`WayStore`]), not given.
    found: bool,
    /// Its client, kept between polls for its connection (`None` while a poller has it, or
    /// before the first poll).
    client: Option<Box<IppClient>>,
    /// It answered at least once.
    read: bool,
}

impl IppWay {
    /// Where its client connects: the target's address, on the URI's port (the target of
    /// a printer found by falling back from SNMP is its SNMP address).
    fn at(&self, target: SocketAddr) -> SocketAddr {
        SocketAddr::new(target.ip(), self.uri.port)
    }
}

/// A poll handed to a poller: over SNMP, or over IPP on the target's own client.
// Held only while `start_due` hands the due polls out, one per idle poller.
#[allow(clippy::large_enum_variant)]
enum Job {
    Snmp(Poll),
    Ipp(IppPoll),
}

struct Tracked {
    name: String,
    /// Read over IPP, not SNMP.
    ipp: Option<IppWay>,
    /// The printer's own credential (given with it), tried alone.
    own: Option<Security>,
    /// Otherwise the place in the collector's list of the credential that last worked:
    /// a steady poll asks with it straight away.
    credential: usize,
    /// Failed polls in a row.
    failures: u32,
    /// What the last poll learnt, packed: this is most of a printer's memory.
    plan: Option<PackedPlan>,
    next_status: Instant,
    next_meters: Instant,
    next_identity: Instant,
    busy: bool,
}

/// The scheduler's state.
pub struct Scheduler {
    targets: BTreeMap<SocketAddr, Tracked>,
    snmp: SnmpSettings,
    intervals: Intervals,
    pollers: Vec<ActorRef<Poller>>,
    idle: Vec<usize>,
    metrics: crate::metrics::CollectorMetrics,
    /// When each target is next due, earliest first: the most overdue printer is polled
    /// first, so a fleet larger than the pool can poll in an interval is served in turn
    /// rather than the same printers first every time. Entries whose time no longer matches
    /// their target's are stale and skipped.
    due: BinaryHeap<Reverse<(Instant, SocketAddr)>>,
    ipp: IppSettings,
}

/// What the scheduler starts with.
pub struct SchedulerArgs {
    /// The shared SNMP transport.
    pub transport: Transport,
    /// SNMP settings.
    pub snmp: SnmpSettings,
    /// IPP settings.
    pub ipp: IppSettings,
    /// Cadences.
    pub intervals: Intervals,
    /// At most this many polls at once.
    pub pollers: usize,
    /// Where readings go.
    pub outbox: Outbox,
    /// The static targets: address, the name the user gave, and the URI of one read over
    /// IPP.
    pub targets: Vec<(SocketAddr, String, Option<IppUri>)>,
    /// Where polls are counted.
    pub metrics: crate::metrics::CollectorMetrics,
}

/// The offset of a target inside an interval, the same on every start, so polls are spread.
fn offset(addr: SocketAddr, interval: Duration) -> Duration {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in addr.to_string().bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let ms = interval.as_millis().max(1) as u64;
    Duration::from_millis(h % ms)
}

impl Scheduler {
    fn track(
        &mut self,
        addr: SocketAddr,
        name: String,
        community: Option<String>,
        credential: Option<usize>,
        ipp: Option<IppUri>,
    ) {
        let own = community.map(|c| Security::Community {
            version: self.snmp.community_version,
            community: c.into_bytes(),
        });
        let now = Instant::now();
        let first = now + offset(addr, self.intervals.status.min(Duration::from_secs(30)));
        if !self.targets.contains_key(&addr) {
            self.due.push(Reverse((first, addr)));
        }
        // A printer given by address that answered IPP before is asked that way at once.
        let (ipp, found) = match ipp {
            Some(uri) => (Some(uri), false),
            None => (self.ipp.ways.get(addr).cloned(), true),
        };
        self.targets.entry(addr).or_insert_with(|| Tracked {
            name,
            ipp: ipp.map(|uri| IppWay {
                uri,
                found,
                client: None,
                read: false,
            }),
            own,
            credential: credential.unwrap_or(0),
            failures: 0,
            plan: None,
            next_status: first,
            next_meters: now,
            next_identity: now + self.intervals.identity,
            busy: false,
        });
    }

    /// Hands every due target to an idle poller, as long as there are idle pollers.
    async fn start_due(&mut self) {
        let now = Instant::now();
        let mut due = Vec::new();
        while !self.idle.is_empty() {
            let Some(&Reverse((at, addr))) = self.due.peek() else {
                break;
            };
            if at > now {
                break;
            }
            self.due.pop();
            let Some(t) = self.targets.get_mut(&addr) else {
                continue;
            };
            // Stale (rescheduled since), or still being polled: its poll's end re-queues it.
            if t.busy || t.next_status != at {
                continue;
            }
            let Some(poller) = self.idle.pop() else { break };
            t.busy = true;
            t.next_status = now + self.intervals.status;
            self.due.push(Reverse((t.next_status, addr)));
            if let Some(way) = t.ipp.as_mut() {
                let client = match way.client.take() {
                    Some(c) => c,
                    None => Box::new(self.ipp.client(way.uri.clone(), way.at(addr))),
                };
                let failures = t.failures;
                due.push((poller, Job::Ipp(IppPoll { client, failures })));
                continue;
            }
            let addr = &addr;
            let meters = t.next_meters <= now;
            if meters {
                t.next_meters = now + self.intervals.meters;
            }
            let full = t.plan.is_none() || t.next_identity <= now;
            if full {
                t.next_identity = now + self.intervals.identity;
            }
            // A plan that does not unpack (it never should) costs a full read, nothing more.
            let plan = if full {
                None
            } else {
                t.plan.take().and_then(|p| p.unpack().ok())
            };
            let list = &self.snmp.credentials;
            let (security, credentials) = match &t.own {
                Some(own) => (Some(own.clone()), None),
                None => (
                    list.get(t.credential).or(list.first()).cloned(),
                    Some((t.credential, list.clone())),
                ),
            };
            let Some(security) = security else {
                // No credential at all (an empty list is refused at start): nothing to ask.
                self.idle.push(poller);
                continue;
            };
            let target = Target {
                addr: *addr,
                security,
                timeout: self.snmp.timeout,
                retries: self.snmp.retries,
            };
            // A full read of a printer that answers, or a poll after the 1st, 2nd, 4th,
            // 8th... failure in a row, may find it over IPP instead: a printer that is off
            // costs an IPP connection attempt ever more rarely, not at every poll.
            let fallback = match self.ipp.fallback_port {
                Some(port) if (full && t.failures == 0) || t.failures.is_power_of_two() => {
                    let at = SocketAddr::new(addr.ip(), port);
                    [true, false]
                        .into_iter()
                        .map(|secure| self.ipp.client(IppUri::everywhere(at, secure), at))
                        .collect()
                }
                _ => Vec::new(),
            };
            due.push((
                poller,
                Job::Snmp(Poll {
                    target,
                    credentials,
                    plan,
                    meters,
                    failures: t.failures,
                    fallback,
                }),
            ));
        }
        for (poller, job) in due {
            // An idle poller's mailbox is empty: this does not wait.
            let to = &self.pollers[poller];
            let sent = match job {
                Job::Snmp(poll) => to.tell(poll).await.is_ok(),
                Job::Ipp(poll) => to.tell(poll).await.is_ok(),
            };
            if !sent {
                self.idle.push(poller);
            }
        }
    }
}

impl Actor for Scheduler {
    type Args = SchedulerArgs;
    type Error = kameo::error::Infallible;

    async fn on_start(args: SchedulerArgs, me: ActorRef<Self>) -> Result<Self, Self::Error> {
        let size = args.pollers.max(1);
        let pollers: Vec<ActorRef<Poller>> = (0..size)
            .map(|id| {
                Poller::spawn(PollerArgs {
                    id,
                    transport: args.transport.clone(),
                    outbox: args.outbox.clone(),
                    scheduler: me.downgrade(),
                    metrics: args.metrics.clone(),
                })
            })
            .collect();
        let mut s = Scheduler {
            targets: BTreeMap::new(),
            snmp: args.snmp,
            intervals: args.intervals,
            pollers,
            idle: (0..size).rev().collect(),
            metrics: args.metrics,
            due: BinaryHeap::new(),
            ipp: args.ipp,
        };
        for (addr, name, ipp) in args.targets {
            s.track(addr, name, None, None, ipp);
        }
        // The clock: a tick four times a second; it stops when the actor does.
        let weak = me.downgrade();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(250));
            loop {
                every.tick().await;
                let Some(me) = weak.upgrade() else { return };
                if me.tell(Tick).await.is_err() {
                    return;
                }
            }
        });
        Ok(s)
    }

    /// Stops the pool with it and waits for each poller to finish its poll: whoever
    /// stopped the scheduler may then reopen what the pollers held (the outbox).
    async fn on_stop(
        &mut self,
        _: WeakActorRef<Self>,
        _: ActorStopReason,
    ) -> Result<(), Self::Error> {
        for poller in &self.pollers {
            let _ = poller.stop_gracefully().await;
        }
        for poller in &self.pollers {
            poller.wait_for_shutdown().await;
        }
        Ok(())
    }
}

/// Time to start what is due.
pub struct Tick;

impl Message<Tick> for Scheduler {
    type Reply = ();
    async fn handle(&mut self, _: Tick, _: &mut Context<Self, ()>) {
        self.metrics.set_targets(self.targets.len());
        self.start_due().await;
    }
}

/// A poll finished: the plan to keep, or why it failed.
pub struct PollDone {
    /// The target.
    pub addr: SocketAddr,
    /// The plan for the next steady-state poll (none over IPP), or the error.
    pub outcome: Result<Option<PollPlan>, String>,
    /// The place in the credential list of the one that answered, when it changed.
    pub credential: Option<usize>,
    /// The poller that did it, idle again.
    pub poller: usize,
    /// An IPP poll's client, back.
    pub ipp: Option<IppDone>,
}

impl Message<PollDone> for Scheduler {
    type Reply = ();
    async fn handle(&mut self, done: PollDone, _: &mut Context<Self, ()>) {
        self.idle.push(done.poller);
        let Some(t) = self.targets.get_mut(&done.addr) else {
            self.start_due().await;
            return;
        };
        t.busy = false;
        // A poll that outlasted its interval: its turn came while it was busy.
        if t.next_status <= Instant::now() {
            self.due.push(Reverse((t.next_status, done.addr)));
        }
        // Said once when a printer stops answering and once when it answers again, not at
        // every poll: a log a person can read.
        if let Some(c) = done.credential {
            t.credential = c;
        }
        if let (None, Some(back)) = (&t.ipp, &done.ipp) {
            // SNMP gave way to IPP: remembered, so a restart asks IPP at once.
            let uri = back.client.uri().clone();
            if let Err(e) = self.ipp.ways.remember(done.addr, uri.clone()) {
                tracing::error!(printer = %t.name, "remembering that it answers IPP: {e}");
            }
            t.ipp = Some(IppWay {
                uri,
                found: true,
                client: None,
                read: false,
            });
            t.plan = None;
        }
        if let (Some(way), Some(back)) = (t.ipp.as_mut(), done.ipp) {
            let uri = way.uri.to_string();
            if back.certificate_changed {
                // Not read until a person forgets the pin: the next poll asks with what
                // the pin file says then, on a new client.
                if let Err(e) = self.ipp.pins.reread(&uri) {
                    tracing::error!(printer = %t.name, "reading the pinned certificates: {e}");
                }
            } else {
                if done.outcome.is_ok() && back.client.trusts_first_use() {
                    if let Some(seen) = back.client.certificate() {
                        match self.ipp.pins.pin(&uri, seen) {
                            Ok(true) => {
                                tracing::info!(printer = %t.name, certificate = %seen, "the printer's certificate is pinned on first use")
                            }
                            Ok(false) => {}
                            Err(e) => {
                                tracing::error!(printer = %t.name, "pinning its certificate: {e}")
                            }
                        }
                    }
                }
                way.client = Some(back.client);
            }
            if done.outcome.is_ok() {
                way.read = true;
            }
        }
        match done.outcome {
            Ok(plan) => {
                if t.failures > 0 {
                    tracing::info!(printer = %t.name, address = %done.addr, "the printer answers again");
                }
                t.failures = 0;
                if let Some(plan) = plan {
                    t.plan = Some(plan.pack());
                }
            }
            Err(e) => {
                if t.failures == 0 {
                    tracing::warn!(printer = %t.name, address = %done.addr, "the printer does not answer: {e}");
                }
                t.failures = t.failures.saturating_add(1);
            }
        }
        // The freed poller takes the next due printer now, not at the next tick.
        self.start_due().await;
    }
}

/// Start polling a target (nothing changes if it is polled already).
pub struct AddTarget {
    /// Its address.
    pub addr: SocketAddr,
    /// The name the user gave.
    pub name: String,
    /// Its community, when not the collector's credentials.
    pub community: Option<String>,
    /// Or the place in the collector's credential list of the one it answered to.
    pub credential: Option<usize>,
    /// Its URI, when it is read over IPP.
    pub ipp: Option<IppUri>,
}

impl Message<AddTarget> for Scheduler {
    type Reply = ();
    async fn handle(&mut self, m: AddTarget, _: &mut Context<Self, ()>) {
        self.track(m.addr, m.name, m.community, m.credential, m.ipp);
    }
}

/// New cadences, from the coordinator (`None` keeps the current one); each target's next
/// poll is brought forward if the new interval is shorter.
pub struct SetIntervals {
    /// Status and supply levels.
    pub status: Option<Duration>,
    /// Vendor meters.
    pub meters: Option<Duration>,
}

impl Message<SetIntervals> for Scheduler {
    type Reply = ();
    async fn handle(&mut self, m: SetIntervals, _: &mut Context<Self, ()>) {
        let now = Instant::now();
        if let Some(d) = m.status {
            self.intervals.status = d;
        }
        if let Some(d) = m.meters {
            self.intervals.meters = d;
        }
        for (addr, t) in self.targets.iter_mut() {
            let sooner = now + self.intervals.status;
            if sooner < t.next_status {
                t.next_status = sooner;
                self.due.push(Reverse((sooner, *addr)));
            }
            t.next_meters = t.next_meters.min(now + self.intervals.meters);
        }
    }
}

/// Stop polling a target.
pub struct RemoveTarget(pub SocketAddr);

impl Message<RemoveTarget> for Scheduler {
    type Reply = bool;
    async fn handle(&mut self, m: RemoveTarget, _: &mut Context<Self, bool>) -> bool {
        // A printer found over IPP is known to the coordinator by its URI's address.
        let key = match self.targets.contains_key(&m.0) {
            true => Some(m.0),
            false => self
                .targets
                .iter()
                .find(|(a, t)| t.ipp.as_ref().is_some_and(|w| w.at(**a) == m.0))
                .map(|(a, _)| *a),
        };
        let Some(removed) = key.and_then(|k| self.targets.remove(&k).map(|t| (k, t))) else {
            return false;
        };
        if removed.1.ipp.is_some_and(|w| w.found) {
            if let Err(e) = self.ipp.ways.forget(removed.0) {
                tracing::error!(printer = %removed.1.name, "forgetting that it answers IPP: {e}");
            }
        }
        true
    }
}

/// Poll these targets at the next tick (all when empty).
pub struct PollNow(pub Vec<SocketAddr>);

impl Message<PollNow> for Scheduler {
    type Reply = ();
    async fn handle(&mut self, m: PollNow, _: &mut Context<Self, ()>) {
        let now = Instant::now();
        for (addr, t) in self.targets.iter_mut() {
            if m.0.is_empty() || m.0.contains(addr) {
                t.next_status = now;
                self.due.push(Reverse((now, *addr)));
            }
        }
    }
}

/// The targets and whether each has been read.
pub struct Snapshot;

impl Message<Snapshot> for Scheduler {
    type Reply = Vec<(SocketAddr, bool)>;
    async fn handle(&mut self, _: Snapshot, _: &mut Context<Self, Self::Reply>) -> Self::Reply {
        self.targets
            .iter()
            .map(|(a, t)| {
                (
                    *a,
                    t.plan.is_some() || t.ipp.as_ref().is_some_and(|w| w.read),
                )
            })
            .collect()
    }
}
