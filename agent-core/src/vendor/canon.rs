//! Canon (imageRUNNER, imagePROGRAF): identity and the "Total 1" counter in Canon's tree.
use super::*;

/// Canon.
pub const PROFILE: VendorProfile = VendorProfile {
    vendor: "Canon",
    enterprises: &[1602],
    descr_words: &["Canon"],
    brands: &[],
    name_prefixes: &["Canon ", "CANON "],
    model: &[Field(
        Source::Oid("1.3.6.1.4.1.1602.1.1.1.1.0"),
        Extract::Whole,
    )],
    serial: &[Field(
        Source::Oid("1.3.6.1.4.1.1602.1.2.1.4.0"),
        Extract::Whole,
    )],
    firmware: &[Field(
        Source::Oid("1.3.6.1.4.1.1602.1.1.1.4.0"),
        Extract::Whole,
    )],
    meters: &[
        ("total", "1.3.6.1.4.1.1602.1.11.1.3.1.4.101"),
        ("black", "1.3.6.1.4.1.1602.1.11.1.3.1.4.108"),
        ("color", "1.3.6.1.4.1.1602.1.11.1.3.1.4.106"),
    ],
    meter_table: None,
    level_coding: LevelCoding::Standard,
    private_levels: None,
    part_number_markers: &[],
};
