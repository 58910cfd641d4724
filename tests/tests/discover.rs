//! Discovery on a simulated site: a /16 on loopback with several hundred printers
//! (recordings, the project's own and the shared corpus's when it is there, and synthetic
//! ones), other SNMP devices, and silence everywhere else.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use agent_core::classify::DeviceClass;
use agent_core::discover::{sweep, EndReason, Found, SweepConfig, SweepStats};
use agent_core::range::{Range, Span};
use agent_core::sim::{serve, synthetic, SimDevice};
use agent_core::transport::{Security, Transport, TransportConfig};
use printwatch_tests::{expected, fixture, fixtures, sim_device};

const PORT: u16 = 16161;

fn span(s: &str) -> Span {
    match s.parse::<Range>().unwrap() {
        Range::Span(s) => s,
        Range::Name(_) => unreachable!(),
    }
}

fn config(addresses: Vec<Ipv4Addr>, communities: &[&str], rate: u32) -> SweepConfig {
    SweepConfig {
        addresses: addresses.into_iter().collect(),
        port: PORT,
        credentials: communities.iter().map(|c| Security::v2c(c)).collect(),
        timeout: Duration::from_millis(800),
        retries: 0,
        read_printers: true,
        rate,
    }
}

async fn run(
    cfg: SweepConfig,
    stop: impl std::future::Future<Output = EndReason>,
) -> (agent_core::discover::Summary, Vec<Found>) {
    let t = Transport::bind(TransportConfig {
        max_pps: Some(cfg.rate),
        ..Default::default()
    })
    .await
    .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let summary = sweep(t, cfg, 20_000, Arc::new(SweepStats::default()), tx, stop).await;
    let mut found = Vec::new();
    while let Ok(f) = rx.try_recv() {
        found.push(f);
    }
    (summary, found)
}

/// What a device at an address must be found as.
enum Want {
    Recording(serde_json::Value),
    Synthetic(String),
    Other,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slash_16_site_finds_every_printer_once_and_classifies_the_rest() {
    a_slash_16_site(fixtures("printers"), fixtures("others"), "127.91.0.0/16").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(corpus),
    ignore = "the printer corpus is not at ../shared/corpus (set PRINTWATCH_CORPUS)"
)]
async fn a_slash_16_site_of_real_printers_finds_every_printer_once_and_classifies_the_rest() {
    use printwatch_tests::corpus;
    a_slash_16_site(corpus("printers"), corpus("others"), "127.95.0.0/16").await;
}

