//! The alert engine: which conditions hold for a printer, from its latest reading and the
//! alerts already open, and so which alerts open and which close.
//!
//! An alert is keyed by its condition (`sn:X/supply/1.2/low`), so it opens once, stays open
//! while the condition holds and closes when it clears; a reading that repeats a condition
//! changes nothing. A low supply opens at the reorder point and closes only once the level
//! is [`AlertRules::hysteresis`] points above it, so a level that wobbles around the
//! threshold (or a printer that reports 15, 16, 15) does not flap. Everything here is a pure
//! function of its inputs; ingest makes the result durable.

use std::collections::{BTreeMap, BTreeSet};

use agent_core::model::{Reading, Supply, SupplyClass, SupplyState};
use serde::{Deserialize, Serialize};

use crate::store::alerts::{device_key, supply_key, AlertKind, SupplyRef};
use crate::store::levels::supply_position;

/// True for the kinds a reading decides by itself (present or absent in each reading).
fn decided_by_reading(kind: AlertKind) -> bool {
    !matches!(
        kind,
        AlertKind::Unreachable
            | AlertKind::CollectorSilent
            | AlertKind::MeterReadMissing
            | AlertKind::OverQuota
            | AlertKind::EnvelopesRefused
            | AlertKind::CertificateChanged
    )
}

/// Reorder points and thresholds: defaults, then per supply kind, then per site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertRules {
    /// The reorder point, in percent, for every supply without a more specific one.
    pub reorder_percent: u8,
    /// Reorder points by supply kind (`toner = 20`, `opc = 5`).
    pub reorder_by_kind: BTreeMap<String, u8>,
    /// Points above the reorder point a level must climb before a low alert closes.
    pub hysteresis: u8,
    /// Failed polls in a row after which a printer is unreachable.
    pub unreachable_after_polls: u32,
    /// Minutes without a connected collector before its site is silent.
    pub collector_silent_minutes: u64,
    /// Days without a meter read before a printer's read is missing.
    pub meter_read_max_days: u64,
    /// How often the clock-driven checks run (silent collectors, missed reads, schedules),
    /// in seconds.
    pub check_seconds: u64,
}

impl Default for AlertRules {
    fn default() -> Self {
        AlertRules {
            reorder_percent: 15,
            reorder_by_kind: BTreeMap::new(),
            hysteresis: 5,
            unreachable_after_polls: 3,
            collector_silent_minutes: 15,
            meter_read_max_days: 2,
            check_seconds: 30,
        }
    }
}

/// A site's own reorder points, over the fleet's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SiteReorder {
    /// The site's reorder point for every supply kind it does not name.
    pub reorder_percent: Option<u8>,
    /// The site's reorder points by supply kind.
    pub reorder_by_kind: BTreeMap<String, u8>,
}

impl AlertRules {
    /// The reorder point for a supply kind at a site: the site's for that kind, the
    /// fleet's for that kind, the site's default, then the fleet's default.
    pub fn reorder_point(&self, site: Option<&SiteReorder>, kind: &str) -> u8 {
        site.and_then(|s| s.reorder_by_kind.get(kind).copied())
            .or_else(|| self.reorder_by_kind.get(kind).copied())
            .or_else(|| site.and_then(|s| s.reorder_percent))
            .unwrap_or(self.reorder_percent)
    }
}

/// A condition that holds now, with what an alert about it says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// Stable: the same condition on the same printer always has the same key.
    pub key: String,
    /// What it is.
    pub kind: AlertKind,
    /// A line for people.
    pub detail: String,
    /// The supply concerned, if any.
    pub supply: Option<SupplyRef>,
}

/// The supply a condition is about, as its alert names it.
fn supply_ref(s: &Supply) -> SupplyRef {
    SupplyRef {
        at: supply_position(s),
        description: s.description.clone(),
        part_number: s.part_number.clone(),
        kind: s.kind.clone(),
        color: s.color.clone(),
        percent: s.percent,
    }
}

