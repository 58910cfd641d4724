//! Every recording, served by the simulator and read through the real transport, gives the
//! values a correct reading must find: the project's own fixtures always, and the shared
//! corpus's real printers when it is there (compiled as ignored when it is not).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::path::PathBuf;

use agent_core::classify::{probe, DeviceClass};
use agent_core::model::{PercentSource, SupplyState};
use agent_core::poll::first_poll;
use agent_core::session::Session;
use agent_core::sim::serve;
use agent_core::transport::{Target, Transport};
use printwatch_tests::{check_reading, expected, fixtures, loopback, sim_device};

/// Reads every printer recording through the simulator and the transport and checks it
/// against its expected values; `at_least` guards against a directory read short.
async fn printers_read_correctly(recs: Vec<(String, PathBuf)>, at_least: usize) {
    assert!(
        recs.len() >= at_least,
        "expected at least {at_least} printer recordings, found {}",
        recs.len()
    );
    let devices: Vec<_> = recs
        .iter()
        .map(|(n, p)| (loopback(), sim_device(n, p)))
        .collect();
    let sim = serve(devices).await.unwrap();
    let transport = Transport::bind_default().await.unwrap();
    let mut failures = Vec::new();
    let mut readings = 0;
    for ((name, path), addr) in recs.iter().zip(sim.addrs()) {
        let mut session = Session::new(transport.clone(), Target::new(*addr));
        let p = probe(&mut session).await.unwrap();
        assert_eq!(
            p.class,
            DeviceClass::Printer,
            "{name} classified as {:?}",
            p.class
        );
        let (reading, plan) = first_poll(&mut session)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // What a collector keeps between polls is the same plan, in less memory.
        let packed = plan.pack();
        assert_eq!(
            packed.unpack().unwrap_or_else(|e| panic!("{name}: {e}")),
            plan,
            "{name}: the plan packs losslessly"
        );
        let loose: usize = plan.known.keys().map(|o| o.len() * 4 + 32).sum();
        assert!(
            packed.size() < loose,
            "{name}: packed {} B, loose {loose} B",
            packed.size()
        );
        failures.extend(check_reading(name, &reading, &expected(path)));
        assert!(reading.round_trips > 0 && reading.bytes_received > 0);
        readings += 1;
    }
    assert_eq!(readings, recs.len());
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every recording of a device that is not a printer is classified as an SNMP device
/// that is not one.
async fn others_are_not_printers(recs: Vec<(String, PathBuf)>, at_least: usize) {
    assert!(recs.len() >= at_least);
    let devices: Vec<_> = recs
        .iter()
        .map(|(n, p)| (loopback(), sim_device(n, p)))
        .collect();
    let sim = serve(devices).await.unwrap();
    let transport = Transport::bind_default().await.unwrap();
    for ((name, _), addr) in recs.iter().zip(sim.addrs()) {
        let mut session = Session::new(transport.clone(), Target::new(*addr));
        let p = probe(&mut session)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(p.class, DeviceClass::Other, "{name} taken for a printer");
        assert!(
            p.vars.contains_key(&agent_core::mib::sys_object_id()),
            "{name}: no sysObjectID read"
        );
    }
}

#[tokio::test]
async fn every_fixture_printer_reads_correctly_through_the_transport() {
    printers_read_correctly(fixtures("printers"), 6).await;
}

#[tokio::test]
#[cfg_attr(
    not(corpus),
    ignore = "the printer corpus is not at ../shared/corpus (set PRINTWATCH_CORPUS)"
)]
async fn every_corpus_printer_reads_correctly_through_the_transport() {
    printers_read_correctly(printwatch_tests::corpus("printers"), 12).await;
}

#[tokio::test]
async fn every_other_fixture_is_an_snmp_device_but_not_a_printer() {
    others_are_not_printers(fixtures("others"), 4).await;
}

#[tokio::test]
#[cfg_attr(
    not(corpus),
    ignore = "the printer corpus is not at ../shared/corpus (set PRINTWATCH_CORPUS)"
)]
async fn every_other_corpus_recording_is_an_snmp_device_but_not_a_printer() {
    others_are_not_printers(printwatch_tests::corpus("others"), 4).await;
}

