//! One writer: the watchdog's clock-driven alerts and batches, and the alerts and reorder
//! batches of readings arriving at the same moment, go through ingest one at a time, so no
//! alert id and no idempotency key is ever handed out twice, and every batch reaches the
//! dealer. Before the restructuring the watchdog wrote the store itself, read-then-write
//! on the same counters as ingest: the first version of this test, run against that code,
//! found 58 and 64 alerts (of 13,351) lost under ids handed out twice.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::BTreeSet;
use std::sync::Arc;

use agent_core::model::{Identity, Meter, Reading, Supply, SupplyClass, SupplyState};
use kameo::actor::Spawn;
use printwatch_coordinator::dealer::{self, DealerArgs, DealerConfig, DealerUplink};
use printwatch_coordinator::ingest::{
    Answer, Incoming, IngestBatch, Ingested, Ingestor, IngestorArgs, Notifiers,
};
use printwatch_coordinator::policy::Policy;
use printwatch_coordinator::registry::Registry;
use printwatch_coordinator::schedule::MeterReadSchedule;
use printwatch_coordinator::store::Store;
use printwatch_coordinator::timestamp::Timestamp;
use printwatch_coordinator::watchdog::{Check, Watchdog, WatchdogArgs, WatchdogConfig};
use printwatch_coordinator::wire_reading::WireReading;
use printwatch_tests::{eventually, tempdir};
use time::OffsetDateTime;

mod common;
use common::{dealer_endpoint, Received};

fn reading(serial: &str, at: OffsetDateTime, percent: u8) -> Reading {
    Reading {
        identity: Identity {
            address: format!("10.0.{}.1", serial.len()),
            model: Some("M404".into()),
            serial: Some(serial.into()),
            ..Identity::default()
        },
        supplies: vec![Supply {
            device_index: 1,
            index: 1,
            description: "Black Toner".into(),
            part_number: Some("CF259A".into()),
            kind: "toner".into(),
            class: SupplyClass::Consumed,
            color: Some("black".into()),
            unit: None,
            level: i64::from(percent),
            max_capacity: 100,
            percent: Some(percent),
            percent_source: None,
            state: SupplyState::Ok,
        }],
        meters: vec![Meter {
            name: "total".into(),
            value: 1000,
            source: String::new(),
        }],
        polled_at: Timestamp::from_datetime(at).rfc3339(),
        ..Reading::default()
    }
}

fn batch(items: Vec<(u64, Reading)>) -> IngestBatch {
    IngestBatch {
        site: "hq".into(),
        items: items
            .into_iter()
            .map(|(seq, r)| {
                let r = WireReading::new(r).expect("a valid reading");
                (seq, Incoming::Reading(Box::new(r)))
            })
            .collect(),
        follows: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchdog_and_ingest_never_share_an_alert_id_or_a_batch_key() {
    let dir = tempdir("one-writer");
    printwatch_pki::init(&dir, &[], &["hq".into()], "admin").unwrap();
    let received: Received = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/batches", listener.local_addr().unwrap());
    let _endpoint = dealer_endpoint(listener, &dir, received.clone()).await;

    let store = Store::open(&dir.join("db"), 16 << 20).unwrap();
    let reader = store.reader();
    let policy = Policy {
        uploads: true,
        ..Policy::default()
    };
    // Wired as the service wires them: ingest the one writer, the dealer uplink woken by
    // it, the watchdog asking it to write.
    let ingest_actor = Ingestor::prepare();
    let ingest = ingest_actor.actor_ref().clone();
    let config = DealerConfig {
        enabled: true,
        url,
        ca_file: Some(dir.join("ca.pem")),
        max_backoff_seconds: 1,
        ..DealerConfig::default()
    };
    let uplink = DealerUplink::spawn(DealerArgs {
        store: reader.clone(),
        ingest: ingest.clone(),
        client: dealer::client(&config).unwrap(),
        config,
    });
    ingest_actor.spawn(IngestorArgs {
        store,
        policy: policy.clone(),
        notify: Notifiers {
            mailer: None,
            dealer: Some(uplink),
        },
        metrics: Default::default(),
        data_dir: dir.clone(),
        restart: None,
    });
    let watchdog = Watchdog::spawn(WatchdogArgs {
        store: reader.clone(),
        ingest: ingest.clone(),
        config: WatchdogConfig {
            policy,
            batches_per_day: 24,
            meter_reads: MeterReadSchedule::default(),
            digest_at: None,
        },
        registry: Registry::spawn(()),
        notify: Notifiers::default(),
    });

    let start = OffsetDateTime::now_utc() - time::Duration::days(400);
    let (mut seq, mut opened, mut batches) = (0u64, 0usize, 0usize);
    const ROUNDS: i64 = 10;
    const PER_SIDE: usize = 150;
    for round in 0..ROUNDS {
        // A month later each round: the billing read and a scheduled batch are due.
        let now = start + time::Duration::days(31 * round);
        // Printers whose meters were read long ago: the watchdog opens an alert for each.
        let stale = (0..PER_SIDE)
            .map(|i| {
                seq += 1;
                let at = now - time::Duration::days(10);
                (seq, reading(&format!("S{round}-{i}"), at, 80))
            })
            .collect();
        let answers = ingest.ask(batch(stale)).await.unwrap();
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        // Printers going low now, while the watchdog checks: ingest opens an alert and
        // queues a reorder batch for each.
        let low = (0..PER_SIDE)
            .map(|i| {
                seq += 1;
                (seq, reading(&format!("L{round}-{i}"), now, 5))
            })
            .collect();
        let (answers, checked) = tokio::join!(ingest.ask(batch(low)), watchdog.ask(Check { now }));
        for a in answers.unwrap() {
            if let Ok(Answer::Reading(Ingested::Stored { changes, .. })) = a {
                opened += changes.opened.len();
                batches += usize::from(changes.queued && !changes.opened.is_empty());
            }
        }
        let checked = checked.unwrap();
        opened += checked.opened.len();
        batches += checked.batches.len();
    }
    assert!(
        opened > 2 * PER_SIDE * ROUNDS as usize,
        "{opened} alerts opened"
    );

    let alerts = reader.alerts(true).unwrap();
    let ids: BTreeSet<&str> = alerts.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(
        (alerts.len(), ids.len()),
        (opened, opened),
        "every alert opened is kept under an id of its own"
    );
    assert_eq!(reader.alerts_numbered().unwrap() as usize, opened);
    assert_eq!(
        reader.batches_queued().unwrap() as usize,
        batches,
        "a key for every batch queued"
    );
    // Every batch reaches the dealer, each under its own key, and leaves the outbox.
    let delivered = eventually("every batch delivered", 120, async || {
        let got = received.lock().unwrap().clone();
        (got.len() >= batches && reader.queued().1 == 0).then_some(got)
    })
    .await;
    let keys: BTreeSet<&str> = delivered.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        (delivered.len(), keys.len()),
        (batches, batches),
        "each batch once, each key once"
    );
    for (key, body) in &delivered {
        assert_eq!(body["batch"].as_str(), Some(key.as_str()));
    }
    let reasons: BTreeSet<&str> = delivered
        .iter()
        .filter_map(|(_, b)| b["reason"].as_str())
        .collect();
    assert_eq!(
        reasons,
        ["meter_read", "reorder", "scheduled"].into(),
        "both sides' batches"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
