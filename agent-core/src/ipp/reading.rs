//! From a printer's IPP attributes to the same [`Reading`] SNMP gives: identity,
//! supplies, meters and status, with the Printer-MIB's rules where IPP borrowed its
//! numbers (PWG 5100.13's `printer-supply` uses the Printer-MIB's names, levels and
//! -1/-2/-3), and CUPS's `marker-*` attributes where a printer has no `printer-supply`.

use super::message::{Attributes, Value};
use crate::decode::color_from_description;
use crate::mib;
use crate::model::{
    Alert, Identity, Meter, PercentSource, Reading, Status, Supply, SupplyClass, SupplyLevel,
    DEFAULT_REORDER_PERCENT,
};
use crate::text;

/// What a poll asks for: nothing else is sent back, so an answer is a few kilobytes.
pub const REQUESTED: &[&str] = &[
    "printer-make-and-model",
    "printer-device-id",
    "printer-uuid",
    "printer-firmware-string-version",
    "printer-state",
    "printer-state-reasons",
    "printer-state-message",
    "printer-supply",
    "printer-supply-description",
    "marker-names",
    "marker-levels",
    "marker-colors",
    "marker-types",
    "printer-impressions-completed",
    "printer-impressions-completed-col",
    "printer-media-sheets-completed",
    "printer-pages-completed",
];

/// The reading the attributes give (without the transport's counters and the time,
/// which the poll adds), within [`crate::model::bounds`]. `address` is the printer's URI.
pub fn reading(a: &Attributes, address: &str) -> Reading {
    Reading {
        identity: identity(a, address),
        supplies: supplies(a, DEFAULT_REORDER_PERCENT),
        meters: meters(a),
        status: status(a),
        ..Reading::default()
    }
    .bounded()
}

/// The printer's `printer-uuid`, without its `urn:uuid:`: what names a printer that
/// gives no serial.
pub fn uuid(a: &Attributes) -> Option<String> {
    let u = a.text("printer-uuid")?;
    let u = u.strip_prefix("urn:uuid:").unwrap_or(u).trim();
    (!u.is_empty()).then(|| u.to_ascii_lowercase())
}

/// One field of an IEEE 1284 device ID (`MFG:Example;MDL:Laser 9000;SN:X1;`), by any
/// of its names, case-insensitively.
fn device_id_field(id: &str, names: &[&str]) -> Option<String> {
    id.split(';').find_map(|part| {
        let (k, v) = part.split_once(':')?;
        let v = v.trim();
        (names.iter().any(|n| k.trim().eq_ignore_ascii_case(n)) && !v.is_empty())
            .then(|| text::plain_text(v.as_bytes()))
    })
}

fn identity(a: &Attributes, address: &str) -> Identity {
    let id = a.text("printer-device-id").unwrap_or_default();
    let make_and_model = a
        .text("printer-make-and-model")
        .map(|s| text::plain_text(s.as_bytes()))
        .filter(|s| !s.is_empty());
    let vendor = device_id_field(id, &["MFG", "MANUFACTURER"]).or_else(|| {
        make_and_model
            .as_deref()
            .and_then(|m| m.split_whitespace().next())
            .map(str::to_string)
    });
    let model = make_and_model.or_else(|| device_id_field(id, &["MDL", "MODEL"]));
    Identity {
        address: address.to_string(),
        vendor,
        model,
        serial: device_id_field(id, &["SN", "SERN", "SERIALNUMBER"]),
        firmware: a
            .text("printer-firmware-string-version")
            .map(|s| text::plain_text(s.as_bytes()))
            .filter(|s| !s.is_empty()),
        uuid: uuid(a),
        ..Identity::default()
    }
}

/// `printer-supply`'s `key=value;` pairs.
fn supply_field<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    s.split(';').find_map(|part| {
        let (k, v) = part.split_once('=')?;
        (k.trim() == key).then_some(v.trim())
    })
}

/// The colour a `colorantname` or a `marker-colors` value names, when it names one.
fn color_of(name: &str) -> Option<String> {
    let name = name.trim().to_ascii_lowercase();
    let named = match name.as_str() {
        "#000000" => "black",
        "#00ffff" => "cyan",
        "#ff00ff" => "magenta",
        "#ffff00" => "yellow",
        n => n,
    };
    (!named.is_empty()
        && !named.starts_with('#')
        && !matches!(named, "unknown" | "none" | "no-color" | "other"))
    .then(|| named.to_string())
}

