//! Finding printers: one small request to every address, at a bounded rate, classified as
//! the answers come, each printer read once while the sweep goes on.
//!
//! The probe is a single GETNEXT with five variables: the next object after sysDescr and
//! sysObjectID (their values), after hrDeviceType (the first device's type), after
//! prtGeneralSerialNumber (the first printer's serial) and after the Printer-MIB root (any
//! printer row at all). One request classifies every agent, on v1 and v2c alike, including
//! printers whose printer row is not hrDeviceIndex 1; nothing is sent twice to an address
//! unless a second credential is tried because the first got no answer.
//!
//! Credentials are tried in order. For v3 users, one engine-discovery request (which needs
//! no user) first asks whether a v3 agent is there at all: an address that does not answer
//! it costs one request for every v3 user in the list, and an agent that does gets one
//! probe per user until one reads it. The credential that answered is reported by its
//! place in the list, so that whoever polls the printer next asks with it straight away.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

use crate::classify::DeviceClass;
use crate::decode::{self, Varbinds};
use crate::mib;
use crate::model::{Identity, Reading};
use crate::oid::Oid;
use crate::poll::first_poll;
use crate::session::Session;
use crate::transport::{Counters, Security, SnmpError, Target, Transport};

/// The default probe rate, in packets per second: a /16 in about 16 s, under half a
/// megabyte a second on the wire.
pub const DEFAULT_RATE: u32 = 4_000;

/// What to sweep and how.
#[derive(Debug, Clone)]
pub struct SweepConfig {
    /// The addresses, in the order to probe them (exclusions removed), as spans: a sweep's
    /// memory does not grow with its range.
    pub addresses: crate::range::SpanSet,
    /// The UDP port the agents listen on.
    pub port: u16,
    /// Credentials to try, in order (communities and v3 users); the next only where the
    /// previous did not read the agent.
    pub credentials: Vec<Security>,
    /// How long to wait for a probe's answer.
    pub timeout: Duration,
    /// Resends of an unanswered probe (0: one request per address and community).
    pub retries: u32,
    /// Read each printer found once (identity and a first reading).
    pub read_printers: bool,
    /// Probes started per second. The sweep paces its own launches, so the transport's
    /// global packet budget never holds a long queue of probes and a printer's first
    /// reading waits behind a few packets at most.
    pub rate: u32,
}

/// The classes of the `probe` OIDs, in the order they are asked.
pub fn probe_oids() -> Vec<Oid> {
    let hr_type = mib::hr_device_type();
    vec![
        Oid::new(mib::sys_descr().arcs()[..8].to_vec()),
        Oid::new(mib::sys_object_id().arcs()[..8].to_vec()),
        hr_type,
        mib::prt_general_serial(),
        mib::printer_mib(),
    ]
}

/// A device found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Found {
    /// Printer or other SNMP device.
    pub class: DeviceClass,
    /// The place in the sweep's credential list of the one it answered to.
    pub credential: usize,
    /// That credential as an operator may see it (no secret): `v2c community #1`,
    /// `v3 user monitor (SHA256/AES)`.
    pub credential_name: String,
    /// Who it is (from the first reading for printers, from the probe otherwise).
    pub identity: Identity,
    /// The first reading of a printer; `None` for other devices or when reading failed.
    pub reading: Option<Reading>,
    /// Why the first reading failed, when it did.
    pub read_error: Option<String>,
    /// What the probe cost on the wire.
    pub probe: Counters,
}

impl Found {
    /// The address that answered, without the port its identity may name.
    pub fn ipv4(&self) -> Option<std::net::Ipv4Addr> {
        let a = &self.identity.address;
        a.parse::<std::net::SocketAddr>()
            .map(|s| s.ip())
            .or_else(|_| a.parse())
            .ok()
            .and_then(|ip| match ip {
                std::net::IpAddr::V4(v4) => Some(v4),
                std::net::IpAddr::V6(_) => None,
            })
    }
}

