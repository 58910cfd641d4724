//! Keeping printers supplied, end to end with real peers on loopback: the coordinator as a
//! process, a collector, a simulated printer whose toner the test drains and refills,
//! aiosmtpd (a real SMTP server) storing each mail as a file, tinyproxy (a real HTTP proxy)
//! and an HTTPS endpoint of the test's own standing in for the dealer.
//!
//! - Draining to the reorder point gives exactly one alert, one mail and one immediate
//!   batch through the proxy; refilling closes the alert (and mails that).
//! - With the dealer down, batches wait; across a coordinator restart and after the
//!   endpoint comes back, every batch arrives exactly once.
//! - What reaches the dealer holds no address, host name, site, sysName, sysLocation or
//!   contact.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use printwatch_proto::listing::Joined;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use agent_core::message::Value;
use agent_core::mib;
use agent_core::oid::Oid;
use agent_core::sim::{serve as serve_sim, synthetic};
use printwatch_pki::{self as certs, Role};
use printwatch_proto::v1 as p;
use printwatch_proto::v1::fleet_client::FleetClient;

use printwatch_tests::grpc::channel;
use printwatch_tests::{eventually, free_port, tempdir, until, wait_port, Kill, Process};

mod common;
use common::{dealer_endpoint, Received};

/// aiosmtpd, storing each mail as a file in `dir`. The Python with aiosmtpd comes from
/// PRINTWATCH_PYTHON (scripts/test makes a venv), else the system's.
fn smtp_server(dir: &Path) -> (Kill, u16) {
    let port = free_port();
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let python = std::env::var("PRINTWATCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let child = Command::new(&python)
        .args(["-m", "aiosmtpd", "-n", "-l"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("starting aiosmtpd with {python}: {e} (run scripts/test, which installs it)")
        });
    let k = Kill(child);
    wait_port(
        SocketAddr::from(([127, 0, 0, 1], port)),
        "aiosmtpd (pip install aiosmtpd)",
    );
    (k, port)
}

/// Mails in an aiosmtpd Mailbox directory (a maildir: new/ holds each as a file).
fn mails(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
            for e in rd.flatten() {
                out.push(std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
    }
    out
}

/// tinyproxy on loopback, allowing CONNECT to any port.
fn proxy(dir: &Path) -> (Kill, u16) {
    let port = free_port();
    let conf = dir.join("tinyproxy.conf");
    std::fs::write(
        &conf,
        format!(
            "Port {port}\nListen 127.0.0.1\nAllow 127.0.0.1\nTimeout 30\nMaxClients 50\nLogLevel Info\nLogFile \"{}\"\nPidFile \"{}\"\n",
            dir.join("tinyproxy.log").display(),
            dir.join("tinyproxy.pid").display()
        ),
    )
    .unwrap();
    let bin = if Path::new("/usr/bin/tinyproxy").exists() {
        "/usr/bin/tinyproxy"
    } else {
        "tinyproxy"
    };
    let child = Command::new(bin)
        .args(["-d", "-c"])
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting tinyproxy (apt-get install tinyproxy)");
    let k = Kill(child);
    wait_port(SocketAddr::from(([127, 0, 0, 1], port)), "tinyproxy");
    (k, port)
}

/// A coordinator's configuration, and where its metrics are scraped.
struct Coordinator {
    config: PathBuf,
    metrics: SocketAddr,
}

impl Coordinator {
    /// `printwatch-coordinator` with this configuration, listening when this returns.
    fn start(&self) -> Process {
        Process::coordinator(&self.config)
    }

    /// Mails and dealer batches queued and not yet accepted, from its metrics.
    async fn queued(&self) -> Option<(f64, f64)> {
        let text = printwatch_telemetry::scrape(self.metrics).await.ok()?;
        let depth = |queue: &str| {
            printwatch_telemetry::sample(
                &text,
                &["printwatch_outbox_depth", &format!("queue=\"{queue}\"")],
            )
        };
        Some((depth("mail")?, depth("dealer")?))
    }
}

/// A coordinator configuration: mail to `contacts` of site `site` through aiosmtpd, the
/// dealer at `dealer_url` through the proxy.
fn coordinator_config(
    dir: &Path,
    listen: SocketAddr,
    site: &str,
    smtp_port: u16,
    dealer_url: &str,
    proxy_port: u16,
    batches_per_day: u32,
) -> Coordinator {
    let config = dir.join("coordinator.toml");
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    std::fs::write(
        &config,
        format!(
            r#"listen = "{listen}"
data_dir = "{db}"
cache_mb = 8
[tls]
ca = "{pki}/ca.pem"
cert = "{pki}/coordinator.pem"
key = "{pki}/coordinator.key"
[alerts]
check_seconds = 1
[sites.{site}]
contacts = ["toner-desk@example.com"]
[mail]
enabled = true
server = "127.0.0.1"
port = {smtp_port}
security = "none"
from = "printwatch@example.com"
[dealer]
enabled = true
url = "{dealer_url}"
proxy = "http://127.0.0.1:{proxy_port}"
ca_file = "{pki}/ca.pem"
batches_per_day = {batches_per_day}
max_backoff_seconds = 2
[meter_reads]
enabled = false
[metrics]
prometheus_listen = "{metrics}"
"#,
            db = dir.join("db").display(),
            pki = dir.display(),
        ),
    )
    .unwrap();
    Coordinator { config, metrics }
}

async fn operator(listen: SocketAddr, dir: &Path) -> FleetClient<tonic::transport::Channel> {
    let op = certs::paths(dir, Role::Operator, "admin");
    FleetClient::new(
        channel(listen, &dir.join("ca.pem"), Some((&op.cert, &op.key)))
            .await
            .unwrap(),
    )
}

fn reorder_batches(r: &Received) -> Vec<serde_json::Value> {
    r.lock()
        .unwrap()
        .iter()
        .filter(|(_, b)| b["reason"] == "reorder")
        .map(|(_, b)| b.clone())
        .collect()
}

/// Every key a JSON value uses, anywhere in it.
fn keys(v: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                out.insert(k.clone());
                keys(v, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_draining_toner_alerts_once_mails_once_uploads_once_and_a_refill_closes_it() {
    let dir = tempdir("supplied");
    let site = "north-campus-7";
    certs::init(&dir, &[], &[site.to_string()], "admin").unwrap();
    let (_smtp, smtp_port) = smtp_server(&dir.join("mail"));
    let (_proxy, proxy_port) = proxy(&dir);
    let received: Received = Arc::default();
    let dealer = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dealer_url = format!(
        "https://localhost:{}/v1/batches",
        dealer.local_addr().unwrap().port()
    );
    let _endpoint = dealer_endpoint(dealer, &dir, received.clone()).await;

    // One printer whose black toner the test sets; it also gives away names it must keep.
    // Every supply full, no standing paper jam (this test is about toner).
    let mut printer = printwatch_tests::sim::steady(synthetic::printer(77, 0));
    let level = mib::supply_level().child(&[1, 1]);
    let secret = |s: &str| Value::OctetString(s.as_bytes().to_vec());
    printer.view.insert(
        "1.3.6.1.2.1.1.5.0".parse::<Oid>().unwrap(),
        secret("pw-sysname-marker"),
    );
    printer.view.insert(
        "1.3.6.1.2.1.1.6.0".parse::<Oid>().unwrap(),
        secret("pw-location-marker"),
    );
    printer.view.insert(
        "1.3.6.1.2.1.1.4.0".parse::<Oid>().unwrap(),
        secret("pw-contact-marker"),
    );
    // The black toner at 50 %.
    printer.view.insert(level.clone(), Value::Integer(50));
    let sim = serve_sim(vec![("127.91.0.5:0".parse().unwrap(), printer)])
        .await
        .unwrap();
    let printer_addr = sim.addrs()[0];

    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let coord = coordinator_config(&dir, listen, site, smtp_port, &dealer_url, proxy_port, 1);
    let _coordinator = coord.start();

    let collector_files = certs::paths(&dir, Role::Collector, site);
    let mut c = printwatch_collector::config::CollectorConfig {
        site: site.into(),
        data_dir: dir.join("outbox"),
        targets: vec![printer_addr.to_string()],
        ..Default::default()
    };
    c.coordinator.endpoint = format!("https://{listen}");
    c.tls.ca = dir.join("ca.pem");
    c.tls.cert = collector_files.cert;
    c.tls.key = collector_files.key;
    c.intervals.status_seconds = 1;
    c.intervals.meters_seconds = 1;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let collector = tokio::spawn(printwatch_collector::agent::run(c, async {
        let _ = stopped.await;
    }));

    let mut fleet = operator(listen, &dir).await;
    let open_alerts = async |fleet: &mut FleetClient<_>| {
        fleet
            .list_alerts(p::ListAlertsRequest {
                include_closed: false,
            })
            .await
            .unwrap()
            .into_inner()
            .joined()
            .await
            .unwrap()
    };
    // Whether the coordinator holds a reading of a supply at `percent`.
    let at_percent = async |fleet: &mut FleetClient<_>, percent: u32| {
        let Ok(rows) = fleet.list_supplies(p::ListSuppliesRequest::default()).await else {
            return false;
        };
        rows.into_inner().joined().await.is_ok_and(|rows| {
            rows.iter()
                .any(|r| r.supply.as_ref().and_then(|s| s.percent) == Some(percent))
        })
    };
    // Read at 50 %: a device, no alert.
    until("the printer at 50 %", 30, async || {
        at_percent(&mut fleet, 50).await
    })
    .await;
    let supply_low = |a: &p::FleetAlert| a.kind == "supply_low";
    assert!(!open_alerts(&mut fleet).await.iter().any(supply_low));

    // Drain to the reorder point (15 %), then under it.
    sim.set(0, level.clone(), Value::Integer(15));
    let alert = eventually("the low-toner alert", 30, async || {
        open_alerts(&mut fleet).await.into_iter().find(supply_low)
    })
    .await;
    assert!(alert.detail.contains("15 %"), "{}", alert.detail);
    sim.set(0, level.clone(), Value::Integer(12));
    eventually("one mail", 30, async || {
        (mails(&dir.join("mail")).len() == 1).then_some(())
    })
    .await;
    eventually("one reorder batch", 30, async || {
        (reorder_batches(&received).len() == 1).then_some(())
    })
    .await;
    // Several more readings at 12 and 11 % reach the coordinator, and what they queued is
    // sent: nothing repeats.
    let stored = async |fleet: &mut FleetClient<_>| {
        let asked = fleet
            .history(p::HistoryRequest {
                device_id: "sn:SIM77-00000".into(),
                since: String::new(),
            })
            .await;
        match asked {
            Ok(h) => h.into_inner().joined().await.map_or(0, |h| h.len()),
            Err(_) => 0,
        }
    };
    let before = stored(&mut fleet).await;
    until("three more readings at 12 %", 30, async || {
        stored(&mut fleet).await >= before + 3
    })
    .await;
    sim.set(0, level.clone(), Value::Integer(11));
    until("a reading at 11 %", 30, async || {
        at_percent(&mut fleet, 11).await
    })
    .await;
    let at_11 = stored(&mut fleet).await;
    until("two more readings at 11 %", 30, async || {
        stored(&mut fleet).await >= at_11 + 2
    })
    .await;
    until("the mail and dealer outboxes to be empty", 30, async || {
        coord.queued().await == Some((0.0, 0.0))
    })
    .await;
    let low: Vec<_> = open_alerts(&mut fleet)
        .await
        .into_iter()
        .filter(supply_low)
        .collect();
    assert_eq!(low.len(), 1, "{low:?}");
    let all_mail = mails(&dir.join("mail"));
    assert_eq!(all_mail.len(), 1, "exactly one mail: {all_mail:#?}");
    let m = &all_mail[0];
    for want in [
        "OPEN",
        "toner-desk@example.com",
        site,
        "Black Toner",
        "15 %",
        "SN SIM77-00000",
        "Days left",
    ] {
        assert!(m.contains(want), "the mail lacks {want:?}:\n{m}");
    }
    let batches = reorder_batches(&received);
    assert_eq!(
        batches.len(),
        1,
        "exactly one immediate batch: {batches:#?}"
    );

    // Nothing that names a place, a host or a person leaves for the dealer.
    let everything = received.lock().unwrap().clone();
    assert!(!everything.is_empty());
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let mut used = std::collections::BTreeSet::new();
    for (key, body) in &everything {
        assert!(key.starts_with("pw-"), "idempotency key {key:?}");
        let text = body.to_string();
        for leak in [
            printer_addr.ip().to_string().as_str(),
            "127.91.",
            site,
            "pw-sysname-marker",
            "pw-location-marker",
            "pw-contact-marker",
            host.trim(),
        ] {
            assert!(
                leak.is_empty() || !text.contains(leak),
                "{leak:?} left the site: {text}"
            );
        }
        keys(body, &mut used);
    }
    let allowed: std::collections::BTreeSet<String> = [
        "batch",
        "reason",
        "created_at",
        "agent",
        "printers",
        "serial",
        "model",
        "read_at",
        "meters",
        "name",
        "value",
        "supplies",
        "description",
        "kind",
        "color",
        "part_number",
        "level",
        "max_capacity",
        "percent",
        "days_left",
        "pages_left",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert!(
        used.is_subset(&allowed),
        "unexpected fields: {:?}",
        used.difference(&allowed).collect::<Vec<_>>()
    );
    let printers = batches[0]["printers"].as_array().unwrap();
    assert_eq!(printers.len(), 1);
    assert_eq!(printers[0]["serial"], "SIM77-00000");

    // A new cartridge: the alert closes, and that is mailed too.
    sim.set(0, level.clone(), Value::Integer(95));
    eventually("the alert to close", 30, async || {
        (!open_alerts(&mut fleet).await.iter().any(supply_low)).then_some(())
    })
    .await;
    let closed = fleet
        .list_alerts(p::ListAlertsRequest {
            include_closed: true,
        })
        .await
        .unwrap()
        .into_inner()
        .joined()
        .await
        .unwrap();
    let closed_low: Vec<_> = closed.iter().filter(|a| supply_low(a)).collect();
    assert_eq!(closed_low.len(), 1);
    assert!(closed_low[0].closed_at.is_some());
    eventually("the closing mail", 30, async || {
        let all = mails(&dir.join("mail"));
        (all.len() == 2 && all.iter().any(|m| m.contains("CLOSED"))).then_some(())
    })
    .await;
    assert_eq!(
        reorder_batches(&received).len(),
        1,
        "a refill sends no reorder batch"
    );

    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), collector).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_dealer_down_every_batch_arrives_once_later_even_across_a_restart() {
    let dir = tempdir("dealer-down");
    certs::init(&dir, &[], &["hq".to_string()], "admin").unwrap();
    let (_smtp, smtp_port) = smtp_server(&dir.join("mail"));
    let (_proxy, proxy_port) = proxy(&dir);
    // The endpoint's port is chosen now; nothing listens there yet.
    let dealer_port = free_port();
    let dealer_url = format!("https://localhost:{dealer_port}/v1/batches");
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    // A scheduled batch every 2 seconds.
    let coord = coordinator_config(
        &dir,
        listen,
        "hq",
        smtp_port,
        &dealer_url,
        proxy_port,
        43_200,
    );

    let first = coord.start();
    let waiting = async |n: f64| {
        let what = format!("{n} batches waiting for the dealer");
        until(&what, 30, async || {
            coord.queued().await.is_some_and(|(_, d)| d >= n)
        })
        .await;
    };
    waiting(2.0).await;
    // A restart while batches wait (SIGKILL: no chance to tidy up).
    first.kill();
    let second = coord.start();
    waiting(4.0).await;

    // The dealer comes back.
    let received: Received = Arc::default();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", dealer_port))
        .await
        .unwrap();
    let _endpoint = dealer_endpoint(listener, &dir, received.clone()).await;
    eventually("the waiting batches", 60, async || {
        (received.lock().unwrap().len() >= 4).then_some(())
    })
    .await;
    until("the dealer outbox to be empty", 30, async || {
        coord.queued().await.is_some_and(|(_, d)| d == 0.0)
    })
    .await;
    second.kill();

    // Every key from the first to the last queued arrived, each once.
    let store = reopen(&dir.join("db"));
    let queued = store.batches_queued().unwrap();
    let pending: Vec<String> = store
        .pending_batches()
        .unwrap()
        .into_iter()
        .map(|b| b.key)
        .collect();
    let got: Vec<String> = received
        .lock()
        .unwrap()
        .iter()
        .map(|(k, _)| k.clone())
        .collect();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for k in &got {
        *counts.entry(k).or_default() += 1;
    }
    assert!(
        counts.values().all(|&n| n == 1),
        "a batch arrived twice: {counts:?}"
    );
    for n in 1..=queued {
        let key = format!("pw-{n:012}");
        assert!(
            counts.contains_key(key.as_str()) || pending.contains(&key),
            "batch {key} of {queued} was lost (received {got:?}, pending {pending:?})"
        );
    }
    assert!(queued >= 4, "{queued} batches queued");
    assert!(
        pending.len() <= 1,
        "still pending after the endpoint came back: {pending:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn reopen(path: &Path) -> printwatch_coordinator::store::Store {
    for _ in 0..100 {
        if let Ok(s) = printwatch_coordinator::store::Store::open(path, 8 << 20) {
            return s;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the store did not reopen");
}
