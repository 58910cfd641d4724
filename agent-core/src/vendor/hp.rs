//! HP (LaserJet, PageWide, OfficeJet): model in the IEEE 1284 device ID, serial in sysDescr
//! on JetDirect cards, page meters in HP's private PML tree.
use super::*;

crate::const_oids! {
    /// The IEEE 1284 device ID (`MFG:HP;MDL:...;`), in HP's device MIB.
    DEVICE_ID = "1.3.6.1.4.1.11.2.3.9.1.1.7.0";
    /// The serial number, in the PML tree.
    SERIAL = "1.3.6.1.4.1.11.2.3.9.4.2.1.1.3.3.0";
    /// Pages printed in all.
    TOTAL_PAGES = "1.3.6.1.4.1.11.2.3.9.4.2.1.4.1.2.5.0";
    /// Monochrome pages.
    BLACK_PAGES = "1.3.6.1.4.1.11.2.3.9.4.2.1.4.1.2.6.0";
    /// Colour pages.
    COLOR_PAGES = "1.3.6.1.4.1.11.2.3.9.4.2.1.4.1.2.7.0";
    /// Duplex sheets.
    DUPLEX_SHEETS = "1.3.6.1.4.1.11.2.3.9.4.2.1.4.1.2.22.0";
}

/// HP.
pub const PROFILE: VendorProfile = VendorProfile {
    vendor: "HP",
    enterprises: &[11],
    descr_words: &["JETDIRECT", "HP ETHERNET", "LaserJet"],
    name_prefixes: &["HP ", "Hewlett-Packard "],
    model: &[
        Field(Source::Oid(DEVICE_ID), Extract::Key("MDL:")),
        Field(Source::SysDescr, Extract::Key("PID:")),
    ],
    serial: &[
        Field(Source::SysDescr, Extract::Key("SN:")),
        Field(Source::Oid(SERIAL), Extract::Whole),
    ],
    firmware: &[Field(Source::SysDescr, Extract::Key("FN:"))],
    meters: &[
        ("total", TOTAL_PAGES),
        ("black", BLACK_PAGES),
        ("color", COLOR_PAGES),
        ("duplex", DUPLEX_SHEETS),
    ],
    part_number_markers: &[PartMarker::Inline(" HP ")],
    ..VendorProfile::BASE
};
