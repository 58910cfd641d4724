//! Is this SNMP agent a printer? One small GET, and one GETNEXT only when the GET is unsure.
//!
//! Discovery sends this to every live address, so it must be cheap: sysObjectID, sysDescr,
//! hrDeviceType.1 and prtGeneralSerialNumber.1 in one request. A printer whose printer row
//! is not hrDeviceIndex 1 is caught by one GETNEXT into the Printer-MIB.

use crate::decode::{self, Varbinds};
use crate::mib;
use crate::session::Session;
use crate::transport::SnmpError;

/// What answered at an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceClass {
    /// hrDeviceType says printer, or the Printer-MIB has rows.
    Printer,
    /// An SNMP agent that is not a printer.
    Other,
}

/// The probe's answer: the class and the variables it saw.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Printer or not.
    pub class: DeviceClass,
    /// sysObjectID, sysDescr and whatever else the probe read.
    pub vars: Varbinds,
}

/// Classifies the agent behind `session`.
pub async fn probe(session: &mut Session) -> Result<Probe, SnmpError> {
    let mut vars: Varbinds = session
        .get(&[
            mib::sys_object_id(),
            mib::sys_descr(),
            mib::hr_device_type().child(&[1]),
            mib::prt_general_serial().child(&[1]),
        ])
        .await?
        .into_iter()
        .collect();
    if !decode::is_printer(&vars) {
        // One GETNEXT: any Printer-MIB row at all lands inside 1.3.6.1.2.1.43.
        session
            .walk(
                &[crate::session::Column::numeric(mib::printer_mib())
                    .expecting(0)
                    .at_most(1)],
                &mut vars,
            )
            .await?;
    }
    let class = if decode::is_printer(&vars) {
        DeviceClass::Printer
    } else {
        DeviceClass::Other
    };
    Ok(Probe { class, vars })
}