/// Short GETBULK replies: an agent that answers fewer repetitions than asked, and one
/// whose replies are cut to a small message, mid-table. The readings are the same as from
/// an agent that answers in full: columns stay open until their table ends.
#[tokio::test]
async fn short_getbulk_replies_give_the_same_readings() {
    use agent_core::sim::Faults;
    let recs = fixtures("printers");
    let read_all = async |shorten: &dyn Fn(&mut agent_core::sim::SimDevice)| {
        let devices: Vec<_> = recs
            .iter()
            .map(|(n, p)| {
                let mut d = sim_device(n, p);
                shorten(&mut d);
                (loopback(), d)
            })
            .collect();
        let sim = serve(devices).await.unwrap();
        let t = Transport::bind_default().await.unwrap();
        let mut out = Vec::new();
        for addr in sim.addrs() {
            let mut session = Session::new(t.clone(), Target::new(*addr));
            let (r, _) = first_poll(&mut session).await.unwrap();
            out.push(r);
        }
        out
    };
    let full = read_all(&|_| {}).await;
    let capped = read_all(&|d| {
        d.faults = Faults {
            max_repetitions: Some(2),
            ..Faults::default()
        }
    })
    .await;
    let small = read_all(&|d| d.max_message = 484).await;
    for (((name, path), f), (c, s)) in recs.iter().zip(&full).zip(capped.iter().zip(&small)) {
        assert!(check_reading(name, f, &expected(path)).is_empty(), "{name}");
        let same = |r: &agent_core::model::Reading| printwatch_tests::essence(r.clone());
        assert_eq!(same(c), same(f), "{name}: two repetitions a reply");
        assert_eq!(same(s), same(f), "{name}: replies of 484 bytes");
        assert!(
            c.round_trips > f.round_trips && s.round_trips > f.round_trips,
            "{name}: the short replies took more round trips ({} and {}, against {})",
            c.round_trips,
            s.round_trips,
            f.round_trips
        );
    }
}

/// A steady poll reads Ricoh's private table as the first read did: the -100 rows keep their
/// percents from it.
#[tokio::test]
async fn ricoh_private_levels_hold_from_the_first_read_to_steady_polls() {
    use agent_core::poll::{steady_poll, Due};
    let (n, p) = printwatch_tests::fixture("ricoh_near_end");
    let sim = serve(vec![(loopback(), sim_device(&n, &p))]).await.unwrap();
    let t = Transport::bind_default().await.unwrap();
    let target = Target::new(sim.addrs()[0]);
    let (first, mut plan) = first_poll(&mut Session::new(t.clone(), target.clone()))
        .await
        .unwrap();
    let steady = steady_poll(
        &mut Session::new(t.clone(), target),
        &mut plan,
        Due { meters: false },
    )
    .await
    .unwrap();
    for r in [&first, &steady] {
        let cyan = r.supplies.iter().find(|s| s.index == 2).unwrap();
        assert_eq!(
            (cyan.level, cyan.percent, cyan.percent_source, cyan.state),
            (
                -100,
                Some(10),
                Some(PercentSource::VendorPrivateLevel),
                SupplyState::Low
            )
        );
        let black = r.supplies.iter().find(|s| s.index == 1).unwrap();
        assert_eq!(
            (black.percent, black.percent_source),
            (Some(40), Some(PercentSource::LevelOfMax))
        );
    }
}

#[tokio::test]
#[cfg_attr(
    not(corpus),
    ignore = "the printer corpus is not at ../shared/corpus (set PRINTWATCH_CORPUS)"
)]
async fn ricoh_private_level_table_is_read_through_the_transport() {
    use agent_core::message::Value;
    use agent_core::poll::{steady_poll, Due};
    use agent_core::Oid;
    let (n, p) = printwatch_tests::corpus("printers")
        .into_iter()
        .find(|(n, _)| n == "ricoh_mpc3002")
        .unwrap();
    let mut d = sim_device(&n, &p);
    // Cyan near end (-100) in the Printer-MIB; Ricoh's own table knows it is at 10 %.
    d.view.insert(
        Oid::lit("1.3.6.1.2.1.43.11.1.1.9.1.3"),
        Value::Integer(-100),
    );
    for (i, (name, level)) in [
        ("Black Toner", 40),
        ("Cyan Toner", 10),
        ("Magenta Toner", 50),
        ("Yellow Toner", 50),
    ]
    .iter()
    .enumerate()
    {
        let i = i as u32 + 1;
        d.view.insert(
            Oid::lit("1.3.6.1.4.1.367.3.2.1.2.24.1.1.3").child(&[i]),
            Value::OctetString(name.as_bytes().to_vec()),
        );
        d.view.insert(
            Oid::lit("1.3.6.1.4.1.367.3.2.1.2.24.1.1.5").child(&[i]),
            Value::Integer(*level),
        );
    }
    let sim = serve(vec![(loopback(), d)]).await.unwrap();
    let t = Transport::bind_default().await.unwrap();
    let (first, mut plan) = first_poll(&mut Session::new(t.clone(), Target::new(sim.addrs()[0])))
        .await
        .unwrap();
    let steady = steady_poll(
        &mut Session::new(t.clone(), Target::new(sim.addrs()[0])),
        &mut plan,
        Due { meters: false },
    )
    .await
    .unwrap();
    for r in [&first, &steady] {
        let cyan = r.supplies.iter().find(|s| s.index == 3).unwrap();
        assert_eq!(cyan.level, -100);
        assert_eq!(
            (cyan.percent, cyan.percent_source, cyan.state),
            (
                Some(10),
                Some(PercentSource::VendorPrivateLevel),
                SupplyState::Low
            )
        );
        let black = r.supplies.iter().find(|s| s.index == 1).unwrap();
        assert_eq!(
            (black.percent, black.percent_source),
            (Some(40), Some(PercentSource::LevelOfMax))
        );
    }
}
