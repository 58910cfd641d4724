//! Finding IPP printers among addresses that gave no SNMP answer: a TCP connection to
//! each one's IPP port, paced and bounded in time, and a Get-Printer-Attributes where
//! something listens (`ipps://` first, then `ipp://`). A printer whose SNMP is off is
//! found this way; anything else (a closed port, a web server that is not a printer)
//! costs one refused or unanswered connection.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;

use super::uri::IppUri;
use super::{Fingerprint, IppClient, Trust};
use crate::model::Reading;
use crate::range::SpanSet;

/// How to look for IPP printers.
#[derive(Debug, Clone)]
pub struct IppSweepConfig {
    /// The TCP port to ask (631 on every printer we know of).
    pub port: u16,
    /// The whole exchange with one address, connection included.
    pub timeout: Duration,
    /// No address is started after this long: the sweep's stated cost.
    pub budget: Duration,
    /// Connections started per second, at most.
    pub rate: u32,
    /// Addresses asked at once, at most.
    pub concurrency: usize,
}

/// A printer found over IPP.
#[derive(Debug, Clone)]
pub struct IppFound {
    /// The URI that answered.
    pub uri: IppUri,
    /// Its first reading.
    pub reading: Reading,
    /// Its certificate's fingerprint, when it answered over `ipps://` (not checked: to
    /// compare with the printer's own page, or pin).
    pub certificate: Option<Fingerprint>,
}

impl IppSweepConfig {
    /// The IPP part of an SNMP sweep probing at `rate` with `probe_timeout`: the same rate,
    /// at least 2 s an address (a TLS handshake and an answer), 64 addresses at once.
    pub fn after_snmp(port: u16, budget: Duration, rate: u32, probe_timeout: Duration) -> Self {
        IppSweepConfig {
            port,
            timeout: probe_timeout.max(Duration::from_secs(2)),
            budget,
            rate,
            concurrency: 64,
        }
    }
}

/// What the sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct IppSweepSummary {
    /// Addresses asked.
    pub probed: u64,
    /// Printers found.
    pub found: u64,
    /// Addresses left unasked when the budget ran out.
    pub not_probed: u64,
    /// Bytes sent and received over all connections.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
}

/// Asks each address of `swept` that is not in `answered` (what gave an SNMP answer) over
/// IPP, sending each printer found to `found`.
pub async fn sweep(
    swept: &SpanSet,
    answered: &HashSet<Ipv4Addr>,
    config: &IppSweepConfig,
    found: UnboundedSender<IppFound>,
) -> IppSweepSummary {
    let addresses = swept.iter().filter(|ip| !answered.contains(ip));
    let started = Instant::now();
    let mut summary = IppSweepSummary::default();
    let mut pace =
        tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(config.rate.max(1))));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut running: JoinSet<(Option<IppFound>, u64, u64)> = JoinSet::new();
    let mut addresses = addresses.peekable();
    while addresses.peek().is_some() {
        if started.elapsed() >= config.budget {
            summary.not_probed = addresses.count() as u64;
            break;
        }
        while running.len() >= config.concurrency.max(1) {
            if let Some(Ok(done)) = running.join_next().await {
                tally(&mut summary, done, &found);
            }
        }
        pace.tick().await;
        let Some(ip) = addresses.next() else { break };
        summary.probed += 1;
        let (port, timeout) = (config.port, config.timeout);
        running.spawn(async move { ask(ip, port, timeout).await });
    }
    while let Some(done) = running.join_next().await {
        if let Ok(done) = done {
            tally(&mut summary, done, &found);
        }
    }
    summary
}

fn tally(
    summary: &mut IppSweepSummary,
    (printer, sent, received): (Option<IppFound>, u64, u64),
    found: &UnboundedSender<IppFound>,
) {
    summary.bytes_sent += sent;
    summary.bytes_received += received;
    if let Some(p) = printer {
        summary.found += 1;
        let _ = found.send(p);
    }
}

/// One address: `ipps://`, then `ipp://` unless nothing listens at all. The printer, and
/// the bytes both ways.
async fn ask(ip: Ipv4Addr, port: u16, timeout: Duration) -> (Option<IppFound>, u64, u64) {
    let clients = [true, false]
        .into_iter()
        .map(|secure| {
            let at = SocketAddr::from((ip, port));
            IppClient::new(
                IppUri::everywhere(at, secure),
                at,
                Trust::FirstUse(None),
                timeout,
            )
        })
        .collect();
    let (mut sent, mut received) = (0, 0);
    let found = super::first_way(clients, |_, result, _| {
        if let Ok((_, cost)) = result {
            sent += cost.bytes_sent;
            received += cost.bytes_received;
        }
    })
    .await;
    let printer = found.map(|(client, reading)| IppFound {
        uri: client.uri().clone(),
        certificate: client.certificate(),
        reading,
    });
    (printer, sent, received)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Closed ports cost a refused connection each and find nothing; the budget stops
    /// the sweep from starting more.
    #[tokio::test]
    async fn closed_ports_find_nothing_and_the_budget_bounds_the_sweep() {
        // A port nothing listens on: bound, then closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(1);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let config = IppSweepConfig {
            port,
            timeout: Duration::from_millis(500),
            budget: Duration::from_secs(10),
            rate: 1_000,
            concurrency: 8,
        };
        let ips: SpanSet = (1..=20u8).map(|n| Ipv4Addr::new(127, 0, 0, n)).collect();
        // One answered SNMP: it is not asked.
        let answered = HashSet::from([Ipv4Addr::new(127, 0, 0, 20)]);
        let s = sweep(&ips, &answered, &config, tx).await;
        assert_eq!((s.probed, s.found, s.not_probed), (19, 0, 0));
        assert!(rx.try_recv().is_err());

        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let none = IppSweepConfig {
            budget: Duration::ZERO,
            ..config
        };
        let s = sweep(&ips, &HashSet::new(), &none, tx).await;
        assert_eq!((s.probed, s.not_probed), (0, 20));
    }
}
