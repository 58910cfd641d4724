//! printwatch-collector: the site agent, and the commands that read printers on demand
//! (`poll`, `discover`) or look at its state (`outbox`, `pins`).

mod discover_cmd;

use std::time::Duration;

use agent_core::message::Version;
use agent_core::output::emit;
use agent_core::poll::first_poll;
use agent_core::session::Session;
use agent_core::transport::{Security, Target, Transport, TransportConfig};
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// The printwatch site agent: finds printers on a site's subnets and reads them over SNMP.
#[derive(Parser, Debug)]
#[command(name = "printwatch-collector", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Read printers now and print what they say: identity, supplies, meters, status.
    ///
    /// Each TARGET is a host name or address with an optional port (default 161), read
    /// over SNMP: `10.0.0.7`, `printer1`, `127.0.0.1:16161`, `[fe80::1]:161`; or an IPP
    /// printer's URI, read over IPP where SNMP is off or thin: `ipp://10.0.0.7/ipp/print`,
    /// `ipps://printer1:631/ipp/print` (TLS). Targets are read in parallel and printed in
    /// the order given. A target that fails is reported on stderr with the reason, the
    /// others still print, and the exit status is 1.
    ///
    /// Over ipps:// a printer's self-signed certificate is accepted and its SHA-256
    /// fingerprint printed on stderr, to compare with the printer's own page; --ipp-pin
    /// accepts only that certificate, --ipp-ca only those a CA signed.
    ///
    /// Examples:
    ///   printwatch-collector poll 10.0.0.7 10.0.0.8
    ///   printwatch-collector poll printer1 --community site7 --json | jq .supplies
    ///   printwatch-collector poll old-laser --snmp-version 1 --timeout 3s --retries 1
    ///   printwatch-collector poll ipps://10.0.0.9/ipp/print --ipp-pin 3f:a2:...:9c
    #[command(verbatim_doc_comment)]
    Poll(PollArgs),
    /// Find the printers on a site's subnets: one small request per address, at a bounded rate.
    ///
    /// Every address of the RANGEs (minus --exclude) gets one SNMP request per community,
    /// paced by --rate; the next community is tried only where the previous got no answer.
    /// Each answer is classified as a printer or another SNMP device, and each printer is
    /// read once (identity and a first reading) while the sweep goes on. It ends when every
    /// address has answered or timed out, at --time-limit, or at Ctrl-C, and then says why
    /// and what it found. On a terminal it shows progress; in a pipe only results.
    ///
    /// With --ipp, the addresses that gave no SNMP answer are then asked over IPP (port
    /// 631), for printers whose SNMP is off: one TCP connection each, none started after
    /// --ipp-budget (60 s unless given). Each printer found is printed with its URI, to
    /// give to `printwatch add`, and its certificate's fingerprint.
    ///
    /// Examples:
    ///   printwatch-collector discover 10.1.0.0/16 --exclude 10.1.200.0/24
    ///   printwatch-collector discover 10.2.0.0/22 -c public -c site7 --rate 500 --time-limit 5m
    ///   printwatch-collector discover printer7.example.lan 10.3.4.20-10.3.4.80 --json
    ///   printwatch-collector discover 10.4.0.0/24 --ipp --ipp-budget 2m
    ///   printwatch-collector discover            # this host's own subnets
    #[command(verbatim_doc_comment)]
    Discover(discover_cmd::DiscoverArgs),
    /// Run as the site's agent: poll the configured printers and stream every reading to
    /// the coordinator, storing each in the outbox first so nothing is lost.
    ///
    /// Configuration comes from defaults, the TOML file given with --config, then
    /// PRINTWATCH_* variables; deploy/collector.toml documents every key. Stop it with
    /// Ctrl-C or SIGTERM; whatever the coordinator has not acknowledged stays in the outbox
    /// and is sent when the collector runs again.
    ///
    /// Example:
    ///   printwatch-collector run --config /etc/printwatch/collector.toml
    #[command(verbatim_doc_comment)]
    Run {
        /// The TOML configuration file.
        #[arg(long, value_name = "FILE")]
        config: Option<std::path::PathBuf>,
    },
    /// Look at the outbox: what waits to be sent, what was set aside, and any damage with
    /// the envelopes it cost. It changes nothing and may run beside a running collector.
    ///
    /// Examples:
    ///   printwatch-collector outbox check --config /etc/printwatch/collector.toml
    ///   printwatch-collector outbox check --dir /var/lib/printwatch-collector
    #[command(verbatim_doc_comment)]
    Outbox {
        #[command(subcommand)]
        action: OutboxAction,
    },
    /// The certificates of ipps:// printers, pinned the first time each answered (as SSH
    /// does), and forgetting one after a printer was replaced or its certificate renewed.
    ///
    /// A printer that shows another certificate than its pinned one is not read, and the
    /// coordinator opens a certificate_changed alert. Compare the new fingerprint (in the
    /// alert) with the printer's own configuration page; when it is right, forget the old
    /// pin: the next poll trusts and pins the new one. It may run beside a running
    /// collector.
    ///
    /// Examples:
    ///   printwatch-collector pins --config /etc/printwatch/collector.toml
    ///   printwatch-collector pins --config /etc/printwatch/collector.toml --forget ipps://10.0.0.9/ipp/print
    #[command(verbatim_doc_comment)]
    Pins {
        /// The collector's configuration, whose data_dir holds the pins.
        #[arg(long, value_name = "FILE")]
        config: Option<std::path::PathBuf>,
        /// Forget this printer's pin (its URI as listed).
        #[arg(long, value_name = "URI")]
        forget: Option<String>,
    },
}

