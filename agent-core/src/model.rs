//! The reading: what one poll of one printer found, exactly as DESIGN.md's JSON contract
//! names it. `--json` output and the gRPC messages carry these fields.
//!
//! The rules that turn raw MIB numbers into something an operator can act on (the percent,
//! the supply state, receptacles, the reorder point) live here, next to the data, so every
//! consumer (CLI, coordinator, alerts) applies the same ones.

use serde::{Deserialize, Serialize};

/// The default reorder point, in percent: a supply at or under it reads `low`.
pub const DEFAULT_REORDER_PERCENT: u8 = 15;

/// Who a printer is. Everything is optional: devices give what they give.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The address it was polled at (`host:port` when the port is not 161).
    pub address: String,
    /// sysObjectID, which selects the vendor profile.
    pub sys_object_id: Option<String>,
    /// sysDescr.
    pub sys_descr: Option<String>,
    /// Vendor name from the profile.
    pub vendor: Option<String>,
    /// Model, from the vendor's OID, hrDeviceDescr or sysDescr.
    pub model: Option<String>,
    /// Serial, from prtGeneralSerialNumber or the vendor's MIB.
    pub serial: Option<String>,
    /// Firmware version.
    pub firmware: Option<String>,
    /// MAC address of the first Ethernet interface, `aa:bb:cc:dd:ee:ff`.
    pub mac: Option<String>,
    /// The printer's UUID (IPP's `printer-uuid`, lower case, without `urn:uuid:`): what
    /// names a printer read over IPP that gives no serial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
}

impl Identity {
    /// How mail and listings name a printer for people: "M404 (SN PHB1234)", its model
    /// (or vendor) and serial, whichever it gives.
    pub fn printer_name(&self) -> String {
        let model = match (&self.vendor, &self.model) {
            (_, Some(m)) => m.clone(),
            (Some(v), None) => v.clone(),
            (None, None) => "printer".into(),
        };
        match &self.serial {
            Some(s) if !s.is_empty() => format!("{model} (SN {s})"),
            _ => model,
        }
    }
}

/// Whether a supply is used up or fills up (prtMarkerSuppliesClass).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupplyClass {
    /// Toner, ink, drums: the level is what is left.
    Consumed,
    /// Waste toner and ink: the level is the space left, so `empty` means "full: replace".
    Receptacle,
}

/// What state a supply is in, from its level, its maximum and the reorder point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupplyState {
    /// Above the reorder point.
    Ok,
    /// At or under the reorder point.
    Low,
    /// Nothing left (for a receptacle: no space left, replace it).
    Empty,
    /// -3: the device knows there is some, not how much.
    SomeRemaining,
    /// -2: the device does not know.
    Unknown,
    /// -1: no limit (e.g. a supply fed from outside).
    Unrestricted,
}

/// Where a supply's percent came from, so nobody mistakes a vendor coding for a measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PercentSource {
    /// round(level * 100 / max_capacity), Printer-MIB as written.
    LevelOfMax,
    /// The vendor sends the level in percent with an unknown maximum (Sharp).
    VendorPercentUnit,
    /// The vendor codes the level as a small state number (Brother: 0 full, 1 low, 2 empty, 3 near empty).
    VendorLevelCode,
    /// The vendor's own level table or marker value (Ricoh: -100 means near empty).
    VendorPrivateLevel,
    /// IPP's `printer-supply` (PWG 5100.13): round(level * 100 / maxcapacity), the
    /// Printer-MIB's rule on the numbers the printer sent over IPP.
    IppSupply,
    /// CUPS's `marker-levels`, which are percents.
    IppMarker,
}

/// One row of prtMarkerSuppliesTable, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Supply {
    /// hrDeviceIndex of the printer this supply belongs to.
    pub device_index: u32,
    /// prtMarkerSuppliesIndex.
    pub index: u32,
    /// Clean text: decoded, control characters removed, part-number suffixes cut off.
    pub description: String,
    /// The part number, where the device gives one in its description.
    pub part_number: Option<String>,
    /// IANA-PRINTER-MIB supply type name (toner, wasteToner, opc, ...).
    pub kind: String,
    /// Consumed or receptacle.
    pub class: SupplyClass,
    /// From prtMarkerColorantValue, or from the description.
    pub color: Option<String>,
    /// prtMarkerSuppliesSupplyUnit name.
    pub unit: Option<String>,
    /// prtMarkerSuppliesLevel, raw.
    pub level: i64,
    /// prtMarkerSuppliesMaxCapacity, raw.
    pub max_capacity: i64,
    /// 0..=100, or null when the device does not say.
    pub percent: Option<u8>,
    /// Where `percent` came from; null when it is null.
    pub percent_source: Option<PercentSource>,
    /// The state an operator acts on.
    pub state: SupplyState,
}

