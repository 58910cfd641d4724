//! printwatch-coordinator: the on-prem server that merges every site's readings.

printwatch_coordinator::tuned_heap!();

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use printwatch_coordinator::{config, service};

/// The printwatch coordinator: receives readings from collectors over mutual-TLS gRPC,
/// keeps the fleet in sled and serves operators.
///
/// Configuration comes from defaults, then the TOML file given with --config, then
/// PRINTWATCH_* variables (PRINTWATCH_LISTEN, PRINTWATCH_DATA_DIR, PRINTWATCH_TLS__CA, ...).
/// See deploy/coordinator.toml for every key. Make the certificates with
/// `printwatch certs init`.
///
/// Example:
///   printwatch-coordinator --config /etc/printwatch/coordinator.toml
#[derive(Parser, Debug)]
#[command(name = "printwatch-coordinator", version, verbatim_doc_comment)]
struct Args {
    /// The TOML configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn run() -> Result<()> {
    let args = Args::parse();
    let c = config::load(args.config.as_deref())?;
    printwatch_telemetry::logs::init(c.log_format)?;
    let shutdown = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
    };
    service::run(c, shutdown).await
}

fn main() -> std::process::ExitCode {
    agent_core::output::finish(run())
}
