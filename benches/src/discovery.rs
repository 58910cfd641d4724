//! The discovery benchmark: a /16 on loopback holding 1,000 simulated printers, swept at the
//! default rate. `cargo bench --bench discovery` prints it alone; the fleet benchmark adds it
//! to its table.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use agent_core::discover::{sweep, SweepConfig, SweepStats, DEFAULT_RATE};
use agent_core::sim::{serve, synthetic};
use agent_core::transport::{Security, Transport, TransportConfig};

/// What one sweep of the /16 cost.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiscoveryFigures {
    /// Printers served.
    pub printers_served: u64,
    /// The sweep's wall time.
    pub seconds: f64,
    /// Addresses probed.
    pub probed: u64,
    /// Printers found.
    pub printers: u64,
    /// Printers found and read.
    pub read: u64,
    /// Probe datagrams sent.
    pub requests: u64,
    /// Probe bytes sent and received.
    pub bytes_sent: u64,
    /// Probe bytes received.
    pub bytes_received: u64,
    /// Probe bytes per printer: its request and its answer.
    pub bytes_per_printer: f64,
    /// The first readings' requests and bytes.
    pub read_requests: u64,
    /// The first readings' bytes.
    pub read_bytes: u64,
    /// The probe rate, packets per second.
    pub rate: u32,
}

/// Sweeps 127.98.0.0/16 with 1,000 simulated printers in it.
pub async fn measure() -> std::io::Result<DiscoveryFigures> {
    let base = u32::from(Ipv4Addr::new(127, 98, 0, 0));
    let devices = (0..1_000u32)
        .map(|i| {
            let a = Ipv4Addr::from(base + 1 + (i * 65) % 65_534);
            (SocketAddr::from((a, 16161)), synthetic::printer(98, i))
        })
        .collect();
    let sim = serve(devices).await?;
    let transport = Transport::bind(TransportConfig {
        max_pps: Some(DEFAULT_RATE),
        ..Default::default()
    })
    .await?;
    let config = SweepConfig {
        addresses: (1..=65_534u32).map(|i| Ipv4Addr::from(base + i)).collect(),
        port: 16161,
        credentials: vec![Security::v2c("public")],
        timeout: Duration::from_secs(1),
        retries: 0,
        read_printers: true,
        rate: DEFAULT_RATE,
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let drain = tokio::spawn(async move {
        let (mut n, mut bytes, mut requests) = (0u64, 0u64, 0u64);
        while let Some(f) = rx.recv().await {
            let f: agent_core::discover::Found = f;
            if let Some(r) = &f.reading {
                bytes += r.bytes_sent + r.bytes_received;
                requests += u64::from(r.round_trips);
            }
            n += 1;
        }
        (n, bytes, requests)
    });
    let in_flight = (DEFAULT_RATE as usize) * 2;
    let s = sweep(
        transport.clone(),
        config,
        in_flight,
        Arc::new(SweepStats::default()),
        tx,
        std::future::pending(),
    )
    .await;
    let (read, read_bytes, read_requests) = drain.await.map_err(std::io::Error::other)?;
    drop(sim);
    // Every probe is the same request, so a printer's share is one request plus its answer.
    let per_probe = s.bytes_sent as f64 / s.requests.max(1) as f64;
    let bytes_per_printer =
        per_probe + s.bytes_received as f64 / (s.printers + s.others).max(1) as f64;
    Ok(DiscoveryFigures {
        printers_served: 1_000,
        seconds: s.seconds,
        probed: s.probed,
        printers: s.printers,
        read,
        requests: s.requests,
        bytes_sent: s.bytes_sent,
        bytes_received: s.bytes_received,
        bytes_per_printer,
        read_requests,
        read_bytes,
        rate: DEFAULT_RATE,
    })
}
