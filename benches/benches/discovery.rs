//! The discovery benchmark: sweep a /16 on loopback holding 1,000 simulated printers at the
//! default rate, and report the time, the packets and the bytes as a markdown table.
//!
//! Run: `cargo bench -p printwatch-benches --bench discovery`. The target (issue 3): under
//! 30 s on the 2-core development machine, with the simulator on the same machine.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use agent_core::discover::{sweep, SweepConfig, SweepStats, DEFAULT_RATE};
use agent_core::message::Version;
use agent_core::sim::{serve, synthetic};
use agent_core::transport::{Transport, TransportConfig};

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let base = u32::from(Ipv4Addr::new(127, 98, 0, 0));
        let devices = (0..1_000u32)
            .map(|i| {
                let a = Ipv4Addr::from(base + 1 + (i * 65) % 65_534);
                (SocketAddr::from((a, 16161)), synthetic::printer(98, i))
            })
            .collect();
        let sim = serve(devices)
            .await
            .expect("binding 1,000 simulated printers");
        let transport = Transport::bind(TransportConfig {
            max_pps: Some(DEFAULT_RATE),
            ..Default::default()
        })
        .await
        .expect("sockets");
        let config = SweepConfig {
            addresses: (1..=65_534u32).map(|i| Ipv4Addr::from(base + i)).collect(),
            port: 16161,
            communities: vec!["public".into()],
            version: Version::V2c,
            timeout: Duration::from_secs(1),
            retries: 0,
            read_printers: true,
            rate: DEFAULT_RATE,
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let drain = tokio::spawn(async move {
            let mut n = 0u64;
            let mut read_bytes = 0u64;
            let mut read_requests = 0u64;
            while let Some(f) = rx.recv().await {
                let f: agent_core::discover::Found = f;
                if let Some(r) = &f.reading {
                    read_bytes += r.bytes_sent + r.bytes_received;
                    read_requests += u64::from(r.round_trips);
                }
                n += 1;
            }
            (n, read_bytes, read_requests)
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
        let (found, read_bytes, read_requests) = drain.await.expect("drain");
        let totals = transport.totals();
        drop(sim);
        let verdict = if s.seconds < 30.0 && s.printers == 1_000 {
            "yes"
        } else {
            "NO"
        };
        println!("| discovery of a /16, 1,000 printers, {DEFAULT_RATE} pps | value |");
        println!("|---|---|");
        println!("| time | {:.1} s (target < 30 s: {verdict}) |", s.seconds);
        println!("| addresses probed | {} |", s.probed);
        println!("| printers found / read | {} / {found} |", s.printers);
        println!(
            "| probe packets sent | {} ({:.2} per address) |",
            s.requests,
            s.requests as f64 / s.probed as f64
        );
        println!(
            "| probe bytes sent / received | {} / {} |",
            s.bytes_sent, s.bytes_received
        );
        // Every probe is the same request, so a printer's share is one request plus its answer.
        let per_probe = s.bytes_sent as f64 / s.requests.max(1) as f64;
        let per_printer =
            per_probe + s.bytes_received as f64 / (s.printers + s.others).max(1) as f64;
        println!("| probe bytes per printer (request + answer) | {per_printer:.0} (budget 978) |");
        println!("| first readings: requests / bytes | {read_requests} / {read_bytes} |");
        println!(
            "| all packets sent / received | {} / {} |",
            totals.packets_sent, totals.packets_received
        );
    });
}