/// A /16 with ten of each printer recording, 200 synthetic printers and five of each other
/// device, spread over it: each is found once, printers read, the rest classified, with
/// one probe per address.
async fn a_slash_16_site(
    printers: Vec<(String, std::path::PathBuf)>,
    others: Vec<(String, std::path::PathBuf)>,
    net: &str,
) {
    let site = span(net);
    let mut devices: Vec<(SocketAddr, SimDevice)> = Vec::new();
    let mut want: HashMap<Ipv4Addr, Want> = HashMap::new();
    let mut next = 0u32;
    let mut place = |d: SimDevice, w: Want, devices: &mut Vec<(SocketAddr, SimDevice)>| {
        // Spread the devices over the whole /16, leaving most addresses silent.
        next += 1;
        let a = Ipv4Addr::from(u32::from(site.first) + (next * 181) % 65_000);
        devices.push((SocketAddr::from((a, PORT)), d));
        assert!(want.insert(a, w).is_none());
    };
    for _ in 0..10 {
        for (n, p) in &printers {
            place(sim_device(n, p), Want::Recording(expected(p)), &mut devices);
        }
    }
    for i in 0..200 {
        place(
            synthetic::printer(91, i),
            Want::Synthetic(format!("SIM91-{i:05}")),
            &mut devices,
        );
    }
    for _ in 0..5 {
        for (n, p) in &others {
            place(sim_device(n, p), Want::Other, &mut devices);
        }
    }
    let sim = serve(devices).await.unwrap();
    let addresses: Vec<Ipv4Addr> = site.iter().collect();
    let total = addresses.len() as u64;
    // The default rate, and a timeout long enough for a machine whose cores are busy with
    // other work: this test is about what is found, the discovery benchmark about speed.
    let mut cfg = config(addresses, &["public"], 4_000);
    cfg.timeout = Duration::from_secs(3);
    let (summary, found) = run(cfg, std::future::pending()).await;

    assert_eq!(summary.reason, EndReason::Complete);
    assert_eq!(summary.probed, total);
    assert_eq!(
        summary.requests, total,
        "one request per address and community"
    );
    let mut seen = HashSet::new();
    for f in &found {
        let addr: SocketAddr = f.identity.address.parse().unwrap();
        let SocketAddr::V4(v4) = addr else {
            panic!("not v4")
        };
        assert!(seen.insert(*v4.ip()), "{addr} found twice");
        let w = want
            .get(v4.ip())
            .unwrap_or_else(|| panic!("{addr} found but nothing is there"));
        assert!(
            f.probe.bytes_sent + f.probe.bytes_received <= 978,
            "{addr}: probe took {:?}",
            f.probe
        );
        assert_eq!(f.probe.requests, 1);
        match w {
            Want::Other => assert_eq!(f.class, DeviceClass::Other, "{addr}"),
            Want::Synthetic(serial) => {
                assert_eq!(f.class, DeviceClass::Printer, "{addr}");
                assert_eq!(f.identity.serial.as_ref(), Some(serial));
                assert!(
                    f.identity.vendor.is_some() && f.identity.model.is_some(),
                    "{addr}: {:?} (read: {:?})",
                    f.identity,
                    f.read_error
                );
                assert!(f.reading.as_ref().is_some_and(|r| !r.supplies.is_empty()));
            }
            Want::Recording(e) => {
                assert_eq!(f.class, DeviceClass::Printer, "{addr}");
                if let Some(serial) = e["serial"].as_str() {
                    assert_eq!(f.identity.serial.as_deref(), Some(serial), "{addr}");
                }
                if let Some(model) = e["model"].as_str() {
                    assert!(
                        printwatch_tests::expect::model_matches(f.identity.model.as_deref(), model),
                        "{addr}: {:?} (read: {:?})",
                        f.identity.model,
                        f.read_error
                    );
                }
                assert_eq!(
                    f.reading
                        .as_ref()
                        .map(|r| r.supplies.len() >= e["supplies"].as_array().map_or(0, Vec::len)),
                    Some(true)
                );
            }
        }
    }
    assert_eq!(seen.len(), want.len(), "every device found");
    assert_eq!(summary.printers, 10 * printers.len() as u64 + 200);
    assert_eq!(summary.others, 5 * others.len() as u64);
    // Each device got exactly one probe; printers then the requests of their first reading.
    let by_addr: HashMap<SocketAddr, &Found> = found
        .iter()
        .map(|f| (f.identity.address.parse().unwrap(), f))
        .collect();
    for (addr, asked) in sim.addrs().iter().zip(sim.requests()) {
        let f = by_addr[addr];
        let reading = f.reading.as_ref().map_or(0, |r| u64::from(r.round_trips));
        assert_eq!(asked, 1 + reading, "{addr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_community_is_tried_only_where_the_first_got_no_answer() {
    let (n, p) = fixture("cjk_kyocera");
    let site = span("127.92.0.0/28"); // 14 addresses
    let mut devices = Vec::new();
    for (i, community) in ["public", "public", "public", "site2", "site2", "site2"]
        .iter()
        .enumerate()
    {
        let mut d = sim_device(&n, &p);
        d.community = community.as_bytes().to_vec();
        devices.push((
            SocketAddr::from((Ipv4Addr::from(u32::from(site.first) + i as u32), PORT)),
            d,
        ));
    }
    let sim = serve(devices).await.unwrap();
    let mut cfg = config(site.iter().collect(), &["public", "site2"], 1_000);
    cfg.read_printers = false;
    cfg.timeout = Duration::from_millis(300);
    let (summary, found) = run(cfg, std::future::pending()).await;
    assert_eq!(found.len(), 6);
    for f in &found {
        let i = f
            .identity
            .address
            .trim_end_matches(":16161")
            .rsplit('.')
            .next()
            .unwrap()
            .parse::<u32>()
            .unwrap()
            - 1;
        assert_eq!(f.credential, if i < 3 { 0 } else { 1 });
        assert_eq!(
            f.credential_name,
            if i < 3 {
                "v2c community #1"
            } else {
                "v2c community #2"
            }
        );
    }
    // 3 answer the first community; the other 11 addresses get both.
    assert_eq!(summary.requests, 3 + 2 * 11);
    assert_eq!(sim.requests(), vec![1, 1, 1, 2, 2, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_time_limit_and_a_stop_request_end_the_sweep_with_what_was_found() {
    let site = span("127.94.0.0/16");
    let d = synthetic::printer(94, 0);
    let sim = serve(vec![(SocketAddr::from((site.first, PORT)), d)])
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let (summary, found) = run(config(site.iter().collect(), &["public"], 500), async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        EndReason::TimeLimit
    })
    .await;
    assert_eq!(summary.reason, EndReason::TimeLimit);
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(
        summary.probed < 2_000 && summary.requests <= 1_000,
        "{summary:?}"
    );
    assert_eq!(
        found.len(),
        1,
        "the printer at the first address was found before the limit"
    );
    assert_eq!(
        sim.requests()[0],
        found[0]
            .reading
            .as_ref()
            .map_or(1, |r| 1 + u64::from(r.round_trips))
    );

    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = tx.send(());
    });
    let (summary, _) = run(config(site.iter().collect(), &["public"], 500), async {
        let _ = rx.await;
        EndReason::Cancelled
    })
    .await;
    assert_eq!(summary.reason, EndReason::Cancelled);
    assert!(summary.seconds < 2.0);
}
