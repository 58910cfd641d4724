//! The dashboard's two heaviest pages with 10,000 printers in the store: the fleet page
//! (every printer sorted by urgency, its first 200 drawn) and the to-order page (every
//! supply's forecast, grouped by part). Each is timed over HTTP on loopback from a
//! running coordinator, so the figure is the server's whole answer: the query side, the
//! rendering and the connection. The store holds four readings of each printer, a day
//! apart, with levels falling, so forecasts have data to work on.
//!
//! The pages read the query side's board, which keeps each device's entry between
//! requests and works out again only the devices whose readings arrived since: criterion
//! times that steady case. Printed besides: the first view after a start (the board built
//! whole) and views right after every printer's new reading arrived (each device worked out
//! again), the cases that cost most.
//!
//! Run: `cargo bench -p printwatch-benches --bench dashboard`. Target: at most 200 ms each.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench that cannot run stops
#![allow(missing_docs)] // criterion_group! makes a public function

printwatch_coordinator::tuned_heap!();

use std::time::Duration;

use agent_core::sim::synthetic;
use criterion::{criterion_group, criterion_main, Criterion};
use printwatch_coordinator::config::CoordinatorConfig;
use printwatch_coordinator::ingest::{Incoming, Writer};
use printwatch_coordinator::policy::Policy;
use printwatch_coordinator::store::users::UserRole;
use printwatch_coordinator::store::Store;
use printwatch_coordinator::wire_reading::WireReading;

const PRINTERS: u32 = 10_000;
const DAYS: u32 = 4;
const PASSWORD: &str = "the bench's long password";

/// A store at `dir` with `PRINTERS` printers read once a day for `DAYS` days, and a user.
fn fill(dir: &std::path::Path, rt: &tokio::runtime::Runtime) {
    let store = Store::open(dir, 64 << 20).expect("a store");
    let mut writer = Writer::new(store, Policy::default());
    let user = printwatch_coordinator::users::new_user("bench", UserRole::Admin, vec![], PASSWORD)
        .unwrap();
    writer.put_user(&user).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let fleet: Vec<_> = (0..PRINTERS)
        .map(|i| {
            let device = synthetic::printer(9, i);
            agent_core::decode::reading(&device.view, &format!("127.9.{}.{}:161", i / 250, i % 250))
        })
        .collect();
    let mut seq = 0u64;
    for day in 0..DAYS {
        let at = now - time::Duration::days(i64::from(DAYS - day)) + time::Duration::minutes(1);
        let stamp = at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        for chunk in fleet.chunks(256) {
            let items: Vec<(u64, Incoming)> = chunk
                .iter()
                .map(|r| {
                    seq += 1;
                    let mut r = r.clone();
                    r.polled_at = stamp.clone();
                    // Each supply falls a few points a day, some faster than others.
                    for (n, s) in r.supplies.iter_mut().enumerate() {
                        if let Some(p) = s.percent {
                            let fall = (day * (2 + (seq as u32 + n as u32) % 7)) as u8;
                            s.percent = Some(p.saturating_sub(fall));
                        }
                    }
                    let r = WireReading::new(r).expect("a reading of the last days");
                    (seq, Incoming::Reading(Box::new(r)))
                })
                .collect();
            let answers = rt.block_on(writer.ingest_batch("bench", &items));
            assert!(answers.iter().all(Result::is_ok));
        }
    }
    drop(writer);
}

fn benches(c: &mut Criterion) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let dir =
        std::env::temp_dir().join(format!("printwatch-dashboard-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    printwatch_pki::init(&dir.join("pki"), &[], &["bench".into()], "admin").unwrap();
    eprintln!("dashboard bench: storing {DAYS} days of {PRINTERS} printers ...");
    fill(&dir.join("db"), &rt);

    let mut config = CoordinatorConfig::with_pki(
        &dir.join("pki"),
        dir.join("db"),
        "127.0.0.1:0".parse().unwrap(),
    );
    config.web.listen = Some("127.0.0.1:0".parse().unwrap());
    config.web.https = false;
    let coordinator = rt
        .block_on(printwatch_coordinator::service::start(config))
        .expect("the coordinator");
    let base = coordinator.web.expect("a dashboard").url();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let cookie = rt.block_on(async {
        let r = http
            .post(format!("{base}/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "name=bench&password={}",
                PASSWORD.replace(' ', "+").replace('\'', "%27")
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "signed in");
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string()
    });
    let get = |path: &str| {
        let (http, url, cookie) = (http.clone(), format!("{base}{path}"), cookie.clone());
        rt.block_on(async move {
            let r = http.get(url).header("cookie", cookie).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.bytes().await.unwrap().len()
        })
    };
    let timed = |path: &str| {
        let t = std::time::Instant::now();
        let bytes = get(path);
        (t.elapsed(), bytes)
    };
    let (first, fleet_bytes) = timed("/");
    let (_, order_bytes) = timed("/order");
    eprintln!(
        "fleet page {fleet_bytes} bytes, to-order page {order_bytes} bytes; \
         the first view after a start (the board built whole): {first:?}"
    );

    // Every printer's new reading, through a collector's mTLS stream, then one view.
    let pki = dir.join("pki");
    let files = printwatch_pki::paths(&pki, printwatch_pki::Role::Collector, "bench");
    let mut seq = 0u64;
    let mut after_all = Vec::new();
    for round in 0..3u8 {
        let ch = rt
            .block_on(printwatch_tests::grpc::channel(
                coordinator.listen,
                &pki.join("ca.pem"),
                Some((&files.cert, &files.key)),
            ))
            .unwrap();
        let mut msgs = vec![printwatch_tests::grpc::hello("bench")];
        for i in 0..PRINTERS {
            let device = synthetic::printer(9, i);
            let mut r = agent_core::decode::reading(
                &device.view,
                &format!("127.9.{}.{}:161", i / 250, i % 250),
            );
            r.polled_at = agent_core::poll::now_rfc3339();
            for s in r.supplies.iter_mut() {
                s.percent = s.percent.map(|p| p.saturating_sub(12 + round));
            }
            seq += 1;
            msgs.push(printwatch_tests::grpc::envelope(seq, r.into()));
        }
        rt.block_on(printwatch_tests::grpc::session(ch, msgs))
            .unwrap();
        let (fleet, _) = timed("/");
        let (order, _) = timed("/order");
        after_all.push((fleet, order));
    }
    eprintln!("right after every printer's new reading (fleet, to order): {after_all:?}");

    let mut group = c.benchmark_group("dashboard, 10,000 printers");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("fleet page", |b| b.iter(|| get("/")));
    group.bench_function("to-order page", |b| b.iter(|| get("/order")));
    group.finish();
    drop(coordinator);
    drop(rt);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(dashboard, benches);
criterion_main!(dashboard);
