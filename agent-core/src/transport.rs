//! The multiplexed SNMP transport: a few UDP sockets shared by every request of a collector.
//!
//! snmp2's session owns one socket with one request in flight and no timeouts, which cannot
//! sweep a /16 or poll thousands of printers. Here any number of requests are in flight at
//! once over a handful of sockets; a reply is matched to its request by the socket it came
//! in on, its source address and its request id. Late, duplicate and foreign replies find no
//! match and are dropped. Each request has a timeout and retries with backoff, every send
//! waits for the global packets-per-second budget, and each request reports the bytes and
//! round trips it cost so polls can account per target.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::message::{Message, Pdu, PduKind, Value, Version};
use crate::oid::Oid;
use crate::usm::{LocalKeys, UsmUser};
use crate::v3::{self, UsmParams, V3Message};

/// How the transport is set up.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// How many UDP sockets to spread requests over.
    pub sockets: usize,
    /// Global send budget in packets per second; `None` for no limit.
    pub max_pps: Option<u32>,
    /// Local address to bind (port 0); the unspecified address reaches loopback and LAN alike.
    pub bind: SocketAddr,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            sockets: 4,
            max_pps: None,
            bind: SocketAddr::from(([0, 0, 0, 0], 0)),
        }
    }
}

/// How a request proves who sends it: a community (v1, v2c) or a v3 user. Neither its
/// `Debug` nor its `Display` shows a community string or a key.
#[derive(Clone, PartialEq, Eq)]
pub enum Security {
    /// SNMPv1 or v2c with a community string.
    Community {
        /// v1 or v2c.
        version: Version,
        /// The community string.
        community: Vec<u8>,
    },
    /// SNMPv3 with the User-based Security Model.
    Usm(UsmUser),
}

impl Security {
    /// v2c with this community.
    pub fn v2c(community: &str) -> Security {
        Security::Community {
            version: Version::V2c,
            community: community.as_bytes().to_vec(),
        }
    }

    /// Which PDUs to send: v3 carries v2c's (GETBULK, exception values).
    pub fn pdu_version(&self) -> Version {
        match self {
            Security::Community { version, .. } => *version,
            Security::Usm(_) => Version::V2c,
        }
    }
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Security::Community { version, .. } => f
                .debug_struct("Community")
                .field("version", version)
                .field("community", &"<secret>")
                .finish(),
            Security::Usm(u) => f.debug_tuple("Usm").field(u).finish(),
        }
    }
}

impl std::fmt::Display for Security {
    /// What an operator may see: the version and the v3 user, never a secret (a community
    /// string is one).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Security::Community { version, .. } => write!(f, "v{version} community"),
            Security::Usm(u) => write!(f, "{u}"),
        }
    }
}

/// Who to ask and how patiently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The agent's address.
    pub addr: SocketAddr,
    /// The community or v3 user.
    pub security: Security,
    /// Time to wait for the first attempt; doubled for each retry.
    pub timeout: Duration,
    /// Attempts after the first.
    pub retries: u32,
}

impl Target {
    /// A v2c target with community `public`, a 1 s timeout and 2 retries.
    pub fn new(addr: SocketAddr) -> Self {
        Target {
            addr,
            security: Security::v2c("public"),
            timeout: Duration::from_secs(1),
            retries: 2,
        }
    }

    /// The same target with other credentials.
    pub fn with_security(&self, security: Security) -> Target {
        Target {
            security,
            ..self.clone()
        }
    }
}

/// What a request cost on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    /// UDP payload bytes sent, retries included.
    pub bytes_sent: u64,
    /// UDP payload bytes of the accepted replies.
    pub bytes_received: u64,
    /// Datagrams sent, retries included.
    pub requests: u32,
    /// Replies accepted.
    pub responses: u32,
    /// Attempts that timed out.
    pub timeouts: u32,
}

impl std::ops::AddAssign for Counters {
    fn add_assign(&mut self, o: Counters) {
        self.bytes_sent += o.bytes_sent;
        self.bytes_received += o.bytes_received;
        self.requests += o.requests;
        self.responses += o.responses;
        self.timeouts += o.timeouts;
    }
}

