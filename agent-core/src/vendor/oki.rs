//! OKI Data: identity in OKI's private tree.
use super::*;

crate::const_oids! {
    /// The serial number.
    SERIAL = "1.3.6.1.4.1.2001.1.1.1.1.11.1.10.45.0";
    /// Pages in all.
    TOTAL_PAGES = "1.3.6.1.4.1.2001.1.1.1.1.11.1.10.170.1.6.1";
}

/// OKI.
pub const PROFILE: VendorProfile = VendorProfile {
    vendor: "OKI",
    enterprises: &[2001],
    descr_words: &["OKI "],
    name_prefixes: &["OKI "],
    model: &[Field(Source::DeviceDescr, Extract::Whole)],
    serial: &[Field(Source::Oid(SERIAL), Extract::Whole)],
    meters: &[("total", TOTAL_PAGES)],
    ..VendorProfile::BASE
};
