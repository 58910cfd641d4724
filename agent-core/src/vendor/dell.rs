//! Dell (OEM Lexmark and Fuji Xerox engines): standard MIBs, Dell's name in sysDescr.
use super::*;

/// Dell.
pub const PROFILE: VendorProfile = VendorProfile {
    vendor: "Dell",
    enterprises: &[674],
    descr_words: &["Dell "],
    brands: &[],
    name_prefixes: &["Dell "],
    model: &[Field(Source::DeviceDescr, Extract::Whole)],
    serial: &[Field(
        Source::Oid("1.3.6.1.4.1.674.10898.100.2.1.2.1.6.1"),
        Extract::Whole,
    )],
    firmware: &[],
    meters: &[],
    meter_table: None,
    level_coding: LevelCoding::Standard,
    private_levels: None,
    part_number_markers: &[],
};
