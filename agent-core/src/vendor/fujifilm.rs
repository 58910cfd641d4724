//! Fujifilm Business Innovation (formerly Fuji Xerox): model from sysDescr.
use super::*;

/// Fujifilm.
pub const PROFILE: VendorProfile = VendorProfile {
    vendor: "Fujifilm",
    enterprises: &[297],
    descr_words: &["FUJIFILM", "FUJI XEROX"],
    brands: &[("FUJI XEROX", "Fuji Xerox")],
    name_prefixes: &["FUJIFILM ", "FUJI XEROX "],
    model: &[Field(Source::SysDescr, Extract::Before(';'))],
    serial: &[],
    firmware: &[],
    meters: &[("total", "1.3.6.1.4.1.297.1.111.1.41.1.1.1.1")],
    meter_table: None,
    level_coding: LevelCoding::Standard,
    private_levels: None,
    part_number_markers: &[],
};