/// The printer errors a reading shows, from hrPrinterDetectedErrorState bits and
/// prtAlertTable codes, each once.
fn printer_errors(r: &Reading) -> BTreeSet<AlertKind> {
    let mut kinds = BTreeSet::new();
    for e in &r.status.errors {
        match e.as_str() {
            "jammed" => kinds.insert(AlertKind::Jam),
            "doorOpen" => kinds.insert(AlertKind::DoorOpen),
            "noPaper" => kinds.insert(AlertKind::NoPaper),
            "serviceRequested" => kinds.insert(AlertKind::ServiceRequested),
            "offline" => kinds.insert(AlertKind::Offline),
            _ => false,
        };
    }
    for a in &r.status.alerts {
        match a.code.as_str() {
            "jam" => kinds.insert(AlertKind::Jam),
            "doorOpen" | "coverOpen" | "interlockOpen" => kinds.insert(AlertKind::DoorOpen),
            "inputMediaSupplyEmpty" => kinds.insert(AlertKind::NoPaper),
            "subunitOffline" => kinds.insert(AlertKind::Offline),
            "subunitUnrecoverableFailure" => kinds.insert(AlertKind::ServiceRequested),
            _ => false,
        };
    }
    kinds
}

fn printer_error_detail(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::Jam => "paper jam",
        AlertKind::DoorOpen => "a door or cover is open",
        AlertKind::NoPaper => "out of paper",
        AlertKind::ServiceRequested => "service requested",
        AlertKind::Offline => "offline",
        _ => "",
    }
}

/// The conditions a reading shows for `device`, given which alerts are open now (for
/// hysteresis): the reading-decided kinds only.
pub fn conditions(
    device: &str,
    reading: &Reading,
    open: &BTreeSet<String>,
    rules: &AlertRules,
    site: Option<&SiteReorder>,
) -> Vec<Condition> {
    let mut out = Vec::new();
    // Keys and texts are built only for what holds: most readings raise nothing, and
    // ingest asks this of every one.
    for s in &reading.supplies {
        let key = |kind| supply_key(device, &supply_position(s), kind);
        let name = || {
            if s.description.is_empty() {
                s.kind.clone()
            } else {
                s.description.clone()
            }
        };
        match s.class {
            SupplyClass::Receptacle => {
                if s.state == SupplyState::Empty {
                    out.push(Condition {
                        key: key(AlertKind::WasteFull),
                        kind: AlertKind::WasteFull,
                        detail: format!("{} is full: replace it", name()),
                        supply: Some(supply_ref(s)),
                    });
                }
            }
            SupplyClass::Consumed => {
                let empty = s.state == SupplyState::Empty || s.percent == Some(0);
                if empty {
                    out.push(Condition {
                        key: key(AlertKind::SupplyEmpty),
                        kind: AlertKind::SupplyEmpty,
                        detail: format!("{} is empty", name()),
                        supply: Some(supply_ref(s)),
                    });
                }
                let point = rules.reorder_point(site, &s.kind);
                let low_open = || !open.is_empty() && open.contains(&key(AlertKind::SupplyLow));
                let low = match s.percent {
                    Some(p) if p <= point => true,
                    Some(p) => {
                        u16::from(p) <= u16::from(point) + u16::from(rules.hysteresis) && low_open()
                    }
                    // No percent: what the printer or its vendor coding says.
                    None => matches!(s.state, SupplyState::Low | SupplyState::Empty),
                };
                if low {
                    let level = s
                        .percent
                        .map_or_else(|| "low".to_string(), |p| format!("{p} %"));
                    out.push(Condition {
                        key: key(AlertKind::SupplyLow),
                        kind: AlertKind::SupplyLow,
                        detail: format!("{} at {level} (reorder at {point} %)", name()),
                        supply: Some(supply_ref(s)),
                    });
                }
            }
        }
    }
    for kind in printer_errors(reading) {
        out.push(Condition {
            key: device_key(device, kind),
            kind,
            detail: printer_error_detail(kind).into(),
            supply: None,
        });
    }
    out
}

/// What changes: the conditions to open an alert for, and the keys of open alerts to close.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transitions {
    /// Conditions with no open alert yet.
    pub open: Vec<Condition>,
    /// Keys of open alerts whose condition no longer holds.
    pub close: Vec<String>,
}

