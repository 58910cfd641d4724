//! Sharp: a private table of named counters, and supply levels in percent with an unknown
//! maximum for waste toner and drums.
use super::*;

/// Sharp.
pub const PROFILE: VendorProfile = VendorProfile {
    vendor: "Sharp",
    enterprises: &[2385],
    descr_words: &["SHARP"],
    brands: &[],
    name_prefixes: &["SHARP "],
    model: &[],
    serial: &[],
    firmware: &[Field(
        Source::Oid("1.3.6.1.4.1.2385.2.1.1.2.1.2.1"),
        Extract::Whole,
    )],
    meters: &[],
    meter_table: Some(MeterTable {
        values: "1.3.6.1.4.1.2385.1.1.19.2.1.3",
        names: "1.3.6.1.4.1.2385.1.1.19.2.1.4",
        standard_names: &[
            ("Black & White Total Count", "black"),
            ("Full Color Total Count", "color"),
            ("Duplex", "duplex"),
            ("Copies", "copies"),
            ("Prints", "prints"),
            ("Black & White Scanner Count", "scans.black"),
            ("Full Color Scanner Count", "scans.color"),
        ],
    }),
    level_coding: LevelCoding::PercentWhenMaxUnknown,
    private_levels: None,
    part_number_markers: &[],
};
