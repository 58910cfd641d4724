//! Samsung (now HP-owned, still its own firmware): model and serial in sysDescr.
use super::*;

crate::const_oids! {
    /// The serial number.
    SERIAL = "1.3.6.1.4.1.236.11.5.1.1.1.4.0";
    /// Pages in all.
    TOTAL_PAGES = "1.3.6.1.4.1.236.11.5.1.1.3.12.0";
}

/// Samsung.
pub const PROFILE: VendorProfile = VendorProfile {
    vendor: "Samsung",
    enterprises: &[236],
    descr_words: &["Samsung"],
    name_prefixes: &["Samsung ", "SAMSUNG "],
    model: &[Field(Source::SysDescr, Extract::Before(';'))],
    serial: &[
        Field(Source::SysDescr, Extract::After("S/N")),
        Field(Source::Oid(SERIAL), Extract::Whole),
    ],
    firmware: &[Field(Source::SysDescr, Extract::After("; "))],
    meters: &[("total", TOTAL_PAGES)],
    ..VendorProfile::BASE
};
