//! Kyocera, and the Utax and TA Triumph-Adler brands that run its firmware.
use super::*;

crate::const_oids! {
    /// The model name.
    MODEL = "1.3.6.1.4.1.1347.43.5.1.1.1.1";
    /// The serial number.
    SERIAL = "1.3.6.1.4.1.1347.43.5.1.1.28.1";
    /// The firmware version.
    FIRMWARE = "1.3.6.1.4.1.1347.43.5.4.1.5.1.1";
    /// Pages in all.
    TOTAL_PAGES = "1.3.6.1.4.1.1347.43.10.1.1.12.1.1";
    /// Prints.
    PRINTS = "1.3.6.1.4.1.1347.42.3.1.1.1.1.1";
    /// Copies.
    COPIES = "1.3.6.1.4.1.1347.42.3.1.1.1.1.2";
    /// Scans.
    SCANS = "1.3.6.1.4.1.1347.42.3.1.4.1.1.1";
}

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
    model: &[Field(Source::Oid(MODEL), Extract::Whole)],
    serial: &[Field(Source::Oid(SERIAL), Extract::Whole)],
    firmware: &[Field(Source::Oid(FIRMWARE), Extract::Whole)],
    meters: &[
        ("total", TOTAL_PAGES),
        ("prints", PRINTS),
        ("copies", COPIES),
        ("scans", SCANS),
    ],
    ..VendorProfile::BASE
};
