//! Checking a reading against what a recording's `NAME.expected.json` says a correct one
//! must give. The shared corpus's files give LibreNMS's values, some by LibreNMS's own
//! conventions (see `percent_rule`; a null there means "LibreNMS has none", a counter's
//! name is LibreNMS's label). The project's fixtures say `"exact": true`: every field they
//! give is then checked exactly, nulls, names, states and status included.

use agent_core::model::{PercentSource, Reading, SupplyState};
use serde_json::Value as J;

/// The mismatches between a reading and what `want` says it must be, one line each
/// (none: it is right).
pub fn check_reading(name: &str, r: &Reading, want: &J) -> Vec<String> {
    let mut bad = Vec::new();
    let exactly = want.get("exact") == Some(&J::Bool(true));
    identity(name, r, want, exactly, &mut bad);
    supplies(name, r, want, exactly, &mut bad);
    counters(name, r, want, exactly, &mut bad);
    if let (true, Some(s)) = (exactly, want.get("status")) {
        status(name, r, s, &mut bad);
    }
    bad
}

/// `value` as the JSON the field is written as in an expected file.
fn json<T: serde::Serialize>(value: &T) -> J {
    serde_json::to_value(value).unwrap_or(J::Null)
}

/// Where a file gives `key`, the reading's value must equal it exactly (null included).
fn exact(bad: &mut Vec<String>, at: &str, want: &J, key: &str, got: J) {
    if let Some(w) = want.get(key) {
        if *w != got {
            bad.push(format!("{at}: {key} {got}, want {w}"));
        }
    }
}

fn identity(name: &str, r: &Reading, want: &J, exactly: bool, bad: &mut Vec<String>) {
    let s = |v: &J| v.as_str().map(str::to_string);
    if let Some(serial) = s(&want["serial"]) {
        if r.identity.serial.as_deref() != Some(serial.as_str()) {
            bad.push(format!(
                "{name}: serial {:?}, want {serial:?}",
                r.identity.serial
            ));
        }
    }
    if let Some(model) = s(&want["model"]) {
        if !model_matches(r.identity.model.as_deref(), &model) {
            bad.push(format!(
                "{name}: model {:?}, want one containing {model:?}",
                r.identity.model
            ));
        }
    }
    if let Some(oid) = s(&want["sys_object_id"]) {
        if r.identity.sys_object_id.as_deref() != Some(oid.trim_start_matches('.')) {
            bad.push(format!(
                "{name}: sysObjectID {:?}",
                r.identity.sys_object_id
            ));
        }
    }
    if exactly {
        for (key, got) in [
            ("vendor", &r.identity.vendor),
            ("model", &r.identity.model),
            ("firmware", &r.identity.firmware),
            ("mac", &r.identity.mac),
        ] {
            exact(bad, name, want, key, json(got));
        }
    }
}

fn supplies(name: &str, r: &Reading, want: &J, exactly: bool, bad: &mut Vec<String>) {
    let supplies = want["supplies"].as_array().cloned().unwrap_or_default();
    // LibreNMS leaves out rows whose level is unknown (-2); a reading keeps them, with a
    // null percent, so an operator sees the supply exists. Any other extra row is a bug.
    for extra in r.supplies.iter().filter(|x| {
        !supplies.iter().any(|w| {
            w["device_index"].as_u64() == Some(u64::from(x.device_index))
                && w["index"].as_u64() == Some(u64::from(x.index))
        })
    }) {
        if extra.level != -2 || extra.percent.is_some() {
            bad.push(format!(
                "{name}: unexpected supply {}.{} {:?}",
                extra.device_index, extra.index, extra.description
            ));
        }
    }
    for w in &supplies {
        let (dev, idx) = (
            w["device_index"].as_u64().unwrap_or(0) as u32,
            w["index"].as_u64().unwrap_or(0) as u32,
        );
        let Some(got) = r
            .supplies
            .iter()
            .find(|x| x.device_index == dev && x.index == idx)
        else {
            bad.push(format!("{name}: supply {dev}.{idx} missing"));
            continue;
        };
        let at = format!("{name} supply {dev}.{idx}");
        if Some(got.description.as_str()) != w["description"].as_str() {
            bad.push(format!(
                "{at}: description {:?}, want {:?}",
                got.description, w["description"]
            ));
        }
        if let Some(t) = w["type"].as_str() {
            if got.kind != t {
                bad.push(format!("{at}: kind {:?}, want {t:?}", got.kind));
            }
        }
        let (level, max) = (
            w["level"].as_i64().unwrap_or(i64::MIN),
            w["max_capacity"].as_i64().unwrap_or(i64::MIN),
        );
        if got.level != level || got.max_capacity != max {
            bad.push(format!(
                "{at}: level {}/{}, want {level}/{max}",
                got.level, got.max_capacity
            ));
        }
        percent_by_rule(&at, got, w, level, bad);
        if !exactly {
            continue;
        }
        for (key, value) in [
            ("percent", json(&got.percent)),
            ("percent_source", json(&got.percent_source)),
            ("state", json(&got.state)),
            ("class", json(&got.class)),
            ("color", json(&got.color)),
            ("unit", json(&got.unit)),
            ("part_number", json(&got.part_number)),
        ] {
            exact(bad, &at, w, key, value);
        }
    }
}

