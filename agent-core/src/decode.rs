//! From the variables a poll collected to a [`Reading`].
//!
//! A poll gathers everything it asked for into one ordered map, then this module turns the
//! map into the reading. Keeping this step pure (no I/O) means every MIB and vendor rule is
//! tested directly on recordings, and the poll logic only has to decide what to ask.

use std::collections::BTreeMap;

use crate::message::Value;
use crate::mib;
use crate::model::{
    Alert, Identity, Meter, PercentSource, Reading, Status, Supply, SupplyClass, SupplyLevel,
    DEFAULT_REORDER_PERCENT,
};
use crate::oid::Oid;
use crate::text;
use crate::vendor::{extract, Field, Source, VendorProfile};

/// Everything a poll collected, by OID.
pub type Varbinds = BTreeMap<Oid, Value>;

/// The rows of one column: (row index, value), in order.
pub fn column<'a>(
    vars: &'a Varbinds,
    col: &Oid,
) -> impl Iterator<Item = (&'a [u32], &'a Value)> + 'a {
    let prefix = col.clone();
    let len = col.len();
    vars.range(col.clone()..)
        .take_while(move |(o, _)| o.starts_with(&prefix))
        .filter_map(move |(o, v)| {
            o.arcs()
                .get(len..)
                .filter(|s| !s.is_empty())
                .map(|s| (s, v))
        })
        .filter(|(_, v)| !v.is_exception())
}

fn get<'a>(vars: &'a Varbinds, oid: &Oid) -> Option<&'a Value> {
    vars.get(oid).filter(|v| !v.is_exception())
}

fn text_of(vars: &Varbinds, oid: &Oid) -> Option<String> {
    get(vars, oid)
        .and_then(Value::as_bytes)
        .map(text::plain_text)
        .filter(|s| !s.is_empty())
}

/// The hrDeviceIndex of the printer: the first hrDeviceTable row of type hrDevicePrinter,
/// else the first row of prtMarkerSuppliesTable, else 1.
pub fn printer_device_index(vars: &Varbinds) -> u32 {
    let printer = mib::hr_device_printer();
    column(vars, &mib::hr_device_type())
        .find(|(_, v)| matches!(v, Value::ObjectId(o) if *o == printer))
        .and_then(|(idx, _)| idx.first().copied())
        .or_else(|| {
            column(vars, &mib::supply_level())
                .next()
                .and_then(|(i, _)| i.first().copied())
        })
        .unwrap_or(1)
}

/// True when the variables show a printer: any Printer-MIB row. An hrDevicePrinter row
/// alone is not one: Windows lists every print queue (an XPS or PDF writer, a shared
/// printer) and net-snmp every CUPS queue in hrDeviceTable; a printer has the Printer-MIB,
/// whatever its hrDeviceTable says.
pub fn is_printer(vars: &Varbinds) -> bool {
    let prt = mib::printer_mib();
    vars.iter()
        .any(|(o, v)| !v.is_exception() && o.starts_with(&prt))
}

/// The profile for these variables, from sysObjectID and sysDescr.
pub fn profile_of(vars: &Varbinds) -> &'static VendorProfile {
    let oid = match get(vars, &mib::sys_object_id()) {
        Some(Value::ObjectId(o)) => Some(o.clone()),
        _ => None,
    };
    VendorProfile::select(oid.as_ref(), text_of(vars, &mib::sys_descr()).as_deref())
}

fn field(vars: &Varbinds, fields: &[Field], dev: u32) -> Option<String> {
    fields.iter().find_map(|Field(src, how)| {
        let raw = match src {
            Source::Oid(o) => get(vars, &o.to_oid())
                .and_then(Value::as_bytes)
                .map(text::decode_description),
            Source::SysDescr => text_of(vars, &mib::sys_descr()),
            Source::DeviceDescr => text_of(vars, &mib::hr_device_descr().child(&[dev])),
        }?;
        extract(&raw, *how)
    })
}

