//! Epson: standard MIBs for identity; model from hrDeviceDescr ("EPSON WF-C5790BA").
use super::*;

/// Epson.
pub const PROFILE: VendorProfile = VendorProfile {
    vendor: "Epson",
    enterprises: &[1248],
    descr_words: &["EPSON"],
    brands: &[],
    name_prefixes: &["EPSON ", "Epson "],
    model: &[Field(Source::DeviceDescr, Extract::Whole)],
    serial: &[],
    firmware: &[],
    meters: &[("total", "1.3.6.1.4.1.1248.1.2.2.27.1.1.3.1.1")],
    meter_table: None,
    level_coding: LevelCoding::Standard,
    private_levels: None,
    part_number_markers: &[],
};
