//! `printwatch-collector discover`: the command-line face of agent-core's sweep.

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use agent_core::discover::{sweep, EndReason, Found, Summary, SweepConfig, SweepStats};
use agent_core::ipp::sweep::{IppFound, IppSweepConfig, IppSweepSummary};
use agent_core::message::Version;
use agent_core::output::emit;
use agent_core::transport::{Security, Transport, TransportConfig};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Finds printers on a site's subnets.
#[derive(clap::Args, Debug)]
pub struct DiscoverArgs {
    /// What to sweep: 10.1.0.0/16, 10.1.2.10-10.1.2.50, 10.1.2.7 or a host name. Without
    /// any, the subnets of this host's own non-loopback interfaces.
    #[arg(value_name = "RANGE")]
    ranges: Vec<String>,
    /// Addresses to leave alone, in the same forms (repeatable).
    #[arg(long, value_name = "RANGE")]
    exclude: Vec<String>,
    /// Community strings to try, in order, after the v3 user if one is given; the next
    /// only where the previous got no answer. Default: public, unless --v3-user is given.
    #[arg(long, short = 'c', value_name = "C")]
    community: Vec<String>,
    #[command(flatten)]
    v3: printwatch_collector::credentials::V3Args,
    /// Probe packets per second, at most.
    #[arg(long, value_name = "PPS", default_value_t = agent_core::discover::DEFAULT_RATE, value_parser = printwatch_collector::flags::rate)]
    rate: u32,
    /// Stop after this long and report what was found (e.g. 90s, 10m).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    time_limit: Option<Duration>,
    /// Allow more than a /16 (65,536 addresses): at the default rate a large sweep takes
    /// hours, so a slip in a prefix length should not start one.
    #[arg(long)]
    large: bool,
    /// UDP port of the agents.
    #[arg(long, default_value_t = 161)]
    port: u16,
    /// How long to wait for each probe's answer.
    #[arg(long, default_value = "1s", value_parser = printwatch_collector::flags::timeout)]
    timeout: Duration,
    /// Resends of an unanswered probe, 0 to 10 (0 sends one request per address and
    /// community).
    #[arg(long, default_value = "0", value_parser = printwatch_collector::flags::retries)]
    retries: u32,
    /// SNMP version: 1 or 2c.
    #[arg(long, default_value = "2c", value_parser = |s: &str| s.parse::<Version>())]
    snmp_version: Version,
    /// Only find and classify; do not read each printer found.
    #[arg(long)]
    no_read: bool,
    /// JSON Lines: a {"event":"found",...} per device, then one {"event":"done",...};
    /// with --ipp, then a {"event":"found","way":"ipp",...} per IPP printer and one
    /// {"event":"done_ipp",...}.
    #[arg(long)]
    json: bool,
    /// Then ask the addresses that gave no SNMP answer over IPP (a printer whose SNMP is
    /// off): a TCP connection to --ipp-port each, at --rate connections per second at
    /// most, none started after --ipp-budget.
    #[arg(long)]
    ipp: bool,
    /// The IPP port to ask.
    #[arg(long, default_value_t = agent_core::ipp::uri::PORT, requires = "ipp")]
    ipp_port: u16,
    /// How long the IPP part may take: no address is asked after it.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration, requires = "ipp")]
    ipp_budget: Duration,
}

fn ipp_line(f: &IppFound) -> String {
    let id = &f.reading.identity;
    let or = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut line = format!(
        "printer  {:<34} {:<15} {:<30} serial {:<16} IPP",
        f.uri.to_string(),
        or(&id.vendor),
        or(&id.model).chars().take(30).collect::<String>(),
        or(&id.serial),
    );
    if let Some(c) = f.certificate {
        line.push_str(&format!("  certificate {c}"));
    }
    line
}

fn ipp_summary_line(s: &IppSweepSummary, port: u16, budget: Duration) -> String {
    let mut line = format!(
        "done over IPP (port {port}): {} addresses asked, {} printers; {} bytes sent, {} bytes received",
        s.probed, s.found, s.bytes_sent, s.bytes_received
    );
    if s.not_probed > 0 {
        line.push_str(&format!(
            "; {} addresses not asked: the {} budget ran out (--ipp-budget)",
            s.not_probed,
            humantime::format_duration(budget)
        ));
    }
    line
}

fn found_line(f: &Found) -> String {
    let id = &f.identity;
    let or = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let class = match f.class {
        agent_core::classify::DeviceClass::Printer => "printer",
        agent_core::classify::DeviceClass::Other => "other  ",
    };
    let mut line = format!(
        "{class}  {:<21} {:<15} {:<30} serial {:<16} {}",
        id.address,
        or(&id.vendor),
        or(&id.model).chars().take(30).collect::<String>(),
        or(&id.serial),
        f.credential_name
    );
    if let Some(e) = &f.read_error {
        line.push_str(&format!("  (not read: {e})"));
    }
    line
}

fn summary_line(s: &Summary) -> String {
    let why = match s.reason {
        EndReason::Complete => "every address answered or timed out",
        EndReason::TimeLimit => "the time limit was reached",
        EndReason::Cancelled => "stopped by the user",
    };
    format!(
        "done: {why}. {} addresses probed in {:.1} s: {} printers, {} other SNMP devices; {} requests, {} bytes sent, {} bytes received",
        s.probed, s.seconds, s.printers, s.others, s.requests, s.bytes_sent, s.bytes_received
    )
}

