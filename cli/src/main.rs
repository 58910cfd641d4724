//! printwatch: the operator's command line.

mod certs;
mod client;
mod demo;
mod export;
mod fleet;
mod fleet_view;
mod users;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// printwatch: watch a fleet of network printers and keep them supplied.
#[derive(Parser, Debug)]
#[command(name = "printwatch", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    connect: client::ConnectArgs,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Watch a whole fleet live: a coordinator, two collectors and simulated printers, all on
    /// loopback.
    ///
    /// Makes certificates in a temporary directory, starts a coordinator (mutual-TLS gRPC,
    /// sled), two collectors for the sites "north" and "south", and synthetic printers of
    /// many brands (their supplies drain as they print, some jam, one in 25 is switched
    /// off, one is reachable from both sites and is one device). Every --interval it redraws
    /// the fleet as the coordinator holds it, most urgent first, until Ctrl-C. Nothing leaves
    /// the machine; everything is removed at the end. In a pipe it prints one table per cycle.
    ///
    /// Examples:
    ///   printwatch demo
    ///   printwatch demo --printers 200 --interval 1s
    ///   printwatch demo --cycles 3 | less
    #[command(verbatim_doc_comment)]
    Demo(demo::DemoArgs),
    /// Make the fleet's certificates: its own CA, and certificates issued by it.
    #[command(subcommand)]
    Certs(certs::CertsCommand),
    /// Who may sign in to the dashboard: add, list, remove users, set a password.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// List the fleet's devices: one line per printer, however many addresses or sites saw it.
    ///
    /// Examples:
    ///   printwatch devices --pki /etc/printwatch/pki --coordinator https://pw.example.lan:7443
    ///   printwatch devices --site hq --json | jq -r '.id'
    #[command(verbatim_doc_comment)]
    Devices {
        /// Only this site's devices.
        #[arg(long)]
        site: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Show one device: identity, every supply, meters, status.
    Device {
        /// The device id (from `printwatch devices`).
        id: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List supplies across the fleet, lowest first, each with its forecast: the days
    /// until it is empty from its history of levels, or "not enough data".
    ///
    /// Examples:
    ///   printwatch supplies --low
    ///   printwatch supplies --site branch1 --json
    #[command(verbatim_doc_comment)]
    Supplies {
        /// Only supplies at or under their reorder point, or empty.
        #[arg(long)]
        low: bool,
        /// Only this site's.
        #[arg(long)]
        site: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Ask a site's collector to poll a printer from now on: over SNMP by its address, or
    /// over IPP by its URI where its SNMP is off or says little (ipps:// trusts the
    /// printer's first certificate and pins it on the collector).
    ///
    /// Example:
    ///   printwatch add hq 10.1.2.7
    ///   printwatch add branch1 printer9.example.lan --community site7
    ///   printwatch add hq ipps://10.1.2.8/ipp/print
    #[command(verbatim_doc_comment)]
    Add {
        /// The site whose collector should poll it.
        site: String,
        /// Its address or host name, with an optional :port (SNMP), or its
        /// ipp://HOST[:PORT]/PATH or ipps://... URI (IPP).
        host: String,
        /// Its community, when not the collector's default.
        #[arg(long, default_value = "")]
        community: String,
    },
    /// Ask the collector of a device's site to stop polling it.
    Remove {
        /// The device id (from `printwatch devices`).
        id: String,
    },
    /// Give a device to another site. A printer belongs to the site that first reported
    /// it; another site's readings of it are only shown as conflicts (`printwatch device
    /// ID`) and change nothing, so a site's certificate cannot take over another's
    /// printers. When a printer really moved, move it here: from then on the new site's
    /// readings are its own.
    ///
    /// Example:
    ///   printwatch move sn:CNB1234567 branch1
    #[command(verbatim_doc_comment)]
    Move {
        /// The device id (from `printwatch devices`).
        id: String,
        /// The site it belongs to from now on.
        site: String,
    },
    /// Ask a site's collector to sweep ranges for printers; what it finds joins the fleet.
    ///
    /// Examples:
    ///   printwatch discover hq 10.1.0.0/22 --exclude 10.1.3.0/24
    ///   printwatch discover branch1 10.2.0.0/24 -c public -c site7 --rate 500
    ///   printwatch discover hq 10.0.0.0/12 --large
    ///   printwatch discover hq 10.4.0.0/24 --ipp --ipp-budget 2m   # printers with SNMP off too
    ///   printwatch discover hq --cancel
    #[command(verbatim_doc_comment)]
    Discover {
        /// The site whose collector sweeps.
        site: String,
        /// CIDR blocks, spans (a.b.c.d-e.f.g.h), addresses or host names.
        #[arg(required_unless_present = "cancel")]
        ranges: Vec<String>,
        /// Addresses to leave alone.
        #[arg(long)]
        exclude: Vec<String>,
        /// Communities to try, in order (default: the collector's).
        #[arg(long, short = 'c')]
        community: Vec<String>,
        /// Probes per second (default: the collector's).
        #[arg(long, default_value_t = 0)]
        rate: u32,
        /// SNMP port (default 161).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Allow more than a /16 (65,536 addresses): a large sweep takes hours at the
        /// default rate.
        #[arg(long)]
        large: bool,
        /// Stop the site's running sweeps instead; each reports what it found so far.
        #[arg(long, conflicts_with_all = ["ranges", "large"])]
        cancel: bool,
        /// Then ask the addresses that gave no SNMP answer over IPP (port 631), for
        /// printers whose SNMP is off; each one found is polled over IPP from then on.
        #[arg(long, conflicts_with = "cancel")]
        ipp: bool,
        /// How long the IPP part may take: no address is asked after it.
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, requires = "ipp")]
        ipp_budget: Option<std::time::Duration>,
    },
    /// The alerts the coordinator opened: supplies low or empty, waste full, jams, open
    /// doors, no paper, service requested, offline or unreachable printers, silent
    /// collectors, missed meter reads. Open ones, newest first; --all adds closed ones.
    ///
    /// Examples:
    ///   printwatch alerts
    ///   printwatch alerts --all --json | jq -r 'select(.kind == "supply_low") | .printer'
    #[command(verbatim_doc_comment)]
    Alerts {
        /// Closed alerts too.
        #[arg(long)]
        all: bool,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Per printer, its usage (pages on each meter, supply used, supplies replaced) and
    /// its problems (every alert) over a period, for a service technician.
    ///
    /// Examples:
    ///   printwatch export --csv > fleet.csv
    ///   printwatch export --csv --since 2026-10-01T00:00:00Z
    #[command(verbatim_doc_comment)]
    Export {
        /// CSV with a header line (the default); the only other form is --json.
        #[arg(long, conflicts_with = "json")]
        csv: bool,
        /// From this time on: RFC 3339 (2026-10-01T00:00:00Z) or an age (30d, 12h);
        /// default: all retained history.
        #[arg(long, value_parser = parse_since)]
        since: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Follow the fleet live: every reading stored, every collector connecting or leaving,
    /// one line each, until Ctrl-C.
    ///
    /// Example:
    ///   printwatch watch --json | jq -c 'select(.device_updated) | .device_updated.id'
    #[command(verbatim_doc_comment)]
    Watch {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// A device's readings over time.
    History {
        /// The device id.
        id: String,
        /// Only readings since this time: RFC 3339 (2026-11-01T00:00:00Z) or an age
        /// (7d, 12h, 90min).
        #[arg(long, value_parser = parse_since)]
        since: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

/// `--since`: an RFC 3339 time as given, or an age turned into the time that long ago.
fn parse_since(text: &str) -> Result<String, String> {
    if humantime::parse_rfc3339_weak(text).is_ok() {
        return Ok(text.to_string());
    }
    let age = humantime::parse_duration(text).map_err(|_| {
        format!("{text:?} is neither a time (2026-11-01T00:00:00Z) nor an age (7d, 12h)")
    })?;
    let then = std::time::SystemTime::now()
        .checked_sub(age)
        .ok_or_else(|| format!("{text:?} is further back than the clock goes"))?;
    Ok(humantime::format_rfc3339(then).to_string())
}

#[tokio::main]
async fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo(args) => demo::run(args).await,
        Command::Certs(cmd) => certs::run(cmd),
        Command::Users(cmd) => users::run(cmd, &cli.connect).await,
        other => fleet::run(other, &cli.connect).await,
    }
}

printwatch_coordinator::tuned_heap!();

/// The demo's temporary directory, removed after the runtime has stopped.
static DEMO_DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

fn main() -> std::process::ExitCode {
    let result = run();
    if let Some(dir) = DEMO_DIR.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
    agent_core::output::finish(result)
}
