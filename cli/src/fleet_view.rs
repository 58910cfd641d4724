//! The live fleet on a screen: one line per printer, the lowest supplies first, so what
//! needs attention is at the top.

use std::fmt::Write;

use agent_core::model::{Reading, SupplyState};

fn lowest(r: &Reading) -> Option<(u8, String, SupplyState)> {
    r.supplies
        .iter()
        .filter_map(|s| s.percent.map(|p| (p, s.description.clone(), s.state)))
        .min_by_key(|(p, _, _)| *p)
}

/// Renders the fleet as a table, one line per printer's latest reading, most urgent
/// (lowest supply) first.
pub fn render(readings: &[Reading], width: usize) -> String {
    let mut sorted: Vec<&Reading> = readings.iter().collect();
    sorted.sort_by_key(|r| lowest(r).map_or(101, |l| u32::from(l.0)));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<18} {:<15} {:<26} {:<14} {:<9} {:<28} ALERTS / ERRORS",
        "ADDRESS", "VENDOR", "MODEL", "SERIAL", "STATUS", "LOWEST SUPPLY"
    );
    for r in sorted {
        let id = &r.identity;
        let cut = |s: &Option<String>, n: usize| {
            s.clone()
                .unwrap_or_else(|| "-".into())
                .chars()
                .take(n)
                .collect::<String>()
        };
        let low = lowest(r).map_or("-".to_string(), |(p, d, st)| {
            let flag = match st {
                SupplyState::Low => " LOW",
                SupplyState::Empty => " EMPTY",
                _ => "",
            };
            format!("{} {p}%{flag}", d.chars().take(16).collect::<String>())
        });
        let mut notes: Vec<String> = r.status.alerts.iter().map(|a| a.code.clone()).collect();
        notes.extend(r.status.errors.iter().cloned());
        notes.dedup();
        let line = format!(
            "{:<18} {:<15} {:<26} {:<14} {:<9} {:<28} {}",
            id.address,
            cut(&id.vendor, 15),
            cut(&id.model, 26),
            cut(&id.serial, 14),
            cut(&r.status.device_status, 9),
            low,
            if notes.is_empty() {
                "-".into()
            } else {
                notes.join(", ")
            }
        );
        let _ = writeln!(out, "{}", line.chars().take(width).collect::<String>());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_core::model::{Identity, Supply, SupplyClass};

    fn reading(addr: &str, percent: u8) -> Reading {
        Reading {
            identity: Identity {
                address: addr.into(),
                ..Identity::default()
            },
            supplies: vec![Supply {
                device_index: 1,
                index: 1,
                description: "Black Toner".into(),
                part_number: None,
                kind: "toner".into(),
                class: SupplyClass::Consumed,
                color: None,
                unit: None,
                level: i64::from(percent),
                max_capacity: 100,
                percent: Some(percent),
                percent_source: None,
                state: if percent <= 15 {
                    SupplyState::Low
                } else {
                    SupplyState::Ok
                },
            }],
            ..Reading::default()
        }
    }

    #[test]
    fn most_urgent_first() {
        let text = render(&[reading("a", 80), reading("b", 9)], 200);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with('b') && lines[1].contains("9% LOW"));
        assert!(lines[2].starts_with('a'));
    }
}
