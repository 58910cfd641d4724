//! Konica Minolta (bizhub): counters by function and colour in Konica's private tree.
use super::*;

/// Konica Minolta.
pub const PROFILE: VendorProfile = VendorProfile {
    vendor: "Konica Minolta",
    enterprises: &[18334],
    descr_words: &["KONICA MINOLTA", "bizhub"],
    brands: &[],
    name_prefixes: &["KONICA MINOLTA "],
    model: &[Field(
        Source::Oid("1.3.6.1.4.1.18334.1.1.1.1.6.2.1.0"),
        Extract::Whole,
    )],
    serial: &[],
    firmware: &[Field(
        Source::Oid("1.3.6.1.4.1.18334.1.1.1.1.6.1.0"),
        Extract::Whole,
    )],
    meters: &[
        ("total", "1.3.6.1.4.1.18334.1.1.1.5.7.2.1.1.0"),
        ("duplex", "1.3.6.1.4.1.18334.1.1.1.5.7.2.1.3.0"),
        ("scans", "1.3.6.1.4.1.18334.1.1.1.5.7.2.1.5.0"),
        ("copies.black", "1.3.6.1.4.1.18334.1.1.1.5.7.2.2.1.5.1.1"),
        ("copies.color", "1.3.6.1.4.1.18334.1.1.1.5.7.2.2.1.5.2.1"),
        ("prints.black", "1.3.6.1.4.1.18334.1.1.1.5.7.2.2.1.5.1.2"),
        ("prints.color", "1.3.6.1.4.1.18334.1.1.1.5.7.2.2.1.5.2.2"),
    ],
    meter_table: None,
    level_coding: LevelCoding::Standard,
    private_levels: None,
    part_number_markers: &[],
};
