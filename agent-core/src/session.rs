//! One target's conversation: GETs and column walks over the shared transport, with the
//! protocol's corner cases handled once (v1's noSuchName, tooBig, agents that loop).

use std::time::Duration;

use crate::decode::Varbinds;
use crate::message::{error_status, PduKind, Value, Version};
use crate::oid::Oid;
use crate::transport::{Counters, SnmpError, Target, Transport};

/// The most varbinds one GET asks for; larger sets are split.
const MAX_GET_VARBINDS: usize = 40;
/// A budget for one response, under a 1,500-byte Ethernet MTU.
const DATAGRAM_BUDGET: usize = 1_350;
/// A bound on rows per column, so a broken agent cannot keep a walk going for ever (a
/// printer's tables have tens of rows).
const MAX_ROWS: usize = 1_000;
/// A bound on the bytes one walk takes in: an agent with an endless table of 8 KB values
/// cost 510 MB for one printer before it. What was read by then is kept.
pub const MAX_WALK_BYTES: u64 = 1 << 20;

/// A column to walk, with what the caller expects of it.
#[derive(Debug, Clone)]
pub struct Column {
    /// The column's OID (or any subtree).
    pub oid: Oid,
    /// Rows expected, from an earlier poll; `Some(0)` means "probably empty: probe it
    /// with one GETNEXT instead of repeating".
    pub expect_rows: Option<usize>,
    /// Rough bytes per varbind in a reply, to size max-repetitions.
    pub width: usize,
    /// Stop after this many rows (a probe that only asks "is there anything here?").
    pub limit: usize,
}

impl Column {
    /// A column of numbers.
    pub fn numeric(oid: Oid) -> Self {
        Column {
            oid,
            expect_rows: None,
            width: 22,
            limit: MAX_ROWS,
        }
    }

    /// A column of text.
    pub fn text(oid: Oid) -> Self {
        Column {
            oid,
            expect_rows: None,
            width: 48,
            limit: MAX_ROWS,
        }
    }

    /// The same column, read for at most `n` rows.
    pub fn at_most(mut self, n: usize) -> Self {
        self.limit = n.max(1);
        self
    }

    /// The same column with a row count expected.
    pub fn expecting(mut self, rows: usize) -> Self {
        self.expect_rows = Some(rows);
        self
    }
}

/// A conversation with one agent, adding up what it costs.
pub struct Session {
    transport: Transport,
    target: Target,
    /// What this session has cost so far.
    pub counters: Counters,
}

