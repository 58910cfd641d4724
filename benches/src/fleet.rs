//! The fleet benchmark: N simulated printers on loopback, one collector polling them all
//! (a full read, then steady state), a coordinator taking the readings over mutual TLS into
//! sled, and net-snmp's `snmpbulkwalk` of the same tables against the same printers.
//!
//! The collector and the coordinator run as processes of their own ([`Nodes`]: programs
//! that link only their service, as the real binaries do), so /proc costs each alone; the
//! simulator and the baseline run here. What the collector did is read from its metrics endpoint, what reached the printers
//! from the simulator's counters.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agent_core::sim::{serve, synthetic, SimHandle, Traffic};
use anyhow::{bail, Context, Result};
use printwatch_pki::{self as certs, Role};

use crate::process::{children_cpu_seconds, usage};

/// The tables a steady poll reads, as a walker would get them: one walk per column or table.
pub const BASELINE_ROOTS: [&str; 6] = [
    "1.3.6.1.2.1.25.3.2.1.5",  // hrDeviceStatus
    "1.3.6.1.2.1.25.3.5.1",    // hrPrinterTable: status, detected error state
    "1.3.6.1.2.1.43.10.2.1.4", // prtMarkerLifeCount
    "1.3.6.1.2.1.43.11.1.1.8", // prtMarkerSuppliesMaxCapacity
    "1.3.6.1.2.1.43.11.1.1.9", // prtMarkerSuppliesLevel
    "1.3.6.1.2.1.43.18.1.1",   // prtAlertTable
];

/// The programs the benchmark runs as the collector and the coordinator: `fleet-collector`
/// and `fleet-coordinator`, built with it. Each links only its own service, as the real
/// binaries do, so its memory is the service's and not the benchmark's.
#[derive(Debug, Clone)]
pub struct Nodes {
    /// `fleet-collector`.
    pub collector: PathBuf,
    /// `fleet-coordinator`.
    pub coordinator: PathBuf,
}

/// Runs a service from the configuration file named by the first argument until SIGINT
/// or SIGTERM (or SIGKILL, which the benchmark sends), on a runtime built as the real
/// binaries build theirs.
fn node<F>(
    run: impl FnOnce(PathBuf, std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) -> F,
) -> Result<()>
where
    F: std::future::Future<Output = Result<()>>,
{
    let config = PathBuf::from(
        std::env::args_os()
            .nth(1)
            .context("usage: fleet-collector|fleet-coordinator CONFIG.toml")?,
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let stop = Box::pin(async {
            let _ = tokio::signal::ctrl_c().await;
        });
        run(config, stop).await
    })
}

/// `fleet-collector`'s main.
pub fn collector_node() -> Result<()> {
    printwatch_collector::heap::one_arena();
    node(|config, stop| async move {
        let c = printwatch_collector::config::load(Some(&config))?;
        printwatch_collector::agent::run(c, stop).await.map(|_| ())
    })
}

/// `fleet-coordinator`'s main.
pub fn coordinator_node() -> Result<()> {
    node(|config, stop| async move {
        let c = printwatch_coordinator::config::load(Some(&config))?;
        printwatch_coordinator::service::run(c, stop).await
    })
}

