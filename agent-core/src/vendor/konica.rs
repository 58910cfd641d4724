//! Konica Minolta (bizhub): counters by function and colour in Konica's private tree.
use super::*;

crate::const_oids! {
    /// The model name.
    MODEL = "1.3.6.1.4.1.18334.1.1.1.1.6.2.1.0";
    /// The firmware version.
    FIRMWARE = "1.3.6.1.4.1.18334.1.1.1.1.6.1.0";
    /// Pages in all.
    TOTAL_PAGES = "1.3.6.1.4.1.18334.1.1.1.5.7.2.1.1.0";
    /// Duplex pages.
    DUPLEX_PAGES = "1.3.6.1.4.1.18334.1.1.1.5.7.2.1.3.0";
    /// Originals scanned.
    SCANS = "1.3.6.1.4.1.18334.1.1.1.5.7.2.1.5.0";
    /// Copies in black.
    COPIES_BLACK = "1.3.6.1.4.1.18334.1.1.1.5.7.2.2.1.5.1.1";
    /// Copies in colour.
    COPIES_COLOR = "1.3.6.1.4.1.18334.1.1.1.5.7.2.2.1.5.2.1";
    /// Prints in black.
    PRINTS_BLACK = "1.3.6.1.4.1.18334.1.1.1.5.7.2.2.1.5.1.2";
    /// Prints in colour.
    PRINTS_COLOR = "1.3.6.1.4.1.18334.1.1.1.5.7.2.2.1.5.2.2";
}

/// Konica Minolta.
pub const PROFILE: VendorProfile = VendorProfile {
    vendor: "Konica Minolta",
    enterprises: &[18334],
    descr_words: &["KONICA MINOLTA", "bizhub"],
    name_prefixes: &["KONICA MINOLTA "],
    model: &[Field(Source::Oid(MODEL), Extract::Whole)],
    firmware: &[Field(Source::Oid(FIRMWARE), Extract::Whole)],
    meters: &[
        ("total", TOTAL_PAGES),
        ("duplex", DUPLEX_PAGES),
        ("scans", SCANS),
        ("copies.black", COPIES_BLACK),
        ("copies.color", COPIES_COLOR),
        ("prints.black", PRINTS_BLACK),
        ("prints.color", PRINTS_COLOR),
    ],
    ..VendorProfile::BASE
};
