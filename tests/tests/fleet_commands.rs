//! Operator commands through the coordinator to a running collector: a discovery sweep
//! sent for a site reaches that site's collector and what it finds appears in the fleet;
//! printers found are polled from then on; a printer added by hand is read; a printer
//! removed is no longer polled.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use printwatch_proto::listing::Joined;
use std::net::{Ipv4Addr, SocketAddr};

use agent_core::sim::{serve as serve_sim, synthetic};

mod common;
use printwatch_pki::{self as certs, Role};
use printwatch_proto::v1 as p;
use printwatch_proto::v1::fleet_client::FleetClient;
use printwatch_tests::grpc::channel;
use printwatch_tests::{until, Process};

#[tokio::test(flavor = "multi_thread")]
async fn discover_add_and_remove_through_the_coordinator() {
    let dir = printwatch_tests::tempdir("commands");
    certs::init(&dir, &[], &["hq".into(), "branch".into()], "admin").unwrap();
    let running = common::coordinator(&dir).await;
    let listen = running.listen;

    // Five printers in the range to sweep, one more to add by hand later.
    let at = |d: u8| SocketAddr::from((Ipv4Addr::new(127, 104, 0, d), 16161));
    let mut printers: Vec<_> = (10..15u8)
        .map(|d| (at(d), synthetic::printer(104, u32::from(d))))
        .collect();
    printers.push((
        SocketAddr::from((Ipv4Addr::new(127, 105, 0, 50), 16161)),
        synthetic::printer(104, 50),
    ));
    let _sim = serve_sim(printers).await.unwrap();

    // hq's collector, with no targets of its own.
    let hq = certs::paths(&dir, Role::Collector, "hq");
    let conf = dir.join("collector.toml");
    std::fs::write(
        &conf,
        format!(
            "site = \"hq\"\ndata_dir = \"{}\"\n[coordinator]\nendpoint = \"https://{listen}\"\nserver_name = \"localhost\"\n\
             [tls]\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n[snmp]\ntimeout_ms = 300\nretries = 1\nrate = 2000\n[intervals]\nstatus_seconds = 1\n",
            dir.join("outbox").display(),
            dir.join("ca.pem").display(),
            hq.cert.display(),
            hq.key.display()
        ),
    )
    .unwrap();
    let _collector = Process::collector(&conf, &[]);

    let admin = certs::paths(&dir, Role::Operator, "admin");
    let ch = channel(listen, &dir.join("ca.pem"), Some((&admin.cert, &admin.key)))
        .await
        .unwrap();
    let fleet = FleetClient::new(ch);

    // The sweep goes to hq (once its collector is connected), not to the idle branch site.
    let request = p::DiscoverRequest {
        site: "hq".into(),
        ranges: vec!["127.104.0.0/24".into()],
        port: 16161,
        rate: 2000,
        ..Default::default()
    };
    until("hq's collector takes the sweep", 20, async || {
        fleet.clone().discover(request.clone()).await.is_ok()
    })
    .await;
    let devices = async || {
        fleet
            .clone()
            .list_devices(p::ListDevicesRequest::default())
            .await
            .unwrap()
            .into_inner()
            .joined()
            .await
            .unwrap()
    };
    until("the five printers are in the fleet", 30, async || {
        devices().await.len() == 5
    })
    .await;
    for d in devices().await {
        assert_eq!(d.site, "hq");
        assert!(d.id.starts_with("sn:SIM104-"), "{}", d.id);
    }

    // Found printers are polled from then on.
    let id = devices().await[0].id.clone();
    let history = async |id: &str| {
        fleet
            .clone()
            .history(p::HistoryRequest {
                device_id: id.into(),
                since: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .joined()
            .await
            .unwrap()
            .len()
    };
    until("a found printer is polled again", 30, async || {
        history(&id).await >= 3
    })
    .await;

    // Added by hand: read and polled too.
    fleet
        .clone()
        .add_printer(p::AddPrinterRequest {
            site: "hq".into(),
            host: "127.105.0.50:16161".into(),
            community: String::new(),
        })
        .await
        .unwrap();
    until("the added printer is in the fleet", 30, async || {
        devices().await.iter().any(|d| d.id == "sn:SIM104-00050")
    })
    .await;

    // Removed: no more readings. Another printer, still polled, is the clock: once it has
    // been polled twice more, a poll of the removed one that was in flight has landed;
    // after two more, the removed one has missed two turns.
    fleet
        .clone()
        .remove_printer(p::RemovePrinterRequest {
            device_id: id.clone(),
        })
        .await
        .unwrap();
    let other = devices().await[1].id.clone();
    assert_ne!(other, id);
    let two_more_polls = async |what: &str| {
        let from = history(&other).await;
        until(what, 30, async || history(&other).await >= from + 2).await;
    };
    two_more_polls("another printer to be polled twice after the removal").await;
    let after_removal = history(&id).await;
    two_more_polls("another printer to be polled twice more").await;
    assert_eq!(
        history(&id).await,
        after_removal,
        "a removed printer is not polled"
    );

    // A large sweep (a /12, a million addresses at 200 a second: hours) is asked for
    // knowingly, and cancelled: it reports what it did so far to watchers.
    let mut watch = fleet
        .clone()
        .watch(p::WatchRequest::default())
        .await
        .unwrap()
        .into_inner();
    let large = p::DiscoverRequest {
        site: "hq".into(),
        ranges: vec!["127.224.0.0/12".into()],
        port: 16161,
        rate: 200,
        large: true,
        ..Default::default()
    };
    fleet.clone().discover(large).await.unwrap();
    // Commands reach the sweeper in order: the cancel finds the sweep started.
    let cancel = p::DiscoverRequest {
        site: "hq".into(),
        cancel: true,
        ..Default::default()
    };
    fleet.clone().discover(cancel).await.unwrap();
    let ended = printwatch_tests::eventually("the sweep to end as cancelled", 30, async || {
        match tokio::time::timeout(std::time::Duration::from_millis(500), watch.message()).await {
            Ok(Ok(Some(p::FleetEvent {
                body: Some(p::fleet_event::Body::SweepEnded(e)),
                ..
            }))) => e.done.filter(|d| d.reason == "cancelled"),
            _ => None,
        }
    })
    .await;
    assert!(ended.probed < 1_000_000, "{ended:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_collector_with_discovery_ranges_finds_its_printers_by_itself() {
    let dir = printwatch_tests::tempdir("sched-sweep");
    certs::init(&dir, &[], &["hq".into()], "admin").unwrap();
    let running = common::coordinator(&dir).await;
    let (listen, store) = (running.listen, running.store.clone());
    let printers: Vec<_> = (2..6u8)
        .map(|d| {
            (
                SocketAddr::from((Ipv4Addr::new(127, 106, 0, d), 16161)),
                synthetic::printer(106, u32::from(d)),
            )
        })
        .collect();
    let _sim = serve_sim(printers).await.unwrap();
    let hq = certs::paths(&dir, Role::Collector, "hq");
    let conf = dir.join("collector.toml");
    std::fs::write(
        &conf,
        format!(
            "site = \"hq\"\ndata_dir = \"{}\"\n[coordinator]\nendpoint = \"https://{listen}\"\nserver_name = \"localhost\"\n\
             [tls]\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n[snmp]\ntimeout_ms = 300\nretries = 1\n\
             [discovery]\nranges = [\"127.106.0.0/28\"]\nport = 16161\nrate = 1000\n",
            dir.join("outbox").display(),
            dir.join("ca.pem").display(),
            hq.cert.display(),
            hq.key.display()
        ),
    )
    .unwrap();
    let _collector = Process::collector(&conf, &[]);
    until(
        "the four printers are in the fleet, found without any command",
        30,
        async || store.devices().unwrap().len() == 4,
    )
    .await;
    assert!(store
        .devices()
        .unwrap()
        .iter()
        .all(|d| d.site == "hq" && d.id.starts_with("sn:SIM106-")));
    let _ = std::fs::remove_dir_all(&dir);
}
