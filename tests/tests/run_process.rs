//! `printwatch-collector run` as a process: polling simulated printers into a coordinator,
//! killed with SIGKILL mid-stream, restarted, stopped, drained. Every reading it took (its
//! outbox's sequence counter) is stored exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use agent_core::sim::{serve as serve_sim, synthetic};
use printwatch_collector::outbox::Outbox;
use printwatch_coordinator::config::CoordinatorConfig;
use printwatch_coordinator::service;
use printwatch_coordinator::store::StoreReader;
use printwatch_pki::{self as certs, Role};
use printwatch_tests::{free_port, until, until_blocking, Process};

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

fn stored(store: &StoreReader) -> usize {
    store
        .devices()
        .unwrap()
        .iter()
        .map(|d| store.history_len(&d.id))
        .sum()
}

/// A fresh directory with the fleet's certificates (a collector for site hq), and the
/// configuration of a coordinator for it on loopback, with a metrics endpoint.
fn coordinator_config(tag: &str) -> (PathBuf, CoordinatorConfig) {
    let dir = printwatch_tests::tempdir(tag);
    certs::init(&dir, &[], &["hq".into()], "admin").unwrap();
    let mut c = CoordinatorConfig::with_pki(&dir, dir.join("db"), "127.0.0.1:0".parse().unwrap());
    c.cache_mb = 8;
    c.metrics.prometheus_listen = Some("127.0.0.1:0".parse().unwrap());
    (dir, c)
}

/// `printwatch-collector run` with this configuration (with no targets of its own when
/// `drain_only`: it only streams its outbox).
fn collector(config: &Path, drain_only: bool) -> Process {
    let env: &[(&str, &str)] = if drain_only {
        &[("PRINTWATCH_TARGETS", "[]")]
    } else {
        &[]
    };
    Process::collector(config, env)
}

/// The number of the last envelope the collector's outbox handed out (once it has stopped:
/// the outbox is its process's alone while it runs).
fn taken(dir: &Path) -> u64 {
    let mut last = None;
    until_blocking("the outbox to open", 10, || {
        last = Outbox::open(&dir.join("outbox")).ok().map(|o| o.last_seq());
        last.is_some()
    });
    last.unwrap_or_default()
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
    let c = collector(&config, false);
    until("a dozen readings are stored", 30, async || {
        store.last_sequence("hq").unwrap() >= 12
    })
    .await;
    c.kill();
    let at_kill = store.last_sequence("hq").unwrap();

    // Run again: it goes on from its outbox; then stop it gracefully.
    let c = collector(&config, false);
    until("more readings after the restart", 30, async || {
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
    c.interrupt();

    // Drain whatever was left, with no printers to poll.
    let taken = taken(&dir);
    let c = collector(&config, true);
    until("every reading taken is stored", 30, async || {
        store.last_sequence("hq").unwrap() == taken
    })
    .await;
    c.interrupt();

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
    let collector_metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = write_config(
        &dir,
        listen,
        &targets,
        &format!("[metrics]\nprometheus_listen = \"{collector_metrics}\"\n"),
    );
    // What the coordinator stored, by outcome, across both of its runs.
    let envelopes = async |outcome: &str| {
        let text = printwatch_telemetry::scrape(scrape)
            .await
            .unwrap_or_default();
        printwatch_telemetry::sum(
            &text,
            &[
                "printwatch_envelopes_total{",
                &format!("outcome=\"{outcome}\""),
            ],
        )
    };
    // What waits in the collector's outbox.
    let backlog = async || {
        let text = printwatch_telemetry::scrape(collector_metrics)
            .await
            .unwrap_or_default();
        printwatch_telemetry::sample(&text, &["printwatch_outbox_depth"]).unwrap_or(0.0)
    };

    let c = collector(&config, false);
    let pid = c.pid();
    // The baseline, once every printer has been read a few times.
    until("three rounds of readings stored", 60, async || {
        envelopes("stored").await >= 90.0
    })
    .await;
    let early = rss_kib(pid);
    // Printers 11-15 vanish: their polls fail, and the failures are stored.
    for d in 10..15 {
        sim.vanish(d, true);
    }
    until(
        "failed polls of the vanished printers stored",
        60,
        async || envelopes("poll_failed").await >= 5.0,
    )
    .await;
    // The coordinator goes down: what the collector takes waits in its outbox.
    let stored_before = first.store.last_sequence("hq").unwrap();
    let stopped = first.stop().await.expect("the coordinator stops");
    until("a backlog in the collector's outbox", 60, async || {
        backlog().await >= 20.0
    })
    .await;
    // It comes back and the backlog reaches it.
    let second = service::restart(coordinator_conf, stopped)
        .await
        .expect("the coordinator starts again");
    let store = second.store.clone();
    until("the backlog to be stored", 60, async || {
        store.last_sequence("hq").unwrap() >= stored_before + 20
    })
    .await;
    // The collector said the outage when it began and says when it ended.
    c.wait_for("the link to the coordinator is back", 1);
    // The vanished printers return and are read again.
    for d in 10..15 {
        sim.vanish(d, false);
    }
    let returned: Vec<String> = (11..=15).map(|i| format!("sn:SIM104-{i:05}")).collect();
    let before: Vec<usize> = returned.iter().map(|id| store.history_len(id)).collect();
    until("the returned printers to be read twice", 60, async || {
        returned
            .iter()
            .zip(&before)
            .all(|(id, n)| store.history_len(id) >= n + 2)
    })
    .await;
    let late = rss_kib(pid);
    // Each vanished printer's silence is logged when it starts and when it ends, not at
    // every failed poll (a dozen or more each).
    let log = c.log_text();
    for i in 11..=15 {
        let lines = |what: &str| {
            log.lines()
                .filter(|l| {
                    l.contains(what) && l.contains(&format!("printer=127.104.0.{i}:16161 "))
                })
                .count()
        };
        let (silent, back) = (
            lines("the printer does not answer"),
            lines("the printer answers again"),
        );
        assert!(
            silent >= 1 && back >= 1 && silent <= back + 1,
            "printer {i}: {silent} lines that it does not answer, {back} that it answers again:\n{log}"
        );
    }
    c.interrupt();

    // Drain what is left with no printers to poll, as in the test above.
    let taken = taken(&dir);
    let c = collector(&config, true);
    until("every envelope taken is stored", 60, async || {
        store.last_sequence("hq").unwrap() == taken
    })
    .await;
    c.interrupt();

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
