//! What to ask a printer, and when.
//!
//! A first poll learns the printer: identity, the supply table's static columns
//! (descriptions, types, colours), which rows exist. It returns a [`PollPlan`] holding that
//! knowledge. A steady-state poll with a plan asks only what changes: one GET for the status
//! scalars and counters, one GETBULK for the level and capacity columns sized to the known
//! rows, and a single GETNEXT probe of the alert table while it is empty. That is two round
//! trips and a few hundred bytes for a typical printer (DESIGN.md's budget: 2 and 1,500).

use crate::decode::{self, Varbinds};
use crate::message::Value;
use crate::mib;
use crate::model::Reading;
use crate::oid::{ConstOid, Oid};
use crate::session::{Column, Session};
use crate::transport::SnmpError;
use crate::vendor::VendorProfile;

/// What a first poll learnt about a printer, so later polls can ask less.
#[derive(Debug, Clone, PartialEq)]
pub struct PollPlan {
    /// The variables that do not change between polls (identity, supply descriptions, ...),
    /// plus the latest values of those that do.
    pub known: Varbinds,
    /// hrDeviceIndex of the printer.
    pub device_index: u32,
    /// Supply rows (hrDeviceIndex, prtMarkerSuppliesIndex).
    pub supply_rows: Vec<[u32; 2]>,
    /// prtMarkerLifeCount rows.
    pub marker_rows: Vec<Vec<u32>>,
    /// prtAlertTable rows at the last poll.
    pub alert_rows: usize,
}

/// A [`PollPlan`] at rest: its known variables as one BER-encoded varbind list. A collector
/// keeps one plan per printer between polls; as a map of OIDs and values a plan is about
/// 10 KB, packed about 2 KB, which is most of what thousands of printers cost a collector
/// in memory. It is unpacked only for the poll that uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedPlan {
    known: Box<[u8]>,
    device_index: u32,
    supply_rows: Box<[[u32; 2]]>,
    marker_rows: Box<[Box<[u32]>]>,
    alert_rows: usize,
}

impl PollPlan {
    /// The plan packed for keeping between polls.
    pub fn pack(&self) -> PackedPlan {
        let known = crate::message::Message {
            version: crate::message::Version::V2c,
            community: Vec::new(),
            pdu: crate::message::Pdu {
                kind: crate::message::PduKind::Response,
                request_id: 0,
                error_status: 0,
                error_index: 0,
                varbinds: self
                    .known
                    .iter()
                    .map(|(o, v)| (o.clone(), v.clone()))
                    .collect(),
            },
        }
        .encode();
        PackedPlan {
            known: known.into_boxed_slice(),
            device_index: self.device_index,
            supply_rows: self.supply_rows.clone().into_boxed_slice(),
            marker_rows: self
                .marker_rows
                .iter()
                .map(|r| r.clone().into_boxed_slice())
                .collect(),
            alert_rows: self.alert_rows,
        }
    }
}

impl PackedPlan {
    /// The plan again. It fails only if the packed bytes were damaged (they never leave
    /// the process), and then the caller reads the printer in full instead.
    pub fn unpack(&self) -> Result<PollPlan, crate::message::DecodeError> {
        let known = crate::message::Message::decode(&self.known)?
            .pdu
            .varbinds
            .into_iter()
            .collect();
        Ok(PollPlan {
            known,
            device_index: self.device_index,
            supply_rows: self.supply_rows.to_vec(),
            marker_rows: self.marker_rows.iter().map(|r| r.to_vec()).collect(),
            alert_rows: self.alert_rows,
        })
    }

    /// Bytes it holds.
    pub fn size(&self) -> usize {
        self.known.len()
            + self.supply_rows.len() * 8
            + self.marker_rows.iter().map(|r| r.len() * 4).sum::<usize>()
    }
}

/// Which parts of a steady-state poll are due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// Read the vendor's private meters too (daily, say); the standard life count is
    /// always read.
    pub meters: bool,
}

fn profile(known: &Varbinds) -> &'static VendorProfile {
    decode::profile_of(known)
}

