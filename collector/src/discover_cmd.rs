//! `printwatch-collector discover`: the command-line face of agent-core's sweep.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use agent_core::discover::{sweep, EndReason, Found, Summary, SweepConfig, SweepStats};
use agent_core::message::Version;
use agent_core::output::emit;
use agent_core::range::{Range, Span};
use agent_core::transport::{Transport, TransportConfig};
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
    /// Community strings to try, in order; the next only where the previous got no answer.
    #[arg(long, short = 'c', value_name = "C", default_values_t = vec!["public".to_string()])]
    community: Vec<String>,
    /// Probe packets per second, at most.
    #[arg(long, value_name = "PPS", default_value_t = agent_core::discover::DEFAULT_RATE)]
    rate: u32,
    /// Stop after this long and report what was found (e.g. 90s, 10m).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    time_limit: Option<Duration>,
    /// UDP port of the agents.
    #[arg(long, default_value_t = 161)]
    port: u16,
    /// How long to wait for each probe's answer.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Resends of an unanswered probe (0 sends one request per address and community).
    #[arg(long, default_value_t = 0)]
    retries: u32,
    /// SNMP version: 1 or 2c.
    #[arg(long, default_value = "2c", value_parser = |s: &str| s.parse::<Version>())]
    snmp_version: Version,
    /// Only find and classify; do not read each printer found.
    #[arg(long)]
    no_read: bool,
    /// JSON Lines: a {"event":"found",...} per device, then one {"event":"done",...}.
    #[arg(long)]
    json: bool,
}

/// The subnets of this host's non-loopback IPv4 interfaces.
fn own_subnets() -> Result<Vec<Span>> {
    let mut spans = Vec::new();
    for iface in if_addrs::get_if_addrs().context("listing network interfaces")? {
        if let if_addrs::IfAddr::V4(v4) = &iface.addr {
            if v4.ip.is_loopback() {
                continue;
            }
            let prefix = u32::from(v4.netmask).leading_ones() as u8;
            // A host route or a point-to-point link is no subnet to sweep; a subnet wider
            // than a /16 is narrowed to the /16 around this host.
            if let Some(span) = Span::cidr(v4.ip, prefix.max(16)).filter(|_| prefix < 31) {
                spans.push(span);
            }
        }
    }
    if spans.is_empty() {
        bail!("this host has no non-loopback IPv4 subnet to sweep: give RANGEs");
    }
    Ok(spans)
}

async fn resolve_name(name: &str) -> Result<Ipv4Addr> {
    let addrs = tokio::net::lookup_host((name, 0))
        .await
        .map_err(|e| anyhow::anyhow!("cannot resolve {name}: {e}"))?;
    addrs
        .filter_map(|a| match a.ip() {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
        .next()
        .ok_or_else(|| anyhow::anyhow!("cannot resolve {name}: it has no IPv4 address"))
}

/// Expands RANGEs minus exclusions into the addresses to probe, in order, each once.
/// Names that do not resolve are reported and skipped. Returns the addresses and whether
/// every name resolved.
pub async fn addresses(ranges: &[String], exclude: &[String]) -> Result<(Vec<Ipv4Addr>, bool)> {
    let mut all_resolved = true;
    let mut spans = Vec::new();
    if ranges.is_empty() {
        spans = own_subnets()?;
    }
    for r in ranges {
        match r.parse::<Range>()? {
            Range::Span(s) => spans.push(s),
            Range::Name(n) => match resolve_name(&n).await {
                Ok(a) => spans.push(Span { first: a, last: a }),
                Err(e) => {
                    eprintln!("error: {e}");
                    all_resolved = false;
                }
            },
        }
    }
    let mut excluded = Vec::new();
    for r in exclude {
        match r.parse::<Range>()? {
            Range::Span(s) => excluded.push(s),
            Range::Name(n) => {
                let a = resolve_name(&n).await?;
                excluded.push(Span { first: a, last: a });
            }
        }
    }
    let total: u64 = spans.iter().map(Span::len).sum();
    if total > 1 << 24 {
        bail!("{total} addresses is more than a /8: sweep smaller ranges");
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for s in &spans {
        for a in s.iter() {
            if !excluded.iter().any(|x| x.contains(a)) && seen.insert(a) {
                out.push(a);
            }
        }
    }
    Ok((out, all_resolved))
}

fn found_line(f: &Found) -> String {
    let id = &f.identity;
    let or = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let class = match f.class {
        agent_core::classify::DeviceClass::Printer => "printer",
        agent_core::classify::DeviceClass::Other => "other  ",
    };
    let mut line = format!(
        "{class}  {:<21} {:<15} {:<30} serial {:<16} community {}",
        id.address,
        or(&id.vendor),
        or(&id.model).chars().take(30).collect::<String>(),
        or(&id.serial),
        f.community
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
    if args.community.is_empty() {
        bail!("give at least one --community");
    }
    let (addresses, all_resolved) = addresses(&args.ranges, &args.exclude).await?;
    let total = addresses.len() as u64;
    let transport = Transport::bind(TransportConfig {
        max_pps: Some(args.rate),
        ..TransportConfig::default()
    })
    .await
    .context("opening UDP sockets")?;
    let config = SweepConfig {
        addresses,
        port: args.port,
        communities: args.community.clone(),
        version: args.snmp_version,
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
            loop {
                tokio::select! {
                    f = rx.recv() => match f {
                        Some(f) => {
                            let line = if json {
                                let mut v = serde_json::json!({"event": "found", "class": f.class, "community": f.community, "identity": f.identity, "reading": f.reading});
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
        })
    };
    let summary = sweep(transport, config, in_flight, stats, tx, stop).await;
    printer.await.context("the output task failed")?;
    bar.finish_and_clear();
    if json {
        emit(&serde_json::to_string(&summary)?);
    } else {
        emit(&summary_line(&summary));
    }
    Ok(all_resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn ranges_expand_once_minus_exclusions() {
        let (a, ok) = addresses(
            &strings(&["127.9.0.0/29", "127.9.0.3-127.9.0.9", "localhost"]),
            &strings(&["127.9.0.5"]),
        )
        .await
        .unwrap();
        assert!(ok);
        let want: Vec<Ipv4Addr> = [1, 2, 3, 4, 6, 7, 8, 9]
            .iter()
            .map(|&d| Ipv4Addr::new(127, 9, 0, d))
            .chain([Ipv4Addr::LOCALHOST])
            .collect();
        assert_eq!(a, want);
        let (a, ok) = addresses(&strings(&["no-such-host.invalid", "127.9.0.1"]), &[])
            .await
            .unwrap();
        assert!(!ok);
        assert_eq!(a, vec![Ipv4Addr::new(127, 9, 0, 1)]);
        assert!(addresses(&strings(&["10.0.0.0/7"]), &[])
            .await
            .unwrap_err()
            .to_string()
            .contains("more than a /8"));
    }

    #[test]
    fn own_subnets_never_include_loopback() {
        // Only lists: nothing is sent. A host without a LAN interface says so.
        match own_subnets() {
            Ok(spans) => assert!(spans
                .iter()
                .all(|s| !s.first.is_loopback() && s.len() <= 65_534)),
            Err(e) => assert!(e.to_string().contains("give RANGEs")),
        }
    }
}