/// Transport-wide totals, including what was dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    /// Datagrams sent.
    pub packets_sent: u64,
    /// Datagrams received.
    pub packets_received: u64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Replies that matched no outstanding request: late, duplicate or foreign.
    pub unmatched: u64,
    /// Datagrams that were not SNMP.
    pub malformed: u64,
    /// Variables whose value did not decode, in replies otherwise used: each is read as
    /// missing, the rest of its reply stands.
    pub malformed_values: u64,
    /// v3 replies refused because their digest was wrong or they did not decrypt.
    pub unauthentic: u64,
    /// v3 keys localised: once per engine and user, never per request.
    pub key_localisations: u64,
}

/// Why a request got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum SnmpError {
    /// Nothing came back in time, after every retry.
    #[error("no answer from {target} after {attempts} attempt{}: {}", if *attempts == 1 { "" } else { "s" }, if *v3 { "no SNMPv3 agent there, or it drops what it cannot read (a wrong privacy protocol does that on some agents)" } else { "wrong community string, or no SNMP agent there" })]
    Timeout {
        /// Who was asked.
        target: SocketAddr,
        /// How many datagrams were sent.
        attempts: u32,
        /// Whether it was asked over SNMPv3.
        v3: bool,
    },
    /// The agent does not know the v3 user (usmStatsUnknownUserNames).
    #[error("{target} does not know the SNMPv3 user {user:?}")]
    UnknownUser {
        /// Who was asked.
        target: SocketAddr,
        /// The user name.
        user: String,
    },
    /// The agent computed another digest (usmStatsWrongDigests).
    #[error(
        "{target} refused the SNMPv3 user {user:?}: wrong authentication passphrase or protocol"
    )]
    WrongAuth {
        /// Who was asked.
        target: SocketAddr,
        /// The user name.
        user: String,
    },
    /// The agent could not decrypt the request, or we its reply (usmStatsDecryptionErrors).
    #[error("{target} could not decrypt for the SNMPv3 user {user:?}: wrong privacy passphrase or protocol")]
    WrongPriv {
        /// Who was asked.
        target: SocketAddr,
        /// The user name.
        user: String,
    },
    /// The user exists with another security level (usmStatsUnsupportedSecLevels).
    #[error("{target} does not allow the SNMPv3 user {user:?} at {level}: it is set up with another security level")]
    UnsupportedLevel {
        /// Who was asked.
        target: SocketAddr,
        /// The user name.
        user: String,
        /// The level asked for.
        level: crate::usm::SecurityLevel,
    },
    /// The agent kept saying our idea of its clock is wrong (usmStatsNotInTimeWindows).
    #[error("{target} keeps refusing the SNMPv3 engine time we send (its clock went back, or another engine answers at that address)")]
    NotInTimeWindow {
        /// Who was asked.
        target: SocketAddr,
    },
    /// The user is allowed, but not to this context or these objects (an access error or
    /// a Report this project does not expect).
    #[error("{target} refused the SNMPv3 request: {detail}")]
    Refused {
        /// Who was asked.
        target: SocketAddr,
        /// What the agent said.
        detail: String,
    },
    /// The datagram could not be sent (no route, network down).
    #[error("{target} is unreachable: {source}")]
    Unreachable {
        /// Who was asked.
        target: SocketAddr,
        /// What the socket said.
        #[source]
        source: std::io::Error,
    },
    /// Only datagrams that are not SNMP replies came back.
    #[error("{target} answered with something that is not an SNMP reply ({detail})")]
    Malformed {
        /// Who was asked.
        target: SocketAddr,
        /// What was wrong with it.
        detail: String,
    },
    /// The agent answered with an error status the caller has to handle.
    #[error("{target} answered with error status {status} at variable {index}")]
    Agent {
        /// Who was asked.
        target: SocketAddr,
        /// RFC 3416 error-status.
        status: u32,
        /// 1-based index of the variable at fault.
        index: u32,
    },
    /// The agent's replies do not make sense (e.g. a walk that goes backwards).
    #[error("{target} broke the protocol: {detail}")]
    Protocol {
        /// Who was asked.
        target: SocketAddr,
        /// What it did.
        detail: String,
    },
    /// The transport was shut down while the request waited.
    #[error("the SNMP transport is shut down")]
    Closed,
}

