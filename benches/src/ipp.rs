//! The fleet benchmark's IPP rows: what a steady IPP poll costs on the wire and in the
//! collector's CPU, against a real IPP Everywhere printer (CUPS's `ippeveprinter`, which
//! the benchmark starts), over `ipp://` and `ipps://`. Several clients, each a printer's
//! as the collector keeps it, poll the one printer in turn on their kept connections; a
//! client's first poll (the connection and, over `ipps://`, the TLS handshake) is
//! reported apart from the steady ones.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use agent_core::ipp::{IppClient, IppUri, Trust};
use anyhow::{Context, Result};

use crate::process::usage;

/// One way's figures.
#[derive(Debug, Clone, Default)]
pub struct IppFigures {
    /// `ipp` or `ipps`.
    pub way: &'static str,
    /// Clients, each with its own kept connection.
    pub clients: usize,
    /// Steady polls measured.
    pub polls: u64,
    /// Bytes both ways of a client's first poll, the new connection's handshakes included.
    pub first_poll_bytes: f64,
    /// Bytes both ways per steady poll (TCP payload: HTTP and, over `ipps://`, TLS).
    pub bytes_per_poll: f64,
    /// Requests per steady poll.
    pub round_trips_per_poll: f64,
    /// New connections per steady poll (0 when every connection was kept).
    pub reconnects_per_poll: f64,
    /// This process's CPU (user and system) per steady poll, in microseconds.
    pub cpu_us_per_poll: f64,
    /// Steady polls a second, all clients together.
    pub polls_per_s: f64,
    /// Polls that failed.
    pub failed: u64,
}

/// Polls the printer at `addr` with `clients` clients, `cycles` steady polls each after
/// a first one, over plain IPP and over IPPS.
pub async fn measure(addr: SocketAddr, clients: usize, cycles: usize) -> Result<Vec<IppFigures>> {
    let mut all = Vec::new();
    for secure in [false, true] {
        all.push(one_way(addr, secure, clients, cycles).await?);
    }
    Ok(all)
}

async fn one_way(
    addr: SocketAddr,
    secure: bool,
    clients: usize,
    cycles: usize,
) -> Result<IppFigures> {
    let uri = IppUri::everywhere(addr, secure);
    let mut first_bytes = 0u64;
    let mut pool = Vec::new();
    for _ in 0..clients {
        let mut c = IppClient::new(
            uri.clone(),
            addr,
            Trust::FirstUse(None),
            Duration::from_secs(10),
        );
        let (_, cost) = agent_core::ipp::poll(&mut c, &uri.to_string())
            .await
            .with_context(|| format!("the first poll of {uri}"))?;
        first_bytes += cost.bytes_sent + cost.bytes_received;
        pool.push(c);
    }
    let me = std::process::id();
    let cpu0 = usage(me).context("this process's usage")?.cpu_seconds;
    let t0 = Instant::now();
    let address = uri.to_string();
    let mut tasks = tokio::task::JoinSet::new();
    for mut c in pool {
        let address = address.clone();
        tasks.spawn(async move {
            let mut totals = (0u64, 0u64, 0u64, 0u64, 0u64);
            for _ in 0..cycles {
                match agent_core::ipp::poll(&mut c, &address).await {
                    Ok((_, cost)) => {
                        totals.0 += cost.bytes_sent + cost.bytes_received;
                        totals.1 += u64::from(cost.round_trips);
                        totals.2 += u64::from(cost.connected);
                        totals.3 += 1;
                    }
                    Err(_) => totals.4 += 1,
                }
            }
            totals
        });
    }
    let (mut bytes, mut trips, mut reconnects, mut polls, mut failed) = (0, 0, 0, 0, 0);
    while let Some(t) = tasks.join_next().await {
        let t = t.context("a polling task")?;
        bytes += t.0;
        trips += t.1;
        reconnects += t.2;
        polls += t.3;
        failed += t.4;
    }
    let seconds = t0.elapsed().as_secs_f64();
    let cpu1 = usage(me).context("this process's usage")?.cpu_seconds;
    let per = |x: u64| x as f64 / polls.max(1) as f64;
    Ok(IppFigures {
        way: if secure { "ipps" } else { "ipp" },
        clients,
        polls,
        first_poll_bytes: first_bytes as f64 / clients.max(1) as f64,
        bytes_per_poll: per(bytes),
        round_trips_per_poll: per(trips),
        reconnects_per_poll: per(reconnects),
        cpu_us_per_poll: (cpu1 - cpu0) * 1e6 / polls.max(1) as f64,
        polls_per_s: polls as f64 / seconds.max(f64::MIN_POSITIVE),
        failed,
    })
}

/// The rows, in the fleet benchmark's markdown; `snmp_bytes` is a steady v2c poll's bytes
/// from the same run, for comparison, when the run measured one.
pub fn table(figures: &[IppFigures], snmp_bytes: Option<f64>) -> String {
    let mut t = String::from(
        "\nOne IPP Everywhere printer (CUPS's ippeveprinter) polled steadily by clients that each keep their connection, as the collector keeps one per printer:\n\n",
    );
    t.push_str("| way | clients | steady polls | first poll (new connection) | B/poll | round trips/poll | new connections/poll | CPU per poll | polls/s | failed |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for f in figures {
        t.push_str(&format!(
            "| {} | {} | {} | {:.0} B | {:.0} | {:.2} | {:.2} | {:.0} µs | {:.0} | {} |\n",
            f.way,
            f.clients,
            f.polls,
            f.first_poll_bytes,
            f.bytes_per_poll,
            f.round_trips_per_poll,
            f.reconnects_per_poll,
            f.cpu_us_per_poll,
            f.polls_per_s,
            f.failed,
        ));
    }
    if let Some(snmp) = snmp_bytes {
        t.push_str(&format!(
            "\nA steady SNMP v2c poll in the same run: {snmp:.0} B in two round trips.\n"
        ));
    }
    t
}
