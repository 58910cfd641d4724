//! The standard MIBs a printer reader needs: the OIDs it asks for and the names of the
//! numbers it gets back (SNMPv2-MIB, HOST-RESOURCES-MIB, Printer-MIB, IF-MIB).
//!
//! Knowledge is data here: OIDs as constants and enumerations as tables, so decoding is a
//! lookup and a newcomer can check every name against the RFC.

use crate::oid::{ConstOid, Oid};

/// Each OID a function returning it, parsed by the compiler (see [`ConstOid`]).
macro_rules! oids {
    ($($(#[$doc:meta])* $name:ident = $value:literal;)*) => {
        $( $(#[$doc])* pub fn $name() -> Oid {
            const OID: ConstOid = ConstOid::parse($value);
            OID.to_oid()
        } )*
    };
}

oids! {
    /// sysDescr.0
    sys_descr = "1.3.6.1.2.1.1.1.0";
    /// sysObjectID.0
    sys_object_id = "1.3.6.1.2.1.1.2.0";
    /// sysUpTime.0
    sys_uptime = "1.3.6.1.2.1.1.3.0";
    /// sysName.0
    sys_name = "1.3.6.1.2.1.1.5.0";
    /// ifPhysAddress column
    if_phys_address = "1.3.6.1.2.1.2.2.1.6";
    /// ifType column (6 = ethernetCsmacd)
    if_type = "1.3.6.1.2.1.2.2.1.3";
    /// hrDeviceType column
    hr_device_type = "1.3.6.1.2.1.25.3.2.1.2";
    /// hrDeviceDescr column
    hr_device_descr = "1.3.6.1.2.1.25.3.2.1.3";
    /// hrDeviceStatus column
    hr_device_status = "1.3.6.1.2.1.25.3.2.1.5";
    /// hrPrinterStatus column
    hr_printer_status = "1.3.6.1.2.1.25.3.5.1.1";
    /// hrPrinterDetectedErrorState column
    hr_printer_error_state = "1.3.6.1.2.1.25.3.5.1.2";
    /// hrDevicePrinter, the hrDeviceType value that says "printer"
    hr_device_printer = "1.3.6.1.2.1.25.3.1.5";
    /// prtGeneralSerialNumber column (indexed by hrDeviceIndex)
    prt_general_serial = "1.3.6.1.2.1.43.5.1.1.17";
    /// the Printer-MIB subtree
    printer_mib = "1.3.6.1.2.1.43";
    /// prtMarkerLifeCount column
    prt_marker_life_count = "1.3.6.1.2.1.43.10.2.1.4";
    /// prtMarkerPowerOnCount column
    prt_marker_power_on_count = "1.3.6.1.2.1.43.10.2.1.5";
    /// prtMarkerSuppliesColorantIndex column
    supply_colorant_index = "1.3.6.1.2.1.43.11.1.1.3";
    /// prtMarkerSuppliesClass column
    supply_class = "1.3.6.1.2.1.43.11.1.1.4";
    /// prtMarkerSuppliesType column
    supply_type = "1.3.6.1.2.1.43.11.1.1.5";
    /// prtMarkerSuppliesDescription column
    supply_description = "1.3.6.1.2.1.43.11.1.1.6";
    /// prtMarkerSuppliesSupplyUnit column
    supply_unit = "1.3.6.1.2.1.43.11.1.1.7";
    /// prtMarkerSuppliesMaxCapacity column
    supply_max_capacity = "1.3.6.1.2.1.43.11.1.1.8";
    /// prtMarkerSuppliesLevel column
    supply_level = "1.3.6.1.2.1.43.11.1.1.9";
    /// prtMarkerColorantValue column
    colorant_value = "1.3.6.1.2.1.43.12.1.1.4";
    /// prtAlertSeverityLevel column
    alert_severity = "1.3.6.1.2.1.43.18.1.1.2";
    /// prtAlertGroup column
    alert_group = "1.3.6.1.2.1.43.18.1.1.4";
    /// prtAlertCode column
    alert_code = "1.3.6.1.2.1.43.18.1.1.7";
    /// prtAlertDescription column
    alert_description = "1.3.6.1.2.1.43.18.1.1.8";
}

/// Looks a number up in a name table; unknown numbers keep their number.
pub fn name_of(table: &[(i64, &'static str)], value: i64, prefix: &str) -> String {
    table
        .iter()
        .find(|(v, _)| *v == value)
        .map(|(_, n)| (*n).to_string())
        .unwrap_or_else(|| format!("{prefix}{value}"))
}

/// prtMarkerSuppliesType (IANA-PRINTER-MIB PrtMarkerSuppliesTypeTC).
pub const SUPPLY_TYPES: &[(i64, &str)] = &[
    (1, "other"),
    (2, "unknown"),
    (3, "toner"),
    (4, "wasteToner"),
    (5, "ink"),
    (6, "inkCartridge"),
    (7, "inkRibbon"),
    (8, "wasteInk"),
    (9, "opc"),
    (10, "developer"),
    (11, "fuserOil"),
    (12, "solidWax"),
    (13, "ribbonWax"),
    (14, "wasteWax"),
    (15, "fuser"),
    (16, "coronaWire"),
    (17, "fuserOilWick"),
    (18, "cleanerUnit"),
    (19, "fuserCleaningPad"),
    (20, "transferUnit"),
    (21, "tonerCartridge"),
    (22, "fuserOiler"),
    (23, "water"),
    (24, "wasteWater"),
    (25, "glueWaterAdditive"),
    (26, "wastePaper"),
    (27, "bindingSupply"),
    (28, "bandingSupply"),
    (29, "stitchingWire"),
    (30, "shrinkWrap"),
    (31, "paperWrap"),
    (32, "staples"),
    (33, "inserts"),
    (34, "covers"),
    (35, "matteToner"),
    (36, "matteInk"),
];

/// Supply types that fill up rather than run out, for devices that omit the class column.
pub const RECEPTACLE_TYPES: &[&str] = &[
    "wasteToner",
    "wasteInk",
    "wasteWax",
    "wasteWater",
    "wastePaper",
];

/// prtMarkerSuppliesSupplyUnit (PrtMarkerSuppliesSupplyUnitTC).
pub const SUPPLY_UNITS: &[(i64, &str)] = &[
    (1, "other"),
    (2, "unknown"),
    (3, "tenThousandthsOfInches"),
    (4, "micrometers"),
    (7, "impressions"),
    (8, "sheets"),
    (11, "hours"),
    (12, "thousandthsOfOunces"),
    (13, "tenthsOfGrams"),
    (14, "hundrethsOfFluidOunces"),
    (15, "tenthsOfMilliliters"),
    (16, "feet"),
    (17, "meters"),
    (18, "items"),
    (19, "percent"),
];

/// hrDeviceStatus.
pub const DEVICE_STATUS: &[(i64, &str)] = &[
    (1, "unknown"),
    (2, "running"),
    (3, "warning"),
    (4, "testing"),
    (5, "down"),
];

/// hrPrinterStatus.
pub const PRINTER_STATUS: &[(i64, &str)] = &[
    (1, "other"),
    (2, "unknown"),
    (3, "idle"),
    (4, "printing"),
    (5, "warmup"),
];

/// hrPrinterDetectedErrorState bits, bit 0 being the high bit of the first octet.
pub const ERROR_STATE_BITS: &[&str] = &[
    "lowPaper",
    "noPaper",
    "lowToner",
    "noToner",
    "doorOpen",
    "jammed",
    "offline",
    "serviceRequested",
    "inputTrayMissing",
    "outputTrayMissing",
    "markerSupplyMissing",
    "outputNearFull",
    "outputFull",
    "inputTrayEmpty",
    "overduePreventMaint",
];

/// Decodes hrPrinterDetectedErrorState into the names of the bits that are set.
pub fn error_state_names(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, byte) in bytes.iter().enumerate() {
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                let n = i * 8 + bit;
                out.push(
                    ERROR_STATE_BITS
                        .get(n)
                        .map(|s| (*s).to_string())
                        .unwrap_or_else(|| format!("bit{n}")),
                );
            }
        }
    }
    out
}

/// Encodes error names as hrPrinterDetectedErrorState (used by the simulator).
pub fn error_state_bytes(names: &[&str]) -> Vec<u8> {
    let mut bytes = vec![0u8; 2];
    for name in names {
        if let Some(n) = ERROR_STATE_BITS.iter().position(|b| b == name) {
            bytes[n / 8] |= 0x80 >> (n % 8);
        }
    }
    bytes
}

/// prtAlertSeverityLevel.
pub const ALERT_SEVERITY: &[(i64, &str)] = &[
    (1, "other"),
    (3, "critical"),
    (4, "warning"),
    (5, "warningBinaryChangeEvent"),
];

/// prtAlertGroup.
pub const ALERT_GROUP: &[(i64, &str)] = &[
    (1, "other"),
    (2, "unknown"),
    (3, "hostResourcesMIBStorageTable"),
    (4, "hostResourcesMIBDeviceTable"),
    (5, "generalPrinter"),
    (6, "cover"),
    (7, "localization"),
    (8, "input"),
    (9, "output"),
    (10, "marker"),
    (11, "markerSupplies"),
    (12, "markerColorant"),
    (13, "mediaPath"),
    (14, "channel"),
    (15, "interpreter"),
    (16, "consoleDisplayBuffer"),
    (17, "consoleLights"),
    (18, "alert"),
    (30, "finDevice"),
    (31, "finSupply"),
    (32, "finSupplyMediaInput"),
    (33, "finAttribute"),
];

/// prtAlertCode (PrtAlertCodeTC), the codes printers actually raise.
pub const ALERT_CODE: &[(i64, &str)] = &[
    (1, "other"),
    (2, "unknown"),
    (3, "coverOpen"),
    (4, "coverClosed"),
    (5, "interlockOpen"),
    (6, "interlockClosed"),
    (7, "configurationChange"),
    (8, "jam"),
    (9, "subunitMissing"),
    (10, "subunitLifeAlmostOver"),
    (11, "subunitLifeOver"),
    (12, "subunitAlmostEmpty"),
    (13, "subunitEmpty"),
    (14, "subunitAlmostFull"),
    (15, "subunitFull"),
    (16, "subunitNearLimit"),
    (17, "subunitAtLimit"),
    (18, "subunitOpened"),
    (19, "subunitClosed"),
    (20, "subunitTurnedOn"),
    (21, "subunitTurnedOff"),
    (22, "subunitOffline"),
    (23, "subunitPowerSaver"),
    (24, "subunitWarmingUp"),
    (25, "subunitAdded"),
    (26, "subunitRemoved"),
    (27, "subunitResourceAdded"),
    (28, "subunitResourceRemoved"),
    (29, "subunitRecoverableFailure"),
    (30, "subunitUnrecoverableFailure"),
    (501, "doorOpen"),
    (502, "doorClosed"),
    (503, "poweredUp"),
    (504, "poweredDown"),
    (505, "printerNMSReset"),
    (506, "printerManualReset"),
    (507, "printerReadyToPrint"),
    (801, "inputMediaTrayMissing"),
    (807, "inputMediaSupplyLow"),
    (808, "inputMediaSupplyEmpty"),
    (901, "outputMediaTrayMissing"),
    (902, "outputMediaTrayAlmostFull"),
    (903, "outputMediaTrayFull"),
    (1001, "markerFuserUnderTemperature"),
    (1002, "markerFuserOverTemperature"),
    (1005, "markerTonerEmpty"),
    (1006, "markerInkEmpty"),
    (1008, "markerTonerAlmostEmpty"),
    (1009, "markerInkAlmostEmpty"),
    (1011, "markerWasteTonerReceptacleAlmostFull"),
    (1012, "markerWasteInkReceptacleAlmostFull"),
    (1013, "markerWasteTonerReceptacleFull"),
    (1014, "markerWasteInkReceptacleFull"),
    (1015, "markerOpcLifeAlmostOver"),
    (1016, "markerOpcLifeOver"),
    (1017, "markerDeveloperAlmostEmpty"),
    (1018, "markerDeveloperEmpty"),
    (1019, "markerTonerCartridgeMissing"),
    (1301, "mediaPathMediaTrayMissing"),
    (1302, "mediaPathMediaTrayAlmostFull"),
    (1303, "mediaPathMediaTrayFull"),
];

/// Colour words found in supply descriptions, longest first so "light cyan" beats "cyan".
pub const COLOR_WORDS: &[&str] = &[
    "photo black",
    "matte black",
    "light black",
    "light light black",
    "light cyan",
    "light magenta",
    "vivid light magenta",
    "vivid magenta",
    "black",
    "cyan",
    "magenta",
    "yellow",
    "gray",
    "grey",
    "red",
    "green",
    "blue",
    "orange",
    "violet",
    "white",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bits_round_trip_by_name() {
        let bytes = error_state_bytes(&["jammed", "noToner", "overduePreventMaint"]);
        assert_eq!(bytes, vec![0b0001_0100, 0b0000_0010]);
        assert_eq!(
            error_state_names(&bytes),
            vec!["noToner", "jammed", "overduePreventMaint"]
        );
        assert_eq!(error_state_names(&[0x80]), vec!["lowPaper"]);
        assert_eq!(error_state_names(&[0, 0, 1]), vec!["bit23"]);
        assert!(error_state_names(&[]).is_empty());
    }

    #[test]
    fn every_oid_literal_parses() {
        for f in [
            sys_descr,
            sys_object_id,
            sys_uptime,
            if_phys_address,
            if_type,
            hr_device_type,
            hr_device_descr,
            hr_device_status,
            hr_printer_status,
            hr_printer_error_state,
            hr_device_printer,
            prt_general_serial,
            printer_mib,
            prt_marker_life_count,
            prt_marker_power_on_count,
            supply_colorant_index,
            supply_class,
            supply_type,
            supply_description,
            supply_unit,
            supply_max_capacity,
            supply_level,
            colorant_value,
            alert_severity,
            alert_group,
            alert_code,
            alert_description,
        ] {
            assert!(f().len() > 6);
        }
        assert_eq!(name_of(SUPPLY_TYPES, 4, "type"), "wasteToner");
        assert_eq!(name_of(SUPPLY_TYPES, 99, "type"), "type99");
    }
}