/// A PWG keyword (`waste-toner`) as the Printer-MIB names it (`wasteToner`).
fn camel(keyword: &str) -> String {
    let mut out = String::with_capacity(keyword.len());
    let mut up = false;
    for c in keyword.trim().chars() {
        match c {
            '-' | '_' => up = true,
            c if up => {
                out.extend(c.to_uppercase());
                up = false;
            }
            c => out.push(c),
        }
    }
    out
}

fn supplies(a: &Attributes, reorder_percent: u8) -> Vec<Supply> {
    let descriptions: Vec<&str> = a
        .get("printer-supply-description")
        .iter()
        .map(|v| v.as_str().unwrap_or_default())
        .collect();
    let rows = a.get("printer-supply");
    if rows.is_empty() {
        return markers(a, reorder_percent);
    }
    rows.iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let s = v.as_str()?;
            let number = |k: &str| supply_field(s, k).and_then(|n| n.parse::<i64>().ok());
            let kind = supply_field(s, "type")
                .filter(|t| !t.is_empty())
                .map_or_else(|| "unknown".to_string(), camel);
            let class = match supply_field(s, "class") {
                Some("receptacleThatIsFilled") => SupplyClass::Receptacle,
                Some("supplyThatIsConsumed") => SupplyClass::Consumed,
                _ if mib::RECEPTACLE_TYPES.contains(&kind.as_str()) => SupplyClass::Receptacle,
                _ => SupplyClass::Consumed,
            };
            let description = descriptions
                .get(i)
                .map(|d| text::decode_description(d.as_bytes()))
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| kind.clone());
            let color = supply_field(s, "colorantname")
                .and_then(color_of)
                .or_else(|| color_from_description(&description));
            let level = SupplyLevel {
                level: number("level").unwrap_or(-2),
                max_capacity: number("maxcapacity").unwrap_or(-2),
            };
            let percent = level.standard_percent();
            Some(Supply {
                device_index: 1,
                index: number("index")
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(i as u32 + 1),
                description,
                part_number: None,
                kind,
                class,
                color,
                unit: supply_field(s, "unit").map(str::to_string),
                level: level.level,
                max_capacity: level.max_capacity,
                percent,
                percent_source: percent.map(|_| PercentSource::IppSupply),
                state: level.state(percent, reorder_percent),
            })
        })
        .collect()
}

/// CUPS's `marker-*` attributes, one supply per `marker-names` value. Their levels are
/// percents, and their negative numbers are CUPS's: -1 and -2 unknown, -3 some left
/// (where the Printer-MIB's -1 would say unrestricted).
fn markers(a: &Attributes, reorder_percent: u8) -> Vec<Supply> {
    let nth = |name: &str, i: usize| a.get(name).get(i).cloned();
    a.get("marker-names")
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let description = text::decode_description(name.as_str().unwrap_or("").as_bytes());
            let kind = nth("marker-types", i)
                .and_then(|v| v.as_str().map(camel))
                .unwrap_or_else(|| "unknown".into());
            let class = match mib::RECEPTACLE_TYPES.contains(&kind.as_str()) {
                true => SupplyClass::Receptacle,
                false => SupplyClass::Consumed,
            };
            let raw = nth("marker-levels", i).and_then(|v| v.as_i64());
            let level = SupplyLevel {
                level: match raw {
                    Some(l @ 0..=100) => l,
                    Some(-3) => -3,
                    _ => -2,
                },
                max_capacity: 100,
            };
            let percent = level.standard_percent();
            Supply {
                device_index: 1,
                index: i as u32 + 1,
                color: nth("marker-colors", i)
                    .and_then(|v| v.as_str().and_then(color_of))
                    .or_else(|| color_from_description(&description)),
                description,
                part_number: None,
                kind,
                class,
                unit: Some("percent".into()),
                level: level.level,
                max_capacity: level.max_capacity,
                percent,
                percent_source: percent.map(|_| PercentSource::IppMarker),
                state: level.state(percent, reorder_percent),
            }
        })
        .collect()
}

fn meters(a: &Attributes) -> Vec<Meter> {
    let mut out = Vec::new();
    let mut push = |name: &str, value: Option<i64>, source: &str| {
        if let Some(v) = value.and_then(|v| u64::try_from(v).ok()) {
            out.push(Meter {
                name: name.into(),
                value: v,
                source: format!("ipp:{source}"),
            });
        }
    };
    push(
        "total",
        a.integer("printer-impressions-completed"),
        "printer-impressions-completed",
    );
    if let Some(Value::Collection(members)) = a.get("printer-impressions-completed-col").first() {
        let member = |m: &str| {
            members
                .iter()
                .find(|(n, _)| n == m)
                .and_then(|(_, v)| v.first())
                .and_then(Value::as_i64)
        };
        push(
            "black",
            member("monochrome"),
            "printer-impressions-completed-col.monochrome",
        );
        push(
            "color",
            member("full-color"),
            "printer-impressions-completed-col.full-color",
        );
    }
    push(
        "sheets",
        a.integer("printer-media-sheets-completed"),
        "printer-media-sheets-completed",
    );
    push(
        "pages",
        a.integer("printer-pages-completed"),
        "printer-pages-completed",
    );
    out
}

