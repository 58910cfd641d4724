//! Reading a printer over IPP, against a real IPP Everywhere printer this project did not
//! write: CUPS's ippeveprinter, over IPP and IPPS.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

use agent_core::ipp::{self, Failure, Fingerprint, IppClient, IppUri, Trust};
use agent_core::model::{PercentSource, Reading, SupplyClass, SupplyState};
use printwatch_tests::ippeve::{self, IppEve};

fn client(eve: &IppEve, secure: bool, trust: Trust) -> IppClient {
    let uri: IppUri = eve.uri(secure).parse().unwrap();
    IppClient::new(uri, eve.addr, trust, Duration::from_secs(10))
}

fn level(r: &Reading, kind: &str) -> (Option<u8>, SupplyState) {
    let s = r.supplies.iter().find(|s| s.kind == kind).unwrap();
    (s.percent, s.state)
}

/// Identity, supplies and state as ippeveprinter says them, over IPP and over IPPS; one
/// request per poll on a kept connection, its bytes counted; a level changed through the
/// printer's own form in the next reading.
#[tokio::test]
async fn ippeveprinter_reads_right_over_ipp_and_ipps() {
    let eve = ippeve::start("read");
    for secure in [false, true] {
        let mut c = client(&eve, secure, Trust::FirstUse(None));
        let address = eve.uri(secure);
        let (r, cost) = ipp::poll(&mut c, &address).await.unwrap();
        assert_eq!(r.identity.address, address);
        assert_eq!(r.identity.serial.as_deref(), Some(ippeve::SERIAL));
        assert_eq!(r.identity.model.as_deref(), Some(ippeve::MAKE_AND_MODEL));
        assert_eq!(r.identity.vendor.as_deref(), Some("Example"));
        assert_eq!(r.identity.firmware.as_deref(), Some("2.4.2"));
        // ippeveprinter makes its UUID from its name and port: 8-4-4-4-12 hex digits.
        let uuid = r.identity.uuid.clone().expect("printer-uuid");
        assert_eq!(uuid.len(), 36, "{uuid}");
        assert!(uuid
            .chars()
            .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(r.supplies.len(), 2, "{:?}", r.supplies);
        let waste = &r.supplies[0];
        assert_eq!(
            (waste.description.as_str(), waste.kind.as_str(), waste.class),
            ("Toner Waste Tank", "wasteToner", SupplyClass::Receptacle)
        );
        assert_eq!(waste.percent, Some(25));
        let black = &r.supplies[1];
        assert_eq!(
            (
                black.description.as_str(),
                black.color.as_deref(),
                black.class
            ),
            ("Black Toner", Some("black"), SupplyClass::Consumed)
        );
        assert_eq!(
            (black.level, black.max_capacity, black.percent, black.state),
            (75, 100, Some(75), SupplyState::Ok)
        );
        assert_eq!(black.percent_source, Some(PercentSource::IppSupply));
        assert_eq!(r.status.printer_status.as_deref(), Some("idle"));
        assert_eq!(r.status.device_status.as_deref(), Some("running"));
        assert!(r.status.errors.is_empty(), "{:?}", r.status.errors);
        assert!(cost.connected && cost.round_trips == 1);
        assert!(
            cost.bytes_sent > 100 && cost.bytes_received > 300,
            "{cost:?}"
        );
        assert_eq!(c.certificate().is_some(), secure);

        // The toner runs low: the next reading, on the same connection, says so.
        eve.set_levels(&[25, 9]);
        let (r, again) = ipp::poll(&mut c, &address).await.unwrap();
        assert!(!again.connected, "the connection was kept");
        assert_eq!(again.round_trips, 1);
        if secure {
            assert!(
                again.bytes_sent < cost.bytes_sent,
                "no second handshake: {again:?} after {cost:?}"
            );
        } else {
            assert_eq!(again.bytes_sent, cost.bytes_sent, "the same request");
        }
        assert_eq!(level(&r, "toner"), (Some(9), SupplyState::Low));
        assert_eq!(r.status.errors, ["lowToner"]);
        assert!(r.status.alerts.iter().any(|a| a.code == "toner-low"));
        eve.set_levels(&[25, 75]);
    }
}

/// IPPS trusts the first certificate, then only that one; a CA file trusts what it
/// signed.
#[tokio::test]
async fn ipps_pins_the_first_certificate() {
    let eve = ippeve::start("pin");
    let mut first = client(&eve, true, Trust::FirstUse(None));
    ipp::poll(&mut first, &eve.uri(true)).await.unwrap();
    let pinned = first.certificate().unwrap();
    let pem = std::fs::read(eve.certificate()).unwrap();
    use rustls::pki_types::pem::PemObject;
    let der = rustls::pki_types::CertificateDer::from_pem_slice(&pem).unwrap();
    assert_eq!(
        pinned,
        Fingerprint::of(der.as_ref()),
        "the printer's own certificate"
    );

    let mut same = client(&eve, true, Trust::FirstUse(Some(pinned)));
    ipp::poll(&mut same, &eve.uri(true)).await.unwrap();

    let other = Fingerprint::of(b"the certificate a printer had before");
    let mut changed = client(&eve, true, Trust::FirstUse(Some(other)));
    let e = ipp::poll(&mut changed, &eve.uri(true)).await.unwrap_err();
    match &e.failure {
        Failure::CertificateChanged { pinned: p, seen } => assert_eq!((*p, *seen), (other, pinned)),
        f => panic!("{f}"),
    }
    let text = e.to_string();
    assert!(
        text.contains("certificate has changed") && text.contains(&pinned.to_string()),
        "{text}"
    );

    // Its certificate as the CA: accepted when the URI names the host it was made for.
    let ca = Trust::ca_file(&eve.certificate()).unwrap();
    let uri: IppUri = format!("ipps://localhost:{}/ipp/print", eve.addr.port())
        .parse()
        .unwrap();
    let mut by_ca = IppClient::new(uri.clone(), eve.addr, ca, Duration::from_secs(10));
    ipp::poll(&mut by_ca, &uri.to_string()).await.unwrap();
    // Another CA's: refused.
    let fleet = eve.dir.join("another-ca");
    printwatch_pki::init(&fleet, &["localhost".into()], &[], "op").unwrap();
    let path = fleet.join("ca.pem");
    let mut refused = IppClient::new(
        uri.clone(),
        eve.addr,
        Trust::ca_file(&path).unwrap(),
        Duration::from_secs(10),
    );
    let e = ipp::poll(&mut refused, &uri.to_string()).await.unwrap_err();
    assert!(matches!(e.failure, Failure::Tls(_)), "{e}");
}

/// `discover --ipp` asks over IPP only the addresses SNMP did not answer: the printer
/// whose SNMP is off is found by its URI, the SNMP printer is not asked again, and an
/// address with nothing on it costs a refused connection.
#[tokio::test]
async fn discover_asks_the_silent_addresses_over_ipp() {
    use agent_core::sim::{serve, synthetic};
    let eve = ippeve::start("discover");
    let snmp_port = printwatch_tests::free_port();
    let sim = serve(vec![(
        format!("127.0.0.2:{snmp_port}").parse().unwrap(),
        printwatch_tests::sim::steady(synthetic::printer(5, 0)),
    )])
    .await
    .unwrap();
    let args: Vec<String> = [
        "discover",
        "127.0.0.1-127.0.0.3",
        "--port",
        &snmp_port.to_string(),
        "--timeout",
        "300ms",
        "--ipp",
        "--ipp-port",
        &eve.addr.port().to_string(),
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(printwatch_tests::binary("printwatch-collector"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let found: Vec<&serde_json::Value> = events.iter().filter(|e| e["event"] == "found").collect();
    assert_eq!(found.len(), 2, "{stdout}");
    assert!(found
        .iter()
        .any(|f| f["identity"]["address"] == format!("127.0.0.2:{snmp_port}")));
    let ipp = found
        .iter()
        .find(|f| f["way"] == "ipp")
        .expect("the IPP printer");
    assert_eq!(ipp["uri"], eve.uri(true));
    assert_eq!(ipp["identity"]["serial"], ippeve::SERIAL);
    assert!(ipp["certificate"].as_str().is_some_and(|c| c.len() == 95));
    let done = events
        .iter()
        .find(|e| e["event"] == "done_ipp")
        .expect("the IPP summary");
    assert_eq!(done["probed"], 2, "only the two silent addresses: {done}");
    assert_eq!(done["found"], 1);
    assert_eq!(done["not_probed"], 0);
    drop(sim);
}
