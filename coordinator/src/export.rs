//! The export for a service technician: per printer, its usage over a period (pages on
//! each meter, points of each supply used, supplies replaced) and its problems (every
//! alert in the period), as rows of the fleet service. `printwatch export` renders them.

use std::collections::BTreeMap;

use printwatch_proto::v1 as p;

use crate::store::{Store, StoreError};

fn row(d: &crate::store::DeviceRecord, record: &str, name: &str) -> p::ExportRow {
    p::ExportRow {
        device_id: d.id.clone(),
        site: d.site.clone(),
        model: d.identity.model.clone().unwrap_or_default(),
        serial: d.identity.serial.clone().unwrap_or_default(),
        record: record.into(),
        name: name.into(),
        ..p::ExportRow::default()
    }
}

/// The rows for every printer since `since` (RFC 3339; empty: all retained history).
pub fn rows(store: &Store, since: &str) -> Result<Vec<p::ExportRow>, StoreError> {
    let since_s = crate::store::seconds(since).unwrap_or(i64::MIN);
    let alerts = store.alerts(true)?;
    let mut out = Vec::new();
    for d in store.devices()? {
        // Meters: the first and last value of each in the period.
        let mut meters: BTreeMap<String, (String, u64, String, u64)> = BTreeMap::new();
        for r in store.history(&d.id, since)? {
            for m in &r.meters {
                meters
                    .entry(m.name.clone())
                    .and_modify(|e| {
                        e.2 = r.polled_at.clone();
                        e.3 = m.value;
                    })
                    .or_insert((r.polled_at.clone(), m.value, r.polled_at.clone(), m.value));
            }
        }
        for (name, (from, a, to, b)) in meters {
            out.push(p::ExportRow {
                from,
                to,
                start_value: a.to_string(),
                end_value: b.to_string(),
                used: b.saturating_sub(a).to_string(),
                ..row(&d, "meter", &name)
            });
        }
        // Supplies: points used (drops summed, replacements not counted) and the forecast.
        if let Some(latest) = store.latest(&d.id)? {
            for s in &latest.supplies {
                let at = crate::alerts::supply_position(s);
                let points: Vec<_> = store
                    .levels(&d.id, &at)?
                    .into_iter()
                    .filter(|p| p.at >= since_s)
                    .collect();
                let (Some(first), Some(last)) = (points.first(), points.last()) else {
                    continue;
                };
                let used: i64 = points
                    .windows(2)
                    .map(|w| (i64::from(w[0].percent) - i64::from(w[1].percent)).max(0))
                    .sum();
                let time = |t: i64| {
                    time::OffsetDateTime::from_unix_timestamp(t)
                        .map(crate::schedule::rfc3339)
                        .unwrap_or_default()
                };
                out.push(p::ExportRow {
                    from: time(first.at),
                    to: time(last.at),
                    start_value: format!("{} %", first.percent),
                    end_value: format!("{} %", last.percent),
                    used: format!("{used} %"),
                    detail: format!(
                        "{}; forecast: {}",
                        s.part_number.as_deref().unwrap_or("no part number"),
                        store.forecast(&d.id, &at)?.describe()
                    ),
                    ..row(&d, "supply", &s.description)
                });
            }
        }
        for r in store.replacements(&d.id)? {
            if r.at.as_str() < since {
                continue;
            }
            out.push(p::ExportRow {
                from: r.at.clone(),
                to: r.at.clone(),
                start_value: format!("{} %", r.from),
                end_value: format!("{} %", r.to),
                ..row(&d, "replaced", &r.description)
            });
        }
        for a in alerts.iter().filter(|a| a.device_id == d.id) {
            if a.closed_at.as_deref().is_some_and(|c| c < since) {
                continue;
            }
            out.push(p::ExportRow {
                from: a.opened_at.clone(),
                to: a.closed_at.clone().unwrap_or_default(),
                detail: a.detail.clone(),
                ..row(&d, "alert", a.kind.name())
            });
        }
    }
    Ok(out)
}
