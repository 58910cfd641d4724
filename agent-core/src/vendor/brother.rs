//! Brother: identity in Brother's private tree, and supply levels coded as small numbers
//! when the maximum is unknown (0 full, 1 low, 2 empty, 3 near empty).
use super::*;

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
    brands: &[],
    name_prefixes: &["Brother "],
    model: &[
        Field(
            Source::Oid("1.3.6.1.4.1.2435.2.4.3.2435.5.13.3.0"),
            Extract::Whole,
        ),
        Field(
            Source::Oid("1.3.6.1.4.1.2435.2.3.9.1.1.7.0"),
            Extract::Key("MDL:"),
        ),
    ],
    serial: &[Field(
        Source::Oid("1.3.6.1.4.1.2435.2.3.9.4.2.1.5.5.1.0"),
        Extract::Whole,
    )],
    firmware: &[
        Field(
            Source::Oid("1.3.6.1.4.1.2435.2.4.3.1240.6.5.0"),
            Extract::After("Firmware Ver."),
        ),
        Field(Source::SysDescr, Extract::After("Firmware Ver.")),
    ],
    meters: &[],
    meter_table: None,
    level_coding: LevelCoding::CodesWhenMaxUnknown(CODES),
    private_levels: None,
    part_number_markers: &[],
};