fn supply_columns() -> Vec<Column> {
    vec![
        Column::numeric(mib::supply_colorant_index()),
        Column::numeric(mib::supply_class()),
        Column::numeric(mib::supply_type()),
        Column::text(mib::supply_description()),
        Column::numeric(mib::supply_unit()),
        Column::numeric(mib::supply_max_capacity()),
        Column::numeric(mib::supply_level()),
        Column::text(mib::colorant_value()),
    ]
}

fn alert_columns(expect: Option<usize>) -> Vec<Column> {
    let mut cols = vec![
        Column::numeric(mib::alert_severity()),
        Column::numeric(mib::alert_group()),
        Column::numeric(mib::alert_code()),
        Column::text(mib::alert_description()),
    ];
    if let Some(n) = expect {
        cols = cols.into_iter().map(|c| c.expecting(n)).collect();
    }
    cols
}

/// The columns of a vendor table of named values (counters, levels): the values always,
/// the names only when they are to be learnt (they do not change between polls).
fn named_value_columns(table: Option<(ConstOid, ConstOid)>, names: bool) -> Vec<Column> {
    let Some((values, name_column)) = table else {
        return Vec::new();
    };
    let mut v = vec![Column::numeric(values.to_oid())];
    if names {
        v.push(Column::text(name_column.to_oid()));
    }
    v
}

fn meter_table_columns(p: &VendorProfile, names: bool) -> Vec<Column> {
    named_value_columns(p.meter_table.map(|t| (t.values, t.names)), names)
}

fn private_level_columns(p: &VendorProfile, names: bool) -> Vec<Column> {
    named_value_columns(p.private_levels.map(|t| (t.levels, t.names)), names)
}

fn insert_all(into: &mut Varbinds, vbs: Vec<(Oid, Value)>) {
    for (o, v) in vbs {
        into.insert(o, v);
    }
}

fn clear_column(vars: &mut Varbinds, col: &Oid) {
    let keys: Vec<Oid> = vars
        .range(col.clone()..)
        .take_while(|(o, _)| o.starts_with(col))
        .map(|(o, _)| o.clone())
        .collect();
    for k in keys {
        vars.remove(&k);
    }
}

/// Reads a printer completely: identity, all supply, marker, colorant and alert columns,
/// status and every meter the vendor profile knows. Returns the reading and the plan for
/// steady-state polls.
pub async fn first_poll(session: &mut Session) -> Result<(Reading, PollPlan), SnmpError> {
    let mut vars = Varbinds::new();
    insert_all(
        &mut vars,
        session
            .get(&[mib::sys_descr(), mib::sys_object_id(), mib::sys_uptime()])
            .await?,
    );
    let p = profile(&vars);
    let mut scalars = p.identity_oids();
    scalars.extend(p.meter_oids());
    if !scalars.is_empty() {
        insert_all(&mut vars, session.get(&scalars).await?);
    }
    let mut columns = vec![
        Column::numeric(mib::hr_device_type()),
        Column::text(mib::hr_device_descr()),
        Column::numeric(mib::hr_device_status()),
        Column::numeric(mib::hr_printer_status()),
        Column::numeric(mib::hr_printer_error_state()),
        Column::numeric(mib::if_type()),
        Column::numeric(mib::if_phys_address()),
        Column::text(mib::prt_general_serial()),
        Column::numeric(mib::prt_marker_life_count()),
        Column::numeric(mib::prt_marker_power_on_count()),
    ];
    columns.extend(supply_columns());
    columns.extend(alert_columns(None));
    columns.extend(meter_table_columns(p, true));
    columns.extend(private_level_columns(p, true));
    session.walk(&columns, &mut vars).await?;
    let plan = plan_from(vars);
    let reading = finish(session, &plan.known);
    Ok((reading, plan))
}

fn plan_from(known: Varbinds) -> PollPlan {
    let device_index = decode::printer_device_index(&known);
    let supply_rows = decode::column(&known, &mib::supply_level())
        .chain(decode::column(&known, &mib::supply_description()))
        .filter_map(|(i, _)| <[u32; 2]>::try_from(i).ok())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let marker_rows = decode::column(&known, &mib::prt_marker_life_count())
        .map(|(i, _)| i.to_vec())
        .collect();
    let alert_rows = decode::column(&known, &mib::alert_severity()).count();
    PollPlan {
        known,
        device_index,
        supply_rows,
        marker_rows,
        alert_rows,
    }
}

