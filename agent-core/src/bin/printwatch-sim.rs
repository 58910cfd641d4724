//! printwatch-sim: serves recorded and synthetic printers over SNMP on loopback.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use agent_core::output::emit;
use agent_core::sim::{serve, synthetic, Faults, SimDevice};
use anyhow::{bail, Context, Result};
use clap::Parser;

/// Serve simulated printers over SNMP v1 and v2c, each on its own loopback address.
///
/// Devices get consecutive addresses from --base, all on --port. Recordings are snmpsim
/// `.snmprec` files (the project's own in tests/fixtures, or the shared corpus); synthetic
/// printers come from --seed and drain their supplies as they print. Faults apply to every
/// device served.
///
/// Examples:
///   printwatch-sim --corpus tests/fixtures --port 16161
///   printwatch-sim --corpus ../shared/corpus --port 16161
///   printwatch-sim --synthetic 500 --base 127.80.0.1 --port 16161 --loss 0.05
///   printwatch-sim --snmprec brother.snmprec --community secret --delay 2s --delay-count 1
///   PRINTWATCH_V3_AUTH_PASS=... PRINTWATCH_V3_PRIV_PASS=... \
///     printwatch-sim --synthetic 100 --v3-user monitor --v3-auth SHA256 --v3-priv AES
#[derive(Parser, Debug)]
#[command(name = "printwatch-sim", version, verbatim_doc_comment)]
struct Args {
    /// Serve this recording (repeatable).
    #[arg(long, value_name = "FILE")]
    snmprec: Vec<PathBuf>,
    /// Serve every .snmprec file in DIR and its printers/ and others/ subdirectories.
    #[arg(long, value_name = "DIR")]
    corpus: Option<PathBuf>,
    /// Serve this many synthetic printers.
    #[arg(long, value_name = "N", default_value_t = 0)]
    synthetic: u32,
    /// Seed for the synthetic fleet: the same seed gives the same printers.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// First address; the devices take consecutive addresses from it (stay inside 127.0.0.0/8).
    #[arg(long, default_value = "127.77.0.1")]
    base: Ipv4Addr,
    /// UDP port every device listens on.
    #[arg(long, default_value_t = 161)]
    port: u16,
    /// Community string the devices answer to (others get silence, like a real agent).
    #[arg(long, default_value = "public")]
    community: String,
    /// Probability (0..1) of dropping a request.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Delay every reply by this long (e.g. 300ms, 2s).
    #[arg(long, value_parser = humantime::parse_duration)]
    delay: Option<Duration>,
    /// Delay only the first N replies of each device.
    #[arg(long, value_name = "N")]
    delay_count: Option<u32>,
    /// Probability (0..1) of answering random bytes instead of a reply.
    #[arg(long, default_value_t = 0.0)]
    garbage: f64,
    /// Never answer (a host with a dead agent).
    #[arg(long)]
    silent: bool,
    /// Send each reply this many extra times.
    #[arg(long, default_value_t = 0)]
    duplicates: u32,
    /// Answer tooBig when a reply would hold more than N variables.
    #[arg(long, value_name = "N")]
    max_varbinds: Option<usize>,
    /// Answer at most N repetitions to a GETBULK (short replies mid-table).
    #[arg(long, value_name = "N")]
    max_repetitions: Option<u32>,
    /// Answer SNMPv3 too, for this user (each device is an engine of its own). The
    /// passphrases come from PRINTWATCH_V3_AUTH_PASS and PRINTWATCH_V3_PRIV_PASS.
    #[arg(long, value_name = "NAME")]
    v3_user: Option<String>,
    /// The v3 user's authentication protocol: MD5, SHA, SHA224, SHA256, SHA384, SHA512.
    #[arg(long, value_name = "PROTOCOL", requires = "v3_user")]
    v3_auth: Option<agent_core::usm::AuthProtocol>,
    /// The v3 user's privacy protocol: DES, AES, AES192, AES256.
    #[arg(long, value_name = "PROTOCOL", requires = "v3_auth")]
    v3_priv: Option<agent_core::usm::PrivProtocol>,
    /// List the devices as JSON lines ({"address":..., "name":...}) instead of a table.
    #[arg(long)]
    json: bool,
}