/// `pins`: lists the pinned certificates, or forgets one; false when there was none to
/// forget.
fn pins(config: Option<std::path::PathBuf>, forget: Option<String>) -> Result<bool> {
    let dir = printwatch_collector::config::load(config.as_deref())?.data_dir;
    let mut store = printwatch_collector::pins::PinStore::open(&dir)?;
    if let Some(uri) = forget {
        // Written as the collector writes it: the canonical form of the URI.
        let canonical = match uri.parse::<agent_core::ipp::IppUri>() {
            Ok(u) => u.to_string(),
            Err(_) => uri.clone(),
        };
        if store.forget(&canonical)? {
            println!("forgot the certificate pinned for {canonical}; its next poll pins the one it shows");
            return Ok(true);
        }
        eprintln!("no certificate is pinned for {canonical}");
        return Ok(false);
    }
    let mut any = false;
    for (uri, fingerprint) in store.all() {
        println!("{uri}  {fingerprint}");
        any = true;
    }
    if !any {
        println!("no certificates pinned in {}", dir.display());
    }
    Ok(true)
}

#[derive(clap::Subcommand, Debug)]
enum OutboxAction {
    /// Say what the outbox holds; exit status 1 when it is damaged.
    Check {
        /// The collector's configuration, whose data_dir is the outbox.
        #[arg(long, value_name = "FILE", conflicts_with = "dir")]
        config: Option<std::path::PathBuf>,
        /// The outbox directory itself.
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
}

/// `outbox check`: prints what the outbox holds; false when it is damaged.
fn outbox_check(
    config: Option<std::path::PathBuf>,
    dir: Option<std::path::PathBuf>,
) -> Result<bool> {
    let dir = match dir {
        Some(d) => d,
        None => printwatch_collector::config::load(config.as_deref())?.data_dir,
    };
    let i = printwatch_collector::outbox::inspect(&dir)
        .with_context(|| format!("reading the outbox in {}", dir.display()))?;
    println!("outbox {}", dir.display());
    println!(
        "  identity      {}",
        i.identity.as_deref().unwrap_or("(none yet)")
    );
    println!("  acknowledged  up to {}", i.acknowledged);
    println!("  waiting       {} envelopes", i.pending);
    println!("  set aside     {}", i.set_aside);
    println!(
        "  segments      {} ({} records, {} bytes)",
        i.segments.len(),
        i.records,
        i.segments.iter().map(|s| s.3).sum::<u64>()
    );
    if i.torn_tail {
        println!(
            "  a torn last record (a crash mid-write): cut off at the next start, nothing lost"
        );
    }
    if i.damage.is_empty() {
        println!("  no damage");
        return Ok(true);
    }
    for d in &i.damage {
        println!(
            "  DAMAGE in {} at byte {}: {}",
            d.segment.display(),
            d.at_byte,
            d.lost()
        );
    }
    println!("  the collector recovers every record after the damage at its next start");
    Ok(false)
}

async fn run_agent(config_file: Option<std::path::PathBuf>) -> Result<bool> {
    // First of all, so a stop request during start-up is not lost.
    let stop =
        printwatch_collector::stop::StopSignals::install().context("installing signal handlers")?;
    let c = printwatch_collector::config::load(config_file.as_deref())?;
    printwatch_telemetry::logs::init(c.log_format)?;
    printwatch_collector::agent::run(c, stop.recv()).await
}

#[derive(clap::Args, Debug)]
struct PollArgs {
    /// Printers to read: HOST or HOST:PORT (SNMP), ipp://HOST[:PORT]/PATH or ipps://...
    #[arg(required = true, value_name = "TARGET")]
    targets: Vec<String>,
    /// SNMP community string.
    #[arg(long, short = 'c', default_value = "public")]
    community: String,
    /// SNMP version: 1 or 2c.
    #[arg(long, default_value = "2c", value_parser = parse_version)]
    snmp_version: Version,
    #[command(flatten)]
    v3: printwatch_collector::credentials::V3Args,
    /// How long to wait for the first answer (doubled on each retry), e.g. 800ms or 2s.
    #[arg(long, default_value = "1s", value_parser = printwatch_collector::flags::timeout)]
    timeout: Duration,
    /// How many times to resend an unanswered request (0 to 10).
    #[arg(long, default_value = "2", value_parser = printwatch_collector::flags::retries)]
    retries: u32,
    /// Print one JSON object per target and line (the reading contract of DESIGN.md).
    #[arg(long)]
    json: bool,
    /// ipps:// only: accept only the certificate with this SHA-256 fingerprint (as
    /// printed on stderr by a poll without it: 32 hex bytes, colons optional).
    #[arg(long, value_name = "SHA256", value_parser = parse_pin, conflicts_with = "ipp_ca")]
    ipp_pin: Option<agent_core::ipp::Fingerprint>,
    /// ipps:// only: accept only certificates that chain to a CA in this PEM file and name
    /// the printer's host.
    #[arg(long, value_name = "FILE")]
    ipp_ca: Option<std::path::PathBuf>,
}

fn parse_pin(s: &str) -> Result<agent_core::ipp::Fingerprint, String> {
    agent_core::ipp::Fingerprint::parse(s)
        .ok_or_else(|| "a SHA-256 fingerprint is 32 hex bytes, e.g. 3f:a2:...:9c".to_string())
}

/// Reads one IPP printer (see `poll --help`).
async fn poll_ipp(spec: &str, args: &PollArgs) -> Result<agent_core::Reading> {
    use agent_core::ipp::{IppClient, IppUri, Trust};
    let uri: IppUri = spec.parse()?;
    let addr = printwatch_collector::target::resolve(spec).await?;
    let trust = match (&args.ipp_ca, args.ipp_pin) {
        (Some(ca), _) => Trust::ca_file(ca).map_err(anyhow::Error::msg)?,
        (None, pin) => Trust::FirstUse(pin),
    };
    // One request, so the SNMP timeout and its retries bound it: the whole exchange.
    let timeout = args.timeout * (args.retries + 1);
    let mut client = IppClient::new(uri.clone(), addr, trust, timeout);
    let (reading, _) = agent_core::ipp::poll(&mut client, &uri.to_string()).await?;
    if let (Some(seen), None, None) = (client.certificate(), args.ipp_pin, &args.ipp_ca) {
        eprintln!("{uri}: certificate SHA-256 {seen} (not checked: pass --ipp-pin or --ipp-ca to check it)");
    }
    Ok(reading)
}

fn parse_version(s: &str) -> Result<Version, String> {
    s.parse()
}

async fn poll_one(
    transport: Transport,
    spec: String,
    args: &PollArgs,
) -> Result<agent_core::Reading> {
    if agent_core::ipp::IppUri::is_ipp(&spec) {
        return poll_ipp(&spec, args).await;
    }
    let addr = printwatch_collector::target::resolve(&spec).await?;
    let security = match args.v3.user()? {
        Some(user) => user,
        None => Security::Community {
            version: args.snmp_version,
            community: args.community.as_bytes().to_vec(),
        },
    };
    let target = Target {
        addr,
        security,
        timeout: args.timeout,
        retries: args.retries,
    };
    let mut session = Session::new(transport, target);
    let (reading, _plan) = first_poll(&mut session)
        .await
        .with_context(|| spec.clone())?;
    Ok(reading)
}

async fn poll(args: PollArgs) -> Result<bool> {
    let transport = Transport::bind(TransportConfig::default())
        .await
        .context("opening UDP sockets")?;
    let args = std::sync::Arc::new(args);
    let handles: Vec<_> = args
        .targets
        .iter()
        .map(|spec| {
            let (t, spec, args) = (transport.clone(), spec.clone(), args.clone());
            tokio::spawn(async move { poll_one(t, spec, &args).await })
        })
        .collect();
    let mut all_ok = true;
    for (spec, h) in args.targets.iter().zip(handles) {
        match h.await {
            Ok(Ok(reading)) => {
                if args.json {
                    emit(&serde_json::to_string(&reading)?);
                } else {
                    emit(&agent_core::report::render(&reading));
                }
            }
            Ok(Err(e)) => {
                all_ok = false;
                eprintln!("error: {e:#}");
            }
            Err(e) => {
                all_ok = false;
                eprintln!("error: {spec}: internal failure: {e}");
            }
        }
    }
    Ok(all_ok)
}

async fn run() -> Result<()> {
    let cli = Cli::parse();
    let ok = match cli.command {
        Command::Poll(args) => poll(args).await?,
        Command::Discover(args) => discover_cmd::run(args).await?,
        Command::Run { config } => run_agent(config).await?,
        Command::Outbox {
            action: OutboxAction::Check { config, dir },
        } => outbox_check(config, dir)?,
        Command::Pins { config, forget } => pins(config, forget)?,
    };
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}

/// Errors end the program with `error: ...` and the chain of causes, exit status 1. The
/// runtime gets five seconds to wind down: everything worth keeping is already in the
/// outbox, so nothing may hold the process up once it has been told to stop.
fn main() -> std::process::ExitCode {
    printwatch_collector::heap::one_arena();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(run());
    rt.shutdown_timeout(Duration::from_secs(5));
    agent_core::output::finish(result)
}