/// One fleet size's figures.
#[derive(Debug, Clone, Default)]
pub struct FleetFigures {
    /// Printers simulated.
    pub printers: usize,
    /// Pollers in the collector's pool.
    pub pollers: usize,
    /// From the collector's start until every printer had its full first read.
    pub first_cycle_s: f64,
    /// Steady-state polls per second, over two cycles.
    pub polls_per_s: f64,
    /// A steady cycle: every printer polled once, at that rate.
    pub steady_cycle_s: f64,
    /// Bytes (both ways, at the printers) per steady poll.
    pub bytes_per_poll: f64,
    /// Datagrams sent to the printers per steady poll.
    pub round_trips_per_poll: f64,
    /// Polls that failed.
    pub failed_polls: f64,
    /// The collector's CPU seconds over the first and the steady cycles.
    pub collector_cpu_s: f64,
    /// The collector's peak memory up to the end of the steady cycles, streaming to the
    /// coordinator as it polls: the collector as it runs every day.
    pub collector_peak_mib: f64,
    /// The collector's peak memory by the end of a coordinator outage of four cycles, its
    /// outbox full.
    pub collector_outage_peak_mib: f64,
    /// Its highest peak by the end of the longer outages (at least `STREAMED` envelopes
    /// waiting), the drain between the first two included.
    pub collector_long_outage_peak_mib: f64,
    /// Readings stored per second, collector outbox to sled over mutual TLS, the
    /// collector only streaming its backlog (as a coordinator's many collectors do, each on
    /// its own site's machine): the median of `ingest_runs`.
    pub ingest_per_s: f64,
    /// Each streaming-only drain's rate. One drain lasts seconds, and this machine's speed
    /// varies by more than half from minute to minute, so one drain alone says little.
    pub ingest_runs: Vec<f64>,
    /// The same while the collector, on the same two cores, polls every printer every
    /// second.
    pub ingest_polling_per_s: f64,
    /// Readings in those measurements, all drains together.
    pub ingested: f64,
    /// Envelopes in the outbox when the coordinator came back.
    pub backlog: f64,
    /// The highest peak memory of every coordinator the size ran: the first, which took
    /// every printer's first reading and steady polling, and each draining an outbox.
    pub coordinator_peak_mib: f64,
    /// The coordinator's CPU (user and system) per reading stored, in microseconds: the
    /// median over the streaming drains.
    pub coordinator_cpu_us_per_reading: f64,
    /// The reference, measured right after each drain on the same machine: sled's own
    /// write-and-flush of the readings' wire bytes (see [`sled_reference`]), CPU
    /// microseconds per reading, median.
    pub reference_cpu_us_per_reading: f64,
    /// The reference's readings per second, median.
    pub reference_per_s: f64,
    /// `snmpbulkwalk` of [`BASELINE_ROOTS`] for every printer, 16 at a time.
    pub baseline_cycle_s: f64,
    /// Its bytes per printer, at the printers.
    pub baseline_bytes: f64,
    /// Its datagrams per printer.
    pub baseline_round_trips: f64,
    /// Its CPU seconds (the processes', ended and reaped).
    pub baseline_cpu_s: f64,
    /// Steady state over v2c: collector CPU microseconds per poll.
    pub v2c_cpu_us_per_poll: f64,
    /// The same printers over SNMPv3 authPriv (SHA-256/AES-128), a collector of its own.
    pub v3: SteadyFigures,
}

/// One steady-state measurement: two cycles after the first full one.
#[derive(Debug, Clone, Default)]
pub struct SteadyFigures {
    /// Steady polls a second.
    pub polls_per_s: f64,
    /// Collector CPU (user and system) per steady poll, in microseconds.
    pub cpu_us_per_poll: f64,
    /// Bytes on the wire per poll, as the printers counted them.
    pub bytes_per_poll: f64,
    /// Datagrams the printers received per poll.
    pub round_trips_per_poll: f64,
    /// Polls that failed, in all.
    pub failed_polls: f64,
}

/// The bench's v3 user: what the simulated printers serve and the v3 collector reads with.
pub const V3_USER: &str = "bench";
const V3_AUTH_PASS: &str = "bench-auth-pass";
const V3_PRIV_PASS: &str = "bench-priv-pass";

fn v3_user() -> Result<agent_core::usm::UsmUser> {
    use agent_core::usm::{AuthProtocol, PrivProtocol, UsmUser};
    Ok(UsmUser::new(
        V3_USER,
        Some((AuthProtocol::Sha256, V3_AUTH_PASS.as_bytes())),
        Some((PrivProtocol::Aes128, V3_PRIV_PASS.as_bytes())),
        "",
    )?)
}

/// `[[snmp.credentials]]` for the v3 collector, its passphrases in chmod-600 files.
fn v3_credentials(dir: &Path) -> Result<String> {
    use std::os::unix::fs::PermissionsExt;
    let mut files = Vec::new();
    for (name, pass) in [("auth.pass", V3_AUTH_PASS), ("priv.pass", V3_PRIV_PASS)] {
        let f = dir.join(name);
        std::fs::write(&f, pass)?;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600))?;
        files.push(f);
    }
    Ok(format!(
        "[[snmp.credentials]]\nuser = \"{V3_USER}\"\nauth = \"SHA256\"\nauth_pass_file = \"{}\"\n\
         priv = \"AES\"\npriv_pass_file = \"{}\"\n",
        files[0].display(),
        files[1].display()
    ))
}

struct Proc {
    child: Child,
    name: &'static str,
    log: PathBuf,
}

impl Proc {
    fn start(name: &'static str, program: &Path, config: &Path) -> Result<Proc> {
        let log = config.with_extension("log");
        let child = Command::new(program)
            .arg(config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .with_context(|| format!("starting the {name}"))?;
        Ok(Proc { child, name, log })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "the {} exited ({status}); its log:\n{}",
                self.name,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
        Ok(())
    }
}

/// SIGKILL when dropped: the benchmark has what it needs; nothing of the run is kept.
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_addr() -> Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// What a metrics endpoint says, summed over the series that match.
struct Scrape(String);

impl Scrape {
    async fn from(addr: SocketAddr) -> Result<Scrape> {
        Ok(Scrape(printwatch_telemetry::scrape(addr).await?))
    }

