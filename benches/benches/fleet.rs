//! The fleet benchmark: 1,000, 2,000, 5,000 and 10,000 simulated printers on loopback, one
//! collector, one coordinator, and net-snmp's `snmpbulkwalk` as the baseline, with the /16
//! discovery sweep; a markdown table on stdout and in target/fleet-bench.md.
//!
//! Run: `cargo bench -p printwatch-benches --bench fleet`. PRINTWATCH_FLEET_SIZES=1000,2000
//! picks the sizes; PRINTWATCH_FLEET_POLLERS the collector's pool (default 256);
//! PRINTWATCH_FLEET_COORDINATOR a program to run as the coordinator instead (a profiler's
//! wrapper that execs `fleet-coordinator`); PRINTWATCH_FLEET_ONLY=ingest stops each size
//! after the drains (no SNMPv3, no baseline, no discovery, no IPP), and
//! PRINTWATCH_FLEET_ONLY=ipp runs only the IPP rows. The IPP rows need `ippeveprinter`
//! (Debian's cups-ipp-utils, with avahi-daemon and a system D-Bus, which it starts as
//! root); without it they are left out, and the table says so.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench that cannot run stops

use anyhow::{Context, Result};
use printwatch_benches::{discovery, fleet, ipp};

fn main() -> Result<()> {
    let nodes = fleet::Nodes {
        collector: env!("CARGO_BIN_EXE_fleet-collector").into(),
        // A wrapper that runs it under a profiler may stand in (it must exec the program,
        // keeping its pid, which the benchmark reads and kills).
        coordinator: std::env::var_os("PRINTWATCH_FLEET_COORDINATOR").map_or_else(
            || env!("CARGO_BIN_EXE_fleet-coordinator").into(),
            Into::into,
        ),
    };
    let sizes: Vec<usize> = std::env::var("PRINTWATCH_FLEET_SIZES")
        .unwrap_or_else(|_| "1000,2000,5000,10000".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .context("PRINTWATCH_FLEET_SIZES: numbers, comma-separated")
        })
        .collect::<Result<_>>()?;
    let pollers: usize = match std::env::var("PRINTWATCH_FLEET_POLLERS") {
        Ok(p) => p.parse().context("PRINTWATCH_FLEET_POLLERS")?,
        Err(_) => 256,
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Runtime::new()?;
    let mut figures = Vec::new();
    let sizes = if fleet::ipp_only() { Vec::new() } else { sizes };
    for (i, n) in sizes.iter().enumerate() {
        eprintln!("fleet benchmark: {n} printers ...");
        let f = rt.block_on(fleet::measure(&nodes, *n, 120 + i as u8, pollers))?;
        eprintln!("{f:?}");
        figures.push(f);
    }
    let d = if fleet::ingest_only() || fleet::ipp_only() {
        None
    } else {
        eprintln!("fleet benchmark: discovery of a /16 ...");
        Some(rt.block_on(discovery::measure())?)
    };
    let mut table = if figures.is_empty() {
        String::new()
    } else {
        fleet::table(&figures, d.as_ref())
    };
    if !fleet::ingest_only() {
        table.push_str(&ipp_rows(&rt, figures.last().map(|f| f.bytes_per_poll))?);
    }
    println!("{table}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fleet-bench.md");
    std::fs::write(&out, &table).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("written to {}", out.display());
    Ok(())
}

/// The IPP rows, against an ippeveprinter this starts; left out, saying so, where it is
/// not installed.
fn ipp_rows(rt: &tokio::runtime::Runtime, snmp_bytes: Option<f64>) -> Result<String> {
    let installed = std::process::Command::new("ippeveprinter")
        .arg("--version")
        .output()
        .is_ok();
    if !installed {
        eprintln!("fleet benchmark: no ippeveprinter (Debian's cups-ipp-utils): the IPP rows are left out");
        return Ok("
IPP: not measured (no ippeveprinter here; Debian's cups-ipp-utils).
"
        .into());
    }
    eprintln!("fleet benchmark: IPP steady polls against ippeveprinter ...");
    let eve = printwatch_tests::ippeve::start("bench");
    let figures = rt.block_on(ipp::measure(eve.addr, 20, 100))?;
    eprintln!("{figures:?}");
    Ok(ipp::table(&figures, snmp_bytes))
}
