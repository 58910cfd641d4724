//! What leaves the site for the dealer, and nothing else: serial, model, meter names and
//! values, supply descriptions, levels, part numbers, forecasts and times (DESIGN.md). A
//! printer's entry is built here from an allow-list, field by field, never by serialising
//! a reading, so a field added to the reading later cannot leak by accident. A printer
//! without a serial is not sent at all: any other key for it would carry its address.

use std::collections::BTreeMap;

use agent_core::model::{Meter, Reading};
use serde_json::{json, Value};

use crate::policy::forecast::{self, Forecast};
use crate::store::devices::DeviceRecord;
use crate::store::levels::supply_position;
use crate::store::{StoreError, StoreReader};
use crate::timestamp::Timestamp;

/// One printer's entry as the store holds it now: its latest reading, its meter read and
/// each supply's forecast at `now`.
pub fn entry(
    store: &StoreReader,
    device: &DeviceRecord,
    now: Timestamp,
) -> Result<Value, StoreError> {
    let latest = store.latest(&device.id)?;
    let meters = store.meter_read(&device.id)?;
    let mut forecasts = BTreeMap::new();
    if let Some(r) = &latest {
        for s in &r.supplies {
            let at = supply_position(s);
            let f = forecast::of(store, &device.id, &at, now)?;
            forecasts.insert(at, f);
        }
    }
    Ok(device_entry(
        device,
        latest.as_ref(),
        meters.as_ref(),
        &forecasts,
    ))
}

fn meter_json(m: &Meter, at: Timestamp) -> Value {
    json!({ "name": m.name, "value": m.value, "read_at": at.rfc3339() })
}

/// One printer as the dealer sees it, or `Value::Null` when it has no serial.
pub fn device_entry(
    device: &DeviceRecord,
    latest: Option<&Reading>,
    meters: Option<&(Timestamp, Vec<Meter>)>,
    forecasts: &BTreeMap<String, Forecast>,
) -> Value {
    let Some(serial) = device.identity.serial.as_deref().filter(|s| !s.is_empty()) else {
        return Value::Null;
    };
    let supplies: Vec<Value> = latest
        .map(|r| {
            r.supplies
                .iter()
                .map(|s| {
                    let at = supply_position(s);
                    let (days_left, pages_left) = match forecasts.get(&at) {
                        Some(Forecast::Estimate {
                            days_left,
                            pages_left,
                            ..
                        }) => (json!((days_left * 10.0).round() / 10.0), json!(pages_left)),
                        _ => (Value::Null, Value::Null),
                    };
                    json!({
                        "description": s.description,
                        "kind": s.kind,
                        "color": s.color,
                        "part_number": s.part_number,
                        "level": s.level,
                        "max_capacity": s.max_capacity,
                        "percent": s.percent,
                        "days_left": days_left,
                        "pages_left": pages_left,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "serial": serial,
        "model": device.identity.model,
        "read_at": latest.map(|r| r.polled_at.clone()),
        "meters": meters.map(|(at, ms)| ms.iter().map(|m| meter_json(m, *at)).collect::<Vec<_>>()).unwrap_or_default(),
        "supplies": supplies,
    })
}

/// A batch's body: its key, why it was sent, when, and the printers (those without a
/// serial left out).
pub fn batch_body(key: &str, reason: &str, printers: Vec<Value>) -> Value {
    let printers: Vec<Value> = printers.into_iter().filter(|p| !p.is_null()).collect();
    json!({
        "batch": key,
        "reason": reason,
        "created_at": agent_core::poll::now_rfc3339(),
        "agent": concat!("printwatch/", env!("CARGO_PKG_VERSION")),
        "printers": printers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_core::model::{Identity, Supply, SupplyClass, SupplyState};

    #[test]
    fn only_allowed_fields_leave_and_printers_without_serial_stay() {
        let identity = Identity {
            address: "10.1.2.3".into(),
            sys_object_id: Some("1.3.6.1.4.1.11.2.3.9.1".into()),
            sys_descr: Some("HP LaserJet at desk-42.corp.example".into()),
            vendor: Some("HP".into()),
            model: Some("M404".into()),
            serial: Some("PHB123".into()),
            firmware: Some("2409".into()),
            mac: Some("aa:bb:cc:dd:ee:ff".into()),
            uuid: Some("4581595c-87ee-4cd2-b5d4-0d3a6f2e9a11".into()),
        };
        let device = DeviceRecord {
            id: "sn:PHB123".into(),
            site: "hq-building-7".into(),
            addresses: vec!["10.1.2.3".into()],
            identity: identity.clone(),
            first_seen: Timestamp::from_unix_seconds(1_700_000_000),
            last_seen: Timestamp::from_unix_seconds(1_700_000_000),
            last_meter_read: None,
        };
        let reading = Reading {
            identity,
            supplies: vec![Supply {
                device_index: 1,
                index: 1,
                description: "Black Cartridge HP 59A".into(),
                part_number: Some("CF259A".into()),
                kind: "toner".into(),
                class: SupplyClass::Consumed,
                color: Some("black".into()),
                unit: None,
                level: 40,
                max_capacity: 100,
                percent: Some(40),
                percent_source: None,
                state: SupplyState::Ok,
            }],
            polled_at: "2026-11-21T10:00:00Z".into(),
            ..Reading::default()
        };
        let e = device_entry(&device, Some(&reading), None, &BTreeMap::new());
        let text = batch_body("pw-1", "scheduled", vec![e.clone()]).to_string();
        for secret in [
            "10.1.2.3",
            "desk-42",
            "aa:bb",
            "hq-building-7",
            "2409",
            "1.3.6.1",
            "4581595c",
        ] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(text.contains("PHB123") && text.contains("CF259A"));
        let mut no_serial = device.clone();
        no_serial.identity.serial = None;
        let body = batch_body(
            "pw-2",
            "scheduled",
            vec![device_entry(
                &no_serial,
                Some(&reading),
                None,
                &BTreeMap::new(),
            )],
        );
        assert_eq!(body["printers"].as_array().map(Vec::len), Some(0));
    }
}
