//! Agents that misbehave: silence, a wrong community, late, duplicated and garbage replies,
//! tooBig, loss. Each gives the right reading or the right error, never a hang or a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::{Duration, Instant};

use agent_core::message::{PduKind, Value, Version};
use agent_core::model::Reading;
use agent_core::poll::first_poll;
use agent_core::session::Session;
use agent_core::sim::{serve, Faults, SimDevice};
use agent_core::transport::{Counters, Security, SnmpError, Target, Transport};
use agent_core::Oid;
use printwatch_tests::{essence, fixture, fixtures, loopback, sim_device, until};

/// One of the project's own printers (`tests/fixtures`).
fn device(name: &str) -> SimDevice {
    let (n, p) = fixture(name);
    sim_device(&n, &p)
}

fn with_faults(name: &str, faults: Faults) -> SimDevice {
    let mut d = device(name);
    d.faults = faults;
    d
}

fn target(addr: std::net::SocketAddr, timeout_ms: u64, retries: u32) -> Target {
    Target {
        timeout: Duration::from_millis(timeout_ms),
        retries,
        ..Target::new(addr)
    }
}

async fn read(t: &Transport, target: Target) -> Result<Reading, SnmpError> {
    let mut s = Session::new(t.clone(), target);
    first_poll(&mut s).await.map(|(r, _)| r)
}