fn finish(session: &Session, vars: &Varbinds) -> Reading {
    let t = session.target();
    let address = if t.addr.port() == 161 {
        t.addr.ip().to_string()
    } else {
        t.addr.to_string()
    };
    let mut r = decode::reading(vars, &address);
    r.polled_at = now_rfc3339();
    r.bytes_sent = session.counters.bytes_sent;
    r.bytes_received = session.counters.bytes_received;
    r.round_trips = session.counters.requests;
    r
}

/// The current time in RFC 3339, UTC.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A steady-state poll: status, supply levels, life counts and alerts, asking only for
/// what changes. When the supply table changed shape (a supply added or removed), it reads
/// the table's static columns again in the same poll.
pub async fn steady_poll(
    session: &mut Session,
    plan: &mut PollPlan,
    due: Due,
) -> Result<Reading, SnmpError> {
    let d = plan.device_index;
    let p = profile(&plan.known);
    let mut scalars = vec![
        mib::hr_device_status().child(&[d]),
        mib::hr_printer_status().child(&[d]),
        mib::hr_printer_error_state().child(&[d]),
    ];
    scalars.extend(
        plan.marker_rows
            .iter()
            .map(|r| mib::prt_marker_life_count().child(r)),
    );
    if due.meters {
        scalars.extend(p.meter_oids());
    }
    let got = session.get(&scalars).await?;

    let n = plan.supply_rows.len();
    let mut fresh = Varbinds::new();
    let mut columns = vec![
        Column::numeric(mib::supply_level()).expecting(n),
        Column::numeric(mib::supply_max_capacity()).expecting(n),
    ];
    if plan.alert_rows == 0 {
        columns.push(Column::numeric(mib::alert_severity()).expecting(0));
    } else {
        columns.extend(alert_columns(Some(plan.alert_rows)));
    }
    if due.meters {
        columns.extend(meter_table_columns(p, false));
    }
    columns.extend(private_level_columns(p, false));
    let found = session.walk(&columns, &mut fresh).await?;
    if plan.alert_rows == 0 && found.get(2).copied().unwrap_or(0) > 0 {
        // The probe found an alert: read the whole alert table.
        clear_column(&mut fresh, &mib::alert_severity());
        session.walk(&alert_columns(None), &mut fresh).await?;
    }

    // Replace what changes, keep what does not.
    for col in [mib::supply_level(), mib::supply_max_capacity()] {
        clear_column(&mut plan.known, &col);
    }
    for c in alert_columns(None)
        .into_iter()
        .chain(private_level_columns(p, false))
    {
        clear_column(&mut plan.known, &c.oid);
    }
    if due.meters {
        for c in meter_table_columns(p, false) {
            clear_column(&mut plan.known, &c.oid);
        }
    }
    insert_all(&mut plan.known, got);
    plan.known.append(&mut fresh);

    let rows: Vec<[u32; 2]> = decode::column(&plan.known, &mib::supply_level())
        .filter_map(|(i, _)| <[u32; 2]>::try_from(i).ok())
        .collect();
    if rows != plan.supply_rows {
        for c in supply_columns() {
            clear_column(&mut plan.known, &c.oid);
        }
        session.walk(&supply_columns(), &mut plan.known).await?;
    }
    let known = std::mem::take(&mut plan.known);
    *plan = plan_from(known);
    Ok(finish(session, &plan.known))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_column_only_touches_that_column() {
        let mut v = Varbinds::new();
        v.insert(Oid::lit("1.3.6.1.2.1.43.11.1.1.9.1.1"), Value::Integer(1));
        v.insert(Oid::lit("1.3.6.1.2.1.43.11.1.1.9.1.2"), Value::Integer(2));
        v.insert(Oid::lit("1.3.6.1.2.1.43.11.1.1.10.1.1"), Value::Integer(3));
        v.insert(Oid::lit("1.3.6.1.2.1.43.11.1.1.8.1.1"), Value::Integer(4));
        clear_column(&mut v, &mib::supply_level());
        assert_eq!(v.len(), 2);
    }
}