/// Running totals, readable while the sweep goes on (for progress displays).
#[derive(Debug, Default)]
pub struct SweepStats {
    /// Addresses whose probing finished (answered, or every community timed out).
    pub probed: AtomicU64,
    /// Printers found.
    pub printers: AtomicU64,
    /// Other SNMP devices found.
    pub others: AtomicU64,
    /// Probe requests sent (retries included).
    pub requests: AtomicU64,
    /// Probe bytes sent.
    pub bytes_sent: AtomicU64,
    /// Probe bytes received.
    pub bytes_received: AtomicU64,
}

/// Why a sweep ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// Every address answered or timed out.
    Complete,
    /// The time limit was reached.
    TimeLimit,
    /// The user stopped it.
    Cancelled,
}

/// The end of a sweep: why, and what it found and cost.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// Always "done", so JSON Lines readers can tell it from a found event.
    pub event: &'static str,
    /// Why it ended.
    pub reason: EndReason,
    /// Addresses probed to the end.
    pub probed: u64,
    /// Printers found.
    pub printers: u64,
    /// Other SNMP devices found.
    pub others: u64,
    /// Probe requests sent.
    pub requests: u64,
    /// Bytes sent by the sweep's probes (first readings not included).
    pub bytes_sent: u64,
    /// Bytes received for the sweep's probes.
    pub bytes_received: u64,
    /// Wall time.
    pub seconds: f64,
}

/// What a credential's name is on screen: a v3 user as itself, a community by its place.
pub fn credential_name(credentials: &[Security], index: usize) -> String {
    match credentials.get(index) {
        Some(Security::Usm(u)) => u.to_string(),
        Some(c @ Security::Community { .. }) => {
            let n = credentials[..index]
                .iter()
                .filter(|c| matches!(c, Security::Community { .. }))
                .count();
            format!("{c} #{}", n + 1)
        }
        None => "none".into(),
    }
}

async fn probe_one(
    transport: Transport,
    config: Arc<SweepConfig>,
    address: Ipv4Addr,
    stats: Arc<SweepStats>,
) -> Option<Found> {
    let addr = SocketAddr::from((address, config.port));
    let mut answer = None;
    let mut cost = Counters::default();
    // For v3: None until asked, then whether an engine answered.
    let mut v3_agent: Option<bool> = None;
    let mut refusal: Option<String> = None;
    let account = |c: &Counters| {
        stats
            .requests
            .fetch_add(u64::from(c.requests), Ordering::Relaxed);
        stats.bytes_sent.fetch_add(c.bytes_sent, Ordering::Relaxed);
        stats
            .bytes_received
            .fetch_add(c.bytes_received, Ordering::Relaxed);
    };
    for (index, security) in config.credentials.iter().enumerate() {
        let target = Target {
            addr,
            security: security.clone(),
            timeout: config.timeout,
            retries: config.retries,
        };
        if let Security::Usm(_) = security {
            if v3_agent.is_none() {
                let mut c = Counters::default();
                let engine = transport.discover_engine(&target, &mut c).await;
                account(&c);
                cost += c;
                v3_agent = Some(engine.is_ok());
            }
            if v3_agent == Some(false) {
                continue;
            }
        }
        let mut session = Session::new(transport.clone(), target);
        let result = session.get_next(&probe_oids()).await;
        cost += session.counters;
        account(&session.counters);
        match result {
            Ok(vbs) => {
                answer = Some((index, session, vbs.into_iter().collect::<Varbinds>()));
                break;
            }
            // No answer: perhaps the next community is the right one.
            Err(SnmpError::Timeout { .. }) => continue,
            // A v3 agent that refuses this user may take the next one.
            Err(
                e @ (SnmpError::UnknownUser { .. }
                | SnmpError::WrongAuth { .. }
                | SnmpError::WrongPriv { .. }
                | SnmpError::UnsupportedLevel { .. }
                | SnmpError::NotInTimeWindow { .. }
                | SnmpError::Refused { .. }),
            ) => {
                refusal = Some(e.to_string());
                continue;
            }
            // An agent that answers badly is still no SNMP device we can use.
            Err(_) => break,
        }
    }
    if answer.is_none() && v3_agent == Some(true) {
        // A v3 agent none of our users can read: worth telling, it is there.
        stats.probed.fetch_add(1, Ordering::Relaxed);
        stats.others.fetch_add(1, Ordering::Relaxed);
        let shown = if addr.port() == 161 {
            address.to_string()
        } else {
            addr.to_string()
        };
        return Some(Found {
            class: DeviceClass::Other,
            credential: config.credentials.len(),
            credential_name: "none".into(),
            identity: decode::identity(&Varbinds::new(), &shown),
            reading: None,
            read_error: Some(format!(
                "an SNMPv3 agent that none of the v3 users reads{}",
                refusal.map(|r| format!(" ({r})")).unwrap_or_default()
            )),
            probe: cost,
        });
    }
    stats.probed.fetch_add(1, Ordering::Relaxed);
    let (credential, session, vars) = answer?;
    let class = if decode::is_printer(&vars) {
        DeviceClass::Printer
    } else {
        DeviceClass::Other
    };
    let shown = if session.target().addr.port() == 161 {
        address.to_string()
    } else {
        addr.to_string()
    };
    let mut found = Found {
        class,
        credential,
        credential_name: credential_name(&config.credentials, credential),
        identity: decode::identity(&vars, &shown),
        reading: None,
        read_error: None,
        probe: cost,
    };
    match class {
        DeviceClass::Printer => {
            stats.printers.fetch_add(1, Ordering::Relaxed);
            if config.read_printers {
                let mut reader = Session::new(transport, session.target().clone());
                match first_poll(&mut reader).await {
                    Ok((reading, _)) => {
                        found.identity = reading.identity.clone();
                        found.reading = Some(reading);
                    }
                    Err(e) => found.read_error = Some(e.to_string()),
                }
            }
        }
        DeviceClass::Other => {
            stats.others.fetch_add(1, Ordering::Relaxed);
        }
    }
    Some(found)
}

