//! Ricoh (and its Lanier, Savin, nashuatec, NRG brands): identity in Ricoh's engine MIB, a
//! level of -100 meaning "near end", and a private toner table in percent (to the nearest
//! 10 %) for the rows whose Printer-MIB level says nothing.
use super::*;

crate::const_oids! {
    /// The model name, in Ricoh's engine MIB.
    MODEL = "1.3.6.1.4.1.367.3.2.1.1.1.1.0";
    /// The serial number.
    SERIAL = "1.3.6.1.4.1.367.3.2.1.2.1.4.0";
    /// The firmware version.
    FIRMWARE = "1.3.6.1.4.1.367.3.2.1.1.1.2.0";
    /// Pages printed in all.
    TOTAL_PAGES = "1.3.6.1.4.1.367.3.2.1.2.19.1.0";
    /// The private toner table's name column.
    TONER_NAME = "1.3.6.1.4.1.367.3.2.1.2.24.1.1.3";
    /// The private toner table's level column, in percent.
    TONER_LEVEL = "1.3.6.1.4.1.367.3.2.1.2.24.1.1.5";
}

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
    model: &[Field(Source::Oid(MODEL), Extract::Whole)],
    serial: &[Field(Source::Oid(SERIAL), Extract::Whole)],
    firmware: &[Field(Source::Oid(FIRMWARE), Extract::Whole)],
    meters: &[("total", TOTAL_PAGES)],
    level_coding: LevelCoding::Codes(CODES),
    private_levels: Some(PrivateLevels {
        names: TONER_NAME,
        levels: TONER_LEVEL,
    }),
    ..VendorProfile::BASE
};