impl Session {
    /// Starts a session with `target` over `transport`.
    pub fn new(transport: Transport, target: Target) -> Self {
        Session {
            transport,
            target,
            counters: Counters::default(),
        }
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Shortens the timeout and retries (used by discovery, which probes many silent hosts).
    pub fn set_patience(&mut self, timeout: Duration, retries: u32) {
        self.target.timeout = timeout;
        self.target.retries = retries;
    }

    /// GETs scalars. Missing objects come back as `NoSuchObject`/`NoSuchInstance` (on v1,
    /// a noSuchName error is turned into the same by asking again without that variable).
    pub async fn get(&mut self, oids: &[Oid]) -> Result<Vec<(Oid, Value)>, SnmpError> {
        let mut out = Vec::with_capacity(oids.len());
        for chunk in oids.chunks(MAX_GET_VARBINDS) {
            out.extend(self.get_chunk(chunk.to_vec()).await?);
        }
        Ok(out)
    }

    async fn get_chunk(&mut self, mut oids: Vec<Oid>) -> Result<Vec<(Oid, Value)>, SnmpError> {
        let mut missing = Vec::new();
        loop {
            if oids.is_empty() {
                return Ok(missing);
            }
            let pdu = self
                .transport
                .request(&self.target, PduKind::Get, &oids, 0, 0, &mut self.counters)
                .await?;
            match pdu.error_status {
                error_status::NO_ERROR => {
                    let mut vbs = pdu.varbinds;
                    vbs.extend(missing);
                    return Ok(vbs);
                }
                error_status::NO_SUCH_NAME
                    if pdu.error_index >= 1 && pdu.error_index as usize <= oids.len() =>
                {
                    let gone = oids.remove(pdu.error_index as usize - 1);
                    missing.push((gone, Value::NoSuchObject));
                }
                error_status::TOO_BIG if oids.len() > 1 => {
                    let rest = oids.split_off(oids.len() / 2);
                    let mut a = Box::pin(self.get_chunk(oids)).await?;
                    a.extend(Box::pin(self.get_chunk(rest)).await?);
                    a.extend(missing);
                    return Ok(a);
                }
                status => {
                    return Err(SnmpError::Agent {
                        target: self.target.addr,
                        status,
                        index: pdu.error_index,
                    })
                }
            }
        }
    }

    /// One GETNEXT for several variables at once: the next object after each. On v1, a
    /// variable that runs off the end of the MIB (noSuchName) is dropped and the rest asked
    /// again; the answer then has fewer variables.
    pub async fn get_next(&mut self, oids: &[Oid]) -> Result<Vec<(Oid, Value)>, SnmpError> {
        let mut oids = oids.to_vec();
        while !oids.is_empty() {
            let pdu = self
                .transport
                .request(
                    &self.target,
                    PduKind::GetNext,
                    &oids,
                    0,
                    0,
                    &mut self.counters,
                )
                .await?;
            match pdu.error_status {
                error_status::NO_ERROR => return Ok(pdu.varbinds),
                error_status::NO_SUCH_NAME
                    if pdu.error_index >= 1 && pdu.error_index as usize <= oids.len() =>
                {
                    oids.remove(pdu.error_index as usize - 1);
                }
                status => {
                    return Err(SnmpError::Agent {
                        target: self.target.addr,
                        status,
                        index: pdu.error_index,
                    })
                }
            }
        }
        Ok(Vec::new())
    }

    /// Walks several columns side by side with GETBULK (GETNEXT on v1), stopping each at
    /// the end of its column, and adds every row found to `into`. Returns the number of
    /// rows found per column.
    pub async fn walk(
        &mut self,
        columns: &[Column],
        into: &mut Varbinds,
    ) -> Result<Vec<usize>, SnmpError> {
        struct Open {
            col: usize,
            cursor: Oid,
            probe: bool,
        }
        let mut found = vec![0usize; columns.len()];
        let mut open: Vec<Open> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| Open {
                col: i,
                cursor: c.oid.clone(),
                probe: c.expect_rows == Some(0),
            })
            .collect();
        let mut shrink = 1u32;
        let received_before = self.counters.bytes_received;
        while !open.is_empty() {
            if self.counters.bytes_received - received_before > MAX_WALK_BYTES {
                break;
            }
            // Probes (expected-empty columns) go first as non-repeaters: one GETNEXT each.
            open.sort_by_key(|o| !o.probe);
            let probes = open.iter().filter(|o| o.probe).count();
            let repeaters: Vec<&Open> = open.iter().filter(|o| !o.probe).collect();
            let width: usize = repeaters
                .iter()
                .map(|o| columns[o.col].width)
                .sum::<usize>()
                .max(1);
            let wanted = repeaters
                .iter()
                .map(|o| {
                    columns[o.col]
                        .expect_rows
                        .map_or(usize::MAX, |r| r.saturating_sub(found[o.col]) + 1)
                })
                .max()
                .unwrap_or(1);
            let fit = (DATAGRAM_BUDGET.saturating_sub(probes * 24) / width).max(1);
            let reps = (wanted.min(fit).min(50) as u32 / shrink).max(1);
            let oids: Vec<Oid> = open.iter().map(|o| o.cursor.clone()).collect();

            let (pdu_kind, non_rep, max_rep) = match self.target.security.pdu_version() {
                Version::V2c => (PduKind::GetBulk, probes as u32, reps),
                Version::V1 => (PduKind::GetNext, 0, 0),
            };
            let pdu = self
                .transport
                .request(
                    &self.target,
                    pdu_kind,
                    &oids,
                    non_rep,
                    max_rep,
                    &mut self.counters,
                )
                .await?;
            match pdu.error_status {
                error_status::NO_ERROR => {}
                error_status::TOO_BIG if reps > 1 => {
                    shrink *= 2;
                    continue;
                }
                error_status::TOO_BIG if oids.len() > 1 => {
                    // Even one repetition is too big: walk the columns one at a time.
                    let cols: Vec<Column> = open
                        .iter()
                        .map(|o| Column {
                            oid: o.cursor.clone(),
                            ..columns[o.col].clone()
                        })
                        .collect();
                    let idx: Vec<usize> = open.iter().map(|o| o.col).collect();
                    for (c, i) in cols.into_iter().zip(idx) {
                        let n = Box::pin(self.walk(std::slice::from_ref(&c), into)).await?;
                        found[i] += n[0];
                    }
                    return Ok(found);
                }
                error_status::NO_SUCH_NAME if self.target.security.pdu_version() == Version::V1 => {
                    // v1: the variable at error_index ran off the end of the MIB.
                    let at = pdu.error_index as usize;
                    if at >= 1 && at <= open.len() {
                        open.remove(at - 1);
                        continue;
                    }
                    return Err(SnmpError::Agent {
                        target: self.target.addr,
                        status: pdu.error_status,
                        index: pdu.error_index,
                    });
                }
                status => {
                    return Err(SnmpError::Agent {
                        target: self.target.addr,
                        status,
                        index: pdu.error_index,
                    })
                }
            }
            // Lay the reply out: the non-repeaters, then rows of the repeaters.
            let n_open = open.len();
            let mut done = vec![false; n_open];
            let mut progressed = vec![false; n_open];
            let stride = n_open - probes;
            for (k, (oid, value)) in pdu.varbinds.into_iter().enumerate() {
                let slot = if k < probes {
                    k
                } else if stride > 0 {
                    probes + (k - probes) % stride
                } else {
                    break;
                };
                if done[slot]
                    || (k >= probes
                        && k - probes >= stride * max_rep.max(1) as usize
                        && pdu_kind == PduKind::GetBulk)
                {
                    continue;
                }
                let o = &mut open[slot];
                let col = &columns[o.col];
                if value == Value::EndOfMibView || !oid.starts_with(&col.oid) {
                    done[slot] = true;
                    continue;
                }
                if oid <= o.cursor {
                    return Err(SnmpError::Protocol {
                        target: self.target.addr,
                        detail: format!(
                            "GETNEXT after {} returned {}, which does not come after it",
                            o.cursor, oid
                        ),
                    });
                }
                o.cursor = oid.clone();
                progressed[slot] = true;
                found[o.col] += 1;
                into.insert(oid, value);
                if found[o.col] >= col.limit {
                    done[slot] = true;
                }
                if k < probes {
                    // A probe that found a row: the table has rows after all; walk it.
                    o.probe = false;
                }
            }
            // An agent may cut a GETBULK reply short to fit its message size (RFC 3416
            // 4.2.3): columns it said nothing about stay open for the next round. A round in
            // which no column moved or ended would repeat for ever: that is an error.
            if !progressed.iter().zip(&done).any(|(p, d)| *p || *d) {
                return Err(SnmpError::Protocol {
                    target: self.target.addr,
                    detail: "a walk's reply carried no usable variables".into(),
                });
            }
            let mut i = 0;
            open.retain(|_| {
                let keep = !done[i];
                i += 1;
                keep
            });
        }
        Ok(found)
    }
}
