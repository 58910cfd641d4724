//! Every recording in the corpus, served by the simulator and read through the real
//! transport, gives the values a correct reading must find.

use agent_core::classify::{probe, DeviceClass};
use agent_core::model::{PercentSource, Reading, SupplyState};
use agent_core::poll::first_poll;
use agent_core::session::Session;
use agent_core::sim::serve;
use agent_core::transport::{Target, Transport};
use printwatch_tests::{expected, loopback, recordings, sim_device};
use serde_json::Value as J;

fn check(name: &str, r: &Reading, want: &J) -> Vec<String> {
    let mut bad = Vec::new();
    let s = |v: &J| v.as_str().map(str::to_string);
    if let Some(serial) = s(&want["serial"]) {
        if r.identity.serial.as_deref() != Some(serial.as_str()) {
            bad.push(format!(
                "{name}: serial {:?}, want {serial:?}",
                r.identity.serial
            ));
        }
    }
    if let Some(model) = s(&want["model"]) {
        let ok = r
            .identity
            .model
            .as_deref()
            .is_some_and(|m| m.to_lowercase().contains(&model.to_lowercase()));
        if !ok {
            bad.push(format!(
                "{name}: model {:?}, want one containing {model:?}",
                r.identity.model
            ));
        }
    }
    if let Some(oid) = s(&want["sys_object_id"]) {
        if r.identity.sys_object_id.as_deref() != Some(oid.trim_start_matches('.')) {
            bad.push(format!(
                "{name}: sysObjectID {:?}",
                r.identity.sys_object_id
            ));
        }
    }
    let supplies = want["supplies"].as_array().cloned().unwrap_or_default();
    // LibreNMS leaves out rows whose level is unknown (-2); a reading keeps them, with a
    // null percent, so an operator sees the supply exists. Any other extra row is a bug.
    for extra in r.supplies.iter().filter(|x| {
        !supplies.iter().any(|w| {
            w["device_index"].as_u64() == Some(u64::from(x.device_index))
                && w["index"].as_u64() == Some(u64::from(x.index))
        })
    }) {
        if extra.level != -2 || extra.percent.is_some() {
            bad.push(format!(
                "{name}: unexpected supply {}.{} {:?}",
                extra.device_index, extra.index, extra.description
            ));
        }
    }
    for w in &supplies {
        let (dev, idx) = (
            w["device_index"].as_u64().unwrap_or(0) as u32,
            w["index"].as_u64().unwrap_or(0) as u32,
        );
        let Some(got) = r
            .supplies
            .iter()
            .find(|x| x.device_index == dev && x.index == idx)
        else {
            bad.push(format!("{name}: supply {dev}.{idx} missing"));
            continue;
        };
        let at = format!("{name} supply {dev}.{idx}");
        if Some(got.description.as_str()) != w["description"].as_str() {
            bad.push(format!(
                "{at}: description {:?}, want {:?}",
                got.description, w["description"]
            ));
        }
        if let Some(t) = w["type"].as_str() {
            if got.kind != t {
                bad.push(format!("{at}: kind {:?}, want {t:?}", got.kind));
            }
        }
        let (level, max) = (
            w["level"].as_i64().unwrap_or(i64::MIN),
            w["max_capacity"].as_i64().unwrap_or(i64::MIN),
        );
        if got.level != level || got.max_capacity != max {
            bad.push(format!(
                "{at}: level {}/{}, want {level}/{max}",
                got.level, got.max_capacity
            ));
        }
        let reference = w["reference_percent"].as_i64();
        match w["percent_rule"].as_str() {
            Some("standard") => {
                if got.percent.map(i64::from) != reference
                    || got.percent_source != Some(PercentSource::LevelOfMax)
                {
                    bad.push(format!(
                        "{at}: percent {:?} ({:?}), want {reference:?}",
                        got.percent, got.percent_source
                    ));
                }
            }
            Some("special") => {
                let state = match level {
                    -1 => SupplyState::Unrestricted,
                    -2 => SupplyState::Unknown,
                    _ => SupplyState::SomeRemaining,
                };
                if got.percent.is_some() || got.state != state {
                    bad.push(format!(
                        "{at}: special level gave {:?} {:?}, want null and {state:?}",
                        got.percent, got.state
                    ));
                }
            }
            Some("vendor") => {
                let vendor_rule = matches!(
                    got.percent_source,
                    Some(
                        PercentSource::VendorPercentUnit
                            | PercentSource::VendorLevelCode
                            | PercentSource::VendorPrivateLevel
                    )
                );
                let ok = match got.percent {
                    Some(p) => vendor_rule && Some(i64::from(p)) == reference,
                    None => got.percent_source.is_none(),
                };
                if !ok {
                    bad.push(format!("{at}: vendor row gave {:?} from {:?}, want {reference:?} from a vendor rule or null", got.percent, got.percent_source));
                }
            }
            other => bad.push(format!("{at}: unknown rule {other:?}")),
        }
    }
    for c in want["page_counters"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let oid = c["oid"].as_str().unwrap_or("").trim_start_matches('.');
        let value = c["value"].as_u64();
        if !r
            .meters
            .iter()
            .any(|m| m.source == oid && Some(m.value) == value)
        {
            bad.push(format!("{name}: page counter {oid} = {value:?} missing"));
        }
    }
    bad
}

#[tokio::test]
async fn every_printer_recording_reads_correctly_through_the_transport() {
    let recs = recordings("printers");
    assert!(
        recs.len() >= 12,
        "expected the whole printer corpus, found {}",
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
        failures.extend(check(name, &reading, &expected(path)));
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

#[tokio::test]
async fn every_other_recording_is_an_snmp_device_but_not_a_printer() {
    let recs = recordings("others");
    assert!(recs.len() >= 4);
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
async fn ricoh_private_level_table_is_read_through_the_transport() {
    use agent_core::message::Value;
    use agent_core::poll::{steady_poll, Due};
    use agent_core::Oid;
    let (n, p) = recordings("printers")
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
