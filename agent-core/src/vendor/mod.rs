//! Vendor profiles: what each brand adds to the standard MIBs, as data.
//!
//! A profile is chosen by the enterprise number in sysObjectID (or, for devices whose
//! network card reports someone else's number, by a word in sysDescr). It says where the
//! vendor keeps model, serial and firmware, which private OIDs hold its page meters, and
//! how it codes supply levels. One mechanism reads every profile; adding a brand is adding
//! a file with one `VendorProfile` in it: its OIDs named as constants (checked by the
//! compiler, see [`ConstOid`]) and only the facts that differ from [`VendorProfile::BASE`].

use crate::model::{PercentSource, SupplyState};
use crate::oid::{ConstOid, Oid};

mod brother;
mod canon;
mod dell;
mod epson;
mod fujifilm;
mod hp;
mod konica;
mod kyocera;
mod lexmark;
mod oki;
mod ricoh;
mod samsung;
mod sharp;
mod xerox;

/// Every profile, in the order they are tried.
pub const PROFILES: &[&VendorProfile] = &[
    &hp::PROFILE,
    &xerox::PROFILE,
    &brother::PROFILE,
    &ricoh::PROFILE,
    &konica::PROFILE,
    &sharp::PROFILE,
    &canon::PROFILE,
    &kyocera::PROFILE,
    &samsung::PROFILE,
    &lexmark::PROFILE,
    &epson::PROFILE,
    &oki::PROFILE,
    &fujifilm::PROFILE,
    &dell::PROFILE,
];

/// The profile for devices no vendor profile claims: standard MIBs only, and the
/// `, PN ` part-number suffix that several OEM firmwares share.
pub const GENERIC: VendorProfile = VendorProfile {
    part_number_markers: &[PartMarker::Suffix(", PN ")],
    ..VendorProfile::BASE
};

/// Where a text value comes from.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// A scalar OID of the vendor's.
    Oid(ConstOid),
    /// sysDescr.0.
    SysDescr,
    /// hrDeviceDescr of the printer's hrDeviceTable row.
    DeviceDescr,
}

/// How to cut the wanted part out of a text value.
#[derive(Debug, Clone, Copy)]
pub enum Extract {
    /// The whole text.
    Whole,
    /// The value of `KEY:` in a `KEY:value;KEY:value` or `KEY:value,` list (IEEE 1284
    /// device IDs, HP's sysDescr).
    Key(&'static str),
    /// The word right after a marker (`Firmware Ver.1.01 (..)` gives `1.01`).
    After(&'static str),
    /// Everything before a separator (`Xerox AltaLink C8045; SS 100...`).
    Before(char),
}

/// One way to find a field: a source and what to take from it.
#[derive(Debug, Clone, Copy)]
pub struct Field(pub Source, pub Extract);

/// A vendor table of named counters: a column of values and a column of their names,
/// sharing an index (Sharp).
#[derive(Debug, Clone, Copy)]
pub struct MeterTable {
    /// Column of counter values.
    pub values: ConstOid,
    /// Column of counter names, same index.
    pub names: ConstOid,
    /// The device's names for the standard meters: (device name, standard name). Other
    /// counters keep the device's name.
    pub standard_names: &'static [(&'static str, &'static str)],
}

/// A vendor table of supply levels in percent, with a name column to match its rows to the
/// Printer-MIB's (the two tables need not share indices or order).
#[derive(Debug, Clone, Copy)]
pub struct PrivateLevels {
    /// Column of supply names.
    pub names: ConstOid,
    /// Column of levels in percent (0..=100; anything else means "no percent").
    pub levels: ConstOid,
}

/// How a vendor codes `prtMarkerSuppliesLevel` beyond RFC 3805.
#[derive(Debug, Clone, Copy)]
pub enum LevelCoding {
    /// Printer-MIB as written.
    Standard,
    /// With an unknown maximum (-2), a level of 0..=100 is a percent (Sharp).
    PercentWhenMaxUnknown,
    /// Small codes for levels, applied when the maximum is unknown (-2) (Brother).
    CodesWhenMaxUnknown(&'static [LevelCode]),
    /// Codes applied whatever the maximum, for values RFC 3805 leaves undefined (Ricoh's -100).
    Codes(&'static [LevelCode]),
}

/// One coded level: what it means as a percent (if it means one) and as a state.
#[derive(Debug, Clone, Copy)]
pub struct LevelCode {
    /// The raw level.
    pub level: i64,
    /// The percent it stands for, if the vendor documents one.
    pub percent: Option<u8>,
    /// The state it stands for.
    pub state: SupplyState,
}

/// What a vendor adds to the standard MIBs.
#[derive(Debug)]
pub struct VendorProfile {
    /// The vendor's name as shown to users.
    pub vendor: &'static str,
    /// Enterprise numbers (1.3.6.1.4.1.N) whose sysObjectIDs this profile claims.
    pub enterprises: &'static [u32],
    /// Words in sysDescr that claim a device whose sysObjectID says nothing useful.
    pub descr_words: &'static [&'static str],
    /// OEM brands sold under this vendor's firmware: (word in sysDescr, brand name).
    pub brands: &'static [(&'static str, &'static str)],
    /// Prefixes cut from model names ("KONICA MINOLTA bizhub C250i" is "bizhub C250i").
    pub name_prefixes: &'static [&'static str],
    /// Where the model is, tried in order before the standard MIBs.
    pub model: &'static [Field],
    /// Where the serial is, tried in order before prtGeneralSerialNumber.
    pub serial: &'static [Field],
    /// Where the firmware version is.
    pub firmware: &'static [Field],
    /// Private page meters: (name, scalar OID).
    pub meters: &'static [(&'static str, ConstOid)],
    /// A private table of named counters, if the vendor has one.
    pub meter_table: Option<MeterTable>,
    /// How supply levels are coded.
    pub level_coding: LevelCoding,
    /// A private table of supply levels in percent, for rows the Printer-MIB leaves without one.
    pub private_levels: Option<PrivateLevels>,
    /// Where supply descriptions carry a part number.
    pub part_number_markers: &'static [PartMarker],
}

