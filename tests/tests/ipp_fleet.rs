//! An IPP printer in the fleet, end to end: CUPS's ippeveprinter, added with `printwatch
//! add`'s request, read over IPPS by a collector, whose readings reach a coordinator as
//! an SNMP printer's do.
//!
//! - Its first certificate is pinned in the collector's data directory.
//! - Draining its toner below the reorder point opens exactly one alert, however many
//!   readings follow.
//! - A new certificate (the printer reset) opens one `certificate_changed` alert and the
//!   printer is not read; forgetting the pin, as `printwatch-collector pins --forget`
//!   does, lets the next poll pin the new one, and its reading closes the alert.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use agent_core::ipp::{Fingerprint, IppUri};
use printwatch_coordinator::store::alerts::{AlertKind, AlertRecord};
use printwatch_coordinator::store::StoreReader;
use printwatch_pki::{self as certs, Role};
use printwatch_proto::v1 as p;
use printwatch_proto::v1::fleet_client::FleetClient;
use printwatch_tests::grpc::channel;
use printwatch_tests::ippeve;
use printwatch_tests::{eventually, tempdir, until};
use rustls::pki_types::pem::PemObject;

mod common;

use agent_core::oid::Oid;
use agent_core::sim::{serve as serve_sim, synthetic};

fn alerts_of(store: &StoreReader, device: &str, include_closed: bool) -> Vec<AlertRecord> {
    store
        .alerts(include_closed)
        .unwrap()
        .into_iter()
        .filter(|a| a.device_id == device)
        .collect()
}

fn black(store: &StoreReader, device: &str) -> Option<u8> {
    let r = store.latest(device).ok().flatten()?;
    r.supplies
        .iter()
        .find(|s| s.kind == "toner")
        .and_then(|s| s.percent)
}

fn fingerprint_of(eve: &ippeve::IppEve) -> Fingerprint {
    let pem = std::fs::read(eve.certificate()).unwrap();
    let der = rustls::pki_types::CertificateDer::from_pem_slice(&pem).unwrap();
    Fingerprint::of(der.as_ref())
}

/// The site every test here runs.
const SITE: &str = "hq";

/// A fleet for one test: certificates for the site `hq` and an operator in a directory
/// of its own, and a coordinator serving them.
async fn fleet(tag: &str) -> (std::path::PathBuf, printwatch_coordinator::service::Running) {
    let dir = tempdir(tag);
    certs::init(&dir, &[], &[SITE.to_string()], "admin").unwrap();
    let running = common::coordinator(&dir).await;
    (dir, running)
}

/// The site's collector for `targets`, polling every second, its outbox in `dir`, its
/// IPP asked on `ipp_port`.
fn collector_config(
    dir: &std::path::Path,
    coordinator: std::net::SocketAddr,
    targets: Vec<String>,
    ipp_port: u16,
) -> printwatch_collector::config::CollectorConfig {
    let files = certs::paths(dir, Role::Collector, SITE);
    let mut c = printwatch_collector::config::CollectorConfig {
        site: SITE.into(),
        data_dir: dir.join("outbox"),
        targets,
        ..Default::default()
    };
    c.coordinator.endpoint = format!("https://{coordinator}");
    c.tls.ca = dir.join("ca.pem");
    c.tls.cert = files.cert;
    c.tls.key = files.key;
    c.intervals.status_seconds = 1;
    c.ipp.port = ipp_port;
    c
}