#[tokio::test]
async fn silent_target_and_wrong_community_time_out_with_a_clear_error() {
    let mut wrong = device("lexmark_four");
    wrong.community = b"secret".to_vec();
    let sim = serve(vec![
        (
            loopback(),
            with_faults(
                "lexmark_four",
                Faults {
                    silent: true,
                    ..Faults::default()
                },
            ),
        ),
        (loopback(), wrong),
    ])
    .await
    .unwrap();
    let t = Transport::bind_default().await.unwrap();
    for addr in sim.addrs() {
        let started = Instant::now();
        let err = read(&t, target(*addr, 100, 2)).await.unwrap_err();
        assert!(
            matches!(err, SnmpError::Timeout { attempts: 3, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("wrong community"), "{err}");
        // 100 + 200 + 400 ms of backoff, and no more
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}

#[tokio::test]
async fn a_late_reply_is_dropped_and_does_not_poison_the_next_request() {
    let faults = Faults {
        delay: Duration::from_millis(400),
        delay_count: Some(1),
        ..Faults::default()
    };
    let sim = serve(vec![(loopback(), with_faults("hp_hex", faults))])
        .await
        .unwrap();
    let t = Transport::bind_default().await.unwrap();
    let tg = target(sim.addrs()[0], 100, 0);
    let mut c = Counters::default();
    let descr = Oid::lit("1.3.6.1.2.1.1.1.0");
    let first = t
        .request(
            &tg,
            PduKind::Get,
            std::slice::from_ref(&descr),
            0,
            0,
            &mut c,
        )
        .await;
    assert!(matches!(first, Err(SnmpError::Timeout { .. })));
    // The next request is answered at once while the first one's reply is still on its way.
    let oid = Oid::lit("1.3.6.1.2.1.1.2.0");
    let second = t
        .request(
            &target(sim.addrs()[0], 1000, 0),
            PduKind::Get,
            std::slice::from_ref(&oid),
            0,
            0,
            &mut c,
        )
        .await
        .unwrap();
    assert_eq!(second.varbinds[0].0, oid);
    assert!(matches!(second.varbinds[0].1, Value::ObjectId(_)));
    // The first request's reply arrives late, finds no one waiting and is dropped.
    until(
        "the late reply to be dropped as unmatched",
        10,
        async || t.totals().unmatched >= 1,
    )
    .await;
    // And the session keeps working afterwards.
    assert!(read(&t, target(sim.addrs()[0], 1000, 1)).await.is_ok());
}

#[tokio::test]
async fn a_reply_delayed_past_the_timeout_is_taken_by_the_retry() {
    let faults = Faults {
        delay: Duration::from_millis(1500),
        delay_count: Some(1),
        ..Faults::default()
    };
    let sim = serve(vec![
        (loopback(), with_faults("cjk_kyocera", faults)),
        (loopback(), device("cjk_kyocera")),
    ])
    .await
    .unwrap();
    let t = Transport::bind_default().await.unwrap();
    // The timeout is far from both the delay and a loaded machine's answer time, so only the
    // delayed reply can need a retry.
    let slow = read(&t, target(sim.addrs()[0], 750, 2)).await.unwrap();
    let fast = read(&t, target(sim.addrs()[1], 750, 2)).await.unwrap();
    assert!(
        slow.round_trips > fast.round_trips,
        "the slow one needed a retry"
    );
    assert_eq!(essence(slow), essence(fast));
}

#[tokio::test]
async fn duplicated_replies_change_nothing() {
    let sim = serve(vec![
        (
            loopback(),
            with_faults(
                "special_levels",
                Faults {
                    duplicates: 3,
                    ..Faults::default()
                },
            ),
        ),
        (loopback(), device("special_levels")),
    ])
    .await
    .unwrap();
    let t = Transport::bind_default().await.unwrap();
    let dup = read(&t, target(sim.addrs()[0], 1000, 1)).await.unwrap();
    let clean = read(&t, target(sim.addrs()[1], 1000, 1)).await.unwrap();
    let clean_rt = u64::from(clean.round_trips);
    assert_eq!(u64::from(dup.round_trips), clean_rt);
    assert_eq!(essence(dup), essence(clean));
    until(
        "every duplicate to be dropped as unmatched",
        10,
        async || t.totals().unmatched >= 3 * clean_rt,
    )
    .await;
}

#[tokio::test]
async fn garbage_replies_give_a_malformed_error() {
    let sim = serve(vec![(
        loopback(),
        with_faults(
            "brother_codes",
            Faults {
                garbage: 1.0,
                ..Faults::default()
            },
        ),
    )])
    .await
    .unwrap();
    let t = Transport::bind_default().await.unwrap();
    let err = read(&t, target(sim.addrs()[0], 100, 1)).await.unwrap_err();
    assert!(matches!(err, SnmpError::Malformed { .. }), "{err}");
    assert!(err.to_string().contains("not an SNMP reply"), "{err}");
    assert!(t.totals().malformed >= 2);
}

#[tokio::test]
async fn too_big_is_handled_by_asking_for_less() {
    let mut small = device("sharp_percent");
    small.max_message = 484; // the smallest message size RFC 3417 lets an agent have
    let sim = serve(vec![
        (
            loopback(),
            with_faults(
                "sharp_percent",
                Faults {
                    max_varbinds: Some(5),
                    ..Faults::default()
                },
            ),
        ),
        (loopback(), small),
        (loopback(), device("sharp_percent")),
    ])
    .await
    .unwrap();
    let t = Transport::bind_default().await.unwrap();
    let strict = read(&t, target(sim.addrs()[0], 1000, 1)).await.unwrap();
    let small = read(&t, target(sim.addrs()[1], 1000, 1)).await.unwrap();
    let clean = read(&t, target(sim.addrs()[2], 1000, 1)).await.unwrap();
    assert!(strict.round_trips > clean.round_trips && small.round_trips > clean.round_trips);
    assert_eq!(essence(strict), essence(clean.clone()));
    assert_eq!(essence(small), essence(clean));
}

#[tokio::test]
async fn loss_is_survived_by_retries() {
    let sim = serve(vec![
        (
            loopback(),
            with_faults(
                "ricoh_near_end",
                Faults {
                    loss: 0.2,
                    ..Faults::default()
                },
            ),
        ),
        (loopback(), device("ricoh_near_end")),
    ])
    .await
    .unwrap();
    let t = Transport::bind_default().await.unwrap();
    // A timeout long enough that only a lost reply, not a busy machine, needs a retry: with
    // one reply in five lost, seven attempts all fail about once in 80,000 requests.
    let lossy = read(&t, target(sim.addrs()[0], 500, 6)).await.unwrap();
    let clean = read(&t, target(sim.addrs()[1], 500, 6)).await.unwrap();

    assert_eq!(essence(lossy), essence(clean));
}

#[tokio::test]
async fn snmp_v1_reads_the_same_printer_the_same_way() {
    let sim = serve(vec![(loopback(), device("brother_codes"))])
        .await
        .unwrap();
    let t = Transport::bind_default().await.unwrap();
    let v2 = read(&t, target(sim.addrs()[0], 1000, 1)).await.unwrap();
    let v1 = read(
        &t,
        target(sim.addrs()[0], 1000, 1).with_security(Security::Community {
            version: Version::V1,
            community: b"public".to_vec(),
        }),
    )
    .await
    .unwrap();
    assert!(
        v1.round_trips > v2.round_trips,
        "v1 walks with GETNEXT, one row a request"
    );
    assert_eq!(essence(v1), essence(v2));
}

#[tokio::test]
async fn many_requests_in_flight_on_one_transport() {
    let recs = fixtures("printers");
    let devices: Vec<_> = (0..20)
        .map(|i| {
            (
                loopback(),
                sim_device(&recs[i % recs.len()].0, &recs[i % recs.len()].1),
            )
        })
        .collect();
    let sim = serve(devices).await.unwrap();
    let t = Transport::bind(agent_core::transport::TransportConfig {
        sockets: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    let handles: Vec<_> = sim
        .addrs()
        .iter()
        .map(|a| {
            let (t, a) = (t.clone(), *a);
            tokio::spawn(async move { read(&t, target(a, 1000, 2)).await })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let r = h.await.unwrap().unwrap();
        assert!(r.identity.sys_object_id.is_some(), "device {i}");
    }
    assert_eq!(t.totals().unmatched, 0);
}

#[tokio::test]
async fn foreign_replies_are_dropped_and_the_real_one_accepted() {
    use agent_core::message::{Message, Pdu};
    let agent = tokio::net::UdpSocket::bind(loopback()).await.unwrap();
    let imposter = tokio::net::UdpSocket::bind(loopback()).await.unwrap();
    let agent_addr = agent.local_addr().unwrap();
    let t = Transport::bind_default().await.unwrap();
    let oid = Oid::lit("1.3.6.1.2.1.1.5.0");
    let request = {
        let (t, oid) = (t.clone(), oid.clone());
        tokio::spawn(async move {
            let mut c = Counters::default();
            t.request(
                &target(agent_addr, 2000, 0),
                PduKind::Get,
                &[oid],
                0,
                0,
                &mut c,
            )
            .await
        })
    };
    let mut buf = vec![0u8; 2048];
    let (len, from) = agent.recv_from(&mut buf).await.unwrap();
    let req = Message::decode(&buf[..len]).unwrap();
    let reply = |community: &[u8], id: i32, name: &str| {
        Message {
            version: req.version,
            community: community.to_vec(),
            pdu: Pdu {
                kind: PduKind::Response,
                request_id: id,
                error_status: 0,
                error_index: 0,
                varbinds: vec![(oid.clone(), Value::OctetString(name.as_bytes().to_vec()))],
            },
        }
        .encode()
    };
    let id = req.pdu.request_id;
    imposter
        .send_to(&reply(b"public", id, "from another host"), from)
        .await
        .unwrap();
    agent
        .send_to(&reply(b"other", id, "wrong community"), from)
        .await
        .unwrap();
    agent
        .send_to(
            &reply(b"public", id.wrapping_add(1), "wrong request id"),
            from,
        )
        .await
        .unwrap();
    agent
        .send_to(&[0x30, 0x03, 0x02, 0x01], from)
        .await
        .unwrap();
    // Every one of them is seen and set aside before the real reply is sent.
    until(
        "the foreign and garbled replies to be counted",
        10,
        async || {
            let totals = t.totals();
            totals.unmatched == 3 && totals.malformed == 1
        },
    )
    .await;
    agent
        .send_to(&reply(b"public", id, "the printer"), from)
        .await
        .unwrap();
    let pdu = request.await.unwrap().unwrap();
    assert_eq!(
        pdu.varbinds[0].1,
        Value::OctetString(b"the printer".to_vec())
    );
    let totals = t.totals();
    assert_eq!(totals.unmatched, 3, "{totals:?}");
    assert_eq!(totals.malformed, 1, "{totals:?}");
}

#[tokio::test]
async fn the_packet_rate_budget_paces_every_send() {
    let sim = serve(vec![(loopback(), device("hp_hex"))]).await.unwrap();
    let t = Transport::bind(agent_core::transport::TransportConfig {
        max_pps: Some(100),
        ..Default::default()
    })
    .await
    .unwrap();
    let started = Instant::now();
    let handles: Vec<_> = (0..30)
        .map(|_| {
            let (t, a) = (t.clone(), sim.addrs()[0]);
            tokio::spawn(async move {
                let mut c = Counters::default();
                t.request(
                    &target(a, 2000, 0),
                    PduKind::Get,
                    &[Oid::lit("1.3.6.1.2.1.1.1.0")],
                    0,
                    0,
                    &mut c,
                )
                .await
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap().unwrap();
    }
    // 30 packets at 100 per second cannot leave in less than 29 intervals of 10 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(290),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(t.totals().packets_sent, 30);
}

#[tokio::test]
async fn a_printer_with_endless_tables_gives_a_bounded_reading_at_a_bounded_cost() {
    // 5,000 supplies with 8 KB descriptions, and 5,000 alert rows: a broken or hostile
    // agent. The reading stays small enough for the coordinator, and the walk stops.
    let mut d = device("hp_hex");
    let big = Value::OctetString(vec![b'x'; 8 * 1024]);
    for row in 1..=5_000u32 {
        let at = |col: u32| Oid::lit(&format!("1.3.6.1.2.1.43.11.1.1.{col}.1.{row}"));
        d.view.insert(at(4), Value::Integer(3)); // toner
        d.view.insert(at(6), big.clone());
        d.view.insert(at(8), Value::Integer(100));
        d.view.insert(at(9), Value::Integer(50));
        d.view.insert(
            Oid::lit(&format!("1.3.6.1.2.1.43.18.1.1.8.1.{row}")),
            big.clone(),
        );
    }
    d.max_message = 65_000;
    let sim = serve(vec![(loopback(), d)]).await.unwrap();
    let t = Transport::bind_default().await.unwrap();
    let r = read(&t, target(sim.addrs()[0], 2000, 1)).await.unwrap();
    assert!(r.supplies.len() <= agent_core::model::bounds::SUPPLIES);
    assert!(r.supplies.len() >= 10, "what was read is kept");
    assert!(r
        .supplies
        .iter()
        .all(|s| s.description.chars().count() <= agent_core::model::bounds::TEXT));
    let wire: printwatch_proto::v1::Reading = r.clone().into();
    let bytes = prost::Message::encoded_len(&wire);
    assert!(bytes < 200 * 1024, "the reading is {bytes} bytes");
    assert!(
        r.bytes_received < 12 * agent_core::session::MAX_WALK_BYTES,
        "{} bytes walked",
        r.bytes_received
    );
}

#[tokio::test]
async fn request_ids_are_not_sequential() {
    use agent_core::message::Message;
    // A spoofed reply must guess the id: a listener sees 20 requests whose ids do not
    // follow one another.
    let agent = tokio::net::UdpSocket::bind(loopback()).await.unwrap();
    let agent_addr = agent.local_addr().unwrap();
    let t = Transport::bind_default().await.unwrap();
    let oid = Oid::lit("1.3.6.1.2.1.1.5.0");
    let sending = {
        let (t, oid) = (t.clone(), oid.clone());
        tokio::spawn(async move {
            for _ in 0..20 {
                let mut c = Counters::default();
                let _ = t
                    .request(
                        &target(agent_addr, 50, 0),
                        PduKind::Get,
                        std::slice::from_ref(&oid),
                        0,
                        0,
                        &mut c,
                    )
                    .await;
            }
        })
    };
    let mut ids = Vec::new();
    let mut buf = vec![0u8; 2048];
    while ids.len() < 20 {
        let (len, _) = agent.recv_from(&mut buf).await.unwrap();
        ids.push(Message::decode(&buf[..len]).unwrap().pdu.request_id);
    }
    sending.await.unwrap();
    let steps = ids
        .windows(2)
        .filter(|w| w[1].wrapping_sub(w[0]) == 1)
        .count();
    assert!(steps <= 1, "ids follow one another: {ids:?}");
}

#[tokio::test]
async fn one_malformed_value_costs_that_variable_only() {
    // An INTEGER of nine bytes in the first supply's level: snmp2 alone stops reading the
    // reply there, which lost every variable after it.
    let mut broken = device("lexmark_four");
    let level = broken
        .view
        .keys()
        .find(|o| o.to_string().starts_with("1.3.6.1.2.1.43.11.1.1.9."))
        .cloned()
        .unwrap();
    broken.view.insert(level, Value::Malformed);
    let sim = serve(vec![
        (loopback(), broken),
        (loopback(), device("lexmark_four")),
    ])
    .await
    .unwrap();
    let t = Transport::bind_default().await.unwrap();
    let bad = read(&t, target(sim.addrs()[0], 1000, 1)).await.unwrap();
    let good = read(&t, target(sim.addrs()[1], 1000, 1)).await.unwrap();
    assert!(t.totals().malformed_values >= 1);
    assert_eq!(bad.identity.serial, good.identity.serial);
    assert_eq!(bad.supplies.len(), good.supplies.len());
    assert_ne!(
        bad.supplies[0].level, good.supplies[0].level,
        "that one is unknown"
    );
    assert_eq!(bad.supplies[1..], good.supplies[1..], "the rest stand");
    assert_eq!(bad.meters, good.meters);
}