/// `printer-state-reasons` keywords (their `-error`, `-warning`, `-report` cut off) and
/// the hrPrinterDetectedErrorState bit each is, where it is one.
const REASON_ERRORS: &[(&str, &str)] = &[
    ("media-low", "lowPaper"),
    ("media-empty", "noPaper"),
    ("media-needed", "noPaper"),
    ("toner-low", "lowToner"),
    ("marker-supply-low", "lowToner"),
    ("toner-empty", "noToner"),
    ("marker-supply-empty", "noToner"),
    ("door-open", "doorOpen"),
    ("cover-open", "doorOpen"),
    ("media-jam", "jammed"),
    ("offline", "offline"),
    ("shutdown", "offline"),
    ("input-tray-missing", "inputTrayMissing"),
    ("output-tray-missing", "outputTrayMissing"),
    ("marker-supply-missing", "markerSupplyMissing"),
    ("toner-missing", "markerSupplyMissing"),
    ("output-area-almost-full", "outputNearFull"),
    ("output-area-full", "outputFull"),
];

/// How bad a state reason is, from its suffix: none means an error (RFC 8011 4.4.12).
fn severity(reason: &str) -> (&str, &'static str) {
    for (suffix, severity) in [
        ("-error", "critical"),
        ("-warning", "warning"),
        ("-report", "other"),
    ] {
        if let Some(r) = reason.strip_suffix(suffix) {
            return (r, severity);
        }
    }
    (reason, "critical")
}

