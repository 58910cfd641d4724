//! `printwatch-collector run` as a process: polling simulated printers into a coordinator,
//! killed with SIGKILL mid-stream, restarted, stopped, drained. Every reading it took (its
//! outbox's sequence counter) is stored exactly once.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agent_core::sim::{serve as serve_sim, synthetic};
use printwatch_collector::outbox::Outbox;
use printwatch_coordinator::config::CoordinatorConfig;
use printwatch_coordinator::service;
use printwatch_coordinator::store::StoreReader;
use printwatch_pki::{self as certs, Role};

/// Starts the collector, its stderr appended to `collector.log` beside the config, and
/// waits until it has said it is running (its stop handlers are installed by then).
fn collector(config: &Path, no_targets: bool) -> Running {
    let log_path = config.with_extension("log");
    let before = std::fs::read_to_string(&log_path)
        .map_or(0, |l| l.matches("printwatch-collector: site").count());
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .unwrap();
    let mut c = Command::new(printwatch_tests::binary("printwatch-collector"));
    c.args(["run", "--config"])
        .arg(config)
        .stderr(Stdio::from(log));
    if no_targets {
        c.env("PRINTWATCH_TARGETS", "[]");
    }
    let child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(&log_path)
        .map_or(0, |l| l.matches("printwatch-collector: site").count())
        == before
    {
        assert!(Instant::now() < deadline, "the collector did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Running(child)
}

/// A collector process, killed when dropped, so a failing test leaves none running.
struct Running(Child);

impl std::ops::Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The collector's configuration for site hq in `dir`: polling `targets` every second,
/// streaming to `listen`, with `extra` TOML appended. Returns its path.
fn write_config(dir: &Path, listen: SocketAddr, targets: &[String], extra: &str) -> PathBuf {
    let hq = certs::paths(dir, Role::Collector, "hq");
    let config = dir.join("collector.toml");
    std::fs::write(
        &config,
        format!(
            "site = \"hq\"\ndata_dir = \"{}\"\ntargets = [{}]\n\
             [coordinator]\nendpoint = \"https://{listen}\"\nserver_name = \"localhost\"\n\
             [tls]\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n\
             [snmp]\ntimeout_ms = 300\nretries = 1\nrate = 2000\n\
             [intervals]\nstatus_seconds = 1\n{extra}",
            dir.join("outbox").display(),
            targets.join(", "),
            dir.join("ca.pem").display(),
            hq.cert.display(),
            hq.key.display()
        ),
    )
    .unwrap();
    config
}

async fn until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn stored(store: &StoreReader) -> usize {
    store
        .devices()
        .unwrap()
        .iter()
        .map(|d| store.history_len(&d.id))
        .sum()
}

fn sigint(child: &mut Child, log: &Path) {
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "the collector did not stop on SIGINT; its log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A fresh directory with the fleet's certificates (a collector for site hq), and the
/// configuration of a coordinator for it on loopback, with a metrics endpoint.
fn coordinator_config(tag: &str) -> (PathBuf, CoordinatorConfig) {
    let dir = std::env::temp_dir().join(format!("printwatch-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    certs::init(&dir, &[], &["hq".into()], "admin").unwrap();
    let mut c = CoordinatorConfig::with_pki(&dir, dir.join("db"), "127.0.0.1:0".parse().unwrap());
    c.cache_mb = 8;
    c.metrics.prometheus_listen = Some("127.0.0.1:0".parse().unwrap());
    (dir, c)
}

/// A coordinator in this process, listening when this returns.
async fn coordinator(c: &CoordinatorConfig) -> service::Running {
    service::start(c.clone())
        .await
        .expect("the coordinator starts")
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_and_restarts_lose_nothing_and_store_nothing_twice() {
    let (dir, config) = coordinator_config("run");
    let running = coordinator(&config).await;
    let (listen, store) = (running.listen, running.store.clone());

    let printers: Vec<_> = (1..=6u8)
        .map(|i| {
            (
                SocketAddr::from((Ipv4Addr::new(127, 102, 0, i), 16161)),
                synthetic::printer(102, u32::from(i)),
            )
        })
        .collect();
    let targets: Vec<String> = printers.iter().map(|(a, _)| format!("\"{a}\"")).collect();
    let _sim = serve_sim(printers).await.unwrap();
    let metrics = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = write_config(
        &dir,
        listen,
        &targets,
        &format!("[metrics]\nprometheus_listen = \"{metrics}\"\n"),
    );

    // Run, then SIGKILL while readings stream.
    let mut c = collector(&config, false);
    until("a dozen readings are stored", 30, || {
        store.last_sequence("hq").unwrap() >= 12
    })
    .await;
    c.kill().unwrap();
    c.wait().unwrap();
    let at_kill = store.last_sequence("hq").unwrap();

    // Run again: it goes on from its outbox; then stop it gracefully.
    let mut c = collector(&config, false);
    until("more readings after the restart", 30, || {
        store.last_sequence("hq").unwrap() >= at_kill + 12
    })
    .await;
    // Its metrics endpoint counts what it did since this start.
    let text = printwatch_telemetry::scrape(metrics).await.unwrap();
    let sample = |needles: &[&str]| printwatch_telemetry::sample(&text, needles);
    let ok = printwatch_telemetry::sum(&text, &["printwatch_polls_total{", "result=\"ok\""]);
    assert!(ok >= 12.0, "{text}");
    assert_eq!(
        sample(&["printwatch_collector_targets"]),
        Some(6.0),
        "{text}"
    );
    assert!(sample(&["printwatch_outbox_depth"]).is_some(), "{text}");
    let per_poll = |what: &str, kind: &str| {
        let sum = sample(&[&format!("{what}_sum{{"), &format!("kind=\"{kind}\"")]).unwrap();
        let count = sample(&[&format!("{what}_count{{"), &format!("kind=\"{kind}\"")]).unwrap();
        sum / count
    };
    // A steady poll costs two round trips here (no loss), a first read many more.
    assert!(
        per_poll("printwatch_poll_round_trips", "steady") <= 3.0,
        "{text}"
    );
    assert!(
        per_poll("printwatch_poll_round_trips", "first") >= 3.0,
        "{text}"
    );
    let bytes = per_poll("printwatch_poll_bytes", "steady");
    assert!(
        (300.0..=1500.0).contains(&bytes),
        "{bytes} B per steady poll: {text}"
    );
    assert!(
        printwatch_telemetry::sum(&text, &["printwatch_poll_duration_seconds_count{"]) >= ok,
        "{text}"
    );
    sigint(&mut c, &config.with_extension("log"));

    // Drain whatever was left, with no printers to poll.
    let taken = {
        let mut o = None;
        for _ in 0..50 {
            if let Ok(x) = Outbox::open(&dir.join("outbox")) {
                o = Some(x);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        o.expect("the outbox opens").last_seq()
    };
    let mut c = collector(&config, true);
    until("every reading taken is stored", 30, || {
        store.last_sequence("hq").unwrap() == taken
    })
    .await;
    sigint(&mut c, &config.with_extension("log"));

    assert_eq!(
        stored(&store),
        taken as usize,
        "each of the {taken} readings stored exactly once"
    );
    assert_eq!(
        store.devices().unwrap().len(),
        6,
        "six printers, six devices"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Reads the collector's resident memory now, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// A bounded soak with faults: 5 % loss everywhere, late replies and garbage from some
/// printers, printers that vanish and come back, and the coordinator stopped and started
/// again mid-run. Every envelope the collector took is stored exactly once (readings in the
/// history, failed polls as such), nothing panics, and the collector's memory stays flat.
#[tokio::test(flavor = "multi_thread")]
async fn a_soak_with_faults_loses_nothing() {
    use agent_core::sim::Faults;
    let (dir, mut coordinator_conf) = coordinator_config("soak");
    let first = coordinator(&coordinator_conf).await;
    // Restarted on the same port and store, with the same instruments: what it stored in
    // all is counted across both runs.
    coordinator_conf.listen = first.listen;
    let listen = first.listen;
    let scrape = first.metrics.expect("a metrics endpoint");

    let printers: Vec<_> = (1..=30u8)
        .map(|i| {
            let mut p = synthetic::printer(104, u32::from(i));
            p.faults = Faults {
                loss: 0.05,
                // Printers 1-5 answer late (after the collector's first timeout).
                delay: if i <= 5 {
                    Duration::from_millis(450)
                } else {
                    Duration::ZERO
                },
                // Printers 6-10 send garbage now and then.
                garbage: if (6..=10).contains(&i) { 0.05 } else { 0.0 },
                ..Faults::default()
            };
            (SocketAddr::from((Ipv4Addr::new(127, 104, 0, i), 16161)), p)
        })
        .collect();
    let targets: Vec<String> = printers.iter().map(|(a, _)| format!("\"{a}\"")).collect();
    let sim = serve_sim(printers).await.unwrap();
    let config = write_config(&dir, listen, &targets, "");

    let mut c = collector(&config, false);
    let pid = c.id();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let early = rss_kib(pid);
    // Printers 11-15 vanish; the coordinator goes down and comes back; they return.
    for d in 10..15 {
        sim.vanish(d, true);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stopped = first.stop().await.expect("the coordinator stops");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let second = service::restart(coordinator_conf, stopped)
        .await
        .expect("the coordinator starts again");
    let store = second.store.clone();
    tokio::time::sleep(Duration::from_secs(3)).await;
    for d in 10..15 {
        sim.vanish(d, false);
    }
    tokio::time::sleep(Duration::from_secs(8)).await;
    let late = rss_kib(pid);
    sigint(&mut c, &config.with_extension("log"));
    drop(c);

    // Drain what is left with no printers to poll, as in the test above.
    let taken = Outbox::open(&dir.join("outbox"))
        .expect("the outbox opens")
        .last_seq();
    let mut c = collector(&config, true);
    until("every envelope taken is stored", 60, || {
        store.last_sequence("hq").unwrap() == taken
    })
    .await;
    sigint(&mut c, &config.with_extension("log"));

    let text = printwatch_telemetry::scrape(scrape).await.unwrap();
    let count = |outcome: &str| {
        printwatch_telemetry::sum(
            &text,
            &[
                "printwatch_envelopes_total{",
                &format!("outcome=\"{outcome}\""),
            ],
        ) as usize
    };
    let (readings, failures) = (count("stored"), count("poll_failed"));
    assert!(failures > 0, "vanished printers make failed polls: {text}");
    assert_eq!(
        readings + failures,
        taken as usize,
        "every envelope taken is stored once ({readings} readings, {failures} failures)"
    );
    assert_eq!(stored(&store), readings, "every reading is in the history");
    assert_eq!(store.devices().unwrap().len(), 30);
    let log = std::fs::read_to_string(config.with_extension("log")).unwrap();
    assert!(!log.contains("panicked"), "{log}");
    // Flat: what the collector holds does not grow with the run (allowing for allocator
    // slack), here over the second half.
    assert!(
        late <= early * 3 / 2 + 4_096,
        "the collector grew from {early} KiB to {late} KiB"
    );
    second.stop().await.expect("the coordinator stops");
    let _ = std::fs::remove_dir_all(&dir);
}
