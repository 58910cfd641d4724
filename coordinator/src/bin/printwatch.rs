//! printwatch: the operator's command line.

use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use agent_core::output::emit;
use agent_core::sim::{serve, synthetic};
use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use printwatch_coordinator::fleet_view::{render, Row};

/// printwatch: watch a fleet of network printers and keep them supplied.
#[derive(Parser, Debug)]
#[command(name = "printwatch", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    connect: printwatch_coordinator::client::ConnectArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
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
    Demo(DemoArgs),
    /// Make the fleet's certificates: its own CA, and certificates issued by it.
    #[command(subcommand)]
    Certs(CertsCommand),
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
    /// Ask a site's collector to poll a printer from now on.
    ///
    /// Example:
    ///   printwatch add hq 10.1.2.7
    ///   printwatch add branch1 printer9.example.lan --community site7
    #[command(verbatim_doc_comment)]
    Add {
        /// The site whose collector should poll it.
        site: String,
        /// Its address or host name, with an optional :port.
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
    /// Ask a site's collector to sweep ranges for printers; what it finds joins the fleet.
    ///
    /// Examples:
    ///   printwatch discover hq 10.1.0.0/22 --exclude 10.1.3.0/24
    ///   printwatch discover branch1 10.2.0.0/24 -c public -c site7 --rate 500
    #[command(verbatim_doc_comment)]
    Discover {
        /// The site whose collector sweeps.
        site: String,
        /// CIDR blocks, spans (a.b.c.d-e.f.g.h), addresses or host names.
        #[arg(required = true)]
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
        /// From this time on (RFC 3339); default: all retained history.
        #[arg(long)]
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
        /// Only readings since this time (RFC 3339, e.g. 2026-11-01T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

fn json_line<T: serde::Serialize>(v: &T) -> Result<()> {
    emit(&serde_json::to_string(v)?);
    Ok(())
}

async fn fleet(cmd: Command, connect: &printwatch_coordinator::client::ConnectArgs) -> Result<()> {
    use printwatch_coordinator::client as c;
    use printwatch_proto::v1 as p;
    let mut client = c::connect(connect).await?;
    match cmd {
        Command::Devices { site, json } => {
            let devices = client
                .list_devices(p::ListDevicesRequest {
                    site: site.unwrap_or_default(),
                })
                .await
                .map_err(c::ClientError::from)?
                .into_inner()
                .devices;
            if json {
                for d in &devices {
                    json_line(&device_json(d)?)?;
                }
            } else {
                emit(c::devices_table(&devices).trim_end());
            }
        }
        Command::Device { id, json } => {
            let d = client
                .get_device(p::GetDeviceRequest { id })
                .await
                .map_err(c::ClientError::from)?
                .into_inner();
            if json {
                json_line(&device_json(&d)?)?;
            } else {
                emit(&format!(
                    "{}  site {}  addresses {}",
                    d.id,
                    d.site,
                    d.addresses.join(", ")
                ));
                match d.latest {
                    Some(r) => emit(
                        agent_core::report::render(&agent_core::model::Reading::try_from(r)?)
                            .trim_end(),
                    ),
                    None => emit("  no reading yet"),
                }
            }
        }
        Command::Supplies { low, site, json } => {
            let rows = client
                .list_supplies(p::ListSuppliesRequest {
                    low_only: low,
                    site: site.unwrap_or_default(),
                })
                .await
                .map_err(c::ClientError::from)?
                .into_inner()
                .supplies;
            if json {
                for r in &rows {
                    let supply = r
                        .supply
                        .clone()
                        .map(agent_core::model::Supply::try_from)
                        .transpose()?;
                    json_line(
                        &serde_json::json!({"device_id": r.device_id, "site": r.site, "model": r.identity.as_ref().and_then(|i| i.model.clone()), "supply": supply, "reorder_percent": r.reorder_percent, "days_left": r.days_left, "pages_left": r.pages_left, "forecast": r.forecast}),
                    )?;
                }
            } else {
                emit(c::supplies_table(&rows).trim_end());
            }
        }
        Command::History { id, since, json } => {
            let readings = client
                .history(p::HistoryRequest {
                    device_id: id,
                    since: since.unwrap_or_default(),
                })
                .await
                .map_err(c::ClientError::from)?
                .into_inner()
                .readings;
            if json {
                for r in readings {
                    json_line(&agent_core::model::Reading::try_from(r)?)?;
                }
            } else {
                emit(c::history_table(&readings).trim_end());
            }
        }
        Command::Add {
            site,
            host,
            community,
        } => {
            let a = client
                .add_printer(p::AddPrinterRequest {
                    site,
                    host: host.clone(),
                    community,
                })
                .await
                .map_err(c::ClientError::from)?
                .into_inner();
            emit(&format!(
                "command {} sent to site {}: poll {host}",
                a.command_id, a.site
            ));
        }
        Command::Remove { id } => {
            let a = client
                .remove_printer(p::RemovePrinterRequest {
                    device_id: id.clone(),
                })
                .await
                .map_err(c::ClientError::from)?
                .into_inner();
            emit(&format!(
                "command {} sent to site {}: stop polling {id}",
                a.command_id, a.site
            ));
        }
        Command::Discover {
            site,
            ranges,
            exclude,
            community,
            rate,
            port,
        } => {
            let a = client
                .discover(p::DiscoverRequest {
                    site,
                    ranges: ranges.clone(),
                    exclude,
                    communities: community,
                    rate,
                    port: u32::from(port),
                })
                .await
                .map_err(c::ClientError::from)?
                .into_inner();
            emit(&format!(
                "command {} sent to site {}: sweep {}; printers found appear in `printwatch devices` as they are read",
                a.command_id,
                a.site,
                ranges.join(" ")
            ));
        }
        Command::Alerts { all, json } => {
            let alerts = client
                .list_alerts(p::ListAlertsRequest {
                    include_closed: all,
                })
                .await
                .map_err(c::ClientError::from)?
                .into_inner()
                .alerts;
            if !json {
                emit(&format!(
                    "{:<6} {:<20} {:<10} {:<30} {:<18} {:<22} DETAIL",
                    "ID", "OPENED", "SITE", "PRINTER", "KIND", "CLOSED"
                ));
            }
            for a in alerts {
                if json {
                    json_line(
                        &serde_json::json!({"id": a.id, "device_id": a.device_id, "site": a.site, "printer": a.printer, "kind": a.kind, "detail": a.detail, "supply": a.supply, "percent": a.percent, "part_number": a.part_number, "days_left": a.days_left, "opened_at": a.opened_at, "closed_at": a.closed_at}),
                    )?;
                } else {
                    emit(&format!(
                        "{:<6} {:<20} {:<10} {:<30} {:<18} {:<22} {}",
                        a.id,
                        a.opened_at,
                        a.site,
                        a.printer.chars().take(30).collect::<String>(),
                        a.kind,
                        a.closed_at.as_deref().unwrap_or("open"),
                        a.detail
                    ));
                }
            }
        }
        Command::Export {
            csv: _,
            since,
            json,
        } => {
            let rows = client
                .export(p::ExportRequest {
                    since: since.unwrap_or_default(),
                })
                .await
                .map_err(c::ClientError::from)?
                .into_inner()
                .rows;
            if json {
                for r in &rows {
                    json_line(&serde_json::json!({
                        "device_id": r.device_id, "site": r.site, "model": r.model, "serial": r.serial,
                        "record": r.record, "name": r.name, "from": r.from, "to": r.to,
                        "start_value": r.start_value, "end_value": r.end_value, "used": r.used, "detail": r.detail,
                    }))?;
                }
            } else {
                emit(printwatch_coordinator::export::CSV_HEADER);
                for r in &rows {
                    emit(&printwatch_coordinator::export::csv_line(r));
                }
            }
        }
        Command::Watch { json } => {
            let mut stream = client
                .watch(p::WatchRequest::default())
                .await
                .map_err(c::ClientError::from)?
                .into_inner();
            loop {
                let event = tokio::select! {
                    e = stream.message() => e.map_err(c::ClientError::from)?,
                    _ = tokio::signal::ctrl_c() => break,
                };
                let Some(e) = event else { break };
                let (kind, line, value) = match e.body {
                    Some(p::fleet_event::Body::DeviceUpdated(d)) => {
                        let low = d
                            .latest
                            .as_ref()
                            .and_then(|r| r.supplies.iter().filter_map(|s| s.percent).min());
                        let text = format!(
                            "{} {} lowest supply {}",
                            d.id,
                            d.site,
                            low.map_or("-".into(), |p| format!("{p}%"))
                        );
                        ("device_updated", text, device_json(&d)?)
                    }
                    Some(p::fleet_event::Body::CollectorConnected(site)) => (
                        "collector_connected",
                        format!("collector of {site} connected"),
                        site.into(),
                    ),
                    Some(p::fleet_event::Body::CollectorDisconnected(site)) => (
                        "collector_disconnected",
                        format!("collector of {site} left"),
                        site.into(),
                    ),
                    Some(p::fleet_event::Body::Alert(a)) => (
                        "alert",
                        format!(
                            "alert {} {}: {} {} {}",
                            a.id,
                            if a.closed_at.is_some() {
                                "closed"
                            } else {
                                "opened"
                            },
                            a.printer,
                            a.kind,
                            a.detail
                        ),
                        serde_json::json!({"id": a.id, "kind": a.kind, "device_id": a.device_id, "site": a.site, "detail": a.detail, "opened_at": a.opened_at, "closed_at": a.closed_at}),
                    ),
                    Some(p::fleet_event::Body::Replaced(r)) => (
                        "replaced",
                        format!(
                            "{} {}: {} replaced ({}% to {}%)",
                            r.device_id, r.site, r.description, r.from_percent, r.to_percent
                        ),
                        serde_json::json!({"device_id": r.device_id, "site": r.site, "supply": r.supply, "description": r.description, "from": r.from_percent, "to": r.to_percent}),
                    ),
                    None => continue,
                };
                if json {
                    json_line(&serde_json::json!({"at": e.at, kind: value}))?;
                } else {
                    emit(&format!("{}  {line}", e.at));
                }
            }
        }
        Command::Demo(_) | Command::Certs(_) => unreachable!("handled before connecting"),
    }
    Ok(())
}

/// A device as JSON, with its latest reading in the reading contract's form.
fn device_json(d: &printwatch_proto::v1::Device) -> Result<serde_json::Value> {
    let latest = d
        .latest
        .clone()
        .map(agent_core::model::Reading::try_from)
        .transpose()?;
    let identity = d.identity.clone().map(agent_core::model::Identity::from);
    Ok(serde_json::json!({
        "id": d.id, "site": d.site, "addresses": d.addresses, "identity": identity,
        "first_seen": d.first_seen, "last_seen": d.last_seen, "latest": latest,
    }))
}

#[derive(Subcommand, Debug)]
enum CertsCommand {
    /// Create the fleet CA and the first certificates in DIR.
    ///
    /// Writes ca.pem and ca.key (keep ca.key offline if you can), coordinator.pem/.key
    /// valid for the --coordinator-name host names and addresses, collector-NAME.pem/.key
    /// for each --collector (NAME is the site), and operator-NAME.pem/.key. Keys are readable
    /// by their owner only. An existing CA is never overwritten.
    ///
    /// Examples:
    ///   printwatch certs init --dir /etc/printwatch/pki --coordinator-name pw.example.lan --collector hq --collector branch1
    ///   printwatch certs init --dir ./pki
    #[command(verbatim_doc_comment)]
    Init {
        /// Where the certificates go.
        #[arg(long, value_name = "DIR")]
        dir: std::path::PathBuf,
        /// Host names and addresses the coordinator is reached at (default: localhost, 127.0.0.1).
        #[arg(long = "coordinator-name", value_name = "HOST")]
        coordinator_names: Vec<String>,
        /// A collector's site name (repeatable).
        #[arg(long = "collector", value_name = "SITE")]
        collectors: Vec<String>,
        /// The first operator's name.
        #[arg(long, default_value = "admin")]
        operator: String,
    },
    /// Issue another certificate from the fleet CA in --dir.
    ///
    /// Examples:
    ///   printwatch certs issue collector branch2 --dir /etc/printwatch/pki
    ///   printwatch certs issue operator alice --dir ./pki
    #[command(verbatim_doc_comment)]
    Issue {
        /// collector, operator or coordinator.
        role: printwatch_coordinator::certs::Role,
        /// The site (collector) or person (operator); ignored for the coordinator.
        name: String,
        /// The directory holding ca.pem and ca.key.
        #[arg(long, value_name = "DIR", default_value = "pki")]
        dir: std::path::PathBuf,
        /// For the coordinator: host names and addresses it is reached at.
        #[arg(long = "coordinator-name", value_name = "HOST")]
        coordinator_names: Vec<String>,
    },
}

fn certs(cmd: CertsCommand) -> Result<()> {
    use printwatch_coordinator::certs;
    let issued = match cmd {
        CertsCommand::Init {
            dir,
            coordinator_names,
            collectors,
            operator,
        } => {
            let issued = certs::init(&dir, &coordinator_names, &collectors, &operator)?;
            emit(&format!(
                "fleet CA: {} (its key: {})",
                dir.join("ca.pem").display(),
                dir.join("ca.key").display()
            ));
            issued
        }
        CertsCommand::Issue {
            role,
            name,
            dir,
            coordinator_names,
        } => vec![certs::issue(&dir, role, &name, &coordinator_names)?],
    };
    for i in issued {
        emit(&format!(
            "issued: {} (key: {})",
            i.cert.display(),
            i.key.display()
        ));
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
struct DemoArgs {
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
}

async fn demo(args: DemoArgs) -> Result<()> {
    use printwatch_collector::config::{
        CollectorConfig, CoordinatorLink, Discovery, Intervals, Snmp, TlsFiles,
    };
    use printwatch_coordinator::certs::{self, Role};
    use printwatch_coordinator::client;
    use printwatch_coordinator::server::{serve as serve_fleet, ServerConfig};
    use printwatch_coordinator::store::Store;
    use printwatch_proto::v1 as p;

    if args.base.octets()[0] != 127 {
        bail!("--base must be a loopback address (127.x.y.z): the demo sends only to loopback");
    }
    if args.printers < 2 || args.printers > 2_000 {
        bail!("--printers must be between 2 and 2000");
    }
    // Everything lives in a temporary directory, removed by main once the runtime (and with
    // it every open database) has shut down.
    let dir = std::env::temp_dir().join(format!("printwatch-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = DEMO_DIR.set(dir.clone());
    let sites = ["north", "south"];
    certs::init(
        &dir,
        &["localhost".into(), "127.0.0.1".into()],
        &sites.map(String::from),
        "demo",
    )?;

    // The coordinator, over mutual TLS on loopback.
    let listen = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let store = Store::open(&dir.join("coordinator"), 32 << 20)?;
    let server = ServerConfig::from_pki(&dir, listen, 1 << 20)?;
    let fleet_store = store.clone();
    tokio::spawn(async move { serve_fleet(server, fleet_store, std::future::pending()).await });

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
            },
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
            },
            metrics: Default::default(),
        };
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            if let Err(e) = printwatch_collector::agent::run(config, shutdown).await {
                eprintln!("demo collector: {e:#}");
            }
        });
    }

    // The live fleet, as an operator sees it through the coordinator.
    let connect = client::ConnectArgs {
        coordinator: format!("https://{listen}"),
        server_name: "localhost".into(),
        pki: dir.clone(),
        operator: "demo".into(),
    };
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
            Ok(mut c) => c
                .list_devices(p::ListDevicesRequest::default())
                .await
                .map(|r| r.into_inner().devices)
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        let rows: Vec<Row> = devices
            .iter()
            .filter_map(|d| d.latest.clone())
            .filter_map(|r| agent_core::model::Reading::try_from(r).ok())
            .map(|r| Row::Read(Box::new(r)))
            .collect();
        let per_site: Vec<String> = sites
            .iter()
            .map(|s| format!("{s} {}", devices.iter().filter(|d| d.site == *s).count()))
            .collect();
        let stored: usize = devices
            .iter()
            .map(|d| store.history(&d.id, "").map_or(0, |h| h.len()))
            .sum();
        let mut screen = String::new();
        if tty {
            screen.push_str("\x1b[2J\x1b[H");
        }
        screen.push_str(&format!(
            "printwatch demo: a coordinator (mTLS on {listen}), collectors for sites north and south,\n\
             {addresses} printer addresses on {}..:{}, polled every {} (Ctrl-C stops)\n\
             cycle {cycle}: {} devices in the fleet ({}), {stored} readings stored\n\n",
            args.base,
            args.port,
            humantime::format_duration(args.interval),
            devices.len(),
            per_site.join(", "),
        ));
        screen.push_str(&render(&rows, width));
        emit(&screen);
        if args.cycles.is_some_and(|n| cycle >= n) {
            break;
        }
    }
    let _ = stop_tx.send(true);
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(())
}

#[tokio::main]
async fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo(args) => demo(args).await,
        Command::Certs(cmd) => certs(cmd),
        other => fleet(other, &cli.connect).await,
    }
}

#[global_allocator]
static ALLOCATOR: printwatch_coordinator::Allocator = printwatch_coordinator::Allocator;

/// The demo's temporary directory, removed after the runtime has stopped.
static DEMO_DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

fn main() -> std::process::ExitCode {
    let result = run();
    if let Some(dir) = DEMO_DIR.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
    agent_core::output::finish(result)
}