/// How the receive task tells a reply meant for a waiter from a forgery.
enum Check {
    /// v1/v2c: the community must be the one sent.
    Community(Vec<u8>),
    /// v3: signed and encrypted with these keys (None: noAuthNoPriv, engine discovery).
    Usm(Option<Arc<LocalKeys>>),
}

/// A reply handed to its waiter: the PDU, its size, and for v3 what the agent said about
/// its engine and whether the message was signed.
struct Reply {
    pdu: Pdu,
    len: usize,
    usm: Option<UsmParams>,
    authentic: bool,
}

struct Waiter {
    tx: oneshot::Sender<Reply>,
    check: Check,
}

#[derive(Default)]
struct AddrState {
    waiting: HashMap<i32, Waiter>,
    malformed: Option<String>,
}

/// What the transport knows of a v3 agent's engine: its id and clock, and each user's
/// keys localised for it.
struct Engine {
    /// As last heard, at `at`.
    info: EngineInfo,
    at: Instant,
    keys: Vec<(u64, Arc<LocalKeys>)>,
}

impl Engine {
    fn now(&self) -> (u32, u32) {
        let elapsed = u32::try_from(self.at.elapsed().as_secs()).unwrap_or(u32::MAX);
        (self.info.boots, self.info.time.saturating_add(elapsed))
    }
}

/// What sealing one request needs: the engine's id and clock now, the user's keys for it
/// and a fresh salt.
struct Sealer {
    engine_id: Vec<u8>,
    boots: u32,
    time: u32,
    keys: Arc<LocalKeys>,
    salt: u64,
}

impl Sealer {
    fn seal(&self, user: &UsmUser, msg_id: i32, pdu: Pdu) -> Vec<u8> {
        let at = v3::Seal {
            engine_id: &self.engine_id,
            boots: self.boots,
            time: self.time,
            msg_id,
            salt: self.salt,
        };
        v3::seal(user, Some(&self.keys), at, pdu)
    }
}

/// A GET of nothing: what engine discovery and the privacy diagnosis send.
fn empty_get(request_id: i32) -> Pdu {
    Pdu {
        kind: PduKind::Get,
        request_id,
        error_status: 0,
        error_index: 0,
        varbinds: Vec::new(),
    }
}

/// The engine a v3 agent reported: its id, boots and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineInfo {
    /// snmpEngineID.
    pub id: Vec<u8>,
    /// snmpEngineBoots.
    pub boots: u32,
    /// snmpEngineTime.
    pub time: u32,
}

impl EngineInfo {
    /// The engine a message names, if it names one.
    fn of(u: &UsmParams) -> Option<EngineInfo> {
        (!u.engine_id.is_empty()).then(|| EngineInfo {
            id: u.engine_id.clone(),
            boots: u.boots,
            time: u.time,
        })
    }
}

type PendingMap = HashMap<SocketAddr, AddrState>;

struct Shared {
    sockets: Vec<Arc<UdpSocket>>,
    pending: Vec<Mutex<PendingMap>>,
    pacer: Option<Mutex<Instant>>,
    pace_interval: Duration,
    packets_sent: AtomicU64,
    packets_received: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    unmatched: AtomicU64,
    malformed: AtomicU64,
    malformed_values: AtomicU64,
    unauthentic: AtomicU64,
    key_localisations: AtomicU64,
    engines: Mutex<HashMap<SocketAddr, Engine>>,
    salt: AtomicU64,
}

/// A handle on the transport; clones share the sockets. The receive tasks stop when the
/// last handle is dropped.
#[derive(Clone)]
pub struct Transport {
    shared: Arc<Shared>,
    _tasks: Arc<TaskGuard>,
}