/// Compares what holds after a reading with the alerts open for its device (`open`: key to
/// kind). A reading closes `Unreachable` (the printer answered) and `CertificateChanged`
/// (its certificate is trusted again) and, when it carries meters, `MeterReadMissing`.
pub fn transitions(
    now_holding: Vec<Condition>,
    open: &BTreeMap<String, AlertKind>,
    reading: &Reading,
) -> Transitions {
    let holding: BTreeSet<&str> = now_holding.iter().map(|c| c.key.as_str()).collect();
    let close = open
        .iter()
        .filter(|(key, kind)| match kind {
            AlertKind::Unreachable | AlertKind::CertificateChanged => true,
            AlertKind::MeterReadMissing => !reading.meters.is_empty(),
            AlertKind::CollectorSilent | AlertKind::OverQuota | AlertKind::EnvelopesRefused => {
                false
            }
            k if decided_by_reading(**k) => !holding.contains(key.as_str()),
            _ => false,
        })
        .map(|(k, _)| k.clone())
        .collect();
    let open = now_holding
        .into_iter()
        .filter(|c| !open.contains_key(&c.key))
        .collect();
    Transitions { open, close }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::alerts::site_key;
    use agent_core::model::{Alert, Meter};

    fn toner(percent: u8) -> Supply {
        Supply {
            device_index: 1,
            index: 1,
            description: "Black Toner".into(),
            part_number: Some("CF259A".into()),
            kind: "toner".into(),
            class: SupplyClass::Consumed,
            color: Some("black".into()),
            level: i64::from(percent),
            max_capacity: 100,
            percent: Some(percent),
            state: if percent == 0 {
                SupplyState::Empty
            } else {
                SupplyState::Ok
            },
            unit: None,
            percent_source: None,
        }
    }

    fn alert(code: &str) -> Alert {
        Alert {
            index: 1,
            severity: "critical".into(),
            group: "generalPrinter".into(),
            code: code.into(),
            description: String::new(),
        }
    }

    fn reading(supplies: Vec<Supply>) -> Reading {
        Reading {
            supplies,
            ..Reading::default()
        }
    }

    /// Runs readings through the engine the way the store does, returning the opens and
    /// closes of each step.
    fn run(levels: &[u8], rules: &AlertRules) -> Vec<(Vec<AlertKind>, usize)> {
        let mut open: BTreeMap<String, AlertKind> = BTreeMap::new();
        let mut steps = Vec::new();
        for &l in levels {
            let r = reading(vec![toner(l)]);
            let keys = open.keys().cloned().collect();
            let t = transitions(conditions("d", &r, &keys, rules, None), &open, &r);
            for k in &t.close {
                open.remove(k);
            }
            for c in &t.open {
                open.insert(c.key.clone(), c.kind);
            }
            steps.push((t.open.iter().map(|c| c.kind).collect(), t.close.len()));
        }
        steps
    }

    #[test]
    fn a_draining_supply_opens_low_once_then_empty_and_a_refill_closes_both() {
        let steps = run(
            &[40, 20, 15, 14, 10, 15, 12, 0, 0, 95],
            &AlertRules::default(),
        );
        let opened: Vec<_> = steps.iter().map(|s| s.0.clone()).collect();
        assert_eq!(
            opened,
            vec![
                vec![],
                vec![],
                vec![AlertKind::SupplyLow],
                vec![],
                vec![],
                vec![],
                vec![],
                vec![AlertKind::SupplyEmpty],
                vec![],
                vec![]
            ]
        );
        let closed: Vec<_> = steps.iter().map(|s| s.1).collect();
        assert_eq!(closed, vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    }

    #[test]
    fn no_flapping_around_the_reorder_point() {
        // 15, 16, 15, 17, 20 stay within the hysteresis: one alert, never closed.
        let steps = run(&[15, 16, 15, 17, 20, 14], &AlertRules::default());
        assert_eq!(steps.iter().filter(|s| !s.0.is_empty()).count(), 1);
        assert!(steps.iter().all(|s| s.1 == 0));
        // 21 is past it: closed; 15 again is a new alert.
        let steps = run(&[15, 21, 15], &AlertRules::default());
        assert_eq!(steps[1].1, 1);
        assert_eq!(steps[2].0, vec![AlertKind::SupplyLow]);
    }

    #[test]
    fn reorder_points_by_site_and_kind() {
        let mut rules = AlertRules::default();
        rules.reorder_by_kind.insert("opc".into(), 5);
        let site = SiteReorder {
            reorder_percent: Some(25),
            reorder_by_kind: [("ink".to_string(), 30)].into(),
        };
        assert_eq!(rules.reorder_point(None, "toner"), 15);
        assert_eq!(rules.reorder_point(None, "opc"), 5);
        assert_eq!(rules.reorder_point(Some(&site), "toner"), 25);
        assert_eq!(rules.reorder_point(Some(&site), "opc"), 5);
        assert_eq!(rules.reorder_point(Some(&site), "ink"), 30);
        let r = reading(vec![toner(20)]);
        let c = conditions("d", &r, &BTreeSet::new(), &rules, Some(&site));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].kind, AlertKind::SupplyLow);
        assert!(c[0].detail.contains("reorder at 25 %"), "{}", c[0].detail);
    }

    #[test]
    fn printer_errors_from_both_tables_are_one_alert_each() {
        let mut r = reading(vec![toner(80)]);
        r.status.errors = vec!["jammed".into(), "doorOpen".into(), "lowPaper".into()];
        r.status.alerts = vec![alert("jam"), alert("inputMediaSupplyEmpty")];
        let kinds: Vec<_> = conditions("d", &r, &BTreeSet::new(), &AlertRules::default(), None)
            .into_iter()
            .map(|c| c.kind)
            .collect();
        assert_eq!(
            kinds,
            vec![AlertKind::Jam, AlertKind::DoorOpen, AlertKind::NoPaper]
        );
    }

    #[test]
    fn waste_full_and_the_alerts_a_reading_closes() {
        let mut waste = toner(0);
        waste.class = SupplyClass::Receptacle;
        waste.kind = "wasteToner".into();
        let r = reading(vec![waste]);
        let c = conditions("d", &r, &BTreeSet::new(), &AlertRules::default(), None);
        assert_eq!(
            c.iter().map(|c| c.kind).collect::<Vec<_>>(),
            vec![AlertKind::WasteFull]
        );
        let open: BTreeMap<String, AlertKind> = [
            (
                device_key("d", AlertKind::Unreachable),
                AlertKind::Unreachable,
            ),
            (
                device_key("d", AlertKind::MeterReadMissing),
                AlertKind::MeterReadMissing,
            ),
            (site_key("hq"), AlertKind::CollectorSilent),
        ]
        .into();
        let t = transitions(Vec::new(), &open, &reading(vec![]));
        assert_eq!(t.close, vec![device_key("d", AlertKind::Unreachable)]);
        let mut with_meters = reading(vec![]);
        with_meters.meters.push(Meter {
            name: "total".into(),
            value: 5,
            source: String::new(),
        });
        let t = transitions(Vec::new(), &open, &with_meters);
        assert_eq!(t.close.len(), 2);
    }

    proptest::proptest! {
        /// Whatever levels a printer reports, in any order: an alert never opens twice
        /// without closing between, the low alert is open whenever the level is at or under
        /// the reorder point and closed whenever it is more than the hysteresis above it,
        /// and in between it keeps the state it had.
        #[test]
        fn low_alerts_follow_the_level_with_hysteresis(
            levels in proptest::collection::vec(0u8..=100, 1..60),
            reorder in 1u8..60,
            hysteresis in 0u8..20,
        ) {
            let rules = AlertRules { reorder_percent: reorder, hysteresis, ..AlertRules::default() };
            let mut open: BTreeMap<String, AlertKind> = BTreeMap::new();
            let mut low_open = false;
            for &l in &levels {
                let r = reading(vec![toner(l)]);
                let keys = open.keys().cloned().collect();
                let t = transitions(conditions("d", &r, &keys, &rules, None), &open, &r);
                for k in &t.close {
                    proptest::prop_assert!(open.remove(k).is_some(), "closed {k}, which was not open");
                }
                for c in &t.open {
                    proptest::prop_assert!(open.insert(c.key.clone(), c.kind).is_none(), "opened {} twice", c.key);
                }
                let low_now = open.values().any(|k| *k == AlertKind::SupplyLow);
                if l <= reorder {
                    proptest::prop_assert!(low_now, "level {l} at or under {reorder} without a low alert");
                } else if u16::from(l) > u16::from(reorder) + u16::from(hysteresis) {
                    proptest::prop_assert!(!low_now, "level {l} well above {reorder} with a low alert open");
                } else {
                    proptest::prop_assert_eq!(low_now, low_open, "level {} inside the hysteresis band changed the alert", l);
                }
                proptest::prop_assert_eq!(
                    open.values().any(|k| *k == AlertKind::SupplyEmpty),
                    l == 0,
                    "empty follows level 0 exactly (level {})", l
                );
                low_open = low_now;
            }
        }
    }
}
