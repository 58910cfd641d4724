//! Ricoh (and its Lanier, Savin, nashuatec, NRG brands): identity in Ricoh's engine MIB, a
//! level of -100 meaning "near end", and a private toner table in percent (to the nearest
//! 10 %) for the rows whose Printer-MIB level says nothing.
use super::*;

const CODES: &[LevelCode] = &[LevelCode {
    level: -100,
    percent: None,
    state: SupplyState::Low,
}];

/// Ricoh.
pub const PROFILE: VendorProfile = VendorProfile {
    vendor: "Ricoh",
    enterprises: &[367],
    descr_words: &["RICOH", "LANIER", "SAVIN", "NRG "],
    brands: &[("LANIER", "Lanier"), ("SAVIN", "Savin"), ("NRG ", "NRG")],
    name_prefixes: &["RICOH ", "LANIER ", "SAVIN "],
    model: &[Field(
        Source::Oid("1.3.6.1.4.1.367.3.2.1.1.1.1.0"),
        Extract::Whole,
    )],
    serial: &[Field(
        Source::Oid("1.3.6.1.4.1.367.3.2.1.2.1.4.0"),
        Extract::Whole,
    )],
    firmware: &[Field(
        Source::Oid("1.3.6.1.4.1.367.3.2.1.1.1.2.0"),
        Extract::Whole,
    )],
    meters: &[("total", "1.3.6.1.4.1.367.3.2.1.2.19.1.0")],
    meter_table: None,
    level_coding: LevelCoding::Codes(CODES),
    private_levels: Some(PrivateLevels {
        names: "1.3.6.1.4.1.367.3.2.1.2.24.1.1.3",
        levels: "1.3.6.1.4.1.367.3.2.1.2.24.1.1.5",
    }),
    part_number_markers: &[],
};