/// The corpus's rule for a supply's percent: `standard` (exactly the reference, from level
/// and maximum), `special` (-1, -2, -3: no percent, the state said), `vendor` (a vendor's
/// rule gives the reference, or there is no percent).
fn percent_by_rule(
    at: &str,
    got: &agent_core::model::Supply,
    w: &J,
    level: i64,
    bad: &mut Vec<String>,
) {
    let reference = w["reference_percent"].as_i64();
    match w["percent_rule"].as_str() {
        Some("standard") => {
            if got.percent.map(i64::from) != reference
                || got.percent_source != Some(PercentSource::LevelOfMax)
            {
                bad.push(format!(
                    "{at}: percent {:?} ({:?}), want {reference:?}",
                    got.percent, got.percent_source
                ));
            }
        }
        Some("special") => {
            let state = match level {
                -1 => SupplyState::Unrestricted,
                -2 => SupplyState::Unknown,
                _ => SupplyState::SomeRemaining,
            };
            if got.percent.is_some() || got.state != state {
                bad.push(format!(
                    "{at}: special level gave {:?} {:?}, want null and {state:?}",
                    got.percent, got.state
                ));
            }
        }
        Some("vendor") => {
            let vendor_rule = matches!(
                got.percent_source,
                Some(
                    PercentSource::VendorPercentUnit
                        | PercentSource::VendorLevelCode
                        | PercentSource::VendorPrivateLevel
                )
            );
            let ok = match got.percent {
                Some(p) => vendor_rule && Some(i64::from(p)) == reference,
                None => got.percent_source.is_none(),
            };
            if !ok {
                bad.push(format!(
                    "{at}: vendor row gave {:?} from {:?}, want {reference:?} from a vendor rule or null",
                    got.percent, got.percent_source
                ));
            }
        }
        other => bad.push(format!("{at}: unknown rule {other:?}")),
    }
}

fn counters(name: &str, r: &Reading, want: &J, exactly: bool, bad: &mut Vec<String>) {
    for c in want["page_counters"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let oid = c["oid"].as_str().unwrap_or("").trim_start_matches('.');
        let value = c["value"].as_u64();
        let found = r
            .meters
            .iter()
            .find(|m| m.source == oid && Some(m.value) == value);
        match (found, c.get("name").and_then(J::as_str)) {
            (None, _) => bad.push(format!("{name}: page counter {oid} = {value:?} missing")),
            (Some(m), Some(n)) if exactly && m.name != n => bad.push(format!(
                "{name}: page counter {oid} named {:?}, want {n:?}",
                m.name
            )),
            _ => {}
        }
    }
}

fn status(name: &str, r: &Reading, want: &J, bad: &mut Vec<String>) {
    let at = format!("{name} status");
    exact(
        bad,
        &at,
        want,
        "device_status",
        json(&r.status.device_status),
    );
    exact(
        bad,
        &at,
        want,
        "printer_status",
        json(&r.status.printer_status),
    );
    exact(bad, &at, want, "errors", json(&r.status.errors));
    exact(bad, &at, want, "alerts", json(&r.status.alerts));
}

/// Whether a model read matches the corpus's. The corpus's model is LibreNMS's short name,
/// which may be part of the full one; LibreNMS also keeps what a printer glued to the model
/// (`HL-5370DW [001ba90ba752]`, a MAC), and a model is the name alone, so the bracketed
/// part is not asked for.
pub fn model_matches(got: Option<&str>, want: &str) -> bool {
    let want = want
        .split('[')
        .next()
        .unwrap_or_default()
        .trim()
        .to_lowercase();
    got.is_some_and(|m| m.to_lowercase().contains(&want))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exact_file_is_checked_exactly_and_the_corpus_by_its_conventions() {
        let mut r = Reading::default();
        r.identity.vendor = Some("HP".into());
        let exact = serde_json::json!({"exact": true, "vendor": "HP", "mac": null});
        assert!(check_reading("x", &r, &exact).is_empty());
        r.identity.mac = Some("aa:bb:cc:dd:ee:ff".into());
        assert_eq!(check_reading("x", &r, &exact).len(), 1, "mac given as null");
        let exact = serde_json::json!({"exact": true, "vendor": "Brother"});
        assert_eq!(check_reading("x", &r, &exact).len(), 1, "another vendor");
        // The corpus's null is "LibreNMS has none", not "there is none".
        let corpus = serde_json::json!({"vendor": "Brother", "mac": null, "serial": null});
        assert!(check_reading("x", &r, &corpus).is_empty());
        assert!(check_reading("x", &r, &serde_json::json!({})).is_empty());
    }
}
