//! Brother: identity in Brother's private tree, and supply levels coded as small numbers
//! when the maximum is unknown (0 full, 1 low, 2 empty, 3 near empty).
use super::*;

crate::const_oids! {
    /// The model name, in Brother's NetConfig tree.
    MODEL = "1.3.6.1.4.1.2435.2.4.3.2435.5.13.3.0";
    /// The IEEE 1284 device ID (`MFG:Brother;MDL:...;`).
    DEVICE_ID = "1.3.6.1.4.1.2435.2.3.9.1.1.7.0";
    /// The serial number.
    SERIAL = "1.3.6.1.4.1.2435.2.3.9.4.2.1.5.5.1.0";
    /// The firmware line (`Firmware Ver.1.01 ...`).
    FIRMWARE = "1.3.6.1.4.1.2435.2.4.3.1240.6.5.0";
}

/// Brother's level codes, as Brother firmware uses them with prtMarkerSuppliesMaxCapacity -2.
const CODES: &[LevelCode] = &[
    LevelCode {
        level: 0,
        percent: Some(100),
        state: SupplyState::Ok,
    },
    LevelCode {
        level: 1,
        percent: Some(5),
        state: SupplyState::Low,
    },
    LevelCode {
        level: 2,
        percent: Some(0),
        state: SupplyState::Empty,
    },
    LevelCode {
        level: 3,
        percent: Some(1),
        state: SupplyState::Low,
    },
];

/// Brother.
pub const PROFILE: VendorProfile = VendorProfile {
    vendor: "Brother",
    enterprises: &[2435],
    descr_words: &["Brother"],
    name_prefixes: &["Brother "],
    model: &[
        Field(Source::Oid(MODEL), Extract::Whole),
        Field(Source::Oid(DEVICE_ID), Extract::Key("MDL:")),
    ],
    serial: &[Field(Source::Oid(SERIAL), Extract::Whole)],
    firmware: &[
        Field(Source::Oid(FIRMWARE), Extract::After("Firmware Ver.")),
        Field(Source::SysDescr, Extract::After("Firmware Ver.")),
    ],
    level_coding: LevelCoding::CodesWhenMaxUnknown(CODES),
    ..VendorProfile::BASE
};