fn status(a: &Attributes) -> Status {
    let reasons: Vec<&str> = a
        .get("printer-state-reasons")
        .iter()
        .filter_map(Value::as_str)
        .map(str::trim)
        .filter(|r| !r.is_empty() && *r != "none")
        .collect();
    let mut errors: Vec<String> = Vec::new();
    let mut alerts = Vec::new();
    let mut worst = "other";
    for (i, reason) in reasons.iter().enumerate() {
        let (base, sev) = severity(reason);
        if sev == "critical" || (sev == "warning" && worst == "other") {
            worst = sev;
        }
        if let Some((_, bit)) = REASON_ERRORS.iter().find(|(r, _)| *r == base) {
            if !errors.iter().any(|e| e == bit) {
                errors.push((*bit).to_string());
            }
        }
        alerts.push(Alert {
            index: i as u32 + 1,
            severity: sev.into(),
            group: "ipp".into(),
            code: base.to_string(),
            description: reason.to_string(),
        });
    }
    let state = a.integer("printer-state");
    let printer_status = state.map(|s| {
        match s {
            3 => "idle",
            4 => "printing",
            _ => "other",
        }
        .to_string()
    });
    let device_status = state.map(|s| {
        match (s, worst) {
            (5, _) => "down",
            (_, "critical") | (_, "warning") => "warning",
            _ => "running",
        }
        .to_string()
    });
    Status {
        device_status,
        printer_status,
        errors,
        alerts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SupplyState;

    fn attrs(list: &[(&str, Vec<Value>)]) -> Attributes {
        Attributes(
            list.iter()
                .map(|(n, v)| (n.to_string(), v.clone()))
                .collect(),
        )
    }

    fn t(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn printer_supply_reads_like_the_printer_mib() {
        let a = attrs(&[
            (
                "printer-supply",
                vec![
                    t("index=1;class=receptacleThatIsFilled;type=wasteToner;unit=percent;maxcapacity=100;level=25;colorantname=unknown;"),
                    t("index=2;class=supplyThatIsConsumed;type=toner;unit=percent;maxcapacity=100;level=10;colorantname=black;"),
                    t("index=3;type=tonerCartridge;maxcapacity=-2;level=-3;colorantname=cyan;"),
                    t("index=4;type=opc;maxcapacity=100;level=-1;"),
                ],
            ),
            (
                "printer-supply-description",
                vec![t("Toner Waste Tank"), t("Black Toner"), t("Cyan Cartridge")],
            ),
        ]);
        let s = supplies(&a, 15);
        assert_eq!(s.len(), 4);
        assert_eq!(
            (
                s[0].class,
                s[0].kind.as_str(),
                s[0].percent,
                s[0].color.as_deref()
            ),
            (SupplyClass::Receptacle, "wasteToner", Some(25), None)
        );
        assert_eq!(s[0].description, "Toner Waste Tank");
        assert_eq!(
            (
                s[1].percent,
                s[1].state,
                s[1].color.as_deref(),
                s[1].percent_source
            ),
            (
                Some(10),
                SupplyState::Low,
                Some("black"),
                Some(PercentSource::IppSupply)
            )
        );
        assert_eq!(
            (s[2].state, s[2].percent),
            (SupplyState::SomeRemaining, None)
        );
        assert_eq!(s[2].color.as_deref(), Some("cyan"));
        assert_eq!(s[3].state, SupplyState::Unrestricted);
        assert_eq!(s[3].description, "opc", "no description: its type");
    }

    #[test]
    fn markers_stand_in_where_printer_supply_is_missing() {
        let a = attrs(&[
            ("marker-names", vec![t("Black"), t("Waste")]),
            ("marker-levels", vec![Value::Integer(4), Value::Integer(-1)]),
            ("marker-colors", vec![t("#000000"), t("none")]),
            ("marker-types", vec![t("toner-cartridge"), t("waste-toner")]),
        ]);
        let s = supplies(&a, 15);
        assert_eq!(s.len(), 2);
        assert_eq!(
            (
                s[0].kind.as_str(),
                s[0].percent,
                s[0].state,
                s[0].color.as_deref()
            ),
            ("tonerCartridge", Some(4), SupplyState::Low, Some("black"))
        );
        assert_eq!(s[0].percent_source, Some(PercentSource::IppMarker));
        assert_eq!(
            (s[1].class, s[1].state, s[1].percent),
            (SupplyClass::Receptacle, SupplyState::Unknown, None),
            "CUPS's -1 is unknown, not unrestricted"
        );
    }

    #[test]
    fn identity_meters_and_status() {
        let a = attrs(&[
            ("printer-make-and-model", vec![t("Example Laser 9000")]),
            (
                "printer-device-id",
                vec![t("MFG:Example;MDL:Laser 9000;SN:EX123;CMD:PWG;")],
            ),
            ("printer-uuid", vec![t("urn:uuid:4581595C-87EE")]),
            ("printer-firmware-string-version", vec![t("1.2.3")]),
            ("printer-state", vec![Value::Integer(5)]),
            (
                "printer-state-reasons",
                vec![
                    t("media-jam-error"),
                    t("toner-low-warning"),
                    t("sleep-report"),
                    t("none"),
                ],
            ),
            ("printer-impressions-completed", vec![Value::Integer(5000)]),
            (
                "printer-impressions-completed-col",
                vec![Value::Collection(vec![
                    ("monochrome".into(), vec![Value::Integer(4000)]),
                    ("full-color".into(), vec![Value::Integer(1000)]),
                ])],
            ),
            ("printer-pages-completed", vec![Value::Integer(-4)]),
        ]);
        let r = reading(&a, "ipp://127.0.0.1:631/ipp/print");
        assert_eq!(r.identity.vendor.as_deref(), Some("Example"));
        assert_eq!(r.identity.model.as_deref(), Some("Example Laser 9000"));
        assert_eq!(r.identity.serial.as_deref(), Some("EX123"));
        assert_eq!(r.identity.firmware.as_deref(), Some("1.2.3"));
        assert_eq!(uuid(&a).as_deref(), Some("4581595c-87ee"));
        let m: Vec<(&str, u64)> = r
            .meters
            .iter()
            .map(|m| (m.name.as_str(), m.value))
            .collect();
        assert_eq!(m, [("total", 5000), ("black", 4000), ("color", 1000)]);
        assert_eq!(r.status.device_status.as_deref(), Some("down"));
        assert_eq!(r.status.printer_status.as_deref(), Some("other"));
        assert_eq!(r.status.errors, ["jammed", "lowToner"]);
        let codes: Vec<(&str, &str)> = r
            .status
            .alerts
            .iter()
            .map(|a| (a.code.as_str(), a.severity.as_str()))
            .collect();
        assert_eq!(
            codes,
            [
                ("media-jam", "critical"),
                ("toner-low", "warning"),
                ("sleep", "other")
            ]
        );
    }

    #[test]
    fn an_empty_answer_is_an_empty_reading() {
        let r = reading(&Attributes::default(), "ipp://h/");
        assert!(r.supplies.is_empty() && r.meters.is_empty());
        assert_eq!(r.status, Status::default());
        assert_eq!(uuid(&Attributes::default()), None);
    }
}
