//! Canon (imageRUNNER, imagePROGRAF): identity and the "Total 1" counter in Canon's tree.
use super::*;

crate::const_oids! {
    /// The model name.
    MODEL = "1.3.6.1.4.1.1602.1.1.1.1.0";
    /// The serial number.
    SERIAL = "1.3.6.1.4.1.1602.1.2.1.4.0";
    /// The firmware version.
    FIRMWARE = "1.3.6.1.4.1.1602.1.1.1.4.0";
    /// Counter 101: total.
    TOTAL = "1.3.6.1.4.1.1602.1.11.1.3.1.4.101";
    /// Counter 108: black.
    BLACK = "1.3.6.1.4.1.1602.1.11.1.3.1.4.108";
    /// Counter 106: colour.
    COLOR = "1.3.6.1.4.1.1602.1.11.1.3.1.4.106";
}

/// Canon.
pub const PROFILE: VendorProfile = VendorProfile {
    vendor: "Canon",
    enterprises: &[1602],
    descr_words: &["Canon"],
    name_prefixes: &["Canon ", "CANON "],
    model: &[Field(Source::Oid(MODEL), Extract::Whole)],
    serial: &[Field(Source::Oid(SERIAL), Extract::Whole)],
    firmware: &[Field(Source::Oid(FIRMWARE), Extract::Whole)],
    meters: &[("total", TOTAL), ("black", BLACK), ("color", COLOR)],
    ..VendorProfile::BASE
};
