//! Samsung (now HP-owned, still its own firmware): model and serial in sysDescr.
use super::*;

/// Samsung.
pub const PROFILE: VendorProfile = VendorProfile {
    vendor: "Samsung",
    enterprises: &[236],
    descr_words: &["Samsung"],
    brands: &[],
    name_prefixes: &["Samsung ", "SAMSUNG "],
    model: &[Field(Source::SysDescr, Extract::Before(';'))],
    serial: &[
        Field(Source::SysDescr, Extract::After("S/N")),
        Field(
            Source::Oid("1.3.6.1.4.1.236.11.5.1.1.1.4.0"),
            Extract::Whole,
        ),
    ],
    firmware: &[Field(Source::SysDescr, Extract::After("; "))],
    meters: &[("total", "1.3.6.1.4.1.236.11.5.1.1.3.12.0")],
    meter_table: None,
    level_coding: LevelCoding::Standard,
    private_levels: None,
    part_number_markers: &[],
};
