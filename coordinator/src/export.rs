//! The export for a service technician: per printer, its usage over a period (pages on
//! each meter, points of each supply used, supplies replaced) and its problems (every
//! alert in the period), as rows of the fleet service. `printwatch export` renders them.

use std::collections::BTreeMap;

use printwatch_proto::v1 as p;

use crate::policy::forecast;
use crate::store::devices::DeviceRecord;
use crate::store::levels::supply_position;
use crate::store::{StoreError, StoreReader};
use crate::timestamp::Timestamp;

fn row(d: &DeviceRecord, record: &str, name: &str) -> p::ExportRow {
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

/// The rows for every printer since `since` (`None`: all retained history).
pub fn rows(
    store: &StoreReader,
    since: Option<Timestamp>,
) -> Result<Vec<p::ExportRow>, StoreError> {
    let since_s = since.map_or(i64::MIN, Timestamp::unix_seconds);
    let now = Timestamp::now();
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
                let at = supply_position(s);
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
                let time = |t: i64| Timestamp::from_unix_seconds(t).rfc3339();
                out.push(p::ExportRow {
                    from: time(first.at),
                    to: time(last.at),
                    start_value: format!("{} %", first.percent),
                    end_value: format!("{} %", last.percent),
                    used: format!("{used} %"),
                    detail: format!(
                        "{}; forecast: {}",
                        s.part_number.as_deref().unwrap_or("no part number"),
                        forecast::of(store, &d.id, &at, now)?.describe()
                    ),
                    ..row(&d, "supply", &s.description)
                });
            }
        }
        for r in store.replacements(Some(&d.id))? {
            if since.is_some_and(|s| r.at < s) {
                continue;
            }
            out.push(p::ExportRow {
                from: r.at.rfc3339(),
                to: r.at.rfc3339(),
                start_value: format!("{} %", r.from),
                end_value: format!("{} %", r.to),
                ..row(&d, "replaced", &r.description)
            });
        }
        for a in alerts.iter().filter(|a| a.device_id == d.id) {
            if a.closed_at.is_some_and(|c| since.is_some_and(|s| c < s)) {
                continue;
            }
            out.push(p::ExportRow {
                from: a.opened_at.rfc3339(),
                to: a.closed_at.map(Timestamp::rfc3339).unwrap_or_default(),
                detail: a.detail.clone(),
                ..row(&d, "alert", a.kind.name())
            });
        }
    }
    Ok(out)
}
