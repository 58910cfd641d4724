//! One simulated agent: an ordered view of variables and the RFC 3416 rules to answer from it.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::Duration;

use crate::message::{error_status, Message, Pdu, PduKind, Value, Version};
use crate::oid::Oid;

/// Faults to inject, so tests can see what the reader does when agents misbehave.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Probability (0..1) that a request is dropped without an answer.
    pub loss: f64,
    /// Delay before each reply is sent.
    pub delay: Duration,
    /// Delay only the first this-many replies (then answer at once); `None` delays all.
    pub delay_count: Option<u32>,
    /// Probability (0..1) that a reply is replaced by random bytes.
    pub garbage: f64,
    /// Never answer.
    pub silent: bool,
    /// Send each reply this many extra times.
    pub duplicates: u32,
    /// Answer tooBig to any request whose reply would carry more variables than this
    /// (an agent stricter than RFC 3416 asks).
    pub max_varbinds: Option<usize>,
    /// Answer at most this many repetitions to a GETBULK, however many were asked for and
    /// however much room the reply has: a short reply in the middle of a table, as some
    /// agents send (RFC 3416 allows fewer).
    pub max_repetitions: Option<u32>,
}

/// A simulated SNMP agent.
#[derive(Debug, Clone)]
pub struct SimDevice {
    /// A name for logs and listings (the recording's file name, or the synthetic model).
    pub name: String,
    /// The variables it serves, in GETNEXT order.
    pub view: BTreeMap<Oid, Value>,
    /// The community it answers to; others get silence, as from a real agent.
    pub community: Vec<u8>,
    /// Largest reply it sends, in bytes.
    pub max_message: usize,
    /// Faults to inject.
    pub faults: Faults,
    /// Replies sent so far (drives `Faults::delay_count`).
    pub replies: u32,
    /// Present for synthetic printers, whose values change with time.
    pub synthetic: Option<super::synthetic::Drain>,
    /// Its SNMPv3 engine and user, if it speaks v3 (it answers v2c as well).
    pub v3: Option<super::usm::SimUsm>,
}

impl SimDevice {
    /// A device serving `records`, community `public`.
    pub fn new(name: impl Into<String>, records: impl IntoIterator<Item = (Oid, Value)>) -> Self {
        SimDevice {
            name: name.into(),
            view: records.into_iter().collect(),
            community: b"public".to_vec(),
            max_message: 1472,
            faults: Faults::default(),
            replies: 0,
            synthetic: None,
            v3: None,
        }
    }

    /// A device serving an snmprec recording, with the lines that could not be read (they
    /// are left out of the view).
    pub fn from_snmprec(
        name: impl Into<String>,
        text: &str,
    ) -> (Self, Vec<crate::snmprec::SnmprecError>) {
        let (records, errors) = crate::snmprec::parse_lenient(text);
        (Self::new(name, records), errors)
    }

    fn next_after(&self, oid: &Oid) -> Option<(&Oid, &Value)> {
        self.view
            .range((Bound::Excluded(oid.clone()), Bound::Unbounded))
            .next()
    }

    fn exact(&self, oid: &Oid) -> Value {
        if let Some(v) = self.view.get(oid) {
            return v.clone();
        }
        // noSuchInstance when the object (the OID without its instance) exists.
        let arcs = oid.arcs();
        let object = Oid::new(arcs[..arcs.len().saturating_sub(1)].to_vec());
        match self.next_after(&object) {
            Some((k, _)) if k.starts_with(&object) && !object.is_empty() => Value::NoSuchInstance,
            _ => Value::NoSuchObject,
        }
    }

    fn next(&self, oid: &Oid) -> (Oid, Value) {
        match self.next_after(oid) {
            Some((k, v)) => (k.clone(), v.clone()),
            None => (oid.clone(), Value::EndOfMibView),
        }
    }

    /// Answers the PDU of a v3 request that passed USM, from the same view as v2c.
    pub fn respond_v3(&self, pdu: Pdu) -> Option<Pdu> {
        let req = Message {
            version: Version::V2c,
            community: self.community.clone(),
            pdu,
        };
        self.respond(&req).map(|r| r.pdu)
    }

