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

/// Who to ask and how patiently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The agent's address.
    pub addr: SocketAddr,
    /// The community string.
    pub community: Vec<u8>,
    /// v1 or v2c.
    pub version: Version,
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
            community: b"public".to_vec(),
            version: Version::V2c,
            timeout: Duration::from_secs(1),
            retries: 2,
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
}

/// Why a request got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum SnmpError {
    /// Nothing came back in time, after every retry.
    #[error("no answer from {target} after {attempts} attempt{}: wrong community string, or no SNMP agent there", if *attempts == 1 { "" } else { "s" })]
    Timeout {
        /// Who was asked.
        target: SocketAddr,
        /// How many datagrams were sent.
        attempts: u32,
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

struct Waiter {
    tx: oneshot::Sender<(Message, usize)>,
    community: Vec<u8>,
}

#[derive(Default)]
struct AddrState {
    waiting: HashMap<i32, Waiter>,
    malformed: Option<String>,
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
        }
    }

    /// Sends one request and waits for its reply, retrying with backoff. The reply's
    /// error-status is returned as is, for the caller to interpret.
    pub async fn request(
        &self,
        target: &Target,
        kind: PduKind,
        oids: &[Oid],
        non_repeaters: u32,
        max_repetitions: u32,
        counters: &mut Counters,
    ) -> Result<Pdu, SnmpError> {
        let s = &self.shared;
        let slot = self.socket_for(target.addr);
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
            waiting.insert(
                id,
                Waiter {
                    tx,
                    community: target.community.clone(),
                },
            );
            id
        };
        let (error_status, error_index) = match kind {
            PduKind::GetBulk => (non_repeaters, max_repetitions),
            _ => (0, 0),
        };
        let bytes = Message {
            version: target.version,
            community: target.community.clone(),
            pdu: Pdu {
                kind,
                request_id: id,
                error_status,
                error_index,
                varbinds: oids.iter().map(|o| (o.clone(), Value::Null)).collect(),
            },
        }
        .encode();
        let _guard = Unregister {
            shared: s,
            slot,
            addr: target.addr,
            id,
        };

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
                Ok(Ok((msg, len))) => {
                    counters.responses += 1;
                    counters.bytes_received += len as u64;
                    return Ok(msg.pdu);
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
        let msg = match Message::decode(&buf[..len]) {
            Ok(m) if m.pdu.kind == PduKind::Response => {
                let bad = m
                    .pdu
                    .varbinds
                    .iter()
                    .filter(|(_, v)| *v == Value::Malformed)
                    .count();
                s.malformed_values.fetch_add(bad as u64, Ordering::Relaxed);
                m
            }
            Ok(_) => {
                s.unmatched.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Err(e) => {
                s.malformed.fetch_add(1, Ordering::Relaxed);
                if let Some(state) = lock(&s.pending[slot]).get_mut(&from) {
                    state.malformed = Some(e.to_string());
                }
                continue;
            }
        };
        let waiter = {
            let mut map = lock(&s.pending[slot]);
            map.get_mut(&from).and_then(|state| {
                let ok = state
                    .waiting
                    .get(&msg.pdu.request_id)
                    .is_some_and(|w| w.community == msg.community);
                if ok {
                    state.waiting.remove(&msg.pdu.request_id)
                } else {
                    None
                }
            })
        };
        match waiter {
            Some(w) => {
                // The requester may have given up a moment ago; then the reply is just late.
                if w.tx.send((msg, len)).is_err() {
                    s.unmatched.fetch_add(1, Ordering::Relaxed);
                }
            }
            None => {
                s.unmatched.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