/// A page meter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meter {
    /// total, black, color, duplex, copies, prints, scans, ... or a vendor's own name.
    pub name: String,
    /// The count.
    pub value: u64,
    /// The OID it was read from.
    pub source: String,
}

/// One row of prtAlertTable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// prtAlertIndex.
    pub index: u32,
    /// critical, warning, warningBinaryChangeEvent, other.
    pub severity: String,
    /// The subunit group (input, output, markerSupplies, cover, ...).
    pub group: String,
    /// prtAlertCode name (jam, coverOpen, markerTonerEmpty, ...).
    pub code: String,
    /// prtAlertDescription, decoded.
    pub description: String,
}

/// What the printer says about itself right now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// hrDeviceStatus: unknown, running, warning, testing, down.
    pub device_status: Option<String>,
    /// hrPrinterStatus: other, unknown, idle, printing, warmup.
    pub printer_status: Option<String>,
    /// hrPrinterDetectedErrorState, bit by bit by name.
    pub errors: Vec<String>,
    /// prtAlertTable rows.
    pub alerts: Vec<Alert>,
}

/// What one poll of one printer found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reading {
    /// Who the printer is.
    pub identity: Identity,
    /// Its supplies.
    pub supplies: Vec<Supply>,
    /// Its page meters.
    pub meters: Vec<Meter>,
    /// Its status.
    pub status: Status,
    /// When, RFC 3339.
    pub polled_at: String,
    /// UDP payload bytes sent for this reading, retries included.
    pub bytes_sent: u64,
    /// UDP payload bytes received for this reading.
    pub bytes_received: u64,
    /// Requests sent for this reading, retries included.
    pub round_trips: u32,
}

/// The most of each thing one reading carries: a printer is not trusted, and a reading
/// that grew without bound (a 5,000-row supply table, 8 KB descriptions) would be refused
/// by the coordinator and block the collector's queue. Real printers stay far below.
pub mod bounds {
    /// Supplies (a production press has a few dozen).
    pub const SUPPLIES: usize = 128;
    /// Page meters.
    pub const METERS: usize = 64;
    /// Alert rows.
    pub const ALERTS: usize = 64;
    /// Error names.
    pub const ERRORS: usize = 32;
    /// Characters of any text a printer gives (descriptions, names, serials).
    pub const TEXT: usize = 256;
}

impl Reading {
    /// The reading cut to [`bounds`]: lists keep their first rows, texts their first
    /// characters. About 100 KiB at the most, whatever the printer sent.
    pub fn bounded(mut self) -> Reading {
        fn clip(s: &mut String) {
            if let Some((at, _)) = s.char_indices().nth(bounds::TEXT) {
                s.truncate(at);
            }
        }
        fn clip_opt(s: &mut Option<String>) {
            if let Some(s) = s {
                clip(s);
            }
        }
        let id = &mut self.identity;
        clip(&mut id.address);
        for f in [
            &mut id.sys_object_id,
            &mut id.sys_descr,
            &mut id.vendor,
            &mut id.model,
            &mut id.serial,
            &mut id.firmware,
            &mut id.mac,
            &mut id.uuid,
        ] {
            clip_opt(f);
        }
        self.supplies.truncate(bounds::SUPPLIES);
        for s in &mut self.supplies {
            clip(&mut s.description);
            clip(&mut s.kind);
            clip_opt(&mut s.part_number);
            clip_opt(&mut s.color);
            clip_opt(&mut s.unit);
        }
        self.meters.truncate(bounds::METERS);
        for m in &mut self.meters {
            clip(&mut m.name);
            clip(&mut m.source);
        }
        let st = &mut self.status;
        clip_opt(&mut st.device_status);
        clip_opt(&mut st.printer_status);
        st.errors.truncate(bounds::ERRORS);
        st.errors.iter_mut().for_each(clip);
        st.alerts.truncate(bounds::ALERTS);
        for a in &mut st.alerts {
            clip(&mut a.severity);
            clip(&mut a.group);
            clip(&mut a.code);
            clip(&mut a.description);
        }
        self
    }
}