/// The model name alone. Printers glue other things to it: firmware after a `;` or `,`
/// (`Samsung M332x Series; V4.00.02.26`), a MAC or serial in brackets
/// (`Brother HL-5370DW series [001ba90ba752]`), `SN:` and the serial, a trailing version
/// (`RICOH MP C3004 1.02`). What a person orders toner by is what is left.
fn clean_model(profile: &VendorProfile, model: String, serial: Option<&str>) -> String {
    let mut m = model.as_str();
    for p in profile.name_prefixes {
        if let Some(rest) = m.strip_prefix(p) {
            m = rest;
            break;
        }
    }
    let m = m.split([';', ',']).next().unwrap_or_default();
    // Bracketed groups: [MAC], (SN ...), (serial); a parenthesis that is part of a name
    // (`(R)`, `(A4)`) is short and carries no digits run, so it stays.
    let mut plain = String::with_capacity(m.len());
    let mut depth: Option<(char, String)> = None;
    for c in m.chars() {
        match (&mut depth, c) {
            (None, '[' | '(') => depth = Some((c, String::new())),
            (Some((open, inside)), ']' | ')') => {
                let glued = *open == '['
                    || inside.len() >= 6
                        && inside.chars().filter(char::is_ascii_digit).count() >= 3
                    || serial.is_some_and(|s| !s.is_empty() && inside.contains(s));
                if !glued {
                    plain.push(*open);
                    plain.push_str(inside);
                    plain.push(c);
                }
                depth = None;
            }
            (Some((_, inside)), c) => inside.push(c),
            (None, c) => plain.push(c),
        }
    }
    let mut words: Vec<&str> = plain
        .split_whitespace()
        .filter(|w| !w.eq_ignore_ascii_case("series"))
        .collect();
    // `SN:123`, `S/N 123`, or the serial itself.
    if let Some(at) = words.iter().position(|w| {
        let u = w.to_ascii_uppercase();
        u.starts_with("SN:") || u.starts_with("S/N") || u == "SN"
    }) {
        words.truncate(at);
    }
    if let Some(s) = serial.filter(|s| s.len() >= 4) {
        words.retain(|w| *w != s);
    }
    // A trailing version: 1.02, V4.00.02, 5.0.0a.
    while words.len() > 1 && words.last().is_some_and(|w| is_version(w)) {
        words.pop();
    }
    words.join(" ")
}