    /// Answers one request, or `None` where a real agent would stay silent (wrong
    /// community, a PDU it does not serve, GETBULK over v1).
    pub fn respond(&self, req: &Message) -> Option<Message> {
        if req.community != self.community {
            return None;
        }
        let v1 = req.version == Version::V1;
        let oids: Vec<&Oid> = req.pdu.varbinds.iter().map(|(o, _)| o).collect();
        let mut status = error_status::NO_ERROR;
        let mut index = 0u32;
        let varbinds: Vec<(Oid, Value)> = match req.pdu.kind {
            PduKind::Get => oids.iter().map(|o| ((*o).clone(), self.exact(o))).collect(),
            PduKind::GetNext => oids.iter().map(|o| self.next(o)).collect(),
            PduKind::GetBulk if !v1 => {
                let n = (req.pdu.error_status as usize).min(oids.len());
                let m = match self.faults.max_repetitions {
                    Some(cap) => req.pdu.error_index.min(cap) as usize,
                    None => req.pdu.error_index as usize,
                };
                let mut out: Vec<(Oid, Value)> = oids[..n].iter().map(|o| self.next(o)).collect();
                let mut cursors: Vec<Oid> = oids[n..].iter().map(|o| (*o).clone()).collect();
                'rows: for _ in 0..m {
                    let mut all_end = true;
                    for c in cursors.iter_mut() {
                        let (o, v) = self.next(c);
                        all_end &= v == Value::EndOfMibView;
                        *c = o.clone();
                        out.push((o, v));
                        if out.len() > 4096 {
                            break 'rows;
                        }
                    }
                    if all_end {
                        break;
                    }
                }
                out
            }
            _ => return None,
        };
        let mut varbinds = varbinds;
        if v1 {
            // v1 has no exception values: the first one becomes a noSuchName error and the
            // request's variables come back unchanged.
            if let Some(i) = varbinds.iter().position(|(_, v)| v.is_exception()) {
                status = error_status::NO_SUCH_NAME;
                index = i as u32 + 1;
                varbinds = req.pdu.varbinds.clone();
            }
        }
        let mut reply = Message {
            version: req.version,
            community: req.community.clone(),
            pdu: Pdu {
                kind: PduKind::Response,
                request_id: req.pdu.request_id,
                error_status: status,
                error_index: index,
                varbinds,
            },
        };
        if self
            .faults
            .max_varbinds
            .is_some_and(|max| reply.pdu.varbinds.len() > max)
        {
            return Some(too_big(req));
        }
        if reply.encode().len() > self.max_message {
            if req.pdu.kind != PduKind::GetBulk {
                return Some(too_big(req));
            }
            // GETBULK: drop variables from the end until the reply fits (RFC 3416 4.2.3).
            let keep_min = (req.pdu.error_status as usize).min(oids.len());
            while reply.pdu.varbinds.len() > keep_min.max(1)
                && reply.encode().len() > self.max_message
            {
                let n = reply.pdu.varbinds.len();
                reply.pdu.varbinds.truncate(n - (n / 8).max(1));
            }
            if reply.encode().len() > self.max_message {
                return Some(too_big(req));
            }
        }
        Some(reply)
    }
}

/// The four prtAlertTable cells of one alert row, for simulated devices that raise alerts.
pub fn alert_row(
    row: [u32; 2],
    severity: i64,
    group: i64,
    code: i64,
    description: &str,
) -> [(Oid, Value); 4] {
    use crate::mib;
    [
        (mib::alert_severity().child(&row), Value::Integer(severity)),
        (mib::alert_group().child(&row), Value::Integer(group)),
        (mib::alert_code().child(&row), Value::Integer(code)),
        (
            mib::alert_description().child(&row),
            Value::OctetString(description.as_bytes().to_vec()),
        ),
    ]
}