    fn sum(&self, needles: &[&str]) -> f64 {
        printwatch_telemetry::sum(&self.0, needles)
    }

    fn polls(&self, kind: &str) -> f64 {
        self.sum(&["printwatch_polls_total{", &format!("kind=\"{kind}\"")])
    }
}

/// Waits until the scrape satisfies `done`, for at most `limit`; the collector must live.
async fn until(
    what: &str,
    addr: SocketAddr,
    proc: &mut Proc,
    limit: Duration,
    done: impl Fn(&Scrape) -> bool,
) -> Result<(Scrape, Instant)> {
    let deadline = Instant::now() + limit;
    loop {
        proc.alive()?;
        if let Ok(s) = Scrape::from(addr).await {
            if done(&s) {
                return Ok((s, Instant::now()));
            }
        }
        if Instant::now() > deadline {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn collector_toml(
    dir: &Path,
    outbox: &str,
    targets: &[SocketAddr],
    coordinator: SocketAddr,
    metrics: SocketAddr,
    pollers: usize,
) -> String {
    let files = certs::paths(dir, Role::Collector, "bench");
    let targets: Vec<String> = targets.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "site = \"bench\"\ndata_dir = \"{outbox}\"\npollers = {pollers}\ntargets = [{targets}]\n\
         [coordinator]\nendpoint = \"https://{coordinator}\"\nserver_name = \"localhost\"\n\
         [tls]\nca = \"{ca}\"\ncert = \"{cert}\"\nkey = \"{key}\"\n\
         [snmp]\ntimeout_ms = 1000\nretries = 2\nrate = 50000\n\
         [intervals]\nstatus_seconds = 1\nmeters_seconds = 86400\nidentity_seconds = 604800\n\
         [metrics]\nprometheus_listen = \"{metrics}\"\n",
        outbox = dir.join(outbox).display(),
        targets = targets.join(", "),
        ca = dir.join("ca.pem").display(),
        cert = files.cert.display(),
        key = files.key.display(),
    )
}

/// The coordinator's page cache in the benchmark: its default, 64 MiB, unless
/// PRINTWATCH_FLEET_CACHE_MB says otherwise (to measure what the setting buys).
fn cache_mb() -> u64 {
    std::env::var("PRINTWATCH_FLEET_CACHE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

fn coordinator_toml(dir: &Path, listen: SocketAddr, metrics: SocketAddr) -> String {
    format!(
        "listen = \"{listen}\"\ndata_dir = \"{db}\"\ncache_mb = {cache}\n\
         [tls]\nca = \"{pki}/ca.pem\"\ncert = \"{pki}/coordinator.pem\"\nkey = \"{pki}/coordinator.key\"\n\
         [meter_reads]\nenabled = false\n\
         [metrics]\nprometheus_listen = \"{metrics}\"\n",
        db = dir.join("db").display(),
        pki = dir.display(),
        cache = cache_mb(),
    )
}

/// The simulated printers: `n` synthetic ones from 127.`net`.0.1 up, each answering v2c
/// and, as an engine of its own, SNMPv3 for [`V3_USER`].
pub async fn printers(n: usize, net: u8) -> Result<SimHandle> {
    let base = u32::from(Ipv4Addr::new(127, net, 0, 1));
    let user = v3_user()?;
    let devices = (0..n as u32)
        .map(|i| {
            let mut d = synthetic::printer(u64::from(net), i);
            let mut engine = b"\x80\x00\x1f\x88\x04bench".to_vec();
            engine.extend_from_slice(&i.to_be_bytes());
            d.v3 = Some(agent_core::sim::SimUsm::new(engine, user.clone()));
            (SocketAddr::from((Ipv4Addr::from(base + i), 16161)), d)
        })
        .collect();
    serve(devices)
        .await
        .with_context(|| format!("binding {n} simulated printers (ulimit -n?)"))
}

fn diff(a: Traffic, b: Traffic) -> (u64, u64) {
    (
        b.requests - a.requests,
        (b.bytes_in + b.bytes_out) - (a.bytes_in + a.bytes_out),
    )
}

/// Measures one fleet size. `net` picks the loopback /16 the printers live in.
pub async fn measure(nodes: &Nodes, n: usize, net: u8, pollers: usize) -> Result<FleetFigures> {
    let dir = std::env::temp_dir().join(format!("printwatch-fleet-{n}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    certs::init(&dir, &[], &["bench".to_string()], "admin")?;
    let sim = printers(n, net).await?;
    let (listen, coll_metrics, coord_metrics) = (free_addr()?, free_addr()?, free_addr()?);
    let ccfg = dir.join("collector.toml");
    std::fs::write(
        &ccfg,
        collector_toml(&dir, "outbox", sim.addrs(), listen, coll_metrics, pollers),
    )?;
    let kcfg = dir.join("coordinator.toml");
    std::fs::write(&kcfg, coordinator_toml(&dir, listen, coord_metrics))?;
    let mut f = FleetFigures {
        printers: n,
        pollers,
        ..FleetFigures::default()
    };
    let nf = n as f64;

    // The coordinator, then the collector: a full read of every printer, then steady
    // state, every reading streamed into sled as it is taken.
    let limit = Duration::from_secs(60 + n as u64 / 50);
    let coordinator = coordinator_up(nodes, &kcfg, coord_metrics, limit).await?;
    let started = Instant::now();
    let mut collector = Proc::start("collector", &nodes.collector, &ccfg)?;
    let (_, first_done) = until(
        "every first read",
        coll_metrics,
        &mut collector,
        limit,
        |s| s.polls("first") >= nf,
    )
    .await?;
    f.first_cycle_s = first_done.duration_since(started).as_secs_f64();
    // Steady state from the second steady cycle on, measured over two cycles.
    let v2c = steady(&sim, coll_metrics, &mut collector, nf, limit).await?;
    f.polls_per_s = v2c.polls_per_s;
    f.steady_cycle_s = nf / f.polls_per_s;
    f.bytes_per_poll = v2c.bytes_per_poll;
    f.round_trips_per_poll = v2c.round_trips_per_poll;
    f.failed_polls = v2c.failed_polls;
    f.v2c_cpu_us_per_poll = v2c.cpu_us_per_poll;
    let u = usage(collector.pid()).context("the collector's usage")?;
    f.collector_cpu_s = u.cpu_seconds;
    f.collector_peak_mib = u.peak_mib;

    // An outage: the coordinator goes away while the collector polls on, its readings
    // gathering in the outbox for four cycles. Then the coordinator comes back and the
    // backlog streams over mutual TLS into sled, the collector still polling. Every
    // coordinator's peak counts, this first one's too: it stored every printer's first
    // reading.
    f.coordinator_peak_mib = coordinator_peak(&coordinator)?;
    drop(coordinator);
    let backlog = outage(coll_metrics, &mut collector, nf, 0.0, limit).await?;
    f.collector_outage_peak_mib = usage(collector.pid())
        .context("the collector's usage")?
        .peak_mib;
    let mut coordinator = Proc::start("coordinator", &nodes.coordinator, &kcfg)?;
    let d = drain(
        coll_metrics,
        &mut collector,
        coord_metrics,
        &mut coordinator,
        &backlog,
        limit,
    )
    .await?;
    f.ingest_polling_per_s = d.per_s;
    f.backlog = backlog.depth;
    f.coordinator_peak_mib = f.coordinator_peak_mib.max(coordinator_peak(&coordinator)?);

    // The same again, but the collector comes back after the outage with its printers
    // left to another collector (no targets): it only streams its outbox. Collectors run
    // on their sites' machines, so here the coordinator's share of the two cores is what a
    // coordinator has, not what is left beside a collector polling thousands of printers
    // every second.
    // The backlog is at least STREAMED envelopes, so that the drain lasts long enough to
    // time well at every fleet size; the collector's peak is taken again at its end. It is
    // done STREAM_RUNS times, a polling collector started afresh for each next outage, and
    // the median is the figure.
    drop(coordinator);
    let stream_metrics = free_addr()?;
    let scfg = dir.join("streamer.toml");
    std::fs::write(
        &scfg,
        collector_toml(&dir, "outbox", &[], listen, stream_metrics, pollers),
    )?;
    let mut polling = Some(collector);
    let (mut cpu_per_reading, mut reference, mut reference_rate) =
        (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..STREAM_RUNS {
        let mut collector = match polling.take() {
            Some(c) => c,
            None => {
                let mut c = Proc::start("collector", &nodes.collector, &ccfg)?;
                until("the collector", coll_metrics, &mut c, limit, |_| true).await?;
                c
            }
        };
        outage(coll_metrics, &mut collector, nf, STREAMED, limit).await?;
        let peak = usage(collector.pid())
            .context("the collector's usage")?
            .peak_mib;
        f.collector_long_outage_peak_mib = f.collector_long_outage_peak_mib.max(peak);
        drop(collector);
        let mut coordinator = coordinator_up(nodes, &kcfg, coord_metrics, limit).await?;
        let mut streamer = Proc::start("collector", &nodes.collector, &scfg)?;
        // The backlog as the streamer found it: readings the killed collector had numbered
        // but not yet made durable are gone with it, so the outage's last scrape may count
        // more.
        let (found, _) = until("the streamer", stream_metrics, &mut streamer, limit, |_| {
            true
        })
        .await?;
        let backlog = Backlog::of(&found);
        let d = drain(
            stream_metrics,
            &mut streamer,
            coord_metrics,
            &mut coordinator,
            &backlog,
            limit,
        )
        .await?;
        f.ingest_runs.push(d.per_s);
        f.ingested += d.ingested;
        cpu_per_reading.push(d.coordinator_cpu_s * 1e6 / d.ingested.max(1.0));
        f.coordinator_peak_mib = f.coordinator_peak_mib.max(coordinator_peak(&coordinator)?);
        drop(streamer);
        drop(coordinator);
        let (us, per_s) = sled_reference(d.ingested as usize)?;
        reference.push(us);
        reference_rate.push(per_s);
    }
    f.ingest_per_s = median(&f.ingest_runs);
    f.coordinator_cpu_us_per_reading = median(&cpu_per_reading);
    f.reference_cpu_us_per_reading = median(&reference);
    f.reference_per_s = median(&reference_rate);
    if !ingest_only() {
        // SNMPv3 authPriv: a collector of its own, with only the v3 user, polls the same
        // printers into a coordinator; its steady state is measured as v2c's was.
        let v3_metrics = free_addr()?;
        let v3cfg = dir.join("collector-v3.toml");
        std::fs::write(
            &v3cfg,
            collector_toml(&dir, "outbox-v3", sim.addrs(), listen, v3_metrics, pollers)
                + &v3_credentials(&dir)?,
        )?;
        let coordinator = coordinator_up(nodes, &kcfg, coord_metrics, limit).await?;
        let mut collector = Proc::start("collector", &nodes.collector, &v3cfg)?;
        f.v3 = steady(&sim, v3_metrics, &mut collector, nf, limit).await?;
        drop(collector);
        drop(coordinator);

        // The baseline: snmpbulkwalk of the same tables, every printer, 16 walks at a time.
        let cpu0 = children_cpu_seconds();
        let wire0 = sim.traffic();
        let t0 = Instant::now();
        baseline(sim.addrs(), 16).await?;
        f.baseline_cycle_s = t0.elapsed().as_secs_f64();
        f.baseline_cpu_s = children_cpu_seconds() - cpu0;
        let (requests, bytes) = diff(wire0, sim.traffic());
        f.baseline_bytes = bytes as f64 / nf;
        f.baseline_round_trips = requests as f64 / nf;
    }
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(f)
}

/// PRINTWATCH_FLEET_ONLY=ingest: each size stops after the drains (the coordinator's
/// figures), without SNMPv3, the baseline or the discovery sweep.
pub fn ingest_only() -> bool {
    std::env::var("PRINTWATCH_FLEET_ONLY").is_ok_and(|v| v == "ingest")
}

/// PRINTWATCH_FLEET_ONLY=ipp: only the IPP rows, no simulated fleet.
pub fn ipp_only() -> bool {
    std::env::var("PRINTWATCH_FLEET_ONLY").is_ok_and(|v| v == "ipp")
}

/// Waits for every first read, then times two steady cycles from the second one on.
async fn steady(
    sim: &SimHandle,
    metrics: SocketAddr,
    collector: &mut Proc,
    nf: f64,
    limit: Duration,
) -> Result<SteadyFigures> {
    until("every first read", metrics, collector, limit, |s| {
        s.polls("first") >= nf
    })
    .await?;
    let (from, t0) = until("a steady cycle", metrics, collector, limit, |s| {
        s.polls("steady") >= nf
    })
    .await?;
    let wire0 = sim.traffic();
    let cpu0 = usage(collector.pid())
        .context("the collector's usage")?
        .cpu_seconds;
    let base = from.polls("steady");
    let (to, t1) = until(
        "two more steady cycles",
        metrics,
        collector,
        limit * 2,
        |s| s.polls("steady") >= base + 2.0 * nf,
    )
    .await?;
    let cpu1 = usage(collector.pid())
        .context("the collector's usage")?
        .cpu_seconds;
    let polls = to.polls("steady") - base;
    let (requests, bytes) = diff(wire0, sim.traffic());
    Ok(SteadyFigures {
        polls_per_s: polls / t1.duration_since(t0).as_secs_f64(),
        cpu_us_per_poll: (cpu1 - cpu0) * 1e6 / polls,
        bytes_per_poll: bytes as f64 / polls,
        round_trips_per_poll: requests as f64 / polls,
        // A sum of no series is -0.
        failed_polls: to
            .sum(&["printwatch_polls_total{", "result=\"failed\""])
            .max(0.0),
    })
}

/// A coordinator's peak resident memory so far, in MiB.
fn coordinator_peak(coordinator: &Proc) -> Result<f64> {
    Ok(usage(coordinator.pid())
        .context("the coordinator's usage")?
        .peak_mib)
}

/// Starts the coordinator and waits until its metrics endpoint answers.
async fn coordinator_up(
    nodes: &Nodes,
    config: &Path,
    metrics: SocketAddr,
    limit: Duration,
) -> Result<Proc> {
    let mut coordinator = Proc::start("coordinator", &nodes.coordinator, config)?;
    until("the coordinator", metrics, &mut coordinator, limit, |_| {
        true
    })
    .await?;
    Ok(coordinator)
}

/// The least backlog the streaming-only drain is timed over: two seconds at the target.
const STREAMED: f64 = 40_000.0;

/// How many streaming-only drains are timed.
const STREAM_RUNS: usize = 3;

/// The middle value (of an odd count; the upper middle of an even one).
fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// What an outage left in the outbox.
struct Backlog {
    /// Envelopes waiting.
    depth: f64,
    /// Envelopes acknowledged before it (the outbox's count, which survives a restart).
    acked: f64,
}

/// The collector polls on with no coordinator, for four cycles and until at least
/// `at_least` envelopes wait in its outbox.
async fn outage(
    metrics: SocketAddr,
    collector: &mut Proc,
    nf: f64,
    at_least: f64,
    limit: Duration,
) -> Result<Backlog> {
    let polled = Scrape::from(metrics).await?.polls("steady");
    until("the backlog", metrics, collector, limit * 4, |s| {
        s.polls("steady") >= polled + 4.0 * nf && s.sum(&["printwatch_outbox_depth"]) >= at_least
    })
    .await?;
    Ok(Backlog::of(&Scrape::from(metrics).await?))
}

impl Backlog {
    /// The backlog a collector's scrape shows.
    fn of(s: &Scrape) -> Backlog {
        Backlog {
            depth: s.sum(&["printwatch_outbox_depth"]),
            acked: s.sum(&["printwatch_outbox_acknowledged"]),
        }
    }
}

/// A backlog streamed into sled.
struct Drained {
    /// Envelopes acknowledged per second.
    per_s: f64,
    /// Envelopes acknowledged over the measurement.
    ingested: f64,
    /// The coordinator's CPU seconds over the measurement.
    coordinator_cpu_s: f64,
}

/// What sled alone costs to store what a collector sends: `n` readings' wire encodings
/// (protobuf, as they arrive), keyed by device and time, one flush per 256 (a full ingest
/// batch), in a database of its own. Returns CPU microseconds per reading (this process's,
/// which does nothing else meanwhile) and readings per second. A machine that is slower
/// this minute is slower for both, so the coordinator's cost over this one is a figure
/// that holds from run to run where a rate does not.
pub fn sled_reference(n: usize) -> Result<(f64, f64)> {
    use prost::Message;
    let dir =
        std::env::temp_dir().join(format!("printwatch-sled-reference-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bytes: Vec<Vec<u8>> = (0..64)
        .map(|i| {
            let device = synthetic::printer(7, i);
            let mut r = agent_core::decode::reading(&device.view, "127.0.0.9:161");
            r.polled_at = "2026-11-30T10:00:00.123456789Z".into();
            printwatch_proto::v1::Reading::from(r).encode_to_vec()
        })
        .collect();
    let db = sled::Config::new()
        .path(&dir)
        .cache_capacity(64 << 20)
        .open()?;
    let tree = db.open_tree("reference")?;
    let cpu0 = usage(std::process::id())
        .context("this process")?
        .cpu_seconds;
    let t0 = Instant::now();
    for i in 0..n {
        let mut key = format!("sn:{:06}", i % 10_000).into_bytes();
        key.push(0);
        key.extend_from_slice(&(i as u64).to_be_bytes());
        tree.insert(key, &bytes[i % bytes.len()][..])?;
        if i % 256 == 255 {
            db.flush()?;
        }
    }
    db.flush()?;
    let seconds = t0.elapsed().as_secs_f64();
    let cpu = usage(std::process::id())
        .context("this process")?
        .cpu_seconds
        - cpu0;
    drop(tree);
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
    Ok((cpu * 1e6 / n as f64, n as f64 / seconds))
}

/// Times `backlog` envelopes from the collector's outbox into the (re)started coordinator.
/// Timed from the collector's side, by what the coordinator acknowledged (stored and
/// flushed): scraping the coordinator, whose metrics carry a gauge per supply of the fleet,
/// twenty times a second would take the very CPU being measured. From the first
/// acknowledgement until as many envelopes as the backlog held are: new readings may join
/// the queue behind it, so the outbox need not empty when ingest is slower than polling.
async fn drain(
    metrics: SocketAddr,
    collector: &mut Proc,
    coordinator_metrics: SocketAddr,
    coordinator: &mut Proc,
    backlog: &Backlog,
    limit: Duration,
) -> Result<Drained> {
    let acked = |s: &Scrape| s.sum(&["printwatch_outbox_acknowledged"]);
    let before = backlog.acked;
    let (s0, t0) = until(
        "the first readings stored",
        metrics,
        collector,
        limit,
        |s| acked(s) > before,
    )
    .await?;
    coordinator.alive()?;
    let cpu = || -> Result<f64> {
        Ok(usage(coordinator.pid())
            .context("the coordinator's usage")?
            .cpu_seconds)
    };
    let cpu0 = cpu()?;
    let (s1, t1) = until("the backlog stored", metrics, collector, limit * 2, |s| {
        acked(s) >= before + backlog.depth
    })
    .await?;
    let coordinator_cpu_s = cpu()? - cpu0;
    coordinator.alive()?;
    let ingested = acked(&s1) - acked(&s0);
    let stored = Scrape::from(coordinator_metrics)
        .await?
        .sum(&["printwatch_envelopes_total{"]);
    // Replays of what the last coordinator stored but did not acknowledge count too.
    if stored < ingested {
        bail!("the collector saw {ingested} envelopes acknowledged, the coordinator took only {stored}");
    }
    Ok(Drained {
        per_s: ingested / t1.duration_since(t0).as_secs_f64(),
        ingested,
        coordinator_cpu_s,
    })
}

/// Walks [`BASELINE_ROOTS`] of every printer with `snmpbulkwalk`, `parallel` at a time.
pub async fn baseline(addrs: &[SocketAddr], parallel: usize) -> Result<()> {
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut walks = tokio::task::JoinSet::new();
    for addr in addrs {
        for root in BASELINE_ROOTS {
            let permit = gate.clone().acquire_owned().await?;
            let target = format!("udp:{addr}");
            walks.spawn(async move {
                let out = tokio::process::Command::new("snmpbulkwalk")
                    .args(["-v2c", "-c", "public", "-On", "-t", "1", "-r", "2"])
                    .arg(&target)
                    .arg(root)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .output()
                    .await;
                drop(permit);
                match out {
                    Ok(o) if o.status.success() && !o.stdout.is_empty() => Ok(()),
                    Ok(o) => Err(anyhow::anyhow!(
                        "snmpbulkwalk {target} {root}: {}",
                        String::from_utf8_lossy(&o.stderr)
                    )),
                    Err(e) => Err(anyhow::anyhow!(
                        "snmpbulkwalk (Debian: apt-get install snmp): {e}"
                    )),
                }
            });
        }
        while let Some(done) = walks.try_join_next() {
            done??;
        }
    }
    while let Some(done) = walks.join_next().await {
        done??;
    }
    Ok(())
}

/// The figures as a markdown table, with the targets and the ratios to the baseline.
pub fn table(
    figures: &[FleetFigures],
    discovery: Option<&crate::discovery::DiscoveryFigures>,
) -> String {
    let mut t = String::new();
    t.push_str("| printers | first cycle | steady cycle | polls/s | B/poll | round trips/poll | collector CPU | collector peak | in an outage | after 40,000 waiting | ingest, median (each drain) | ingest, polling on | coordinator peak | snmpbulkwalk cycle | its B / round trips per printer | speed-up | fewer bytes |\n");
    t.push_str(
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for f in figures {
        t.push_str(&format!(
            "| {} | {:.1} s | {:.1} s | {:.0} | {:.0} | {:.2} | {:.1} s | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.0}/s ({}) | {:.0}/s | {:.1} MiB | {:.1} s | {:.0} / {:.1} | {:.1}x | {:.1}x |\n",
            f.printers,
            f.first_cycle_s,
            f.steady_cycle_s,
            f.polls_per_s,
            f.bytes_per_poll,
            f.round_trips_per_poll,
            f.collector_cpu_s,
            f.collector_peak_mib,
            f.collector_outage_peak_mib,
            f.collector_long_outage_peak_mib,
            f.ingest_per_s,
            runs(&f.ingest_runs),
            f.ingest_polling_per_s,
            f.coordinator_peak_mib,
            f.baseline_cycle_s,
            f.baseline_bytes,
            f.baseline_round_trips,
            f.baseline_cycle_s / f.steady_cycle_s,
            f.baseline_bytes / f.bytes_per_poll,
        ));
    }
    if let Some(d) = discovery {
        t.push_str(&format!(
            "\n| discovery of a /16 ({} printers among 65,534 addresses, {} pps) | {:.1} s, {} probes ({:.2} per address), {:.0} probe bytes per printer, {} of {} found and read |\n|---|---|\n",
            d.printers_served,
            d.rate,
            d.seconds,
            d.requests,
            d.requests as f64 / d.probed.max(1) as f64,
            d.bytes_per_printer,
            d.read,
            d.printers_served,
        ));
    }
    t.push_str("\nWhat ingest costs the coordinator, beside sled's own write-and-flush of the same readings' bytes measured in the same run (median of the streaming drains):\n\n");
    t.push_str("| printers | coordinator CPU per reading stored | sled alone, CPU per reading | sled alone, readings/s | coordinator over sled | coordinator peak |\n|---:|---:|---:|---:|---:|---:|\n");
    for f in figures {
        t.push_str(&format!(
            "| {} | {:.1} µs | {:.1} µs | {:.0}/s | {:.2}x | {:.1} MiB |\n",
            f.printers,
            f.coordinator_cpu_us_per_reading,
            f.reference_cpu_us_per_reading,
            f.reference_per_s,
            f.coordinator_cpu_us_per_reading
                / f.reference_cpu_us_per_reading.max(f64::MIN_POSITIVE),
            f.coordinator_peak_mib,
        ));
    }
    t.push_str("\nThe same printers over SNMPv3 authPriv (SHA-256, AES-128), a collector with only the v3 user, beside v2c (steady state, two cycles):\n\n");
    t.push_str("| printers | polls/s v2c | polls/s v3 | collector CPU per poll v2c | v3 | B/poll v2c | v3 | round trips/poll v2c | v3 | failed v3 polls |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for f in figures {
        t.push_str(&format!(
            "| {} | {:.0} | {:.0} | {:.0} µs | {:.0} µs | {:.0} | {:.0} | {:.2} | {:.2} | {:.0} |\n",
            f.printers,
            f.polls_per_s,
            f.v3.polls_per_s,
            f.v2c_cpu_us_per_poll,
            f.v3.cpu_us_per_poll,
            f.bytes_per_poll,
            f.v3.bytes_per_poll,
            f.round_trips_per_poll,
            f.v3.round_trips_per_poll,
            f.v3.failed_polls,
        ));
    }
    t.push_str("\nTargets on this machine:\n");
    let at = |n: usize| figures.iter().find(|f| f.printers == n);
    if let Some(f) = at(10_000) {
        t.push_str(&format!(
            "- 10,000 printers polled in at most 10 s: steady {:.1} s, first read {:.1} s: {}\n",
            f.steady_cycle_s,
            f.first_cycle_s,
            yes(f.steady_cycle_s <= 10.0)
        ));
    }
    // At every fleet size: a coordinator's rate that holds only for small fleets is not
    // the target met.
    let ingest: Vec<String> = figures
        .iter()
        .map(|f| {
            format!(
                "{:.0}/s at {} printers (the median of {}): {}",
                f.ingest_per_s,
                f.printers,
                runs(&f.ingest_runs),
                yes(f.ingest_per_s >= 20_000.0)
            )
        })
        .collect();
    t.push_str(&format!(
        "- at least 20,000 readings/s into the coordinator: {}\n",
        ingest.join("; ")
    ));
    if let Some(f) = at(2_000) {
        t.push_str(&format!(
            "- the collector under 30 MB with 2,000 printers: {}; while an outage's backlog \
             fills its outbox: {}; after a backlog of {:.0} envelopes: {}\n",
            mb(f.collector_peak_mib),
            mb(f.collector_outage_peak_mib),
            STREAMED,
            mb(f.collector_long_outage_peak_mib),
        ));
    }
    let worst_bytes = figures.iter().map(|f| f.bytes_per_poll).fold(0.0, f64::max);
    t.push_str(&format!(
        "- at most 1,500 bytes per steady poll: {worst_bytes:.0}: {}\n",
        yes(worst_bytes <= 1_500.0)
    ));
    t
}

/// Each drain's rate, as the table lists them.
fn runs(rates: &[f64]) -> String {
    let rates: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
    rates.join(", ")
}

/// A peak in MiB against the collector's target, which is in MB.
fn mb(mib: f64) -> String {
    let mb = mib * 1.048_576;
    format!("{mib:.1} MiB ({mb:.1} MB): {}", yes(mb < 30.0))
}

/// A target met, or not, as the table says it.
fn yes(ok: bool) -> &'static str {
    if ok {
        "yes"
    } else {
        "**NO**"
    }
}
