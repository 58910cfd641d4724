//! A fleet larger than one gRPC message: 20,000 printers with four supplies each are
//! listed whole through a client with the default 4 MiB message limit, and by the CLI.
//! (A single answer stopped working at about 5,600 printers.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use agent_core::model::{Identity, Meter, Reading, Supply, SupplyClass, SupplyState};
use printwatch_coordinator::config::CoordinatorConfig;
use printwatch_coordinator::ingest::{Incoming, Writer};
use printwatch_coordinator::policy::Policy;
use printwatch_coordinator::service;
use printwatch_coordinator::store::Store;
use printwatch_coordinator::wire_reading::WireReading;
use printwatch_pki::{self as certs, Role};
use printwatch_proto::listing::Joined;
use printwatch_proto::v1 as p;
use printwatch_proto::v1::fleet_client::FleetClient;
use printwatch_tests::grpc::{channel, devices};
use printwatch_tests::tempdir;

const PRINTERS: u32 = 20_000;

fn printer(n: u32) -> Reading {
    let supply = |i: u32, colour: &str| Supply {
        device_index: 1,
        index: i,
        description: format!("{colour} Toner Cartridge, high yield, for printer {n}"),
        part_number: Some(format!("TN-{i}{n:05}")),
        kind: "toner".into(),
        class: SupplyClass::Consumed,
        color: Some(colour.into()),
        unit: Some("percent".into()),
        level: 60,
        max_capacity: 100,
        percent: Some(60),
        percent_source: None,
        state: SupplyState::Ok,
    };
    Reading {
        identity: Identity {
            address: format!("10.{}.{}.{}", n / 65_536, n / 256 % 256, n % 256),
            vendor: Some("Brother".into()),
            model: Some("MFC-L8900CDW series".into()),
            serial: Some(format!("BIG{n:06}")),
            sys_descr: Some("Brother NC-8300w, Firmware Ver.1.00 (15.06.03)".into()),
            ..Identity::default()
        },
        supplies: ["black", "cyan", "magenta", "yellow"]
            .iter()
            .enumerate()
            .map(|(i, c)| supply(i as u32 + 1, c))
            .collect(),
        meters: vec![Meter {
            name: "total".into(),
            value: u64::from(n) * 10,
            source: "prtMarkerLifeCount".into(),
        }],
        polled_at: "2026-11-21T10:00:00Z".into(),
        ..Reading::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_thousand_printers_are_listed_whole() {
    let dir = tempdir("big-fleet");
    certs::init(&dir, &[], &["hq".into()], "admin").unwrap();
    {
        let mut w = Writer::new(
            Store::open(&dir.join("db"), 64 << 20).unwrap(),
            Policy::default(),
        );
        let mut seq = 0u64;
        for chunk in (0..PRINTERS).collect::<Vec<_>>().chunks(1_000) {
            let items: Vec<(u64, Incoming)> = chunk
                .iter()
                .map(|n| {
                    seq += 1;
                    let r = WireReading::new(printer(*n)).unwrap();
                    (seq, Incoming::Reading(Box::new(r)))
                })
                .collect();
            assert!(w.ingest_batch("hq", &items).await.iter().all(Result::is_ok));
        }
    }
    let mut c = CoordinatorConfig::with_pki(&dir, dir.join("db"), "127.0.0.1:0".parse().unwrap());
    c.max_devices_per_site = PRINTERS;
    let coordinator = service::start(c).await.unwrap();
    let admin = certs::paths(&dir, Role::Operator, "admin");
    let ch = channel(
        coordinator.listen,
        &dir.join("ca.pem"),
        Some((&admin.cert, &admin.key)),
    )
    .await
    .unwrap();
    let devices = devices(ch.clone()).await;
    let mut fleet = FleetClient::new(ch);
    assert_eq!(devices.len(), PRINTERS as usize);
    let bytes: usize = devices.iter().map(prost::Message::encoded_len).sum();
    assert!(
        bytes > 4 << 20,
        "more than one message could hold: {bytes} bytes"
    );
    let supplies = fleet
        .list_supplies(p::ListSuppliesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .joined()
        .await
        .unwrap();
    assert_eq!(supplies.len(), 4 * PRINTERS as usize);

    // The CLI follows the parts too.
    let out = tokio::task::spawn_blocking({
        let dir = dir.clone();
        let url = format!("https://{}", coordinator.listen);
        move || {
            std::process::Command::new(printwatch_tests::binary("printwatch"))
                .args(["devices", "--json", "--pki"])
                .arg(&dir)
                .args(["--coordinator", &url])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        PRINTERS as usize
    );
    let _ = std::fs::remove_dir_all(&dir);
}