struct TaskGuard(Vec<JoinHandle<()>>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

fn lock(m: &Mutex<PendingMap>) -> std::sync::MutexGuard<'_, PendingMap> {
    // A panic while holding this lock cannot leave the map inconsistent (every update is a
    // single insert or remove), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Transport {
    /// Binds the sockets and starts one receive task per socket.
    pub async fn bind(config: TransportConfig) -> std::io::Result<Transport> {
        let n = config.sockets.max(1);
        let mut sockets = Vec::with_capacity(n);
        for _ in 0..n {
            sockets.push(Arc::new(UdpSocket::bind(config.bind).await?));
        }
        let pace_interval = config
            .max_pps
            .filter(|&p| p > 0)
            .map_or(Duration::ZERO, |p| {
                Duration::from_secs_f64(1.0 / f64::from(p))
            });
        let shared = Arc::new(Shared {
            pending: (0..n).map(|_| Mutex::new(HashMap::new())).collect(),
            sockets,
            pacer: (pace_interval > Duration::ZERO).then(|| Mutex::new(Instant::now())),
            pace_interval,
            packets_sent: AtomicU64::new(0),
            packets_received: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
            unmatched: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            malformed_values: AtomicU64::new(0),
            unauthentic: AtomicU64::new(0),
            key_localisations: AtomicU64::new(0),
            engines: Mutex::new(HashMap::new()),
            salt: AtomicU64::new(rand::random()),
        });
        let tasks = (0..n)
            .map(|i| {
                let weak = Arc::downgrade(&shared);
                let socket = shared.sockets[i].clone();
                tokio::spawn(receive_loop(weak, socket, i))
            })
            .collect();
        Ok(Transport {
            shared,
            _tasks: Arc::new(TaskGuard(tasks)),
        })
    }

    /// Binds with the default configuration.
    pub async fn bind_default() -> std::io::Result<Transport> {
        Self::bind(TransportConfig::default()).await
    }

    /// Totals since the transport started.
    pub fn totals(&self) -> Totals {
        let s = &self.shared;
        Totals {
            packets_sent: s.packets_sent.load(Ordering::Relaxed),
            packets_received: s.packets_received.load(Ordering::Relaxed),
            bytes_sent: s.bytes_sent.load(Ordering::Relaxed),
            bytes_received: s.bytes_received.load(Ordering::Relaxed),
            unmatched: s.unmatched.load(Ordering::Relaxed),
            malformed: s.malformed.load(Ordering::Relaxed),
            malformed_values: s.malformed_values.load(Ordering::Relaxed),
            unauthentic: s.unauthentic.load(Ordering::Relaxed),
            key_localisations: s.key_localisations.load(Ordering::Relaxed),
        }
    }

    /// Sends one request and waits for its reply, retrying with backoff. The reply's
    /// error-status is returned as is, for the caller to interpret. A v3 target's engine
    /// is discovered on first use and remembered, with the user's keys for it.
    pub async fn request(
        &self,
        target: &Target,
        kind: PduKind,
        oids: &[Oid],
        non_repeaters: u32,
        max_repetitions: u32,
        counters: &mut Counters,
    ) -> Result<Pdu, SnmpError> {
        let (error_status, error_index) = match kind {
            PduKind::GetBulk => (non_repeaters, max_repetitions),
            _ => (0, 0),
        };
        let pdu = |id: i32| Pdu {
            kind,
            request_id: id,
            error_status,
            error_index,
            varbinds: oids.iter().map(|o| (o.clone(), Value::Null)).collect(),
        };
        match &target.security {
            Security::Community { version, community } => {
                let check = Check::Community(community.clone());
                let encode = |id: i32| {
                    Message {
                        version: *version,
                        community: community.clone(),
                        pdu: pdu(id),
                    }
                    .encode()
                };
                Ok(self.exchange(target, check, encode, counters).await?.pdu)
            }
            Security::Usm(user) => self.request_v3(target, user, &pdu, counters).await,
        }
    }

    /// Asks an address for its SNMPv3 engine (RFC 3414 4: an empty, unsigned GET that an
    /// agent answers with a Report naming its engine), and remembers it. No user is
    /// needed, so a sweep finds v3 agents before it knows who may read them.
    pub async fn discover_engine(
        &self,
        target: &Target,
        counters: &mut Counters,
    ) -> Result<EngineInfo, SnmpError> {
        let encode = |id: i32| {
            V3Message {
                msg_id: id,
                max_size: 65_507,
                flags: v3::flags::REPORTABLE,
                usm: UsmParams::default(),
                payload: v3::Payload::Plain(v3::ScopedPdu {
                    context_engine_id: Vec::new(),
                    context_name: Vec::new(),
                    pdu: empty_get(id),
                }),
            }
            .encode()
            .0
        };
        let reply = self
            .exchange(target, Check::Usm(None), encode, counters)
            .await?;
        match reply.usm.as_ref().and_then(EngineInfo::of) {
            Some(info) => {
                self.learn_engine(target.addr, &info);
                Ok(info)
            }
            None => Err(SnmpError::Protocol {
                target: target.addr,
                detail: "its answer to engine discovery names no engine".into(),
            }),
        }
    }

    async fn request_v3(
        &self,
        target: &Target,
        user: &UsmUser,
        pdu: &(dyn Fn(i32) -> Pdu + Sync),
        counters: &mut Counters,
    ) -> Result<Pdu, SnmpError> {
        let mut recovered = false;
        loop {
            if self.engine_of(target.addr).is_none() {
                self.discover_engine(target, counters).await?;
            }
            let Some(sealer) = self.sealer(target.addr, user) else {
                continue;
            };
            // A noAuthNoPriv user's keys are empty: its requests go unsigned, and so may
            // their replies.
            let check = Check::Usm(Some(sealer.keys.clone()));
            let encode = |id: i32| sealer.seal(user, id, pdu(id));
            let reply = match self.exchange(target, check, encode, counters).await {
                Err(e @ SnmpError::Timeout { .. })
                    if user.level() == crate::usm::SecurityLevel::AuthPriv =>
                {
                    return Err(self
                        .diagnose_privacy(target, user, counters)
                        .await
                        .unwrap_or(e))
                }
                other => other?,
            };
            if reply.pdu.kind != PduKind::Report {
                if let (true, Some(u)) = (reply.authentic, &reply.usm) {
                    self.update_clock(target.addr, u);
                }
                if reply.pdu.error_status == crate::message::error_status::AUTHORIZATION_ERROR {
                    // The user is known and its keys are right, but the agent's access
                    // rules (VACM) do not let it read at this level or in this context.
                    return Err(SnmpError::Refused {
                        target: target.addr,
                        detail: format!(
                            "authorizationError: its access rules do not let {user} read at {}{}",
                            user.level(),
                            if user.context().is_empty() {
                                ""
                            } else {
                                " in that context"
                            }
                        ),
                    });
                }
                return Ok(reply.pdu);
            }
            let stat = reply.pdu.varbinds.first().map(|(o, _)| o.clone());
            let stat = stat.as_ref().and_then(usm_stat);
            match stat {
                Some(UsmStat::NotInTimeWindow | UsmStat::UnknownEngineId) if !recovered => {
                    // The agent restarted or we never had its clock: take what its Report
                    // says and try once more.
                    recovered = true;
                    match reply.usm.as_ref().and_then(EngineInfo::of) {
                        Some(info) => self.learn_engine(target.addr, &info),
                        None => self.forget_engine(target.addr),
                    }
                }
                Some(stat) => return Err(stat.error(target.addr, user)),
                None => {
                    let what = reply.pdu.varbinds.first().map_or_else(
                        || "an empty Report".to_string(),
                        |(o, _)| format!("a Report of {o}"),
                    );
                    return Err(SnmpError::Refused {
                        target: target.addr,
                        detail: what,
                    });
                }
            }
        }
    }

    /// Why an authPriv request got no answer, if the agent lets us tell. Many agents (net-snmp
    /// among them) drop a request that decrypts to garbage without a Report, so a wrong
    /// privacy passphrase or protocol looks like silence. One signed request without
    /// privacy tells: a signed answer (even a refusal) means the agent is there and the
    /// user's authentication is right, so the privacy key is what is wrong.
    async fn diagnose_privacy(
        &self,
        target: &Target,
        user: &UsmUser,
        counters: &mut Counters,
    ) -> Option<SnmpError> {
        let signer = user.without_privacy();
        let sealer = self.sealer(target.addr, &signer)?;
        let encode = |id: i32| sealer.seal(&signer, id, empty_get(id));
        let once = Target {
            retries: 0,
            ..target.clone()
        };
        let reply = self
            .exchange(
                &once,
                Check::Usm(Some(sealer.keys.clone())),
                encode,
                counters,
            )
            .await
            .ok()?;
        let stat = (reply.pdu.kind == PduKind::Report)
            .then(|| reply.pdu.varbinds.first().and_then(|(o, _)| usm_stat(o)))
            .flatten();
        match stat {
            Some(s @ (UsmStat::WrongDigest | UsmStat::UnknownUser)) => {
                Some(s.error(target.addr, user))
            }
            _ if reply.authentic => Some(UsmStat::Decryption.error(target.addr, user)),
            _ => None,
        }
    }

    /// The engine last heard from at `addr`, if any.
    pub fn engine_of(&self, addr: SocketAddr) -> Option<EngineInfo> {
        self.engines().get(&addr).map(|e| e.info.clone())
    }

    fn engines(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Engine>> {
        self.shared
            .engines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn learn_engine(&self, addr: SocketAddr, info: &EngineInfo) {
        let mut engines = self.engines();
        // The same engine keeps its keys; another one (a replaced printer) gets new ones.
        let keys = match engines.remove(&addr) {
            Some(e) if e.info.id == info.id => e.keys,
            _ => Vec::new(),
        };
        engines.insert(
            addr,
            Engine {
                info: info.clone(),
                at: Instant::now(),
                keys,
            },
        );
    }

    fn forget_engine(&self, addr: SocketAddr) {
        self.engines().remove(&addr);
    }

    fn update_clock(&self, addr: SocketAddr, u: &UsmParams) {
        if let Some(e) = self.engines().get_mut(&addr) {
            if e.info.id == u.engine_id && (u.boots, u.time) >= e.now() {
                e.info.boots = u.boots;
                e.info.time = u.time;
                e.at = Instant::now();
            }
        }
    }

    /// The engine's id and clock now, and the user's keys for it, localised on first use.
    fn sealer(&self, addr: SocketAddr, user: &UsmUser) -> Option<Sealer> {
        let (engine_id, boots, time, cached) = {
            let engines = self.engines();
            let e = engines.get(&addr)?;
            let (boots, time) = e.now();
            let keys = e
                .keys
                .iter()
                .find(|(fp, _)| *fp == user.fingerprint())
                .map(|(_, k)| k.clone());
            (e.info.id.clone(), boots, time, keys)
        };
        let keys = match cached {
            Some(k) => k,
            None => {
                // Localising is a hash per key: done outside the lock, once per engine.
                let k = Arc::new(user.localize(&engine_id));
                self.shared
                    .key_localisations
                    .fetch_add(1, Ordering::Relaxed);
                if let Some(e) = self.engines().get_mut(&addr) {
                    if e.info.id == engine_id {
                        e.keys.push((user.fingerprint(), k.clone()));
                    }
                }
                k
            }
        };
        Some(Sealer {
            engine_id,
            boots,
            time,
            keys,
            salt: self.shared.salt.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// One request's conversation: registers a waiter under a fresh id, sends what
    /// `encode` makes of that id (the same bytes for each retry) and waits.
    async fn exchange(
        &self,
        target: &Target,
        check: Check,
        encode: impl FnOnce(i32) -> Vec<u8>,
        counters: &mut Counters,
    ) -> Result<Reply, SnmpError> {
        let s = &self.shared;
        let slot = self.socket_for(target.addr);
        let v3 = matches!(check, Check::Usm(_));
        let (tx, mut rx) = oneshot::channel();
        // A random id, not one counted up: a spoofed reply must guess it among 2^31. It
        // is unique among the requests waiting on the same target.
        let id = {
            let mut pending = lock(&s.pending[slot]);
            let waiting = &mut pending.entry(target.addr).or_default().waiting;
            let id = loop {
                let id = rand::random::<i32>() & 0x7fff_ffff;
                if !waiting.contains_key(&id) {
                    break id;
                }
            };
            waiting.insert(id, Waiter { tx, check });
            id
        };
        let _guard = Unregister {
            shared: s,
            slot,
            addr: target.addr,
            id,
        };
        let bytes = encode(id);

        let mut wait = target.timeout;
        let attempts = target.retries + 1;
        for _ in 0..attempts {
            self.pace().await;
            if let Err(e) = s.sockets[slot].send_to(&bytes, target.addr).await {
                return Err(SnmpError::Unreachable {
                    target: target.addr,
                    source: e,
                });
            }
            s.packets_sent.fetch_add(1, Ordering::Relaxed);
            s.bytes_sent
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
            counters.requests += 1;
            counters.bytes_sent += bytes.len() as u64;
            match tokio::time::timeout(wait, &mut rx).await {
                Ok(Ok(reply)) => {
                    counters.responses += 1;
                    counters.bytes_received += reply.len as u64;
                    return Ok(reply);
                }
                Ok(Err(_)) => return Err(SnmpError::Closed),
                Err(_) => {
                    counters.timeouts += 1;
                    wait = (wait * 2).min(Duration::from_secs(30));
                }
            }
        }
        let malformed = lock(&s.pending[slot])
            .get_mut(&target.addr)
            .and_then(|a| a.malformed.take());
        Err(match malformed {
            Some(detail) => SnmpError::Malformed {
                target: target.addr,
                detail,
            },
            None => SnmpError::Timeout {
                target: target.addr,
                attempts,
                v3,
            },
        })
    }

    fn socket_for(&self, addr: SocketAddr) -> usize {
        let n = self.shared.sockets.len();
        if n == 1 {
            return 0;
        }
        // One target always uses the same socket, so its replies come back where it waits;
        // different targets spread over the sockets by a hash of their address.
        let h = match addr {
            SocketAddr::V4(a) => u64::from(u32::from(*a.ip())) ^ (u64::from(a.port()) << 32),
            SocketAddr::V6(a) => u128::from(*a.ip()) as u64 ^ u64::from(a.port()),
        };
        (h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize % n
    }

    async fn pace(&self) {
        let Some(pacer) = &self.shared.pacer else {
            return;
        };
        let at = {
            let mut next = pacer.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let at = (*next).max(now);
            *next = at + self.shared.pace_interval;
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

struct Unregister<'a> {
    shared: &'a Shared,
    slot: usize,
    addr: SocketAddr,
    id: i32,
}

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        let mut map = lock(&self.shared.pending[self.slot]);
        if let Some(state) = map.get_mut(&self.addr) {
            state.waiting.remove(&self.id);
            if state.waiting.is_empty() {
                map.remove(&self.addr);
            }
        }
    }
}

/// The USM statistics a Report names (RFC 3414 usmStats).
#[derive(Clone, Copy)]
enum UsmStat {
    UnsupportedLevel,
    NotInTimeWindow,
    UnknownUser,
    UnknownEngineId,
    WrongDigest,
    Decryption,
}

impl UsmStat {
    /// The error this refusal is, for `user` at `target`.
    fn error(self, target: SocketAddr, user: &UsmUser) -> SnmpError {
        let name = String::from_utf8_lossy(user.name()).into_owned();
        match self {
            UsmStat::NotInTimeWindow | UsmStat::UnknownEngineId => {
                SnmpError::NotInTimeWindow { target }
            }
            UsmStat::UnknownUser => SnmpError::UnknownUser { target, user: name },
            UsmStat::WrongDigest => SnmpError::WrongAuth { target, user: name },
            UsmStat::Decryption => SnmpError::WrongPriv { target, user: name },
            UsmStat::UnsupportedLevel => SnmpError::UnsupportedLevel {
                target,
                user: name,
                level: user.level(),
            },
        }
    }
}

fn usm_stat(oid: &Oid) -> Option<UsmStat> {
    const USM_STATS: [u32; 9] = [1, 3, 6, 1, 6, 3, 15, 1, 1];
    let arcs = oid.arcs();
    if arcs.len() < 10 || arcs[..9] != USM_STATS {
        return None;
    }
    Some(match arcs[9] {
        1 => UsmStat::UnsupportedLevel,
        2 => UsmStat::NotInTimeWindow,
        3 => UsmStat::UnknownUser,
        4 => UsmStat::UnknownEngineId,
        5 => UsmStat::WrongDigest,
        6 => UsmStat::Decryption,
        _ => return None,
    })
}

/// Decodes a datagram into the waiter key it answers and the reply, checking a v3 reply
/// against the keys its request was sealed with. `Err` is why it was not usable.
fn read_reply(
    bytes: &[u8],
    from: SocketAddr,
    s: &Shared,
    slot: usize,
) -> Result<Option<(i32, Reply)>, String> {
    if v3::peek_version(bytes) == Some(3) {
        let (msg, auth_at) = V3Message::decode(bytes).map_err(|e| e.to_string())?;
        let map = lock(&s.pending[slot]);
        let Some(waiter) = map.get(&from).and_then(|st| st.waiting.get(&msg.msg_id)) else {
            return Ok(None);
        };
        let Check::Usm(keys) = &waiter.check else {
            return Ok(None);
        };
        let keys = keys.clone();
        drop(map);
        let authentic = msg.flags & v3::flags::AUTH != 0;
        let scoped = match v3::open(bytes, &msg, auth_at, keys.as_deref()) {
            Ok(sc) => sc,
            Err(e) => {
                s.unauthentic.fetch_add(1, Ordering::Relaxed);
                return Err(format!("a v3 reply that failed its check ({e})"));
            }
        };
        let signed_request = keys.as_ref().is_some_and(|k| k.auth.is_some());
        if signed_request && !authentic && scoped.pdu.kind != PduKind::Report {
            // Only Reports may come back unsigned to a signed request.
            s.unauthentic.fetch_add(1, Ordering::Relaxed);
            return Err("an unsigned v3 reply to a signed request".into());
        }
        if !matches!(scoped.pdu.kind, PduKind::Response | PduKind::Report) {
            return Ok(None);
        }
        return Ok(Some((
            msg.msg_id,
            Reply {
                pdu: scoped.pdu,
                len: bytes.len(),
                usm: Some(msg.usm),
                authentic,
            },
        )));
    }
    let m = Message::decode(bytes).map_err(|e| e.to_string())?;
    if m.pdu.kind != PduKind::Response {
        return Ok(None);
    }
    let map = lock(&s.pending[slot]);
    let ok = map
        .get(&from)
        .and_then(|st| st.waiting.get(&m.pdu.request_id))
        .is_some_and(|w| matches!(&w.check, Check::Community(c) if *c == m.community));
    if !ok {
        return Ok(None);
    }
    Ok(Some((
        m.pdu.request_id,
        Reply {
            pdu: m.pdu,
            len: bytes.len(),
            usm: None,
            authentic: false,
        },
    )))
}

async fn receive_loop(shared: std::sync::Weak<Shared>, socket: Arc<UdpSocket>, slot: usize) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let (len, from) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            // ICMP errors surface here on some systems; they concern no one request.
            Err(_) => continue,
        };
        let Some(s) = shared.upgrade() else { return };
        s.packets_received.fetch_add(1, Ordering::Relaxed);
        s.bytes_received.fetch_add(len as u64, Ordering::Relaxed);
        let (id, reply) = match read_reply(&buf[..len], from, &s, slot) {
            Ok(Some(r)) => r,
            Ok(None) => {
                s.unmatched.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Err(detail) => {
                s.malformed.fetch_add(1, Ordering::Relaxed);
                if let Some(state) = lock(&s.pending[slot]).get_mut(&from) {
                    state.malformed = Some(detail);
                }
                continue;
            }
        };
        let bad = reply
            .pdu
            .varbinds
            .iter()
            .filter(|(_, v)| *v == Value::Malformed)
            .count();
        s.malformed_values.fetch_add(bad as u64, Ordering::Relaxed);
        let waiter = lock(&s.pending[slot])
            .get_mut(&from)
            .and_then(|state| state.waiting.remove(&id));
        match waiter {
            Some(w) => {
                // The requester may have given up a moment ago; then the reply is just late.
                if w.tx.send(reply).is_err() {
                    s.unmatched.fetch_add(1, Ordering::Relaxed);
                }
            }
            None => {
                s.unmatched.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
