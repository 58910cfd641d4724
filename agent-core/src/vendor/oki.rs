//! OKI Data: identity in OKI's private tree.
use super::*;

/// OKI.
pub const PROFILE: VendorProfile = VendorProfile {
    vendor: "OKI",
    enterprises: &[2001],
    descr_words: &["OKI "],
    brands: &[],
    name_prefixes: &["OKI "],
    model: &[Field(Source::DeviceDescr, Extract::Whole)],
    serial: &[Field(
        Source::Oid("1.3.6.1.4.1.2001.1.1.1.1.11.1.10.45.0"),
        Extract::Whole,
    )],
    firmware: &[],
    meters: &[("total", "1.3.6.1.4.1.2001.1.1.1.1.11.1.10.170.1.6.1")],
    meter_table: None,
    level_coding: LevelCoding::Standard,
    private_levels: None,
    part_number_markers: &[],
};
