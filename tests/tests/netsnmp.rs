//! The same reading from an agent this project did not write: net-snmp's snmpd, serving a
//! recording's printer rows through `override` lines, must read exactly like our simulator.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

use agent_core::model::Reading;
use agent_core::poll::{first_poll, steady_poll, Due};
use agent_core::session::Session;
use agent_core::sim::serve;
use agent_core::transport::{Target, Transport};
use printwatch_tests::{fixtures, loopback, sim_device};

/// As `printwatch_tests::essence`, without the MAC: // snmpd answers the ifTable of this host, not the recording's
fn essence(r: Reading) -> Reading {
    let mut r = printwatch_tests::essence(r);
    r.identity.mac = None;
    r
}

/// net-snmp's snmpd serving each recording gives the same reading as the simulator
/// serving it, and a steady poll against snmpd keeps the budget's round trips.
async fn snmpd_agrees_with_the_simulator(recs: Vec<(String, std::path::PathBuf)>) {
    assert!(!recs.is_empty());
    let t = Transport::bind_default().await.unwrap();
    for (name, p) in recs {
        let device = sim_device(&name, &p);
        let (snmpd, addr) = printwatch_tests::snmpd::start(&device, "");
        let sim = serve(vec![(loopback(), device)]).await.unwrap();
        let up = Target {
            timeout: Duration::from_millis(300),
            retries: 1,
            ..Target::new(addr)
        };
        let theirs = printwatch_tests::snmpd::read_when_up(&t, up).await;
        let (ours, _) = first_poll(&mut Session::new(t.clone(), Target::new(sim.addrs()[0])))
            .await
            .unwrap();
        assert!(
            !theirs.supplies.is_empty(),
            "{name}: no supplies from snmpd"
        );
        assert_eq!(
            essence(theirs.clone()),
            essence(ours),
            "{name}: snmpd and the simulator disagree"
        );

        // The steady-state poll works against snmpd too, within the budget's round trips.
        let (_, mut plan) = first_poll(&mut Session::new(t.clone(), Target::new(addr)))
            .await
            .unwrap();
        let mut s = Session::new(t.clone(), Target::new(addr));
        let steady = steady_poll(&mut s, &mut plan, Due { meters: false })
            .await
            .unwrap();
        assert_eq!(
            steady.supplies, theirs.supplies,
            "{name}: steady poll against snmpd"
        );
        assert!(
            s.counters.requests <= 2,
            "{name}: {} round trips",
            s.counters.requests
        );
        drop(snmpd);
    }
}

#[tokio::test]
async fn net_snmp_serves_the_fixture_printers_as_we_read_them() {
    snmpd_agrees_with_the_simulator(fixtures("printers")).await;
}

#[tokio::test]
#[cfg_attr(
    not(corpus),
    ignore = "the printer corpus is not at ../shared/corpus (set PRINTWATCH_CORPUS)"
)]
async fn net_snmp_serves_the_corpus_printers_as_we_read_them() {
    let wanted = [
        "jetdirect_m880",
        "xerox",
        "brother_hl5370dw",
        "konica_c250i",
    ];
    let recs = printwatch_tests::corpus("printers")
        .into_iter()
        .filter(|(n, _)| wanted.contains(&n.as_str()))
        .collect::<Vec<_>>();
    assert_eq!(recs.len(), wanted.len());
    snmpd_agrees_with_the_simulator(recs).await;
}
