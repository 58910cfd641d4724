//! printwatch-coordinator: the on-prem server that merges every site's readings.
//!
//! The gRPC services, the store and alerting are not built yet (the fleet issue); until
//! then this binary says so instead of pretending to serve.

use clap::Parser;

/// The printwatch coordinator: receives readings from collectors over mutual-TLS gRPC,
/// keeps the fleet in sled, raises alerts and serves operators.
///
/// Not available in this release: the collector and fleet services are being built. Use
/// `printwatch-collector poll` to read printers, and `printwatch demo` to watch a
/// simulated fleet.
#[derive(Parser, Debug)]
#[command(name = "printwatch-coordinator", version)]
struct Args {
    /// The coordinator's TOML configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
}

fn main() {
    let _args = Args::parse();
    eprintln!("printwatch-coordinator: the coordinator service is not part of this release yet; see `printwatch-coordinator --help`");
    std::process::exit(2);
}
