//! Reading a printer over IPP (RFC 8011) where its SNMP is off or says little: the same
//! [`Reading`] from one Get-Printer-Attributes request.
//!
//! [`uri`] parses `ipp://` and `ipps://` addresses, [`message`] is the wire format (the
//! request, and a total decoder of the answer), [`client`] the kept-alive HTTP/1.1
//! connection with its limits and its trust in the printer's certificate, and [`reading`]
//! turns the printer's attributes into a [`Reading`].
//! [`sweep`] finds IPP printers among addresses SNMP did not answer.

pub mod client;
pub mod message;
pub mod reading;
pub mod sweep;
pub mod uri;

pub use client::{Cost, Failure, Fingerprint, IppClient, IppError, Trust};
pub use uri::IppUri;

use crate::model::Reading;

/// Reads the printer `client` talks to: one request (on its kept connection when it has
/// one), the reading with what it cost.
pub async fn poll(client: &mut IppClient, address: &str) -> Result<(Reading, Cost), IppError> {
    let (answer, cost) = client.get_printer_attributes(reading::REQUESTED).await?;
    let mut r = reading::reading(&answer.printer, address);
    r.polled_at = crate::poll::now_rfc3339();
    r.bytes_sent = cost.bytes_sent;
    r.bytes_received = cost.bytes_received;
    r.round_trips = cost.round_trips;
    Ok((r, cost))
}
