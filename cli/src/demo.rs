//! `printwatch demo`: a whole fleet on loopback, live on screen. A coordinator, a
//! collector for each of two sites and simulated printers of many brands, all in this
//! process, and the fleet redrawn as an operator sees it through the coordinator.

use printwatch_proto::listing::Joined;
use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use agent_core::output::emit;
use agent_core::sim::{serve, synthetic};
use anyhow::{bail, Context, Result};

use crate::fleet_view::render;

/// How big the simulated fleet is and how fast it is polled.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// How many simulated printers (half at each site).
    #[arg(long, default_value_t = 50)]
    printers: u32,
    /// How often to poll them.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// Stop after this many polling cycles (default: run until Ctrl-C).
    #[arg(long)]
    cycles: Option<u32>,
    /// First loopback address of the simulated fleet.
    #[arg(long, default_value = "127.77.0.1")]
    base: Ipv4Addr,
    /// UDP port the simulated printers listen on.
    #[arg(long, default_value_t = 16161)]
    port: u16,
    /// Seed for the simulated fleet.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Where the dashboard listens (plain HTTP, so a loopback address; port 0: any free).
    #[arg(long, default_value = "127.0.0.1:0")]
    web: SocketAddr,
}

/// Runs the demo until Ctrl-C or `--cycles`.
pub async fn run(args: DemoArgs) -> Result<()> {
    use crate::client;
    use printwatch_collector::config::{
        CollectorConfig, CoordinatorLink, Discovery, Intervals, Snmp, TlsFiles,
    };
    use printwatch_coordinator::config::CoordinatorConfig;
    use printwatch_pki::{self as certs, Role};
    use printwatch_proto::v1 as p;

    // The services in this process log only when asked to (RUST_LOG): their lines would
    // break up the fleet on screen.
    if std::env::var_os("RUST_LOG").is_some() {
        printwatch_telemetry::logs::init(printwatch_telemetry::logs::LogFormat::Text)?;
    }
    if args.base.octets()[0] != 127 {
        bail!("--base must be a loopback address (127.x.y.z): the demo sends only to loopback");
    }
    if !args.web.ip().is_loopback() {
        bail!("--web must be a loopback address: the demo's dashboard is plain HTTP");
    }
    if args.printers < 2 || args.printers > 2_000 {
        bail!("--printers must be between 2 and 2000");
    }
    // Everything lives in a temporary directory, removed by main once the runtime (and with
    // it every open database) has shut down.
    let dir = std::env::temp_dir().join(format!("printwatch-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = crate::DEMO_DIR.set(dir.clone());
    let sites = ["north", "south"];
    certs::init(
        &dir,
        &["localhost".into(), "127.0.0.1".into()],
        &sites.map(String::from),
        "demo",
    )?;

    // The coordinator, over mutual TLS on loopback, its alerts and schedules as configured
    // by default (mail and the dealer off).
    let mut config = CoordinatorConfig::with_pki(
        &dir,
        dir.join("coordinator"),
        SocketAddr::from(([127, 0, 0, 1], 0)),
    );
    config.cache_mb = 32;
    config.web.listen = Some(args.web);
    config.web.https = false;
    let coordinator = printwatch_coordinator::service::start(config)
        .await
        .context("starting the coordinator")?;
    let (listen, store) = (coordinator.listen, coordinator.store.clone());
    let connect = client::ConnectArgs {
        coordinator: format!("https://{listen}"),
        server_name: "localhost".into(),
        pki: dir.clone(),
        operator: "demo".into(),
    };
    // A sign-in for the dashboard, made for this demo only.
    let password = format!("{:016x}", rand::random::<u64>());
    client::connect(&connect)
        .await?
        .put_user(p::User {
            name: "demo".into(),
            role: "admin".into(),
            sites: Vec::new(),
            password_hash: printwatch_coordinator::users::hash(&password)?,
            created: String::new(),
        })
        .await
        .context("making the demo's dashboard user")?;
    let dashboard = match coordinator.web {
        Some(at) => format!("dashboard: {}/  user demo  password {password}", at.url()),
        None => bail!("the dashboard did not start"),
    };
    println!("{dashboard}");

    // The printers: half at each site; one printer reachable from both; one in 25 off.
    let base = u32::from(args.base);
    let half = args.printers.div_ceil(2);
    let mut devices = Vec::new();
    let mut targets: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    for i in 0..args.printers {
        let (site, slot) = if i < half { (0, i) } else { (1, i - half) };
        let addr = SocketAddr::new(
            IpAddr::V4(Ipv4Addr::from(base + 256 * site + slot)),
            args.port,
        );
        let mut d = synthetic::printer(args.seed, i);
        if i % 25 == 24 {
            d.faults.silent = true;
        }
        targets[site as usize].push(addr.to_string());
        devices.push((addr, d));
    }
    let shared = SocketAddr::new(IpAddr::V4(Ipv4Addr::from(base + 256 + 255)), args.port);
    devices.push((shared, synthetic::printer(args.seed, 0)));
    targets[1].push(shared.to_string());
    let sim = serve(devices)
        .await
        .with_context(|| format!("starting the simulated printers at {}:{} (is another demo running? try --base or --port)", args.base, args.port))?;

    // Two collectors, one per site.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut collectors = Vec::new();
    for (n, site) in sites.iter().enumerate() {
        let files = certs::paths(&dir, Role::Collector, site);
        let config = CollectorConfig {
            site: site.to_string(),
            data_dir: dir.join(format!("collector-{site}")),
            targets: targets[n].clone(),
            pollers: 32,
            coordinator: CoordinatorLink {
                endpoint: format!("https://{listen}"),
                server_name: "localhost".into(),
            },
            tls: TlsFiles {
                ca: dir.join("ca.pem"),
                cert: files.cert,
                key: files.key,
            },
            snmp: Snmp {
                community: "public".into(),
                version: "2c".into(),
                timeout_ms: 300,
                retries: 1,
                rate: 2_000,
                credentials: Vec::new(),
            },
            ipp: CollectorConfig::default().ipp,
            intervals: Intervals {
                status_seconds: args.interval.as_secs().max(1),
                meters_seconds: 3_600,
                identity_seconds: 86_400,
            },
            discovery: Discovery {
                ranges: Vec::new(),
                exclude: Vec::new(),
                every_seconds: 86_400,
                rate: 0,
                port: 161,
                ..CollectorConfig::default().discovery
            },
            metrics: Default::default(),
            log_format: Default::default(),
        };
        let mut stop = stop_rx.clone();
        collectors.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            if let Err(e) = printwatch_collector::agent::run(config, shutdown).await {
                eprintln!("demo collector: {e:#}");
            }
        }));
    }

    // The live fleet, as an operator sees it through the coordinator.
    let tty = std::io::stdout().is_terminal();
    let width = if tty { 160 } else { usize::MAX };
    let mut cycle = 0u32;
    let addresses = sim.addrs().len();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(args.interval) => {}
            _ = tokio::signal::ctrl_c() => break,
        }
        cycle += 1;
        let devices = match client::connect(&connect).await {
            Ok(mut c) => match c.list_devices(p::ListDevicesRequest::default()).await {
                Ok(r) => r.into_inner().joined().await.unwrap_or_default(),
                Err(_) => Vec::new(),
            },
            Err(_) => Vec::new(),
        };
        let readings: Vec<agent_core::model::Reading> = devices
            .iter()
            .filter_map(|d| d.latest.clone())
            .filter_map(|r| agent_core::model::Reading::try_from(r).ok())
            .collect();
        let per_site: Vec<String> = sites
            .iter()
            .map(|s| format!("{s} {}", devices.iter().filter(|d| d.site == *s).count()))
            .collect();
        let stored: usize = devices.iter().map(|d| store.history_len(&d.id)).sum();
        let mut screen = String::new();
        if tty {
            screen.push_str("\x1b[2J\x1b[H");
        }
        screen.push_str(&format!(
            "printwatch demo: a coordinator (mTLS on {listen}), collectors for sites north and south,\n\
             {addresses} printer addresses on {}..:{}, polled every {} (Ctrl-C stops)\n\
             {dashboard}\n\
             cycle {cycle}: {} devices in the fleet ({}), {stored} readings stored\n\n",
            args.base,
            args.port,
            humantime::format_duration(args.interval),
            devices.len(),
            per_site.join(", "),
        ));
        screen.push_str(&render(&readings, width));
        emit(&screen);
        if args.cycles.is_some_and(|n| cycle >= n) {
            break;
        }
    }
    // The collectors stop (each syncs its outbox), then the coordinator.
    let _ = stop_tx.send(true);
    for c in collectors {
        let _ = tokio::time::timeout(Duration::from_secs(10), c).await;
    }
    coordinator.stop().await.map(|_| ())
}
