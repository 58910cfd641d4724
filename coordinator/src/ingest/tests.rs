//! The writer end to end against a real store: dedupe, history and shapes, level heads,
//! meter reads, alerts and what it keeps in memory, replays, batches, restarts.

use agent_core::model::{Identity, Meter, Reading, Supply, SupplyClass, SupplyState};

use super::writer::{Answer, ClockChanges, Incoming, Ingested, PollFailure, Writer};
use crate::policy::Policy;
use crate::store::alerts::AlertKind;
use crate::store::testing::{dir, reopen};
use crate::timestamp::Timestamp;
use crate::wire_reading::WireReading;

/// A black toner at `percent`, its state ok.
fn black_toner(percent: u8) -> Supply {
    Supply {
        device_index: 1,
        index: 1,
        description: "Black Toner".into(),
        part_number: None,
        kind: "toner".into(),
        class: SupplyClass::Consumed,
        color: Some("black".into()),
        unit: Some("percent".into()),
        level: i64::from(percent),
        max_capacity: 100,
        percent: Some(percent),
        percent_source: Some(agent_core::model::PercentSource::LevelOfMax),
        state: SupplyState::Ok,
    }
}

fn reading(address: &str, serial: Option<&str>, mac: Option<&str>, at: &str) -> Reading {
    Reading {
        identity: Identity {
            address: address.into(),
            vendor: Some("HP".into()),
            model: Some("M404".into()),
            serial: serial.map(Into::into),
            mac: mac.map(Into::into),
            ..Identity::default()
        },
        polled_at: at.into(),
        ..Reading::default()
    }
}

fn item(r: &Reading) -> Incoming {
    Incoming::Reading(Box::new(
        WireReading::new(r.clone()).expect("a valid reading"),
    ))
}

/// Stores one reading that `site`'s collector sent under `seq`, durably.
async fn ingest(w: &mut Writer, site: &str, seq: u64, r: &Reading) -> Ingested {
    match w.ingest_batch(site, &[(seq, item(r))]).await.pop() {
        Some(Ok(Answer::Reading(i))) => i,
        other => panic!("{other:?}"),
    }
}

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("a time")
}

