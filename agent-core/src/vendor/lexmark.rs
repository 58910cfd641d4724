//! Lexmark: identity in the LEXMARK-MPS-MIB device table.
use super::*;

/// Lexmark.
pub const PROFILE: VendorProfile = VendorProfile {
    vendor: "Lexmark",
    enterprises: &[641],
    descr_words: &["Lexmark"],
    brands: &[],
    name_prefixes: &["Lexmark "],
    model: &[Field(
        Source::Oid("1.3.6.1.4.1.641.6.2.3.1.4.1"),
        Extract::Whole,
    )],
    serial: &[Field(
        Source::Oid("1.3.6.1.4.1.641.6.2.3.1.5.1"),
        Extract::Whole,
    )],
    firmware: &[Field(Source::SysDescr, Extract::After("version "))],
    meters: &[("total", "1.3.6.1.4.1.641.6.4.2.1.1.4.1.1")],
    meter_table: None,
    level_coding: LevelCoding::Standard,
    private_levels: None,
    part_number_markers: &[],
};