/// Sweeps `config.addresses`, sending each device found to `found` as soon as it is
/// classified (and read). Ends when every address is done, or when `stop` completes with
/// its reason (a time limit, Ctrl-C); what is in flight then is abandoned.
/// `max_in_flight` bounds the probes outstanding at once; `config.rate` sets the pace.
pub async fn sweep(
    transport: Transport,
    config: SweepConfig,
    max_in_flight: usize,
    stats: Arc<SweepStats>,
    found: mpsc::UnboundedSender<Found>,
    stop: impl std::future::Future<Output = EndReason>,
) -> Summary {
    let started = Instant::now();
    let config = Arc::new(config);
    let mut tasks = JoinSet::new();
    let limit = Arc::new(Semaphore::new(max_in_flight.max(1)));
    let run = async {
        let mut ticker = tokio::time::interval(Duration::from_millis(10));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let per_tick = f64::from(config.rate.max(1)) / 100.0;
        let mut credit = 0.0;
        for address in config.addresses.iter() {
            while credit < 1.0 {
                ticker.tick().await;
                credit += per_tick;
            }
            credit -= 1.0;
            let Ok(permit) = limit.clone().acquire_owned().await else {
                break;
            };
            let (t, c, s, tx) = (
                transport.clone(),
                config.clone(),
                stats.clone(),
                found.clone(),
            );
            tasks.spawn(async move {
                if let Some(f) = probe_one(t, c, address, s).await {
                    let _ = tx.send(f);
                }
                drop(permit);
            });
            while tasks.try_join_next().is_some() {}
        }
        while tasks.join_next().await.is_some() {}
        EndReason::Complete
    };
    let reason = tokio::select! {
        r = run => r,
        r = stop => r,
    };
    tasks.abort_all();
    Summary {
        event: "done",
        reason,
        probed: stats.probed.load(Ordering::Relaxed),
        printers: stats.printers.load(Ordering::Relaxed),
        others: stats.others.load(Ordering::Relaxed),
        requests: stats.requests.load(Ordering::Relaxed),
        bytes_sent: stats.bytes_sent.load(Ordering::Relaxed),
        bytes_received: stats.bytes_received.load(Ordering::Relaxed),
        seconds: started.elapsed().as_secs_f64(),
    }
}
