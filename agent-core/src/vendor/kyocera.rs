//! Kyocera, and the Utax and TA Triumph-Adler brands that run its firmware.
use super::*;

/// Kyocera.
pub const PROFILE: VendorProfile = VendorProfile {
    vendor: "Kyocera",
    enterprises: &[1347],
    descr_words: &["KYOCERA", "UTAX", "Triumph-Adler", "TA_"],
    brands: &[
        ("UTAX", "UTAX"),
        ("Triumph-Adler", "TA Triumph-Adler"),
        ("TA_", "TA Triumph-Adler"),
    ],
    name_prefixes: &["KYOCERA ", "Kyocera ", "UTAX_TA ", "UTAX ", "TA "],
    model: &[Field(
        Source::Oid("1.3.6.1.4.1.1347.43.5.1.1.1.1"),
        Extract::Whole,
    )],
    serial: &[Field(
        Source::Oid("1.3.6.1.4.1.1347.43.5.1.1.28.1"),
        Extract::Whole,
    )],
    firmware: &[Field(
        Source::Oid("1.3.6.1.4.1.1347.43.5.4.1.5.1.1"),
        Extract::Whole,
    )],
    meters: &[
        ("total", "1.3.6.1.4.1.1347.43.10.1.1.12.1.1"),
        ("prints", "1.3.6.1.4.1.1347.42.3.1.1.1.1.1"),
        ("copies", "1.3.6.1.4.1.1347.42.3.1.1.1.1.2"),
        ("scans", "1.3.6.1.4.1.1347.42.3.1.4.1.1.1"),
    ],
    meter_table: None,
    level_coding: LevelCoding::Standard,
    private_levels: None,
    part_number_markers: &[],
};