fn is_version(w: &str) -> bool {
    let w = w.strip_prefix(['v', 'V']).unwrap_or(w);
    let w = w.trim_end_matches(|c: char| c.is_ascii_lowercase());
    w.contains('.')
        && w.split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// Builds the identity part of a reading.
pub fn identity(vars: &Varbinds, address: &str) -> Identity {
    let profile = profile_of(vars);
    let dev = printer_device_index(vars);
    let sys_descr = text_of(vars, &mib::sys_descr());
    let serial = field(vars, profile.serial, dev)
        .or_else(|| text_of(vars, &mib::prt_general_serial().child(&[dev])))
        .or_else(|| {
            column(vars, &mib::prt_general_serial())
                .find_map(|(_, v)| v.as_bytes().map(text::plain_text))
        })
        .filter(|s| !s.is_empty());
    let model = field(vars, profile.model, dev)
        .or_else(|| text_of(vars, &mib::hr_device_descr().child(&[dev])))
        .map(|m| clean_model(profile, m, serial.as_deref()))
        .filter(|m| !m.is_empty());
    let ethernet: Vec<u32> = column(vars, &mib::if_type())
        .filter(|(_, v)| v.as_i64() == Some(6))
        .filter_map(|(i, _)| i.first().copied())
        .collect();
    let macs: Vec<(u32, String)> = column(vars, &mib::if_phys_address())
        .filter_map(|(i, v)| Some((*i.first()?, text::mac(v.as_bytes()?)?)))
        .collect();
    let mac = macs
        .iter()
        .find(|(i, _)| ethernet.contains(i))
        .or_else(|| macs.first())
        .map(|(_, m)| m.clone());
    Identity {
        address: address.to_string(),
        sys_object_id: match get(vars, &mib::sys_object_id()) {
            Some(Value::ObjectId(o)) => Some(o.to_string()),
            _ => None,
        },
        sys_descr: sys_descr.clone(),
        vendor: profile.brand(sys_descr.as_deref()),
        model,
        serial,
        firmware: field(vars, profile.firmware, dev),
        mac,
        uuid: None,
    }
}

pub(crate) fn color_from_description(d: &str) -> Option<String> {
    let lower = d.to_lowercase();
    mib::COLOR_WORDS
        .iter()
        .find(|w| {
            lower.match_indices(*w).any(|(at, _)| {
                let before = lower[..at].chars().last();
                let after = lower[at + w.len()..].chars().next();
                !before.is_some_and(char::is_alphanumeric)
                    && !after.is_some_and(char::is_alphanumeric)
            })
        })
        .map(|w| w.to_string())
}

/// The percent a vendor's private level table gives for a supply, matched by name, or by
/// colour when the names differ ("Black Toner" and "Toner (Black)").
fn private_percent(
    vars: &Varbinds,
    profile: &VendorProfile,
    description: &str,
    color: Option<&str>,
) -> Option<u8> {
    let table = profile.private_levels?;
    let (names, levels) = (table.names.to_oid(), table.levels.to_oid());
    let rows: Vec<(String, u8)> = column(vars, &levels)
        .filter_map(|(idx, v)| {
            let p = u8::try_from(v.as_i64()?).ok().filter(|p| *p <= 100)?;
            Some((text_of(vars, &names.child(idx))?, p))
        })
        .collect();
    rows.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(description))
        .or_else(|| {
            let c = color?;
            let mut same = rows
                .iter()
                .filter(|(n, _)| color_from_description(n).as_deref() == Some(c));
            match (same.next(), same.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        })
        .map(|(_, p)| *p)
}

/// Builds the supplies of a reading from prtMarkerSuppliesTable and the colorant table.
pub fn supplies(vars: &Varbinds, profile: &VendorProfile, reorder_percent: u8) -> Vec<Supply> {
    let mut rows: Vec<Vec<u32>> = column(vars, &mib::supply_level())
        .chain(column(vars, &mib::supply_description()))
        .map(|(i, _)| i.to_vec())
        .filter(|i| i.len() == 2)
        .collect();
    rows.sort();
    rows.dedup();
    rows.iter()
        .map(|row| {
            let cell = |col: Oid| get(vars, &col.child(row));
            let raw_descr = cell(mib::supply_description())
                .and_then(Value::as_bytes)
                .map(text::decode_description)
                .unwrap_or_default();
            let (description, part_number) = profile
                .part_number_markers
                .iter()
                .find_map(|m| m.split(&raw_descr))
                .unwrap_or((raw_descr, None));
            let kind = cell(mib::supply_type())
                .and_then(Value::as_i64)
                .map_or_else(
                    || "unknown".to_string(),
                    |t| mib::name_of(mib::SUPPLY_TYPES, t, "type"),
                );
            let class = match cell(mib::supply_class()).and_then(Value::as_i64) {
                Some(4) => SupplyClass::Receptacle,
                Some(3) => SupplyClass::Consumed,
                _ if mib::RECEPTACLE_TYPES.contains(&kind.as_str()) => SupplyClass::Receptacle,
                _ => SupplyClass::Consumed,
            };
            let color = cell(mib::supply_colorant_index())
                .and_then(Value::as_i64)
                .filter(|&c| c > 0)
                .and_then(|c| u32::try_from(c).ok())
                .and_then(|c| text_of(vars, &mib::colorant_value().child(&[row[0], c])))
                .filter(|c| !c.eq_ignore_ascii_case("unknown") && !c.eq_ignore_ascii_case("other"))
                .or_else(|| color_from_description(&description));
            let unit = cell(mib::supply_unit())
                .and_then(Value::as_i64)
                .map(|u| mib::name_of(mib::SUPPLY_UNITS, u, "unit"));
            let level = SupplyLevel {
                level: cell(mib::supply_level())
                    .and_then(Value::as_i64)
                    .unwrap_or(-2),
                max_capacity: cell(mib::supply_max_capacity())
                    .and_then(Value::as_i64)
                    .unwrap_or(-2),
            };
            let (mut percent, mut percent_source, mut state) =
                match profile.vendor_level(level.level, level.max_capacity) {
                    Some(v) => v,
                    None => {
                        let p = level.standard_percent();
                        (
                            p,
                            p.map(|_| PercentSource::LevelOfMax),
                            level.state(p, reorder_percent),
                        )
                    }
                };
            if percent.is_none() && level.level != -1 {
                if let Some(p) = private_percent(vars, profile, &description, color.as_deref()) {
                    percent = Some(p);
                    percent_source = Some(PercentSource::VendorPrivateLevel);
                    state = SupplyLevel {
                        level: i64::from(p),
                        max_capacity: 100,
                    }
                    .state(Some(p), reorder_percent);
                }
            }
            Supply {
                device_index: row[0],
                index: row[1],
                description,
                part_number,
                kind,
                class,
                color,
                unit,
                level: level.level,
                max_capacity: level.max_capacity,
                percent,
                percent_source,
                state,
            }
        })
        .collect()
}

/// Builds the page meters: prtMarkerLifeCount and the vendor's private counters.
pub fn meters(vars: &Varbinds, profile: &VendorProfile) -> Vec<Meter> {
    let mut out = Vec::new();
    let life = mib::prt_marker_life_count();
    let mut first = true;
    for (idx, v) in column(vars, &life) {
        if let Some(value) = v.as_u64() {
            let name = if first {
                "total".to_string()
            } else {
                format!("total.marker{}", idx.last().unwrap_or(&0))
            };
            first = false;
            out.push(Meter {
                name,
                value,
                source: life.child(idx).to_string(),
            });
        }
    }
    let power = mib::prt_marker_power_on_count();
    if let Some((idx, v)) = column(vars, &power).next() {
        if let Some(value) = v.as_u64() {
            out.push(Meter {
                name: "since_power_on".into(),
                value,
                source: power.child(idx).to_string(),
            });
        }
    }
    let has_total = !out.is_empty();
    for (name, oid) in profile.meters {
        let oid = oid.to_oid();
        if let Some(value) = get(vars, &oid).and_then(Value::as_u64) {
            // prtMarkerLifeCount is the standard total; a vendor total is kept under its own name.
            let name = if *name == "total" && has_total {
                "vendor_total"
            } else {
                name
            };
            out.push(Meter {
                name: name.to_string(),
                value,
                source: oid.to_string(),
            });
        }
    }
    if let Some(table) = profile.meter_table {
        let (values, names) = (table.values.to_oid(), table.names.to_oid());
        for (idx, v) in column(vars, &values) {
            let Some(value) = v.as_u64() else { continue };
            let name = text_of(vars, &names.child(idx))
                .map(|n| {
                    table
                        .standard_names
                        .iter()
                        .find(|(device, _)| *device == n)
                        .map_or(n, |(_, standard)| (*standard).to_string())
                })
                .unwrap_or_else(|| format!("counter.{}", Oid::new(idx.to_vec())));
            out.push(Meter {
                name,
                value,
                source: values.child(idx).to_string(),
            });
        }
    }
    out
}

/// Builds the status: hrDeviceStatus, hrPrinterStatus, the error bits and prtAlertTable.
pub fn status(vars: &Varbinds, dev: u32) -> Status {
    let num = |col: Oid| get(vars, &col.child(&[dev])).and_then(Value::as_i64);
    let mut alerts: Vec<Alert> = column(vars, &mib::alert_severity())
        .filter_map(|(idx, v)| {
            let row = idx;
            let cell = |col: Oid| get(vars, &col.child(row)).and_then(Value::as_i64);
            Some(Alert {
                index: *row.last()?,
                severity: mib::name_of(mib::ALERT_SEVERITY, v.as_i64()?, "severity"),
                group: cell(mib::alert_group()).map_or_else(
                    || "unknown".into(),
                    |g| mib::name_of(mib::ALERT_GROUP, g, "group"),
                ),
                code: cell(mib::alert_code()).map_or_else(
                    || "unknown".into(),
                    |c| mib::name_of(mib::ALERT_CODE, c, "code"),
                ),
                description: get(vars, &mib::alert_description().child(row))
                    .and_then(Value::as_bytes)
                    .map(text::decode_description)
                    .unwrap_or_default(),
            })
        })
        .collect();
    alerts.sort_by_key(|a| a.index);
    Status {
        device_status: num(mib::hr_device_status())
            .map(|s| mib::name_of(mib::DEVICE_STATUS, s, "status")),
        printer_status: num(mib::hr_printer_status())
            .map(|s| mib::name_of(mib::PRINTER_STATUS, s, "status")),
        errors: get(vars, &mib::hr_printer_error_state().child(&[dev]))
            .and_then(Value::as_bytes)
            .map(mib::error_state_names)
            .unwrap_or_default(),
        alerts,
    }
}

/// Builds a whole reading (without the transport counters and time, which the poll adds),
/// within [`crate::model::bounds`].
pub fn reading(vars: &Varbinds, address: &str) -> Reading {
    let profile = profile_of(vars);
    let dev = printer_device_index(vars);
    Reading {
        identity: identity(vars, address),
        supplies: supplies(vars, profile, DEFAULT_REORDER_PERCENT),
        meters: meters(vars, profile),
        status: status(vars, dev),
        ..Reading::default()
    }
    .bounded()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, Value)]) -> Varbinds {
        pairs
            .iter()
            .map(|(o, v)| (Oid::lit(o), v.clone()))
            .collect()
    }

    #[test]
    fn a_model_is_the_name_alone() {
        let base = &VendorProfile::BASE;
        let cases = [
            (
                "Brother HL-5370DW series [001ba90ba752]",
                None,
                "Brother HL-5370DW",
            ),
            (
                "Samsung M332x 382x 402x Series; V4.00.02.26 FEB-09-2016",
                None,
                "Samsung M332x 382x 402x",
            ),
            (
                "Xerox WorkCentre 6515; Net 62.5.11,ESS 201805210911",
                None,
                "Xerox WorkCentre 6515",
            ),
            ("RICOH MP C3004 1.02", None, "RICOH MP C3004"),
            (
                "HP LaserJet M402dn SN:PHBQB12345",
                None,
                "HP LaserJet M402dn",
            ),
            (
                "Lexmark MS610de 7016ABC1234",
                Some("7016ABC1234"),
                "Lexmark MS610de",
            ),
            ("Acme Laser (S/N 99887766)", None, "Acme Laser"),
            ("Canon iR-ADV C5535 (A4)", None, "Canon iR-ADV C5535 (A4)"),
            ("EPSON WF-C5790BA", Some("X3B8022793"), "EPSON WF-C5790BA"),
            ("Phaser 6510", None, "Phaser 6510"),
        ];
        for (raw, serial, want) in cases {
            assert_eq!(clean_model(base, raw.to_string(), serial), want, "{raw}");
        }
    }

    #[test]
    fn alerts_and_errors_decode_by_name() {
        let v = vars(&[
            (
                "1.3.6.1.2.1.25.3.2.1.2.1",
                Value::ObjectId(mib::hr_device_printer()),
            ),
            ("1.3.6.1.2.1.25.3.2.1.5.1", Value::Integer(3)),
            ("1.3.6.1.2.1.25.3.5.1.1.1", Value::Integer(5)),
            (
                "1.3.6.1.2.1.25.3.5.1.2.1",
                Value::OctetString(vec![0x04, 0x00]),
            ),
            ("1.3.6.1.2.1.43.18.1.1.2.1.7", Value::Integer(3)),
            ("1.3.6.1.2.1.43.18.1.1.4.1.7", Value::Integer(13)),
            ("1.3.6.1.2.1.43.18.1.1.7.1.7", Value::Integer(8)),
            (
                "1.3.6.1.2.1.43.18.1.1.8.1.7",
                Value::OctetString(b"Paper jam in tray 2\0".to_vec()),
            ),
        ]);
        let s = status(&v, 1);
        assert_eq!(s.device_status.as_deref(), Some("warning"));
        assert_eq!(s.printer_status.as_deref(), Some("warmup"));
        assert_eq!(s.errors, vec!["jammed"]);
        assert_eq!(
            s.alerts,
            vec![Alert {
                index: 7,
                severity: "critical".into(),
                group: "mediaPath".into(),
                code: "jam".into(),
                description: "Paper jam in tray 2".into(),
            }]
        );
        assert!(is_printer(&v));
    }

    #[test]
    fn ricoh_private_levels_fill_in_by_name_or_colour() {
        let v = vars(&[
            (
                "1.3.6.1.2.1.1.2.0",
                Value::ObjectId(Oid::lit("1.3.6.1.4.1.367.1.1")),
            ),
            (
                "1.3.6.1.2.1.43.11.1.1.6.1.1",
                Value::OctetString(b"Black Toner".to_vec()),
            ),
            ("1.3.6.1.2.1.43.11.1.1.8.1.1", Value::Integer(100)),
            ("1.3.6.1.2.1.43.11.1.1.9.1.1", Value::Integer(-100)),
            (
                "1.3.6.1.2.1.43.11.1.1.6.1.2",
                Value::OctetString(b"Waste Toner".to_vec()),
            ),
            ("1.3.6.1.2.1.43.11.1.1.9.1.2", Value::Integer(-3)),
            (
                "1.3.6.1.2.1.43.11.1.1.6.1.3",
                Value::OctetString(b"Toner (Cyan)".to_vec()),
            ),
            ("1.3.6.1.2.1.43.11.1.1.9.1.3", Value::Integer(-3)),
            (
                "1.3.6.1.2.1.43.11.1.1.6.1.4",
                Value::OctetString(b"Magenta Toner".to_vec()),
            ),
            ("1.3.6.1.2.1.43.11.1.1.8.1.4", Value::Integer(100)),
            ("1.3.6.1.2.1.43.11.1.1.9.1.4", Value::Integer(60)),
            (
                "1.3.6.1.4.1.367.3.2.1.2.24.1.1.3.1",
                Value::OctetString(b"Black Toner".to_vec()),
            ),
            (
                "1.3.6.1.4.1.367.3.2.1.2.24.1.1.3.2",
                Value::OctetString(b"Cyan Toner".to_vec()),
            ),
            (
                "1.3.6.1.4.1.367.3.2.1.2.24.1.1.3.3",
                Value::OctetString(b"Magenta Toner".to_vec()),
            ),
            ("1.3.6.1.4.1.367.3.2.1.2.24.1.1.5.1", Value::Integer(10)),
            ("1.3.6.1.4.1.367.3.2.1.2.24.1.1.5.2", Value::Integer(70)),
            ("1.3.6.1.4.1.367.3.2.1.2.24.1.1.5.3", Value::Integer(30)),
        ]);
        let s = supplies(&v, profile_of(&v), 15);
        // Black: -100 (near end) in the Printer-MIB, 10 % in Ricoh's table (matched by name).
        assert_eq!(
            (s[0].percent, s[0].percent_source, s[0].state),
            (
                Some(10),
                Some(PercentSource::VendorPrivateLevel),
                crate::model::SupplyState::Low
            )
        );
        // Waste toner has no row in the toner table: the special value stands.
        assert_eq!(
            (s[1].percent, s[1].state),
            (None, crate::model::SupplyState::SomeRemaining)
        );
        // Cyan: names differ, the colour matches.
        assert_eq!(
            (s[2].percent, s[2].percent_source),
            (Some(70), Some(PercentSource::VendorPrivateLevel))
        );
        // Magenta has a standard level: the Printer-MIB wins.
        assert_eq!(
            (s[3].percent, s[3].percent_source),
            (Some(60), Some(PercentSource::LevelOfMax))
        );
    }

    #[test]
    fn vendor_counter_tables_get_standard_names() {
        let v = vars(&[
            (
                "1.3.6.1.2.1.1.2.0",
                Value::ObjectId(Oid::lit("1.3.6.1.4.1.2385.3.1.112.1.2")),
            ),
            (
                "1.3.6.1.4.1.2385.1.1.19.2.1.3.5.4.61",
                Value::Counter32(91164),
            ),
            ("1.3.6.1.4.1.2385.1.1.19.2.1.3.8.4.50", Value::Counter32(6)),
            (
                "1.3.6.1.4.1.2385.1.1.19.2.1.4.5.4.61",
                Value::OctetString(b"Black & White Total Count".to_vec()),
            ),
            (
                "1.3.6.1.4.1.2385.1.1.19.2.1.4.8.4.50",
                Value::OctetString(b"Scan to HDD".to_vec()),
            ),
        ]);
        let m = meters(&v, profile_of(&v));
        assert_eq!((m[0].name.as_str(), m[0].value), ("black", 91164));
        assert_eq!(m[0].source, "1.3.6.1.4.1.2385.1.1.19.2.1.3.5.4.61");
        assert_eq!(m[1].name, "Scan to HDD");
    }

    #[test]
    fn colour_from_colorant_table_then_description() {
        let v = vars(&[
            ("1.3.6.1.2.1.43.11.1.1.3.1.1", Value::Integer(2)),
            (
                "1.3.6.1.2.1.43.11.1.1.6.1.1",
                Value::OctetString(b"Toner A".to_vec()),
            ),
            (
                "1.3.6.1.2.1.43.11.1.1.6.1.2",
                Value::OctetString(b"Light Cyan Ink".to_vec()),
            ),
            (
                "1.3.6.1.2.1.43.11.1.1.6.1.3",
                Value::OctetString(b"Blackish thing".to_vec()),
            ),
            (
                "1.3.6.1.2.1.43.12.1.1.4.1.2",
                Value::OctetString(b"magenta".to_vec()),
            ),
        ]);
        let s = supplies(&v, &crate::vendor::GENERIC, 15);
        assert_eq!(s[0].color.as_deref(), Some("magenta"));
        assert_eq!(s[1].color.as_deref(), Some("light cyan"));
        assert_eq!(s[2].color, None);
    }
}