/// A supply's raw level and maximum with the rules that interpret them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupplyLevel {
    /// prtMarkerSuppliesLevel.
    pub level: i64,
    /// prtMarkerSuppliesMaxCapacity.
    pub max_capacity: i64,
}

impl SupplyLevel {
    /// The Printer-MIB percent: round(level*100/max), halves away from zero, when
    /// level >= 0 and max > 0; otherwise none.
    pub fn standard_percent(self) -> Option<u8> {
        if self.level < 0 || self.max_capacity <= 0 {
            return None;
        }
        let (l, m) = (i128::from(self.level), i128::from(self.max_capacity));
        // round(l*100/m) with halves away from zero, in integers: (2*l*100 + m) / (2*m).
        let p = (200 * l + m) / (2 * m);
        Some(p.clamp(0, 100) as u8)
    }

    /// The state for this level given a percent (from any source) and the reorder point.
    pub fn state(self, percent: Option<u8>, reorder_percent: u8) -> SupplyState {
        match self.level {
            -1 => SupplyState::Unrestricted,
            -2 => SupplyState::Unknown,
            -3 => SupplyState::SomeRemaining,
            l if l < 0 => SupplyState::Unknown,
            _ => match percent {
                Some(0) => SupplyState::Empty,
                Some(p) if p <= reorder_percent => SupplyState::Low,
                Some(_) => SupplyState::Ok,
                None if self.level == 0 => SupplyState::Empty,
                None => SupplyState::Unknown,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lvl(level: i64, max_capacity: i64) -> SupplyLevel {
        SupplyLevel {
            level,
            max_capacity,
        }
    }

    #[test]
    fn percent_rounds_halves_away_from_zero() {
        assert_eq!(lvl(1060, 5300).standard_percent(), Some(20));
        assert_eq!(lvl(1, 200).standard_percent(), Some(1)); // 0.5 -> 1
        assert_eq!(lvl(3, 200).standard_percent(), Some(2)); // 1.5 -> 2
        assert_eq!(lvl(1, 3).standard_percent(), Some(33));
        assert_eq!(lvl(2, 3).standard_percent(), Some(67));
        assert_eq!(lvl(17208, 25000).standard_percent(), Some(69));
        assert_eq!(lvl(0, 100).standard_percent(), Some(0));
        assert_eq!(lvl(-3, 100).standard_percent(), None);
        assert_eq!(lvl(50, -2).standard_percent(), None);
        assert_eq!(lvl(50, 0).standard_percent(), None);
    }

    #[test]
    fn special_levels_have_states_not_percents() {
        assert_eq!(lvl(-1, 100).state(None, 15), SupplyState::Unrestricted);
        assert_eq!(lvl(-2, 100).state(None, 15), SupplyState::Unknown);
        assert_eq!(lvl(-3, -2).state(None, 15), SupplyState::SomeRemaining);
        assert_eq!(lvl(0, -2).state(None, 15), SupplyState::Empty);
        assert_eq!(lvl(40, -2).state(None, 15), SupplyState::Unknown);
    }

    #[test]
    fn reorder_point_is_inclusive() {
        assert_eq!(lvl(15, 100).state(Some(15), 15), SupplyState::Low);
        assert_eq!(lvl(16, 100).state(Some(16), 15), SupplyState::Ok);
        assert_eq!(lvl(0, 100).state(Some(0), 15), SupplyState::Empty);
    }

    proptest! {
        #[test]
        fn percent_matches_float_rounding(level in 0i64..10_000_000, max in 1i64..10_000_000) {
            let p = lvl(level, max).standard_percent().unwrap();
            let exact = ((level as f64) * 100.0 / (max as f64)).min(100.0);
            // the nearest integer: never more than half a point away
            prop_assert!((f64::from(p) - exact).abs() <= 0.5 + 1e-9);
            prop_assert!(p <= 100);
        }

        #[test]
        fn state_is_total(level in any::<i64>(), max in any::<i64>(), reorder in 0u8..=100) {
            let l = lvl(level, max);
            let s = l.state(l.standard_percent(), reorder);
            if level >= 0 && max > 0 {
                prop_assert!(!matches!(s, SupplyState::Unknown | SupplyState::SomeRemaining | SupplyState::Unrestricted));
            }
        }
    }
}
