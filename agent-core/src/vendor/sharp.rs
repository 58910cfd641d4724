//! Sharp: a private table of named counters, and supply levels in percent with an unknown
//! maximum for waste toner and drums.
use super::*;

crate::const_oids! {
    /// The firmware version.
    FIRMWARE = "1.3.6.1.4.1.2385.2.1.1.2.1.2.1";
    /// The counter table's value column.
    COUNTER_VALUE = "1.3.6.1.4.1.2385.1.1.19.2.1.3";
    /// The counter table's name column.
    COUNTER_NAME = "1.3.6.1.4.1.2385.1.1.19.2.1.4";
}

/// Sharp.
pub const PROFILE: VendorProfile = VendorProfile {
    vendor: "Sharp",
    enterprises: &[2385],
    descr_words: &["SHARP"],
    name_prefixes: &["SHARP "],
    firmware: &[Field(Source::Oid(FIRMWARE), Extract::Whole)],
    meter_table: Some(MeterTable {
        values: COUNTER_VALUE,
        names: COUNTER_NAME,
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
    ..VendorProfile::BASE
};
