//! Xerox (AltaLink, VersaLink, WorkCentre): model from sysDescr, part numbers inside supply
//! descriptions (`Black Toner, PN 006R01509;SN...`), billing meters in XCMI.
use super::*;

/// Xerox.
pub const PROFILE: VendorProfile = VendorProfile {
    vendor: "Xerox",
    enterprises: &[253],
    descr_words: &["Xerox"],
    brands: &[],
    name_prefixes: &["Xerox ", "XEROX "],
    model: &[Field(Source::SysDescr, Extract::Before(';'))],
    serial: &[Field(
        Source::Oid("1.3.6.1.4.1.253.8.53.3.2.1.3.1"),
        Extract::Whole,
    )],
    firmware: &[Field(Source::SysDescr, Extract::After("SS "))],
    meters: &[
        ("total", "1.3.6.1.4.1.253.8.53.13.2.1.6.1.20.1"),
        ("black", "1.3.6.1.4.1.253.8.53.13.2.1.6.1.20.34"),
        ("color", "1.3.6.1.4.1.253.8.53.13.2.1.6.1.20.33"),
    ],
    meter_table: None,
    level_coding: LevelCoding::Standard,
    private_levels: None,
    part_number_markers: &[PartMarker::Suffix(", PN ")],
};