/// Runs a collector in this process until the sender is used or dropped.
fn start(
    c: printwatch_collector::config::CollectorConfig,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<bool>>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(printwatch_collector::agent::run(c, async {
        let _ = stopped.await;
    }));
    (stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipps_printer_alerts_once_when_drained_and_when_its_certificate_changes() {
    let (dir, running) = fleet("ipp-fleet").await;
    let store = running.store.clone();
    let site = SITE;
    let eve = ippeve::start("fleet");
    let uri: IppUri = eve.uri(true).parse().unwrap();
    let (stop, collector) = start(collector_config(
        &dir,
        running.listen,
        Vec::new(),
        eve.addr.port(),
    ));

    // Added as `printwatch add hq ipps://...` adds it; a URI that is not one is refused.
    let op = certs::paths(&dir, Role::Operator, "admin");
    let mut fleet = FleetClient::new(
        channel(
            running.listen,
            &dir.join("ca.pem"),
            Some((&op.cert, &op.key)),
        )
        .await
        .unwrap(),
    );
    let add = |host: &str| p::AddPrinterRequest {
        site: site.into(),
        host: host.into(),
        community: String::new(),
    };
    let bad = fleet.add_printer(add("ipp://")).await.unwrap_err();
    assert!(
        bad.message().contains("not an IPP printer's address"),
        "{bad:?}"
    );
    // The collector connects to the coordinator on its own time: asked until it has.
    until("the collector takes the printer", 30, async || {
        fleet.add_printer(add(&uri.to_string())).await.is_ok()
    })
    .await;

    // Read over IPPS, one device by its serial, its certificate pinned.
    let device = format!("sn:{}", ippeve::SERIAL);
    until("the printer read over IPPS at 75 %", 30, async || {
        black(&store, &device) == Some(75)
    })
    .await;
    let pins = || printwatch_collector::pins::PinStore::open(&dir.join("outbox")).unwrap();
    assert_eq!(pins().get(&uri.to_string()), Some(fingerprint_of(&eve)));
    let d = store.device(&device).unwrap().expect("the device");
    assert_eq!(d.addresses, [uri.to_string()]);
    assert!(alerts_of(&store, &device, true).is_empty());

    // Drained below the reorder point: one alert, and still one after more readings.
    eve.set_levels(&[25, 9]);
    let low = eventually("the low-toner alert", 30, async || {
        alerts_of(&store, &device, false)
            .into_iter()
            .find(|a| a.kind == AlertKind::SupplyLow)
    })
    .await;
    assert_eq!(low.supply.as_ref().map(|s| s.kind.as_str()), Some("toner"));
    let seen = store.history_len(&device);
    until("three more readings", 30, async || {
        store.history_len(&device) >= seen + 3
    })
    .await;
    let supply_alerts: Vec<_> = alerts_of(&store, &device, true)
        .into_iter()
        .filter(|a| a.supply.is_some())
        .collect();
    assert_eq!(supply_alerts.len(), 1, "{supply_alerts:#?}");

    // A new certificate: not read, one alert that names the new fingerprint.
    let eve = eve.renew_certificate();
    let changed = eventually("the certificate_changed alert", 30, async || {
        alerts_of(&store, &device, false)
            .into_iter()
            .find(|a| a.kind == AlertKind::CertificateChanged)
    })
    .await;
    let renewed = fingerprint_of(&eve);
    assert!(
        changed.detail.contains(&renewed.to_string()),
        "{}",
        changed.detail
    );
    let seen = store.history_len(&device);
    until("a few more refused polls", 30, async || {
        alerts_of(&store, &device, true)
            .iter()
            .filter(|a| a.kind == AlertKind::CertificateChanged)
            .count()
            == 1
            && store.history_len(&device) == seen
            && std::fs::read_to_string(eve.dir.join("ippeveprinter.log"))
                .is_ok_and(|log| log.matches("Starting HTTPS session").count() >= 3)
    })
    .await;
    assert_eq!(
        store.history_len(&device),
        seen,
        "a refused printer is not read"
    );

    // The pin forgotten: the next poll pins the new certificate and its reading closes
    // the alert.
    assert!(pins().forget(&uri.to_string()).unwrap());
    until("the alert closed by a reading", 30, async || {
        !alerts_of(&store, &device, false)
            .iter()
            .any(|a| a.kind == AlertKind::CertificateChanged)
    })
    .await;
    assert_eq!(pins().get(&uri.to_string()), Some(renewed));
    assert_eq!(
        alerts_of(&store, &device, true)
            .iter()
            .filter(|a| a.kind == AlertKind::CertificateChanged)
            .count(),
        1
    );

    let _ = stop.send(());
    collector.await.unwrap().unwrap();
    running.stop().await.unwrap();
    drop(eve);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A printer given by its address whose SNMP is off answers IPP instead: it is read that
/// way, and remembered, so that after a restart it is read over IPP with the fallback
/// turned off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_printer_with_snmp_off_is_read_over_ipp_and_remembered_across_a_restart() {
    let (dir, running) = fleet("ipp-fallback").await;
    let store = running.store.clone();
    let eve = ippeve::start("fallback");
    // Nothing answers SNMP there: the printer's SNMP is off.
    let snmp_off = format!("127.0.0.1:{}", printwatch_tests::free_port());
    let config = |fallback: bool| {
        let mut c = collector_config(
            &dir,
            running.listen,
            vec![snmp_off.clone()],
            eve.addr.port(),
        );
        c.snmp.timeout_ms = 200;
        c.snmp.retries = 0;
        c.ipp.fallback = fallback;
        c
    };

    let (stop, task) = start(config(true));
    let device = format!("sn:{}", ippeve::SERIAL);
    until("the printer read over IPP", 30, async || {
        black(&store, &device) == Some(75)
    })
    .await;
    let found = format!("ipps://127.0.0.1:{}/ipp/print", eve.addr.port());
    let d = store.device(&device).unwrap().expect("the device");
    assert_eq!(
        d.addresses,
        std::slice::from_ref(&found),
        "ipps:// is asked first"
    );
    let ways = printwatch_collector::ways::WayStore::open(&dir.join("outbox")).unwrap();
    assert_eq!(
        ways.get(snmp_off.parse().unwrap()).map(|u| u.to_string()),
        Some(found)
    );
    let _ = stop.send(());
    task.await.unwrap().unwrap();

    // Without the fallback, only the remembered way can read it.
    let (stop, mut task) = start(config(false));
    eve.set_levels(&[25, 50]);
    until(
        "the printer read over IPP after the restart",
        30,
        async || {
            if task.is_finished() {
                panic!("the collector stopped: {:?}", (&mut task).await);
            }
            black(&store, &device) == Some(50)
        },
    )
    .await;
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    running.stop().await.unwrap();
    drop(eve);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A printer whose SNMP answers but says nothing of its supplies (a thin agent) is read
/// over IPP, which does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_printer_whose_snmp_says_nothing_of_its_supplies_is_read_over_ipp() {
    let (dir, running) = fleet("ipp-thin").await;
    let store = running.store.clone();
    let eve = ippeve::start("thin");
    let mut thin = printwatch_tests::sim::steady(synthetic::printer(31, 0));
    let supplies: Oid = "1.3.6.1.2.1.43.11".parse().unwrap();
    thin.view.retain(|oid, _| !oid.starts_with(&supplies));
    let at = format!("127.0.0.1:{}", printwatch_tests::free_port());
    let sim = serve_sim(vec![(at.parse().unwrap(), thin)]).await.unwrap();
    let (stop, collector) = start(collector_config(
        &dir,
        running.listen,
        vec![sim.addrs()[0].to_string()],
        eve.addr.port(),
    ));
    let device = format!("sn:{}", ippeve::SERIAL);
    until("the printer's supplies read over IPP", 30, async || {
        black(&store, &device) == Some(75)
    })
    .await;
    assert_eq!(
        store.device_count(),
        1,
        "the thin SNMP reading is not stored as a device of its own"
    );
    let _ = stop.send(());
    collector.await.unwrap().unwrap();
    running.stop().await.unwrap();
    drop((eve, sim));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `printwatch discover SITE RANGE --ipp`, through the real CLI: the collector asks the
/// addresses SNMP did not answer over IPP, and the printer found is polled over IPP from
/// then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printwatch_discover_ipp_finds_a_printer_whose_snmp_is_off_and_polls_it() {
    let (dir, running) = fleet("ipp-discover").await;
    let store = running.store.clone();
    let eve = ippeve::start("sweep");
    let mut c = collector_config(&dir, running.listen, Vec::new(), eve.addr.port());
    c.snmp.timeout_ms = 200;
    let (stop, collector) = start(c);
    let url = format!("https://{}", running.listen);
    let pki = dir.clone();
    let discover = move || {
        let out = std::process::Command::new(printwatch_tests::binary("printwatch"))
            .args([
                "discover",
                "hq",
                "127.0.0.1",
                "--ipp",
                "--ipp-budget",
                "20s",
            ])
            .arg("--pki")
            .arg(&pki)
            .args(["--coordinator", &url])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // The collector connects to the coordinator on its own time: asked until it has.
    let mut said = String::new();
    until("the sweep sent", 30, async || {
        let (ok, err) = tokio::task::spawn_blocking(discover.clone()).await.unwrap();
        said = err;
        ok
    })
    .await;
    let device = format!("sn:{}", ippeve::SERIAL);
    until("the printer found and polled over IPP", 30, async || {
        store.history_len(&device) >= 3
    })
    .await;
    let d = store.device(&device).unwrap().expect("the device");
    assert_eq!(
        d.addresses,
        [eve.uri(true)],
        "found at its ipps:// URI ({said})"
    );
    let _ = stop.send(());
    collector.await.unwrap().unwrap();
    running.stop().await.unwrap();
    drop(eve);
    let _ = std::fs::remove_dir_all(&dir);
}