fn recordings_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for d in [dir.to_path_buf(), dir.join("printers"), dir.join("others")] {
        if !d.is_dir() {
            continue;
        }
        for e in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let p = e?.path();
            if p.extension().is_some_and(|x| x == "snmprec") {
                out.push(p);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        bail!("no .snmprec files in {}", dir.display());
    }
    Ok(out)
}

#[tokio::main]
async fn run() -> Result<()> {
    let args = Args::parse();
    for (name, p) in [("--loss", args.loss), ("--garbage", args.garbage)] {
        if !(0.0..=1.0).contains(&p) {
            bail!("{name} is a probability between 0 and 1, not {p}");
        }
    }
    let faults = Faults {
        loss: args.loss,
        delay: args.delay.unwrap_or_default(),
        delay_count: args.delay_count,
        garbage: args.garbage,
        silent: args.silent,
        duplicates: args.duplicates,
        max_varbinds: args.max_varbinds,
        max_repetitions: args.max_repetitions,
    };
    let mut files = args.snmprec.clone();
    if let Some(dir) = &args.corpus {
        files.extend(recordings_in(dir)?);
    }
    let mut devices = Vec::new();
    for f in &files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        let name = f
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let (dev, skipped) = SimDevice::from_snmprec(name, &text);
        for e in &skipped {
            eprintln!("warning: {}: {e} (line left out)", f.display());
        }
        devices.push(dev);
    }
    devices.extend((0..args.synthetic).map(|i| synthetic::printer(args.seed, i)));
    if devices.is_empty() {
        bail!("nothing to serve: give --snmprec, --corpus or --synthetic (see --help)");
    }
    let base = u32::from(args.base);
    let last = base
        .checked_add(devices.len() as u32 - 1)
        .context("too many devices for --base")?;
    if Ipv4Addr::from(last).octets()[0] != args.base.octets()[0] {
        bail!(
            "{} devices from {} run past {}.255.255.255",
            devices.len(),
            args.base,
            args.base.octets()[0]
        );
    }
    let v3_user = match &args.v3_user {
        None => None,
        Some(name) => {
            let pass =
                |var: &str| std::env::var(var).with_context(|| format!("--v3-user: set {var}"));
            let auth = match args.v3_auth {
                Some(a) => Some((a, pass("PRINTWATCH_V3_AUTH_PASS")?)),
                None => None,
            };
            let privacy = match args.v3_priv {
                Some(p) => Some((p, pass("PRINTWATCH_V3_PRIV_PASS")?)),
                None => None,
            };
            Some(agent_core::usm::UsmUser::new(
                name,
                auth.as_ref().map(|(a, p)| (*a, p.as_bytes())),
                privacy.as_ref().map(|(a, p)| (*a, p.as_bytes())),
                "",
            )?)
        }
    };
    let placed: Vec<(SocketAddr, SimDevice)> = devices
        .into_iter()
        .enumerate()
        .map(|(i, mut d)| {
            d.community = args.community.as_bytes().to_vec();
            d.faults = faults.clone();
            if let Some(u) = &v3_user {
                // A net-snmp style engine id (enterprise 8072, text format) per device.
                let mut engine = b"\x80\x00\x1f\x88\x04pwsim".to_vec();
                engine.extend_from_slice(&(i as u32).to_be_bytes());
                d.v3 = Some(agent_core::sim::SimUsm::new(engine, u.clone()));
            }
            (
                SocketAddr::new(IpAddr::V4(Ipv4Addr::from(base + i as u32)), args.port),
                d,
            )
        })
        .collect();
    let names: Vec<String> = placed.iter().map(|(_, d)| d.name.clone()).collect();
    let handle = serve(placed)
        .await
        .context("binding the simulated devices (a port below 1024 needs root)")?;
    for (addr, name) in handle.addrs().iter().zip(&names) {
        if args.json {
            emit(&serde_json::json!({"address": addr.to_string(), "name": name}).to_string());
        } else {
            emit(&format!("{addr:<22} {name}"));
        }
    }
    eprintln!("serving {} devices; Ctrl-C stops", names.len());
    tokio::signal::ctrl_c().await?;
    drop(handle);
    Ok(())
}

fn main() -> std::process::ExitCode {
    agent_core::output::finish(run())
}
