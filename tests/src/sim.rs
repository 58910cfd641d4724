//! Simulated printers made quiet for a test about one thing: every supply full, no
//! standing alert (some synthetic printers have a paper jam), no drift between polls.

use agent_core::message::Value;
use agent_core::mib;
use agent_core::oid::Oid;
use agent_core::sim::SimDevice;

/// `d` with every supply at its maximum capacity, no prtAlertTable and no synthetic
/// drift: what a test then sets is the only thing that changes.
pub fn steady(mut d: SimDevice) -> SimDevice {
    d.synthetic = None;
    let max = mib::supply_max_capacity();
    let full: Vec<(Oid, Value)> = d
        .view
        .iter()
        .filter(|(o, _)| o.starts_with(&max))
        .map(|(o, v)| {
            let row = &o.arcs()[max.arcs().len()..];
            (mib::supply_level().child(row), v.clone())
        })
        .collect();
    d.view.extend(full);
    // prtAlertTable.
    let alert_table = mib::printer_mib().child(&[18]);
    d.view.retain(|o, _| !o.starts_with(&alert_table));
    d
}