#[tokio::test]
async fn after_a_restart_a_refill_is_seen_from_the_devices_level_heads() {
    let d = dir("heads");
    let at = |h: u32| format!("2026-11-22T{h:02}:00:00Z");
    let cyan = |percent| Supply {
        index: 2,
        description: "Cyan Toner".into(),
        color: Some("cyan".into()),
        ..black_toner(percent)
    };
    let mut r = reading("10.0.0.5", Some("SN5"), None, &at(1));
    r.supplies = vec![black_toner(30), cyan(50)];
    {
        let mut w = Writer::new(reopen(&d), Policy::default());
        ingest(&mut w, "hq", 1, &r).await;
        // The cyan toner is missing from the next reading: its newest point stays.
        r.polled_at = at(2);
        r.supplies = vec![black_toner(10)];
        ingest(&mut w, "hq", 2, &r).await;
    }
    let mut w = Writer::new(reopen(&d), Policy::default());
    let heads = w.reader().level_heads("sn:SN5").unwrap();
    assert_eq!(
        heads
            .iter()
            .map(|(k, p)| (k, p.percent))
            .collect::<Vec<_>>(),
        vec![("1.1", 10), ("1.2", 50)]
    );
    r.polled_at = at(3);
    r.supplies = vec![black_toner(95), cyan(50)];
    let Ingested::Stored { changes, .. } = ingest(&mut w, "hq", 3, &r).await else {
        panic!("not stored");
    };
    assert_eq!(
        changes
            .replaced
            .iter()
            .map(|x| (x.from, x.to))
            .collect::<Vec<_>>(),
        vec![(10, 95)],
        "the refill, measured from the level before the restart"
    );
    assert_eq!(
        w.reader().levels("sn:SN5", "1.2").unwrap().len(),
        1,
        "cyan did not move"
    );
    assert_eq!(w.reader().replacements(Some("sn:SN5")).unwrap().len(), 1);
    drop(w);
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn readings_read_back_whole() {
    let d = dir("encoding");
    let mut w = Writer::new(reopen(&d), Policy::default());
    let mut r = reading("10.0.0.9", Some("SN9"), None, "2026-01-01T00:00:00.5Z");
    r.supplies.push(Supply {
        part_number: Some("CF259A".into()),
        ..black_toner(40)
    });
    r.meters.push(Meter {
        name: "total".into(),
        value: 1234,
        source: "prtMarkerLifeCount".into(),
    });
    let Ingested::Stored { device_id, .. } = ingest(&mut w, "hq", 1, &r).await else {
        panic!("not stored");
    };
    let s = w.reader();
    assert_eq!(s.latest(&device_id).unwrap().as_ref(), Some(&r));
    assert_eq!(s.history(&device_id, None).unwrap(), vec![r.clone()]);
    let device = s.device(&device_id).unwrap().unwrap();
    assert_eq!(
        device.first_seen.rfc3339(),
        r.polled_at,
        "to the nanosecond"
    );
    drop(w);
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn history_keeps_each_shape_once_and_every_reading_reads_back_as_taken() {
    let d = dir("shapes");
    let shapes_of = |w: &Writer| -> u32 {
        w.reader()
            .newest_shape("sn:SN7")
            .unwrap()
            .map_or(0, |(n, _)| n + 1)
    };
    let at = |i: u32| format!("2026-11-22T10:00:{i:02}Z");
    let mut taken = Vec::new();
    {
        let mut w = Writer::new(reopen(&d), Policy::default());
        let mut r = reading("10.0.0.7", Some("SN7"), None, &at(0));
        r.identity.firmware = Some("1.0".into());
        for i in 0..6u32 {
            r.polled_at = at(i);
            r.status.printer_status = Some(format!("idle {i}"));
            if i == 3 {
                // A firmware update: a new shape, from this reading on.
                r.identity.firmware = Some("2.0".into());
            }
            ingest(&mut w, "hq", u64::from(i) + 1, &r).await;
            taken.push(r.clone());
        }
        assert_eq!(shapes_of(&w), 2);
        assert_eq!(w.reader().history("sn:SN7", None).unwrap(), taken);
    }
    // Reopened, ingest knows no shape in memory: it finds the newest and takes it again.
    let mut w = Writer::new(reopen(&d), Policy::default());
    let mut r = taken[5].clone();
    r.polled_at = at(6);
    ingest(&mut w, "hq", 7, &r).await;
    taken.push(r);
    assert_eq!(shapes_of(&w), 2);
    assert_eq!(w.reader().history("sn:SN7", None).unwrap(), taken);
    assert_eq!(w.reader().latest("sn:SN7").unwrap().as_ref(), taken.last());
    drop(w);
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn ingest_follows_its_own_alert_changes_and_those_the_clock_makes() {
    let d = dir("alert-copy");
    let mut w = Writer::new(reopen(&d), Policy::default());
    let mut r = reading("10.0.0.8", Some("SN8"), None, "2026-11-22T10:00:00Z");
    r.supplies.push(Supply {
        state: SupplyState::Low,
        ..black_toner(5)
    });
    let mut seq = 0;
    let mut put = async |w: &mut Writer, percent: u8| {
        seq += 1;
        r.polled_at = format!("2026-11-22T10:00:{seq:02}Z");
        r.supplies[0].level = i64::from(percent);
        r.supplies[0].percent = Some(percent);
        match ingest(w, "hq", seq, &r).await {
            Ingested::Stored { changes, .. } => (changes.opened.len(), changes.closed.len()),
            other => panic!("not stored: {other:?}"),
        }
    };
    assert_eq!(put(&mut w, 5).await, (1, 0), "low: opens");
    assert_eq!(
        put(&mut w, 4).await,
        (0, 0),
        "still low: ingest knows it is open"
    );
    assert_eq!(put(&mut w, 90).await, (0, 1), "refilled: closes");
    assert_eq!(put(&mut w, 90).await, (0, 0), "ingest knows it closed");
    assert_eq!(put(&mut w, 3).await, (1, 0), "low again: opens again");
    // Closed by the clock (as an operator's or the watchdog's change would be): ingest's
    // copy follows.
    let key = w.reader().alerts(false).unwrap()[0].key.clone();
    let applied = w
        .apply(&ClockChanges {
            at: Some(at("2026-11-22T10:01:00Z")),
            close: vec![key],
            ..ClockChanges::default()
        })
        .unwrap();
    assert_eq!(applied.closed.len(), 1);
    assert_eq!(
        put(&mut w, 3).await,
        (1, 0),
        "closed elsewhere, still low: opens"
    );
    assert_eq!(w.reader().alerts(false).unwrap().len(), 1);
    drop(w);
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn replays_are_not_stored_twice_and_state_survives_reopening() {
    let d = dir("replay");
    {
        let mut w = Writer::new(reopen(&d), Policy::default());
        for seq in 1..=3 {
            let r = reading(
                "10.0.0.5",
                Some("SN1"),
                None,
                &format!("2026-11-21T10:00:0{seq}Z"),
            );
            assert!(matches!(
                ingest(&mut w, "hq", seq, &r).await,
                Ingested::Stored { .. }
            ));
        }
        // The collector lost the ack of 2 and 3 and sends them again.
        let r = reading("10.0.0.5", Some("SN1"), None, "2026-11-21T10:00:02Z");
        assert_eq!(ingest(&mut w, "hq", 2, &r).await, Ingested::Duplicate);
        assert_eq!(ingest(&mut w, "hq", 3, &r).await, Ingested::Duplicate);
        // Another site's numbers are its own (its reading of hq's printer is a conflict).
        assert!(matches!(
            ingest(&mut w, "branch", 1, &r).await,
            Ingested::Observed { .. }
        ));
        assert_eq!(ingest(&mut w, "branch", 1, &r).await, Ingested::Duplicate);
    }
    let s = reopen(&d);
    assert_eq!(s.last_sequence("hq").unwrap(), 3);
    assert_eq!(s.last_sequence("branch").unwrap(), 1);
    assert_eq!(s.observations("sn:SN1").unwrap().len(), 1);
    assert_eq!(s.history("sn:SN1", None).unwrap().len(), 3);
    assert_eq!(
        s.history("sn:SN1", Some(at("2026-11-21T10:00:02Z")))
            .unwrap()
            .len(),
        2
    );
    assert_eq!(s.devices().unwrap().len(), 1);
    drop(s);
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn a_batch_is_stored_in_order_with_replays_and_failures_in_it() {
    let d = dir("batch");
    let item = |n: u32| {
        item(&reading(
            &format!("10.0.1.{n}"),
            Some(&format!("B{n}")),
            None,
            "2026-11-21T10:00:00Z",
        ))
    };
    let failed = |n: u32| {
        Incoming::PollFailed(PollFailure {
            address: "10.0.1.1".into(),
            consecutive: n,
            error: "timeout".into(),
            at: at("2026-11-21T10:05:00Z"),
            certificate_changed: false,
        })
    };
    {
        let mut w = Writer::new(reopen(&d), Policy::default());
        let batch: Vec<(u64, Incoming)> = vec![
            (1, item(1)),
            (2, item(2)),
            (3, failed(1)),
            (4, failed(2)),
            (5, failed(3)),
        ];
        let answers = w.ingest_batch("hq", &batch).await;
        assert_eq!(answers.len(), 5);
        assert!(matches!(
            answers[0],
            Ok(Answer::Reading(Ingested::Stored {
                new_device: true,
                ..
            }))
        ));
        assert!(matches!(answers[3], Ok(Answer::PollFailed(None))));
        // The third failure in a row makes the printer at 10.0.1.1 unreachable.
        assert!(
            matches!(&answers[4], Ok(Answer::PollFailed(Some(a))) if a.device_id == "sn:B1"),
            "{:?}",
            answers[4]
        );
        // The collector sends the tail again, and one more.
        let again: Vec<(u64, Incoming)> = vec![(4, failed(2)), (5, failed(3)), (6, item(3))];
        let answers = w.ingest_batch("hq", &again).await;
        assert!(matches!(answers[0], Ok(Answer::PollFailed(None))));
        assert!(
            matches!(answers[1], Ok(Answer::PollFailed(None))),
            "a replayed failure opens nothing"
        );
        assert!(matches!(
            answers[2],
            Ok(Answer::Reading(Ingested::Stored { .. }))
        ));
        // A batch that follows one not wholly stored is refused whole.
        let refused = w.write_batch("hq", &[(9, item(4))], Some(8));
        assert!(
            matches!(
                refused.as_slice(),
                [Err(crate::store::StoreError::Refused(_))]
            ),
            "{refused:?}"
        );
    }
    // One flush made the whole batch durable.
    let s = reopen(&d);
    assert_eq!(s.last_sequence("hq").unwrap(), 6);
    assert_eq!(s.device_count(), 3);
    assert_eq!(s.open_alert_count(), 1);
    drop(s);
    let _ = std::fs::remove_dir_all(&d);
}

/// A printer whose certificate changed opens its alert at the first such poll, once, and
/// the next reading (its certificate trusted again) closes it.
#[tokio::test]
async fn a_changed_certificate_opens_one_alert_at_once_and_a_reading_closes_it() {
    let d = dir("certificate");
    let uri = "ipps://127.0.0.1:8631/ipp/print";
    let changed = |when: &str| {
        Incoming::PollFailed(PollFailure {
            address: uri.into(),
            consecutive: 1,
            error: "the printer's certificate has changed".into(),
            at: at(when),
            certificate_changed: true,
        })
    };
    let mut w = Writer::new(reopen(&d), Policy::default());
    let batch = vec![
        (
            1,
            item(&reading(uri, Some("IPP1"), None, "2026-11-21T10:00:00Z")),
        ),
        (2, changed("2026-11-21T10:05:00Z")),
        (3, changed("2026-11-21T10:10:00Z")),
    ];
    let answers = w.ingest_batch("hq", &batch).await;
    match &answers[1] {
        Ok(Answer::PollFailed(Some(a))) => {
            assert_eq!(a.kind, AlertKind::CertificateChanged);
            assert_eq!(a.device_id, "sn:IPP1");
            assert!(a.detail.contains("certificate has changed"), "{}", a.detail);
        }
        other => panic!("the first changed certificate opens an alert: {other:?}"),
    }
    assert!(
        matches!(answers[2], Ok(Answer::PollFailed(None))),
        "one alert, not one per poll: {:?}",
        answers[2]
    );
    let answers = w
        .ingest_batch(
            "hq",
            &[(
                4,
                item(&reading(uri, Some("IPP1"), None, "2026-11-21T10:15:00Z")),
            )],
        )
        .await;
    assert!(matches!(
        answers[0],
        Ok(Answer::Reading(Ingested::Stored { .. }))
    ));
    drop(w);
    let s = reopen(&d);
    assert_eq!(s.open_alert_count(), 0, "the reading closed it");
    let all = s.alerts(true).unwrap();
    assert_eq!(
        all.iter()
            .filter(|a| a.kind == AlertKind::CertificateChanged)
            .count(),
        1
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn one_printer_is_one_device_across_addresses_and_sites() {
    let d = dir("dedupe");
    let mut w = Writer::new(reopen(&d), Policy::default());
    let t = |n: u32| format!("2026-11-21T10:00:0{n}Z");
    let stored = |id: &str, new_device| Ingested::Stored {
        device_id: id.into(),
        new_device,
        changes: Default::default(),
    };
    // Seen by two sites, then at a new address after a DHCP change.
    let a = ingest(
        &mut w,
        "hq",
        1,
        &reading("10.0.0.5", Some("SN1"), Some("aa:bb"), &t(1)),
    )
    .await;
    let b = ingest(
        &mut w,
        "br",
        1,
        &reading("10.9.0.5", Some("SN1"), Some("aa:bb"), &t(2)),
    )
    .await;
    let c = ingest(
        &mut w,
        "hq",
        2,
        &reading("10.0.0.77", Some("SN1"), Some("aa:bb"), &t(3)),
    )
    .await;
    assert_eq!(a, stored("sn:SN1", true));
    assert_eq!(
        b,
        Ingested::Observed {
            device_id: "sn:SN1".into(),
            owner: "hq".into()
        },
        "one device, which belongs to the site that found it first"
    );
    assert_eq!(c, stored("sn:SN1", false));
    // No serial: the MAC finds it; neither: vendor, model and address.
    ingest(
        &mut w,
        "hq",
        3,
        &reading("10.0.0.8", None, Some("cc:dd"), &t(4)),
    )
    .await;
    let d4 = ingest(
        &mut w,
        "hq",
        4,
        &reading("10.0.0.99", None, Some("cc:dd"), &t(5)),
    )
    .await;
    assert_eq!(d4, stored("mac:cc:dd", false));
    ingest(&mut w, "hq", 5, &reading("10.0.0.9", None, None, &t(6))).await;
    let e = ingest(&mut w, "hq", 6, &reading("10.0.0.9", None, None, &t(7))).await;
    assert_eq!(e, stored("at:hq/HP/M404/10.0.0.9", false));
    // A different printer (another serial) put where a known one was is a device of its
    // own; one that never gave a serial may be the same printer, as DESIGN's order says.
    let f = ingest(
        &mut w,
        "hq",
        7,
        &reading("10.0.0.5", Some("SN3"), None, &t(8)),
    )
    .await;
    assert_eq!(f, stored("sn:SN3", true));
    let s = w.reader();
    let devices = s.devices().unwrap();
    assert_eq!(devices.len(), 4);
    assert_eq!(s.device_count(), 4);
    let first = s.device("sn:SN1").unwrap().unwrap();
    assert_eq!(
        first.addresses,
        vec!["10.0.0.5", "10.0.0.77"],
        "another site's address is its conflict's"
    );
    assert_eq!(first.site, "hq");
    assert_eq!(s.latest("sn:SN1").unwrap().unwrap().polled_at, t(3));
    assert_eq!(
        first.last_seen,
        at(&t(3)),
        "last seen: the newest reading's time"
    );
    // Pruning everything before t(2) takes SN1's first reading only.
    assert_eq!(w.prune(at(&t(2)), None, 1_000).unwrap().removed, 1);
    // Pruning everything keeps each device's newest reading, its latest.
    w.prune(at("2030-01-01T00:00:00Z"), None, 1_000).unwrap();
    for dev in s.devices().unwrap() {
        let kept = s.history(&dev.id, None).unwrap();
        assert_eq!(kept.len(), 1, "{}", dev.id);
        assert_eq!(s.latest(&dev.id).unwrap().as_ref(), kept.first());
        assert_eq!(dev.last_seen.rfc3339(), kept[0].polled_at);
    }
    drop(w);
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn the_last_meter_read_is_exact_without_a_write_per_reading() {
    let d = dir("meters");
    let t = |h: u32| format!("2026-03-{:02}T{:02}:00:00Z", 1 + h / 24, h % 24);
    let with = |h: u32, total: u64| {
        let mut r = reading("10.0.0.9", Some("SNM"), None, &t(h));
        r.meters.push(Meter {
            name: "total".into(),
            value: total,
            source: "prtMarkerLifeCount".into(),
        });
        r
    };
    let kept = |w: &Writer| -> String {
        let (when, _) = w.reader().kept_meter_read("sn:SNM").unwrap().unwrap();
        when.rfc3339()
    };
    let read_at = |w: &Writer| {
        w.reader()
            .meter_read("sn:SNM")
            .unwrap()
            .map(|(when, m)| (when.rfc3339(), m[0].value))
    };
    let mut seq = 0;
    let mut put = async |w: &mut Writer, r: Reading| {
        seq += 1;
        ingest(w, "hq", seq, &r).await
    };
    {
        let mut w = Writer::new(reopen(&d), Policy::default());
        put(&mut w, with(0, 100)).await;
        put(&mut w, with(1, 100)).await;
        assert_eq!(
            read_at(&w),
            Some((t(1), 100)),
            "the newest reading's meters"
        );
        assert_eq!(kept(&w), t(0), "unchanged values are not written again");
        put(&mut w, reading("10.0.0.9", Some("SNM"), None, &t(2))).await;
        assert_eq!(
            read_at(&w),
            Some((t(1), 100)),
            "no meters now: the last that had some"
        );
        let dev = w.reader().device("sn:SNM").unwrap().unwrap();
        assert_eq!(
            (dev.last_seen, dev.last_meter_read),
            (at(&t(2)), Some(at(&t(1))))
        );
        put(&mut w, with(3, 150)).await;
        assert_eq!(kept(&w), t(3), "changed values are written");
        put(&mut w, with(4, 150)).await;
        put(&mut w, with(28, 150)).await;
        assert_eq!(kept(&w), t(28), "and unchanged ones a day on");
        put(&mut w, with(29, 150)).await;
    }
    // After a restart, a reading without meters still finds the last one that had them.
    let mut w = Writer::new(reopen(&d), Policy::default());
    put(&mut w, reading("10.0.0.9", Some("SNM"), None, &t(30))).await;
    assert_eq!(read_at(&w), Some((t(29), 150)));
    assert_eq!(kept(&w), t(29));
    drop(w);
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn alert_ids_and_batch_keys_come_from_atomic_counters_across_restarts() {
    let d = dir("numbers");
    let policy = Policy {
        uploads: true,
        ..Policy::default()
    };
    {
        let mut w = Writer::new(reopen(&d), policy.clone());
        let mut r = reading("10.0.0.1", Some("N1"), None, "2026-11-21T10:00:00Z");
        r.supplies.push(black_toner(5));
        let Ingested::Stored { changes, .. } = ingest(&mut w, "hq", 1, &r).await else {
            panic!("not stored");
        };
        assert_eq!(changes.opened[0].id, "A1");
        let batch = &w.reader().pending_batches().unwrap()[0];
        assert_eq!(batch.key, "pw-000000000001");
        assert_eq!(batch.body["reason"], "reorder");
    }
    let mut w = Writer::new(reopen(&d), policy);
    let mut r = reading("10.0.0.2", Some("N2"), None, "2026-11-21T10:00:00Z");
    r.supplies.push(black_toner(5));
    let Ingested::Stored { changes, .. } = ingest(&mut w, "hq", 2, &r).await else {
        panic!("not stored");
    };
    assert_eq!(
        changes.opened[0].id, "A2",
        "numbering goes on after a restart"
    );
    let keys: Vec<String> = w
        .reader()
        .pending_batches()
        .unwrap()
        .into_iter()
        .map(|b| b.key)
        .collect();
    assert_eq!(keys, ["pw-000000000001", "pw-000000000002"]);
    drop(w);
    let _ = std::fs::remove_dir_all(&d);
}

/// A low toner and its part number, for the takeover tests.
fn toner_reading(
    address: &str,
    serial: &str,
    model: &str,
    percent: u8,
    part: &str,
    at: &str,
) -> Reading {
    let mut r = reading(address, Some(serial), None, at);
    r.identity.model = Some(model.into());
    r.supplies = vec![Supply {
        part_number: Some(part.into()),
        ..black_toner(percent)
    }];
    r
}

#[tokio::test]
async fn another_sites_reading_of_a_printer_changes_nothing_of_it_until_it_is_moved() {
    let d = dir("takeover");
    let policy = Policy {
        mail_sites: ["hq".to_string(), "branch".to_string()].into(),
        uploads: true,
        ..Policy::default()
    };
    let mut w = Writer::new(reopen(&d), policy);
    // Branch's printer, low on toner: one alert, one mail, one reorder batch.
    let own = toner_reading(
        "10.2.0.5",
        "BR1",
        "M404",
        5,
        "CF259A",
        "2026-11-22T10:00:00Z",
    );
    let Ingested::Stored { changes, .. } = ingest(&mut w, "branch", 1, &own).await else {
        panic!("not stored");
    };
    assert_eq!(changes.opened.len(), 1);
    let alert = changes.opened[0].clone();
    let (mails, batches) = (
        w.reader().pending_mail().unwrap().len(),
        w.reader().pending_batches().unwrap().len(),
    );
    // hq's collector sends a forged reading under branch's serial: another model, a full
    // toner with another part number.
    let forged = toner_reading(
        "10.1.0.9",
        "BR1",
        "Forged",
        100,
        "FORGED",
        "2026-11-22T10:05:00Z",
    );
    assert_eq!(
        ingest(&mut w, "hq", 1, &forged).await,
        Ingested::Observed {
            device_id: "sn:BR1".into(),
            owner: "branch".into()
        }
    );
    let r = w.reader();
    let device = r.device("sn:BR1").unwrap().unwrap();
    assert_eq!(device.site, "branch");
    assert_eq!(device.identity.model.as_deref(), Some("M404"));
    assert_eq!(device.addresses, ["10.2.0.5"]);
    let latest = r.latest("sn:BR1").unwrap().unwrap();
    assert_eq!(latest.supplies[0].percent, Some(5));
    assert_eq!(latest.supplies[0].part_number.as_deref(), Some("CF259A"));
    assert_eq!(
        r.alerts(false).unwrap(),
        vec![alert.clone()],
        "the alert stays open, at branch"
    );
    assert_eq!(r.pending_mail().unwrap().len(), mails, "no mail to anyone");
    assert_eq!(
        r.pending_batches().unwrap().len(),
        batches,
        "nothing for the dealer"
    );
    assert_eq!(r.devices().unwrap().len(), 1, "still one device");
    let seen = r.observations("sn:BR1").unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].site.as_str(), seen[0].address.as_str()),
        ("hq", "10.1.0.9")
    );
    assert_eq!(seen[0].identity.model.as_deref(), Some("Forged"));
    // Branch's own readings go on as before.
    let own = toner_reading(
        "10.2.0.5",
        "BR1",
        "M404",
        90,
        "CF259A",
        "2026-11-22T10:10:00Z",
    );
    let Ingested::Stored { changes, .. } = ingest(&mut w, "branch", 2, &own).await else {
        panic!("not stored");
    };
    assert_eq!(changes.closed.len(), 1, "refilled at branch");
    // An operator moves it: hq's readings are the device's now, branch's a conflict.
    let moved = w.move_device("sn:BR1", "hq").unwrap();
    assert_eq!(moved.site, "hq");
    assert!(moved.addresses.contains(&"10.1.0.9".to_string()));
    assert!(w.reader().observations("sn:BR1").unwrap().is_empty());
    let hq = toner_reading(
        "10.1.0.9",
        "BR1",
        "M404",
        80,
        "CF259A",
        "2026-11-22T10:15:00Z",
    );
    assert!(matches!(
        ingest(&mut w, "hq", 2, &hq).await,
        Ingested::Stored { .. }
    ));
    let br = toner_reading(
        "10.2.0.5",
        "BR1",
        "M404",
        80,
        "CF259A",
        "2026-11-22T10:16:00Z",
    );
    assert!(matches!(
        ingest(&mut w, "branch", 3, &br).await,
        Ingested::Observed { .. }
    ));
    assert!(w.move_device("sn:NOPE", "hq").is_err());
    drop(w);
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn a_site_at_its_quota_creates_no_more_devices_and_is_alerted_once() {
    let d = dir("quota");
    let policy = Policy {
        device_quota: Some(2),
        ..Policy::default()
    };
    let mut w = Writer::new(reopen(&d), policy);
    let printer = |n: u32| {
        reading(
            &format!("10.0.0.{n}"),
            Some(&format!("Q{n}")),
            None,
            "2026-11-22T10:00:00Z",
        )
    };
    for n in 1..=2 {
        assert!(matches!(
            ingest(&mut w, "hq", u64::from(n), &printer(n)).await,
            Ingested::Stored { .. }
        ));
    }
    let Ingested::OverQuota(Some(alert)) = ingest(&mut w, "hq", 3, &printer(3)).await else {
        panic!("not refused");
    };
    assert_eq!(alert.kind.name(), "over_quota");
    assert_eq!(alert.site, "hq");
    assert_eq!(
        ingest(&mut w, "hq", 4, &printer(4)).await,
        Ingested::OverQuota(None),
        "alerted once"
    );
    // Known printers are still read, and other sites have their own quota.
    assert!(matches!(
        ingest(&mut w, "hq", 5, &printer(1)).await,
        Ingested::Stored { .. }
    ));
    assert!(matches!(
        ingest(&mut w, "branch", 1, &printer(7)).await,
        Ingested::Stored { .. }
    ));
    let r = w.reader();
    assert_eq!(r.devices().unwrap().len(), 3);
    assert_eq!(
        r.last_sequence("hq").unwrap(),
        5,
        "refused numbers are handled, not replayed"
    );
    drop((r, w));
    // After a restart the count is taken from the store.
    let mut w = Writer::new(
        reopen(&d),
        Policy {
            device_quota: Some(2),
            ..Policy::default()
        },
    );
    assert!(matches!(
        ingest(&mut w, "hq", 6, &printer(8)).await,
        Ingested::OverQuota(None)
    ));
    // A move frees a place; the next new printer is stored and the alert closes.
    w.move_device("sn:Q2", "branch").unwrap();
    let Ingested::Stored { .. } = ingest(&mut w, "hq", 7, &printer(9)).await else {
        panic!("not stored after a place was freed");
    };
    assert!(w.reader().alerts(false).unwrap().is_empty());
    drop(w);
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn a_new_outbox_starts_a_new_numbering_and_a_number_far_ahead_is_refused() {
    let d = dir("outbox-identity");
    let mut w = Writer::new(reopen(&d), Policy::default());
    assert!(w.outbox_identity("hq", "first").unwrap());
    let r = |n: u32| {
        reading(
            "10.0.0.5",
            Some("O1"),
            None,
            &format!("2026-11-22T10:{n:02}:00Z"),
        )
    };
    for seq in 1..=3 {
        ingest(&mut w, "hq", seq, &r(seq as u32)).await;
    }
    assert!(
        !w.outbox_identity("hq", "first").unwrap(),
        "the same outbox"
    );
    assert_eq!(
        ingest(&mut w, "hq", 2, &r(2)).await,
        Ingested::Duplicate,
        "a true replay"
    );
    // The collector lost its outbox: a new one numbers from 1 again, and is stored.
    assert!(w.outbox_identity("hq", "second").unwrap());
    assert!(matches!(
        ingest(&mut w, "hq", 1, &r(10)).await,
        Ingested::Stored { .. }
    ));
    assert_eq!(w.reader().history("sn:O1", None).unwrap().len(), 4);
    // One envelope numbered near 2^64 would make every later number a "replay".
    let far = w
        .ingest_batch("hq", &[(u64::MAX, item(&r(11)))])
        .await
        .pop()
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(far.contains("far beyond"), "{far}");
    assert!(matches!(
        ingest(&mut w, "hq", 2, &r(12)).await,
        Ingested::Stored { .. }
    ));
    drop(w);
    let s = reopen(&d);
    assert_eq!(s.outbox_id("hq").unwrap().as_deref(), Some("second"));
    assert_eq!(s.last_sequence("hq").unwrap(), 2);
    drop(s);
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn a_refused_envelope_opens_the_sites_alert_once() {
    let d = dir("refused");
    let mut w = Writer::new(reopen(&d), Policy::default());
    let refused = |reason: &str| Incoming::Refused {
        reason: reason.into(),
        at: at("2026-11-22T10:00:00Z"),
    };
    let answers = w
        .ingest_batch("hq", &[(1, refused("bad_time")), (2, refused("malformed"))])
        .await;
    let kinds: Vec<bool> = answers
        .iter()
        .map(|a| matches!(a, Ok(Answer::Refused(Some(_)))))
        .collect();
    assert_eq!(kinds, [true, false], "one alert for both");
    assert_eq!(w.reader().last_sequence("hq").unwrap(), 2);
    assert_eq!(
        w.reader().mark("refused:hq").unwrap(),
        Some(at("2026-11-22T10:00:00Z"))
    );
    drop(w);
    let _ = std::fs::remove_dir_all(&d);
}
