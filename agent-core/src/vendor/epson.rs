//! Epson: standard MIBs for identity; model from hrDeviceDescr ("EPSON WF-C5790BA").
use super::*;

crate::const_oids! {
    /// Pages in all.
    TOTAL_PAGES = "1.3.6.1.4.1.1248.1.2.2.27.1.1.3.1.1";
}

/// Epson.
pub const PROFILE: VendorProfile = VendorProfile {
    vendor: "Epson",
    enterprises: &[1248],
    descr_words: &["EPSON"],
    name_prefixes: &["EPSON ", "Epson "],
    model: &[Field(Source::DeviceDescr, Extract::Whole)],
    meters: &[("total", TOTAL_PAGES)],
    ..VendorProfile::BASE
};
