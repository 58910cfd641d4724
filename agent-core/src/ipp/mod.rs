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

/// Asks one printer each way in turn (`ipps://` first, as callers order them): the first
/// client that answers, with its reading. A way that finds nothing listening, or nothing
/// answering, ends the search: the next way is the same port. `tried` sees each attempt's
/// outcome, cost and time, for the caller's counts.
pub async fn first_way(
    clients: Vec<IppClient>,
    mut tried: impl FnMut(&str, &Result<(Reading, Cost), IppError>, std::time::Duration),
) -> Option<(IppClient, Reading)> {
    for mut client in clients {
        let started = std::time::Instant::now();
        let uri = client.uri().to_string();
        let result = poll(&mut client, &uri).await;
        tried(&uri, &result, started.elapsed());
        match result {
            Ok((reading, _)) => return Some((client, reading)),
            Err(e) if matches!(e.failure, Failure::Connect(_) | Failure::Timeout(_)) => break,
            Err(_) => {}
        }
    }
    None
}

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
