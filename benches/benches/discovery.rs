//! The discovery benchmark: sweep a /16 on loopback holding 1,000 simulated printers at the
//! default rate, and report the time, the packets and the bytes as a markdown table.
//!
//! Run: `cargo bench -p printwatch-benches --bench discovery`. The target (issue 3): under
//! 30 s on the 2-core development machine, with the simulator on the same machine.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench that cannot run stops

fn main() -> std::io::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    let s = rt.block_on(printwatch_benches::discovery::measure())?;
    let verdict = if s.seconds < 30.0 && s.printers == 1_000 {
        "yes"
    } else {
        "NO"
    };
    println!(
        "| discovery of a /16, 1,000 printers, {} pps | value |",
        s.rate
    );
    println!("|---|---|");
    println!("| time | {:.1} s (target < 30 s: {verdict}) |", s.seconds);
    println!("| addresses probed | {} |", s.probed);
    println!("| printers found / read | {} / {} |", s.printers, s.read);
    println!(
        "| probe packets sent | {} ({:.2} per address) |",
        s.requests,
        s.requests as f64 / s.probed.max(1) as f64
    );
    println!(
        "| probe bytes sent / received | {} / {} |",
        s.bytes_sent, s.bytes_received
    );
    println!(
        "| probe bytes per printer (request + answer) | {:.0} (budget 978) |",
        s.bytes_per_printer
    );
    println!(
        "| first readings: requests / bytes | {} / {} |",
        s.read_requests, s.read_bytes
    );
    Ok(())
}
