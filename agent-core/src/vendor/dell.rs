//! Dell (OEM Lexmark and Fuji Xerox engines): standard MIBs, Dell's name in sysDescr.
use super::*;

crate::const_oids! {
    /// The serial number (service tag).
    SERIAL = "1.3.6.1.4.1.674.10898.100.2.1.2.1.6.1";
}

/// Dell.
pub const PROFILE: VendorProfile = VendorProfile {
    vendor: "Dell",
    enterprises: &[674],
    descr_words: &["Dell "],
    name_prefixes: &["Dell "],
    model: &[Field(Source::DeviceDescr, Extract::Whole)],
    serial: &[Field(Source::Oid(SERIAL), Extract::Whole)],
    ..VendorProfile::BASE
};
