//! The readable form of a reading, for people at a terminal: the same block wherever a
//! reading is shown (a poll, a device in the fleet).

use std::fmt::Write;

use crate::model::{Reading, SupplyState};

/// A supply state as a short word, capitalised when it needs attention.
pub fn state_word(s: SupplyState) -> &'static str {
    match s {
        SupplyState::Ok => "ok",
        SupplyState::Low => "LOW",
        SupplyState::Empty => "EMPTY",
        SupplyState::SomeRemaining => "some left",
        SupplyState::Unknown => "unknown",
        SupplyState::Unrestricted => "unrestricted",
    }
}

/// Renders a reading as a block of text: identity, supplies, meters, status.
pub fn render(r: &Reading) -> String {
    let id = &r.identity;
    let mut out = String::new();
    let or = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let _ = writeln!(
        out,
        "{}  {} {}  serial {}  firmware {}  mac {}",
        id.address,
        or(&id.vendor),
        or(&id.model),
        or(&id.serial),
        or(&id.firmware),
        or(&id.mac)
    );
    let _ = writeln!(
        out,
        "  status: device {}, printer {}{}",
        or(&r.status.device_status),
        or(&r.status.printer_status),
        if r.status.errors.is_empty() {
            String::new()
        } else {
            format!(", errors: {}", r.status.errors.join(", "))
        }
    );
    if !r.supplies.is_empty() {
        let w = r
            .supplies
            .iter()
            .map(|s| s.description.chars().count())
            .max()
            .unwrap_or(10)
            .clamp(11, 48);
        let _ = writeln!(
            out,
            "  {:<w$}  {:<14} {:>6}  {:<12} STATE",
            "SUPPLY", "KIND", "LEVEL", "PART"
        );
        for s in &r.supplies {
            let level = match s.percent {
                Some(p) => format!("{p}%"),
                None => format!("({})", s.level),
            };
            let descr: String = s.description.chars().take(w).collect();
            let _ = writeln!(
                out,
                "  {descr:<w$}  {:<14} {level:>6}  {:<12} {}",
                s.kind,
                s.part_number.as_deref().unwrap_or("-"),
                state_word(s.state)
            );
        }
    }
    if !r.meters.is_empty() {
        let meters: Vec<String> = r
            .meters
            .iter()
            .map(|m| format!("{} {}", m.name, m.value))
            .collect();
        let _ = writeln!(out, "  meters: {}", meters.join(", "));
    }
    for a in &r.status.alerts {
        let _ = writeln!(
            out,
            "  alert: {} {} {} {}",
            a.severity, a.group, a.code, a.description
        );
    }
    let _ = writeln!(
        out,
        "  ({} requests, {} bytes sent, {} bytes received)",
        r.round_trips, r.bytes_sent, r.bytes_received
    );
    out
}