fn too_big(req: &Message) -> Message {
    Message {
        version: req.version,
        community: req.community.clone(),
        pdu: Pdu {
            kind: PduKind::Response,
            request_id: req.pdu.request_id,
            error_status: error_status::TOO_BIG,
            error_index: 0,
            varbinds: if req.version == Version::V1 {
                req.pdu.varbinds.clone()
            } else {
                Vec::new()
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> SimDevice {
        SimDevice::new(
            "t",
            [
                ("1.3.6.1.2.1.1.1.0", Value::OctetString(b"printer".to_vec())),
                ("1.3.6.1.2.1.43.11.1.1.9.1.1", Value::Integer(10)),
                ("1.3.6.1.2.1.43.11.1.1.9.1.2", Value::Integer(20)),
            ]
            .into_iter()
            .map(|(o, v)| (Oid::lit(o), v)),
        )
    }

    fn req(version: Version, kind: PduKind, oids: &[&str], nr: u32, mr: u32) -> Message {
        Message {
            version,
            community: b"public".to_vec(),
            pdu: Pdu {
                kind,
                request_id: 9,
                error_status: nr,
                error_index: mr,
                varbinds: oids.iter().map(|o| (Oid::lit(o), Value::Null)).collect(),
            },
        }
    }

    #[test]
    fn get_gives_exceptions_in_v2c_and_errors_in_v1() {
        let d = device();
        let r = d
            .respond(&req(
                Version::V2c,
                PduKind::Get,
                &["1.3.6.1.2.1.43.11.1.1.9.1.3", "1.3.6.1.9.9"],
                0,
                0,
            ))
            .unwrap();
        assert_eq!(r.pdu.varbinds[0].1, Value::NoSuchInstance);
        assert_eq!(r.pdu.varbinds[1].1, Value::NoSuchObject);
        let r = d
            .respond(&req(
                Version::V1,
                PduKind::Get,
                &["1.3.6.1.2.1.1.1.0", "1.3.6.1.9.9"],
                0,
                0,
            ))
            .unwrap();
        assert_eq!(
            (r.pdu.error_status, r.pdu.error_index),
            (error_status::NO_SUCH_NAME, 2)
        );
    }

    #[test]
    fn getbulk_repeats_and_ends_with_end_of_mib_view() {
        let d = device();
        let r = d
            .respond(&req(
                Version::V2c,
                PduKind::GetBulk,
                &["1.3.6.1.2.1.1", "1.3.6.1.2.1.43.11.1.1.9"],
                1,
                5,
            ))
            .unwrap();
        let vbs = r.pdu.varbinds;
        assert_eq!(vbs[0].0, Oid::lit("1.3.6.1.2.1.1.1.0"));
        assert_eq!(vbs[1].0, Oid::lit("1.3.6.1.2.1.43.11.1.1.9.1.1"));
        assert_eq!(vbs[2].0, Oid::lit("1.3.6.1.2.1.43.11.1.1.9.1.2"));
        assert_eq!(vbs[3].1, Value::EndOfMibView);
        assert_eq!(vbs.len(), 4, "stops once every repeater is at the end");
        assert!(d
            .respond(&req(Version::V1, PduKind::GetBulk, &["1.3"], 0, 5))
            .is_none());
    }

    #[test]
    fn wrong_community_is_silence() {
        let d = device();
        let mut r = req(Version::V2c, PduKind::Get, &["1.3.6.1.2.1.1.1.0"], 0, 0);
        r.community = b"private".to_vec();
        assert!(d.respond(&r).is_none());
    }

    #[test]
    fn oversized_replies() {
        let mut d = device();
        d.max_message = 60;
        let r = d
            .respond(&req(Version::V2c, PduKind::GetBulk, &["1.3"], 0, 10))
            .unwrap();
        assert!(r.encode().len() <= 60 && !r.pdu.varbinds.is_empty());
        d.max_message = 1472;
        d.faults.max_varbinds = Some(2);
        let r = d
            .respond(&req(Version::V2c, PduKind::GetBulk, &["1.3"], 0, 10))
            .unwrap();
        assert_eq!(r.pdu.error_status, error_status::TOO_BIG);
    }
}