/// Runs the command; the result says whether everything asked for could be done.
pub async fn run(args: DiscoverArgs) -> Result<bool> {
    if args.rate == 0 {
        bail!("--rate must be at least 1 packet per second");
    }
    // The v3 user first: where it reads, no community crosses the network in clear.
    let mut credentials = Vec::new();
    if let Some(user) = args.v3.user()? {
        credentials.push(user);
    }
    let communities = if args.community.is_empty() && credentials.is_empty() {
        vec!["public".to_string()]
    } else {
        args.community.clone()
    };
    credentials.extend(communities.iter().map(|c| Security::Community {
        version: args.snmp_version,
        community: c.as_bytes().to_vec(),
    }));
    let (addresses, unresolved) =
        printwatch_collector::ranges::addresses(&args.ranges, &args.exclude).await?;
    printwatch_collector::ranges::check_size(&addresses, args.large)?;
    for e in &unresolved {
        eprintln!("error: {e}");
    }
    let all_resolved = unresolved.is_empty();
    let total = addresses.len();
    let transport = Transport::bind(TransportConfig {
        max_pps: Some(args.rate),
        ..TransportConfig::default()
    })
    .await
    .context("opening UDP sockets")?;
    let swept = args.ipp.then(|| addresses.clone());
    let config = SweepConfig {
        addresses,
        port: args.port,
        credentials,
        timeout: args.timeout,
        retries: args.retries,
        read_printers: !args.no_read,
        rate: args.rate,
    };
    let in_flight =
        ((f64::from(args.rate) * args.timeout.as_secs_f64() * f64::from(args.retries + 1) * 2.0)
            as usize)
            .clamp(64, 100_000);
    let stats = Arc::new(SweepStats::default());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Found>();

    let show_progress =
        std::io::stdout().is_terminal() && std::io::stderr().is_terminal() && !args.json;
    let bar = if show_progress {
        ProgressBar::new(total)
    } else {
        ProgressBar::hidden()
    };
    if !show_progress {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} probed, {msg}, {eta} left")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );

    let time_limit = args.time_limit;
    let signals =
        printwatch_collector::stop::StopSignals::install().context("installing signal handlers")?;
    let stop = async move {
        let limit = async {
            match time_limit {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = limit => EndReason::TimeLimit,
            () = signals.recv() => EndReason::Cancelled,
        }
    };
    let json = args.json;
    let started = std::time::Instant::now();
    let printer = {
        let bar = bar.clone();
        let stats = stats.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            let mut answered = std::collections::HashSet::new();
            loop {
                tokio::select! {
                    f = rx.recv() => match f {
                        Some(f) => {
                            if let Some(ip) = f.ipv4() {
                                answered.insert(ip);
                            }
                            let line = if json {
                                let mut v = serde_json::json!({"event": "found", "class": f.class, "credential": f.credential_name, "identity": f.identity, "reading": f.reading});
                                if let Some(e) = &f.read_error { v["read_error"] = e.clone().into(); }
                                v.to_string()
                            } else {
                                found_line(&f)
                            };
                            bar.suspend(|| emit(&line));
                        }
                        None => break,
                    },
                    _ = tick.tick() => {
                        let probed = stats.probed.load(Ordering::Relaxed);
                        bar.set_position(probed);
                        bar.set_message(format!(
                            "{} printers, {} others, {:.0} probes/s",
                            stats.printers.load(Ordering::Relaxed),
                            stats.others.load(Ordering::Relaxed),
                            probed as f64 / started.elapsed().as_secs_f64().max(0.001),
                        ));
                    }
                }
            }
            answered
        })
    };
    let summary = sweep(transport, config, in_flight, stats, tx, stop).await;
    let answered = printer.await.context("the output task failed")?;
    bar.finish_and_clear();
    if json {
        emit(&serde_json::to_string(&summary)?);
    } else {
        emit(&summary_line(&summary));
    }
    if let Some(swept) = swept {
        if summary.reason != EndReason::Cancelled {
            sweep_ipp(&args, &swept, &answered, show_progress).await;
        }
    }
    Ok(all_resolved)
}

/// `--ipp`: the addresses that gave no SNMP answer, asked over IPP.
async fn sweep_ipp(
    args: &DiscoverArgs,
    swept: &agent_core::range::SpanSet,
    answered: &std::collections::HashSet<std::net::Ipv4Addr>,
    show_progress: bool,
) {
    let config =
        IppSweepConfig::after_snmp(args.ipp_port, args.ipp_budget, args.rate, args.timeout);
    if show_progress {
        eprintln!(
            "asking {} addresses without SNMP over IPP (port {}, for at most {})...",
            swept.len().saturating_sub(answered.len() as u64),
            config.port,
            humantime::format_duration(config.budget)
        );
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<IppFound>();
    let json = args.json;
    let out = tokio::spawn(async move {
        while let Some(f) = rx.recv().await {
            let line = if json {
                serde_json::json!({
                    "event": "found",
                    "class": "printer",
                    "way": "ipp",
                    "uri": f.uri.to_string(),
                    "certificate": f.certificate.map(|c| c.to_string()),
                    "identity": f.reading.identity,
                    "reading": f.reading,
                })
                .to_string()
            } else {
                ipp_line(&f)
            };
            emit(&line);
        }
    });
    let s = agent_core::ipp::sweep::sweep(swept, answered, &config, tx).await;
    let _ = out.await;
    if json {
        let mut v = serde_json::to_value(&s).unwrap_or_default();
        v["event"] = "done_ipp".into();
        emit(&v.to_string());
    } else {
        emit(&ipp_summary_line(&s, config.port, config.budget));
    }
}
