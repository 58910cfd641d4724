//! Xerox (AltaLink, VersaLink, WorkCentre): model from sysDescr, part numbers inside supply
//! descriptions (`Black Toner, PN 006R01509;SN...`), billing meters in XCMI.
use super::*;

crate::const_oids! {
    /// The serial number (xcmHrDevDetailValueString, serial row).
    SERIAL = "1.3.6.1.4.1.253.8.53.3.2.1.3.1";
    /// Total impressions (xcmHrDevDetailValueInteger, total row).
    TOTAL_IMPRESSIONS = "1.3.6.1.4.1.253.8.53.13.2.1.6.1.20.1";
    /// Black impressions.
    BLACK_IMPRESSIONS = "1.3.6.1.4.1.253.8.53.13.2.1.6.1.20.34";
    /// Colour impressions.
    COLOR_IMPRESSIONS = "1.3.6.1.4.1.253.8.53.13.2.1.6.1.20.33";
}

/// Xerox.
pub const PROFILE: VendorProfile = VendorProfile {
    vendor: "Xerox",
    enterprises: &[253],
    descr_words: &["Xerox"],
    name_prefixes: &["Xerox ", "XEROX "],
    model: &[Field(Source::SysDescr, Extract::Before(';'))],
    serial: &[Field(Source::Oid(SERIAL), Extract::Whole)],
    firmware: &[Field(Source::SysDescr, Extract::After("SS "))],
    meters: &[
        ("total", TOTAL_IMPRESSIONS),
        ("black", BLACK_IMPRESSIONS),
        ("color", COLOR_IMPRESSIONS),
    ],
    part_number_markers: &[PartMarker::Suffix(", PN ")],
    ..VendorProfile::BASE
};