/// Where a supply description carries its part number.
#[derive(Debug, Clone, Copy)]
pub enum PartMarker {
    /// `Black Toner, PN 006R01509;SN...`: the part number follows the marker, and the marker
    /// and all after it are cut from the description.
    Suffix(&'static str),
    /// `Black Cartridge HP CF400X`: the part number is the word after the marker; the
    /// description stays whole.
    Inline(&'static str),
}

impl PartMarker {
    /// Splits a description into its clean text and its part number, if this marker is in it.
    pub fn split(&self, description: &str) -> Option<(String, Option<String>)> {
        let (marker, cut) = match *self {
            PartMarker::Suffix(m) => (m, true),
            PartMarker::Inline(m) => (m, false),
        };
        let at = description.find(marker)?;
        let word = description[at + marker.len()..]
            .split([' ', ';', ','])
            .next()
            .unwrap_or("")
            .trim();
        let plausible = word.len() >= 4
            && word.chars().any(|c| c.is_ascii_digit())
            && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        let part = plausible.then(|| word.to_string());
        match cut {
            // The suffix is the vendor's, whatever it holds ("PN unknown"): cut it.
            true => Some((description[..at].trim().to_string(), part)),
            false => part.map(|p| (description.to_string(), Some(p))),
        }
    }
}

impl VendorProfile {
    /// What every profile starts from: nothing beyond the standard MIBs. A vendor's file
    /// states its own facts and takes the rest from here (`..VendorProfile::BASE`).
    pub const BASE: VendorProfile = VendorProfile {
        vendor: "",
        enterprises: &[],
        descr_words: &[],
        brands: &[],
        name_prefixes: &[],
        model: &[],
        serial: &[],
        firmware: &[],
        meters: &[],
        meter_table: None,
        level_coding: LevelCoding::Standard,
        private_levels: None,
        part_number_markers: &[],
    };

    /// Chooses the profile for a device from its sysObjectID and sysDescr.
    pub fn select(sys_object_id: Option<&Oid>, sys_descr: Option<&str>) -> &'static VendorProfile {
        let enterprise = sys_object_id.and_then(|o| match o.arcs() {
            [1, 3, 6, 1, 4, 1, n, ..] => Some(*n),
            _ => None,
        });
        if let Some(n) = enterprise {
            if let Some(p) = PROFILES.iter().find(|p| p.enterprises.contains(&n)) {
                return p;
            }
        }
        let descr = sys_descr.unwrap_or("").to_ascii_lowercase();
        PROFILES
            .iter()
            .find(|p| {
                p.descr_words
                    .iter()
                    .any(|w| descr.contains(&w.to_ascii_lowercase()))
            })
            .copied()
            .unwrap_or(&GENERIC)
    }

    /// The scalar OIDs this profile reads at identity time.
    pub fn identity_oids(&self) -> Vec<Oid> {
        self.model
            .iter()
            .chain(self.serial)
            .chain(self.firmware)
            .filter_map(|Field(src, _)| match src {
                Source::Oid(o) => Some(o.to_oid()),
                _ => None,
            })
            .collect()
    }

    /// The scalar OIDs of the private page meters.
    pub fn meter_oids(&self) -> Vec<Oid> {
        self.meters.iter().map(|(_, o)| o.to_oid()).collect()
    }

    /// The brand to show: an OEM brand named in sysDescr, or the vendor.
    pub fn brand(&self, sys_descr: Option<&str>) -> Option<String> {
        if self.vendor.is_empty() {
            return None;
        }
        let d = sys_descr.unwrap_or("").to_ascii_lowercase();
        Some(
            self.brands
                .iter()
                .find(|(w, _)| d.contains(&w.to_ascii_lowercase()))
                .map_or(self.vendor, |(_, b)| *b)
                .to_string(),
        )
    }

    /// Interprets a level with this vendor's coding. `None` means "no vendor rule applies":
    /// use the standard percent.
    pub fn vendor_level(
        &self,
        level: i64,
        max: i64,
    ) -> Option<(Option<u8>, Option<PercentSource>, SupplyState)> {
        match self.level_coding {
            LevelCoding::Standard => None,
            LevelCoding::PercentWhenMaxUnknown => {
                (max == -2 && (0..=100).contains(&level)).then(|| {
                    let p = level as u8;
                    (
                        Some(p),
                        Some(PercentSource::VendorPercentUnit),
                        state_of_percent(p),
                    )
                })
            }
            LevelCoding::CodesWhenMaxUnknown(codes) if max == -2 => {
                lookup(codes, level, PercentSource::VendorLevelCode)
            }
            LevelCoding::CodesWhenMaxUnknown(_) => None,
            LevelCoding::Codes(codes) => lookup(codes, level, PercentSource::VendorPrivateLevel),
        }
    }
}

fn state_of_percent(p: u8) -> SupplyState {
    crate::model::SupplyLevel {
        level: i64::from(p),
        max_capacity: 100,
    }
    .state(Some(p), crate::model::DEFAULT_REORDER_PERCENT)
}

fn lookup(
    codes: &[LevelCode],
    level: i64,
    source: PercentSource,
) -> Option<(Option<u8>, Option<PercentSource>, SupplyState)> {
    codes
        .iter()
        .find(|c| c.level == level)
        .map(|c| (c.percent, c.percent.map(|_| source), c.state))
}

/// Reads a field: the text at its source, cut as it says; empty results are `None`.
pub fn extract(text: &str, how: Extract) -> Option<String> {
    let out = match how {
        Extract::Whole => text.trim().to_string(),
        Extract::Key(key) => {
            let start = text.find(key)? + key.len();
            let rest = &text[start..];
            let end = rest.find([';', ',']).unwrap_or(rest.len());
            rest[..end].trim().to_string()
        }
        Extract::After(marker) => {
            let start = text.find(marker)? + marker.len();
            text[start..]
                .split_whitespace()
                .next()?
                .trim_end_matches([',', ';'])
                .to_string()
        }
        Extract::Before(sep) => text.split(sep).next()?.trim().to_string(),
    };
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_has_a_unique_enterprise_and_its_oids_under_it() {
        let mut seen = std::collections::HashSet::new();
        for p in PROFILES {
            assert!(!p.vendor.is_empty());
            for n in p.enterprises {
                assert!(seen.insert(*n), "enterprise {n} claimed twice");
            }
            // A vendor's private OIDs live under its own enterprise number: an OID copied
            // from another vendor's file is a mistake the compiler cannot see.
            let mut oids = p.identity_oids();
            oids.extend(p.meter_oids());
            for t in p.meter_table.iter() {
                oids.extend([t.values.to_oid(), t.names.to_oid()]);
            }
            for t in p.private_levels.iter() {
                oids.extend([t.names.to_oid(), t.levels.to_oid()]);
            }
            for o in oids {
                let under =
                    matches!(o.arcs(), [1, 3, 6, 1, 4, 1, n, ..] if p.enterprises.contains(n));
                assert!(under, "{}: {o} is not under its enterprise", p.vendor);
            }
        }
        assert!(PROFILES.len() >= 14);
    }

    #[test]
    fn selects_by_enterprise_then_descr() {
        let hp = Oid::lit("1.3.6.1.4.1.11.2.3.9.1");
        assert_eq!(VendorProfile::select(Some(&hp), None).vendor, "HP");
        let utax = Oid::lit("1.3.6.1.4.1.1347.41");
        let p = VendorProfile::select(Some(&utax), Some("UTAX_TA P-4531DN"));
        assert_eq!(p.brand(Some("UTAX_TA P-4531DN")).as_deref(), Some("UTAX"));
        let odd = Oid::lit("1.3.6.1.4.1.99999.1");
        assert_eq!(
            VendorProfile::select(Some(&odd), Some("Lexmark MX711")).vendor,
            "Lexmark"
        );
        assert_eq!(
            VendorProfile::select(Some(&odd), Some("Linux box")).vendor,
            ""
        );
    }

    #[test]
    fn extracts() {
        assert_eq!(
            extract(
                "MFG:Brother;MDL:HL-5370DW series;CLS:PRINTER;",
                Extract::Key("MDL:")
            )
            .as_deref(),
            Some("HL-5370DW series")
        );
        assert_eq!(
            extract(
                "HP ETHERNET,SN:VNB3J99999,FN:1F31B6C,PID:HP Color LaserJet",
                Extract::Key("PID:")
            )
            .as_deref(),
            Some("HP Color LaserJet")
        );
        assert_eq!(
            extract(
                "Firmware Ver.1.01  (08.12.12)",
                Extract::After("Firmware Ver.")
            )
            .as_deref(),
            Some("1.01")
        );
        assert_eq!(
            extract("Xerox AltaLink C8045; SS 100", Extract::Before(';')).as_deref(),
            Some("Xerox AltaLink C8045")
        );
        assert_eq!(extract("S/N ", Extract::After("S/N")), None);
    }

    #[test]
    fn part_numbers() {
        let x = PartMarker::Suffix(", PN ");
        assert_eq!(
            x.split("Black Toner, PN 006R01509;SN48178080E0000481"),
            Some(("Black Toner".into(), Some("006R01509".into())))
        );
        assert_eq!(
            x.split("Fuser, PN unknown;SNunknown"),
            Some(("Fuser".into(), None))
        );
        let hp = PartMarker::Inline(" HP ");
        assert_eq!(
            hp.split("Black Cartridge HP CF400X"),
            Some(("Black Cartridge HP CF400X".into(), Some("CF400X".into())))
        );
        assert_eq!(hp.split("Clean Rollers HP None"), None);
        assert_eq!(
            hp.split("Fuser Kit HP 110V-C1N54A, 220V-C1N58A")
                .and_then(|p| p.1),
            Some("110V-C1N54A".into())
        );
    }

    #[test]
    fn vendor_codings() {
        let brother = VendorProfile::select(Some(&Oid::lit("1.3.6.1.4.1.2435.2.3.9.1")), None);
        assert_eq!(brother.vendor_level(0, -2).map(|v| v.0), Some(Some(100)));
        assert_eq!(brother.vendor_level(0, 100), None);
        let sharp = VendorProfile::select(Some(&Oid::lit("1.3.6.1.4.1.2385.3.1")), None);
        assert_eq!(
            sharp.vendor_level(100, -2).map(|v| (v.0, v.1)),
            Some((Some(100), Some(PercentSource::VendorPercentUnit)))
        );
        assert_eq!(sharp.vendor_level(-3, -2), None);
        let ricoh = VendorProfile::select(Some(&Oid::lit("1.3.6.1.4.1.367.1.1")), None);
        assert_eq!(
            ricoh.vendor_level(-100, 100).map(|v| v.2),
            Some(SupplyState::Low)
        );
    }
}
