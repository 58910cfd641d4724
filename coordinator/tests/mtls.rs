//! The coordinator over mutual TLS: collectors stream readings and get acks; operators
//! query; everyone else is refused, and a bad message does not hurt the others.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use printwatch_proto::listing::Joined;
use std::path::Path;

use printwatch_coordinator::config::CoordinatorConfig;
use printwatch_coordinator::service::{self, Running};
use printwatch_pki::{self as certs, Role};
use printwatch_proto::v1 as p;
use printwatch_proto::v1::fleet_client::FleetClient;

use printwatch_tests::grpc::{channel, envelope, hello, reading, session, session_answers};
use printwatch_tests::{eventually, tempdir};

/// A coordinator in this process for a fleet with sites hq and branch, taking messages of
/// at most 64 KiB; it has started listening when this returns.
async fn start(dir: &Path) -> Running {
    certs::init(dir, &[], &["hq".into(), "branch".into()], "admin").unwrap();
    let mut c = CoordinatorConfig::with_pki(dir, dir.join("db"), "127.0.0.1:0".parse().unwrap());
    c.max_message_kb = 64;
    c.cache_mb = 16;
    service::start(c).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn collectors_stream_operators_query_and_strangers_are_refused() {
    let dir = tempdir("main");
    let coordinator = start(&dir).await;
    let (addr, store) = (coordinator.listen, coordinator.store.clone());
    let ca = dir.join("ca.pem");
    let hq = certs::paths(&dir, Role::Collector, "hq");
    let admin = certs::paths(&dir, Role::Operator, "admin");

    // A collector streams readings; a replay is acked but stored once.
    let ch = channel(addr, &ca, Some((&hq.cert, &hq.key))).await.unwrap();
    let acks = session(
        ch.clone(),
        vec![
            hello("hq"),
            envelope(1, reading("SN1")),
            envelope(2, reading("SN2")),
            envelope(2, reading("SN2")),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        acks.last(),
        Some(&2),
        "everything is acknowledged: {acks:?}"
    );
    assert_eq!(store.last_sequence("hq").unwrap(), 2);
    assert_eq!(store.history("sn:SN2", None).unwrap().len(), 1);

    // It may not claim another site, nor use the operator service.
    let err = session(
        ch.clone(),
        vec![hello("branch"), envelope(3, reading("SN3"))],
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    let err = FleetClient::new(ch)
        .list_devices(p::ListDevicesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);

    // An operator sees the fleet.
    let op = channel(addr, &ca, Some((&admin.cert, &admin.key)))
        .await
        .unwrap();
    let devices = FleetClient::new(op.clone())
        .list_devices(p::ListDevicesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .joined()
        .await
        .unwrap();
    assert_eq!(devices.len(), 2);
    let one = FleetClient::new(op.clone())
        .get_device(p::GetDeviceRequest {
            id: "sn:SN1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one.site, "hq");

    // No certificate, or one from another CA: no connection, or no call.
    let none = match channel(addr, &ca, None).await {
        Ok(ch) => FleetClient::new(ch)
            .list_devices(p::ListDevicesRequest::default())
            .await
            .is_err(),
        Err(_) => true,
    };
    assert!(none, "a client without a certificate was served");
    let other = tempdir("other");
    certs::init(&other, &[], &["hq".into()], "admin").unwrap();
    let fake = certs::paths(&other, Role::Operator, "admin");
    let refused = match channel(addr, &ca, Some((&fake.cert, &fake.key))).await {
        Ok(ch) => FleetClient::new(ch)
            .list_devices(p::ListDevicesRequest::default())
            .await
            .is_err(),
        Err(_) => true,
    };
    assert!(refused, "a certificate from another CA was served");

    // An oversized message is refused with a clear status; the coordinator keeps serving.
    let ch = channel(addr, &ca, Some((&hq.cert, &hq.key))).await.unwrap();
    let mut big = reading("SN9");
    big.meters = (0..5_000)
        .map(|i| p::Meter {
            name: format!("meter-{i}"),
            value: i,
            source: "1.3.6.1.4.1.0".into(),
        })
        .collect();
    let err = session(ch, vec![hello("hq"), envelope(3, big)])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.code(),
            tonic::Code::ResourceExhausted | tonic::Code::OutOfRange | tonic::Code::Internal
        ),
        "{err}"
    );
    // A malformed reading (an unknown supply state) is rejected, for the collector to set
    // aside, and the stream goes on: the next envelope is stored.
    let ch = channel(addr, &ca, Some((&hq.cert, &hq.key))).await.unwrap();
    let mut bad = reading("SN8");
    bad.supplies.push(p::Supply {
        state: 77,
        class: 1,
        ..Default::default()
    });
    let answers = session_answers(
        ch.clone(),
        vec![hello("hq"), envelope(3, bad), envelope(4, reading("SN3"))],
    )
    .await
    .unwrap();
    assert_eq!(answers.rejected.len(), 1, "{answers:?}");
    let (seq, reason, detail) = &answers.rejected[0];
    assert_eq!((*seq, reason.as_str()), (3, "malformed"));
    assert!(detail.contains("supply state"), "{detail}");
    assert_eq!(answers.acks.last(), Some(&4));
    let devices = FleetClient::new(op)
        .list_devices(p::ListDevicesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .joined()
        .await
        .unwrap();
    assert_eq!(devices.len(), 3);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&other);
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_commands_reach_the_connected_collector_of_their_site() {
    use printwatch_proto::v1::collector_client::CollectorClient;
    let dir = tempdir("commands");
    let coordinator = start(&dir).await;
    let addr = coordinator.listen;
    let ca = dir.join("ca.pem");
    let hq = certs::paths(&dir, Role::Collector, "hq");
    let admin = certs::paths(&dir, Role::Operator, "admin");
    let op = channel(addr, &ca, Some((&admin.cert, &admin.key)))
        .await
        .unwrap();
    let discover = |site: &str, ranges: &[&str]| p::DiscoverRequest {
        site: site.into(),
        ranges: ranges.iter().map(|r| r.to_string()).collect(),
        ..Default::default()
    };

    // Nobody connected for hq yet.
    let err = FleetClient::new(op.clone())
        .discover(discover("hq", &["10.0.0.0/24"]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert!(
        err.message().contains("no collector for site \"hq\""),
        "{err}"
    );

    // hq's collector connects and keeps its stream open.
    let ch = channel(addr, &ca, Some((&hq.cert, &hq.key))).await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(hello("hq")).await.unwrap();
    let mut inbound = CollectorClient::new(ch)
        .session(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    // Once the coordinator has registered the stream, a command for hq is accepted.
    let accepted = eventually("hq's stream to be registered", 10, async || {
        FleetClient::new(op.clone())
            .discover(discover("hq", &["10.0.0.0/24"]))
            .await
            .ok()
    })
    .await
    .into_inner();
    assert_eq!(accepted.site, "hq");
    let cmd = match inbound.message().await.unwrap() {
        Some(p::CoordinatorMessage {
            body: Some(p::coordinator_message::Body::Command(c)),
        }) => c,
        other => panic!("expected a command, got {other:?}"),
    };
    assert_eq!(cmd.id, accepted.command_id);
    assert!(
        matches!(cmd.body, Some(p::command::Body::Sweep(ref s)) if s.ranges == vec!["10.0.0.0/24".to_string()])
    );

    let added = FleetClient::new(op.clone())
        .add_printer(p::AddPrinterRequest {
            site: "hq".into(),
            host: "printer7.example.lan".into(),
            community: "public".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let cmd = match inbound.message().await.unwrap() {
        Some(p::CoordinatorMessage {
            body: Some(p::coordinator_message::Body::Command(c)),
        }) => c,
        other => panic!("expected a command, got {other:?}"),
    };
    assert_eq!(cmd.id, added.command_id);
    assert!(
        matches!(cmd.body, Some(p::command::Body::AddTarget(ref t)) if t.host == "printer7.example.lan")
    );

    // A target that looks like an address but is not one is refused before it is sent.
    let err = FleetClient::new(op.clone())
        .add_printer(p::AddPrinterRequest {
            site: "hq".into(),
            host: "300.1.1.1".into(),
            community: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");

    // Another site is still not connected; a bad range is refused before anything is sent.
    let err = FleetClient::new(op.clone())
        .discover(discover("branch", &["10.0.0.0/24"]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    let err = FleetClient::new(op.clone())
        .discover(discover("hq", &["10.0.0.0/33"]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    // More than a /16 needs --large; with it, the sweep goes; --cancel stops the sweeps.
    let err = FleetClient::new(op.clone())
        .discover(discover("hq", &["10.0.0.0/8"]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("--large"), "{err}");
    let mut large = discover("hq", &["10.0.0.0/8"]);
    large.large = true;
    FleetClient::new(op.clone()).discover(large).await.unwrap();
    let cancel = p::DiscoverRequest {
        site: "hq".into(),
        cancel: true,
        ..Default::default()
    };
    FleetClient::new(op).discover(cancel).await.unwrap();
    let mut bodies = Vec::new();
    while bodies.len() < 2 {
        if let Some(p::CoordinatorMessage {
            body: Some(p::coordinator_message::Body::Command(c)),
        }) = inbound.message().await.unwrap()
        {
            bodies.push(c.body);
        }
    }
    assert!(matches!(&bodies[0], Some(p::command::Body::Sweep(s)) if s.large));
    assert!(matches!(
        &bodies[1],
        Some(p::command::Body::CancelSweeps(_))
    ));
    drop(tx);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn watchers_see_readings_as_they_are_stored_and_alerts_list_what_printers_report() {
    let dir = tempdir("watch");
    let coordinator = start(&dir).await;
    let addr = coordinator.listen;
    let ca = dir.join("ca.pem");
    let hq = certs::paths(&dir, Role::Collector, "hq");
    let admin = certs::paths(&dir, Role::Operator, "admin");
    let op = channel(addr, &ca, Some((&admin.cert, &admin.key)))
        .await
        .unwrap();
    let mut watch = FleetClient::new(op.clone())
        .watch(p::WatchRequest::default())
        .await
        .unwrap()
        .into_inner();

    // A reading of a printer with its door open and a jam.
    let mut r: agent_core::model::Reading = reading("SNW").try_into().unwrap();
    r.status.errors = vec!["doorOpen".into(), "jammed".into()];
    r.status.alerts.push(agent_core::model::Alert {
        index: 4,
        severity: "critical".into(),
        group: "cover".into(),
        code: "coverOpen".into(),
        description: "Front door open".into(),
    });
    let ch = channel(addr, &ca, Some((&hq.cert, &hq.key))).await.unwrap();
    assert_eq!(
        session(ch, vec![hello("hq"), envelope(1, r.into())])
            .await
            .unwrap()
            .last(),
        Some(&1)
    );

    let mut seen = Vec::new();
    while seen.len() < 2 {
        let e = tokio::time::timeout(std::time::Duration::from_secs(5), watch.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        match e.body {
            Some(p::fleet_event::Body::CollectorConnected(site)) => {
                seen.push(format!("connected {site}"))
            }
            Some(p::fleet_event::Body::DeviceUpdated(d)) => seen.push(format!("updated {}", d.id)),
            _ => {}
        }
    }
    assert_eq!(seen, vec!["connected hq", "updated sn:SNW"]);

    let alerts = FleetClient::new(op)
        .list_alerts(p::ListAlertsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .joined()
        .await
        .unwrap();
    // The engine opens one alert per condition, whichever table reported it.
    let mut kinds: Vec<&str> = alerts.iter().map(|a| a.kind.as_str()).collect();
    kinds.sort();
    assert_eq!(kinds, vec!["door_open", "jam"]);
    assert!(
        alerts
            .iter()
            .all(|a| a.closed_at.is_none() && a.printer.contains("SNW"))
            && alerts
                .iter()
                .all(|a| a.site == "hq" && a.device_id == "sn:SNW")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn readings_with_bogus_times_are_refused_clearly_counted_and_never_stored() {
    let dir = tempdir("times");
    certs::init(&dir, &[], &["hq".into()], "admin").unwrap();
    let mut c = CoordinatorConfig::with_pki(&dir, dir.join("db"), "127.0.0.1:0".parse().unwrap());
    c.metrics.prometheus_listen = Some("127.0.0.1:0".parse().unwrap());
    let coordinator = service::start(c).await.unwrap();
    let (addr, store) = (coordinator.listen, coordinator.store.clone());
    let ca = dir.join("ca.pem");
    let hq = certs::paths(&dir, Role::Collector, "hq");
    let ch = channel(addr, &ca, Some((&hq.cert, &hq.key))).await.unwrap();

    let ahead = time::OffsetDateTime::now_utc() + time::Duration::minutes(30);
    let ahead = ahead
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let cases = [
        ("zzzz", "not an RFC 3339 time"),
        ("", "not an RFC 3339 time"),
        ("1999-12-31T23:59:59Z", "before 2000"),
        ("2099-01-01T00:00:00Z", "ahead of the coordinator's clock"),
        (ahead.as_str(), "ahead of the coordinator's clock"),
    ];
    for (n, (at, says)) in cases.iter().enumerate() {
        let mut r = reading("BOGUS");
        r.polled_at = at.to_string();
        let seq = n as u64 + 1;
        let answers = session_answers(ch.clone(), vec![hello("hq"), envelope(seq, r)])
            .await
            .expect(at);
        let [(rejected, _, detail)] = answers.rejected.as_slice() else {
            panic!("{at:?} was not rejected: {answers:?}");
        };
        assert_eq!(*rejected, seq);
        assert!(
            detail.contains("polled_at") && detail.contains(says),
            "{at:?}: {detail}"
        );
    }
    assert!(
        store.device("sn:BOGUS").unwrap().is_none(),
        "nothing stored"
    );
    // One alert for them all, at the site.
    let refused: Vec<_> = store
        .alerts(false)
        .unwrap()
        .into_iter()
        .filter(|a| a.kind.name() == "envelopes_refused")
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].site, "hq");
    // The collector's next good reading goes through.
    let acks = session(ch, vec![hello("hq"), envelope(6, reading("GOOD"))])
        .await
        .unwrap();
    assert_eq!(acks.last(), Some(&6));
    assert!(store.device("sn:GOOD").unwrap().is_some());
    let text = printwatch_telemetry::scrape(coordinator.metrics.expect("metrics"))
        .await
        .unwrap();
    let refused = |reason: &str| {
        printwatch_telemetry::sum(
            &text,
            &[
                "printwatch_envelopes_refused",
                &format!("reason=\"{reason}\""),
            ],
        )
    };
    assert_eq!(refused("unparseable_time"), 2.0, "{text}");
    assert_eq!(refused("time_too_early"), 1.0);
    assert_eq!(refused("time_ahead"), 2.0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sites_certificate_cannot_take_over_another_sites_printer() {
    let dir = tempdir("takeover");
    let coordinator = start(&dir).await;
    let (addr, store) = (coordinator.listen, coordinator.store.clone());
    let ca = dir.join("ca.pem");
    let hq = certs::paths(&dir, Role::Collector, "hq");
    let branch = certs::paths(&dir, Role::Collector, "branch");
    let admin = certs::paths(&dir, Role::Operator, "admin");
    let hq = channel(addr, &ca, Some((&hq.cert, &hq.key))).await.unwrap();
    let branch = channel(addr, &ca, Some((&branch.cert, &branch.key)))
        .await
        .unwrap();
    let op = channel(addr, &ca, Some((&admin.cert, &admin.key)))
        .await
        .unwrap();

    let mut own = reading("BR1");
    own.identity.as_mut().unwrap().model = Some("M404".into());
    session(branch, vec![hello("branch"), envelope(1, own)])
        .await
        .unwrap();
    // hq's certificate, branch's serial, another model.
    let mut forged = reading("BR1");
    forged.identity.as_mut().unwrap().model = Some("Forged".into());
    forged.identity.as_mut().unwrap().address = "10.1.0.66".into();
    let acks = session(hq.clone(), vec![hello("hq"), envelope(1, forged)])
        .await
        .unwrap();
    assert_eq!(acks.last(), Some(&1), "kept, as a conflict");
    let mut fleet = FleetClient::new(op);
    let device = fleet
        .get_device(p::GetDeviceRequest {
            id: "sn:BR1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(device.site, "branch");
    assert_eq!(
        device.identity.as_ref().unwrap().model.as_deref(),
        Some("M404")
    );
    assert_eq!(device.conflicts.len(), 1);
    assert_eq!(device.conflicts[0].site, "hq");
    assert_eq!(device.conflicts[0].address, "10.1.0.66");
    assert_eq!(store.devices().unwrap().len(), 1);

    // An operator moves it to hq: the conflict is gone and hq's readings are its own.
    let moved = fleet
        .move_device(p::MoveDeviceRequest {
            id: "sn:BR1".into(),
            site: "hq".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.site, "hq");
    assert!(moved.conflicts.is_empty());
    let err = fleet
        .move_device(p::MoveDeviceRequest {
            id: "sn:NOPE".into(),
            site: "hq".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);

    // A hello without an outbox is refused; an envelope numbered far beyond the last
    // stored one is refused with a clear status, and the site is not silenced by it.
    let mut no_outbox = hello("hq");
    if let Some(p::collector_message::Body::Hello(h)) = &mut no_outbox.body {
        h.outbox_id.clear();
    }
    let err = session(hq.clone(), vec![no_outbox]).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");
    let err = session(
        hq.clone(),
        vec![hello("hq"), envelope(u64::MAX, reading("FAR"))],
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err}");
    assert!(err.message().contains("far beyond"), "{err}");
    let acks = session(hq, vec![hello("hq"), envelope(2, reading("NEAR"))])
        .await
        .unwrap();
    assert_eq!(acks.last(), Some(&2));
    assert!(store.device("sn:FAR").unwrap().is_none());
    assert!(store.device("sn:NEAR").unwrap().is_some());
    let _ = std::fs::remove_dir_all(&dir);
}
