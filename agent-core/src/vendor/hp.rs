//! HP (LaserJet, PageWide, OfficeJet): model in the IEEE 1284 device ID, serial in sysDescr
//! on JetDirect cards, page meters in HP's private PML tree.
use super::*;

/// HP.
pub const PROFILE: VendorProfile = VendorProfile {
    vendor: "HP",
    enterprises: &[11],
    descr_words: &["JETDIRECT", "HP ETHERNET", "LaserJet"],
    brands: &[],
    name_prefixes: &["HP ", "Hewlett-Packard "],
    model: &[
        Field(
            Source::Oid("1.3.6.1.4.1.11.2.3.9.1.1.7.0"),
            Extract::Key("MDL:"),
        ),
        Field(Source::SysDescr, Extract::Key("PID:")),
    ],
    serial: &[
        Field(Source::SysDescr, Extract::Key("SN:")),
        Field(
            Source::Oid("1.3.6.1.4.1.11.2.3.9.4.2.1.1.3.3.0"),
            Extract::Whole,
        ),
    ],
    firmware: &[Field(Source::SysDescr, Extract::Key("FN:"))],
    meters: &[
        ("total", "1.3.6.1.4.1.11.2.3.9.4.2.1.4.1.2.5.0"),
        ("black", "1.3.6.1.4.1.11.2.3.9.4.2.1.4.1.2.6.0"),
        ("color", "1.3.6.1.4.1.11.2.3.9.4.2.1.4.1.2.7.0"),
        ("duplex", "1.3.6.1.4.1.11.2.3.9.4.2.1.4.1.2.22.0"),
    ],
    meter_table: None,
    level_coding: LevelCoding::Standard,
    private_levels: None,
    part_number_markers: &[PartMarker::Inline(" HP ")],
};
