//! The simulator's SNMPv3 side: an authoritative engine with one user, answering as
//! RFC 3414 says an agent must (engine discovery, unknown user, wrong digest, time window,
//! decryption) and serving the device's view to requests that pass.
//!
//! It is the other half of the transport's USM, written against the same message and key
//! code, so the fleet benchmark can cost v3 polls and tests can see each refusal without an
//! snmpd.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::message::{Pdu, PduKind, Value};
use crate::oid::Oid;
use crate::usm::{LocalKeys, SecurityLevel, UsmUser};
use crate::v3::{self, flags, Payload, ScopedPdu, UsmParams, V3Message};

/// One engine and its user, as a simulated device serves them.
#[derive(Debug, Clone)]
pub struct SimUsm {
    engine_id: Vec<u8>,
    boots: u32,
    started: Instant,
    user: UsmUser,
    keys: Arc<LocalKeys>,
    salt: Arc<AtomicU64>,
}

/// The usmStats counters a Report names.
#[derive(Debug, Clone, Copy)]
enum Stat {
    UnsupportedLevel = 1,
    NotInTimeWindow = 2,
    UnknownUser = 3,
    UnknownEngineId = 4,
    WrongDigest = 5,
    Decryption = 6,
}

impl SimUsm {
    /// An engine named `engine_id` (net-snmp style ids start with 0x80) serving `user`; the
    /// user's keys are localised here, once.
    pub fn new(engine_id: Vec<u8>, user: UsmUser) -> SimUsm {
        let keys = Arc::new(user.localize(&engine_id));
        SimUsm {
            engine_id,
            boots: 1,
            started: Instant::now(),
            user,
            keys,
            salt: Arc::new(AtomicU64::new(rand::random())),
        }
    }

    /// As if the device restarted: one more boot, its clock from zero.
    pub fn reboot(&mut self) {
        self.boots += 1;
        self.started = Instant::now();
    }

    fn time(&self) -> u32 {
        u32::try_from(self.started.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    /// Answers one v3 datagram with the bytes to send back, or `None` where an agent stays
    /// silent (garbage, a PDU it does not serve). `serve` answers the PDU of a request that
    /// passed, as the device answers it over v2c.
    pub fn respond(&self, bytes: &[u8], serve: impl FnOnce(Pdu) -> Option<Pdu>) -> Option<Vec<u8>> {
        let (msg, auth_at) = V3Message::decode(bytes).ok()?;
        let request_id = match &msg.payload {
            Payload::Plain(s) => s.pdu.request_id,
            Payload::Encrypted(_) => msg.msg_id,
        };
        if msg.usm.engine_id != self.engine_id {
            return Some(self.report(&msg, request_id, Stat::UnknownEngineId, false));
        }
        if msg.usm.user != self.user.name() {
            return Some(self.report(&msg, request_id, Stat::UnknownUser, false));
        }
        let asked = match (msg.flags & flags::AUTH != 0, msg.flags & flags::PRIV != 0) {
            (false, false) => SecurityLevel::NoAuthNoPriv,
            (true, false) => SecurityLevel::AuthNoPriv,
            (true, true) => SecurityLevel::AuthPriv,
            (false, true) => return None,
        };
        if asked != self.user.level() {
            return Some(self.report(&msg, request_id, Stat::UnsupportedLevel, false));
        }
        let keys = (asked > SecurityLevel::NoAuthNoPriv).then_some(&*self.keys);
        // The digest first (RFC 3414 3.2.6), then the time window, then decryption.
        if let Some(k) = keys {
            if v3::verify(bytes, &msg, auth_at.clone(), Some(k)).is_err() {
                return Some(self.report(&msg, request_id, Stat::WrongDigest, false));
            }
            let now = self.time();
            if msg.usm.boots != self.boots || msg.usm.time.abs_diff(now) > 150 {
                return Some(self.report(&msg, request_id, Stat::NotInTimeWindow, true));
            }
        }
        let scoped = match v3::open(bytes, &msg, auth_at, keys) {
            Ok(s) => s,
            Err(_) => return Some(self.report(&msg, request_id, Stat::Decryption, false)),
        };
        let reply = serve(scoped.pdu)?;
        let at = v3::Seal {
            engine_id: &self.engine_id,
            boots: self.boots,
            time: self.time(),
            msg_id: msg.msg_id,
            salt: self.salt.fetch_add(1, Ordering::Relaxed),
        };
        Some(v3::seal(&self.user, keys, at, reply))
    }

    /// A Report of one usmStats counter; signed only for notInTimeWindow, whose digest
    /// was right (RFC 3414 3.2.7).
    fn report(&self, req: &V3Message, request_id: i32, stat: Stat, signed: bool) -> Vec<u8> {
        let oid = Oid::new(vec![1, 3, 6, 1, 6, 3, 15, 1, 1, stat as u32, 0]);
        let pdu = Pdu {
            kind: PduKind::Report,
            request_id,
            error_status: 0,
            error_index: 0,
            varbinds: vec![(oid, Value::Counter32(1))],
        };
        if signed {
            let at = v3::Seal {
                engine_id: &self.engine_id,
                boots: self.boots,
                time: self.time(),
                msg_id: req.msg_id,
                salt: 0,
            };
            let signer = self.user.without_privacy();
            let keys = LocalKeys {
                auth: self.keys.auth.clone(),
                privacy: None,
            };
            return v3::seal(&signer, Some(&keys), at, pdu);
        }
        V3Message {
            msg_id: req.msg_id,
            max_size: 65_507,
            flags: 0,
            usm: UsmParams {
                engine_id: self.engine_id.clone(),
                boots: self.boots,
                time: self.time(),
                user: req.usm.user.clone(),
                auth: Vec::new(),
                privacy: Vec::new(),
            },
            payload: Payload::Plain(ScopedPdu {
                context_engine_id: self.engine_id.clone(),
                context_name: Vec::new(),
                pdu,
            }),
        }
        .encode()
        .0
    }
}
