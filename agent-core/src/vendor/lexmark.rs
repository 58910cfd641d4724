//! Lexmark: identity in the LEXMARK-MPS-MIB device table.
use super::*;

crate::const_oids! {
    /// The model name (LEXMARK-MPS-MIB device table, first device).
    MODEL = "1.3.6.1.4.1.641.6.2.3.1.4.1";
    /// The serial number (same table).
    SERIAL = "1.3.6.1.4.1.641.6.2.3.1.5.1";
    /// Pages in all.
    TOTAL_PAGES = "1.3.6.1.4.1.641.6.4.2.1.1.4.1.1";
}

/// Lexmark.
pub const PROFILE: VendorProfile = VendorProfile {
    vendor: "Lexmark",
    enterprises: &[641],
    descr_words: &["Lexmark"],
    name_prefixes: &["Lexmark "],
    model: &[Field(Source::Oid(MODEL), Extract::Whole)],
    serial: &[Field(Source::Oid(SERIAL), Extract::Whole)],
    firmware: &[Field(Source::SysDescr, Extract::After("version "))],
    meters: &[("total", TOTAL_PAGES)],
    ..VendorProfile::BASE
};
