//! Fujifilm Business Innovation (formerly Fuji Xerox): model from sysDescr.
use super::*;

crate::const_oids! {
    /// Pages in all.
    TOTAL_PAGES = "1.3.6.1.4.1.297.1.111.1.41.1.1.1.1";
}

/// Fujifilm.
pub const PROFILE: VendorProfile = VendorProfile {
    vendor: "Fujifilm",
    enterprises: &[297],
    descr_words: &["FUJIFILM", "FUJI XEROX"],
    brands: &[("FUJI XEROX", "Fuji Xerox")],
    name_prefixes: &["FUJIFILM ", "FUJI XEROX "],
    model: &[Field(Source::SysDescr, Extract::Before(';'))],
    meters: &[("total", TOTAL_PAGES)],
    ..VendorProfile::BASE
};
