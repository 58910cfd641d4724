//! The collector's credential list: a printer that answers only to the second credential
//! is found through the list once and polled with it from then on; a printer whose
//! credential stops working is read with the next one that works, not called unreachable.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use agent_core::sim::{serve, SimUsm};
use agent_core::transport::{Security, Transport, TransportConfig};
use agent_core::usm::{AuthProtocol, PrivProtocol, UsmUser};
use kameo::actor::Spawn;
use printwatch_collector::metrics::CollectorMetrics;
use printwatch_collector::outbox::Outbox;
use printwatch_collector::scheduler::{Intervals, Scheduler, SchedulerArgs, SnmpSettings};
use printwatch_proto::v1 as p;
use printwatch_tests::{fixture, loopback, sim_device};

/// Readings and poll failures in the outbox for `addr`.
fn outcomes(outbox: &Outbox, addr: SocketAddr) -> (usize, usize) {
    let shown = addr.to_string();
    let (mut read, mut failed) = (0, 0);
    for e in outbox.pending_after(0, 100_000).unwrap() {
        match e.body {
            Some(p::envelope::Body::Reading(r))
                if r.identity.as_ref().is_some_and(|i| i.address == shown) =>
            {
                read += 1
            }
            Some(p::envelope::Body::PollFailed(f)) if f.address == shown => failed += 1,
            _ => {}
        }
    }
    (read, failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_credential_that_answers_is_remembered_and_a_stale_one_is_replaced() {
    let monitor = UsmUser::new(
        "monitor",
        Some((AuthProtocol::Sha256, b"auth-pass-1234")),
        Some((PrivProtocol::Aes128, b"priv-pass-5678")),
        "",
    )
    .unwrap();
    let (n, path) = fixture("lexmark_four");
    // Printer 0 speaks v3 only; printer 1 speaks v2c "public" and v3.
    let mut v3_only = sim_device(&n, &path);
    v3_only.community = b"unguessable".to_vec();
    v3_only.v3 = Some(SimUsm::new(
        b"\x80\x00\x1f\x88\x04a".to_vec(),
        monitor.clone(),
    ));
    let mut both = sim_device(&n, &path);
    both.v3 = Some(SimUsm::new(
        b"\x80\x00\x1f\x88\x04b".to_vec(),
        monitor.clone(),
    ));
    let sim = serve(vec![(loopback(), v3_only), (loopback(), both)])
        .await
        .unwrap();
    let (a, b) = (sim.addrs()[0], sim.addrs()[1]);
    let dir = printwatch_tests::tempdir("credentials");
    let outbox = Outbox::open(&dir).unwrap();
    let _scheduler = Scheduler::spawn(SchedulerArgs {
        transport: Transport::bind(TransportConfig::default()).await.unwrap(),
        snmp: SnmpSettings {
            credentials: Arc::new(vec![Security::v2c("public"), Security::Usm(monitor)]),
            community_version: agent_core::message::Version::V2c,
            timeout: Duration::from_millis(200),
            retries: 0,
        },
        ipp: printwatch_collector::scheduler::IppSettings::open(
            &dir,
            None,
            Duration::from_secs(5),
            None,
        )
        .unwrap(),
        intervals: Intervals {
            status: Duration::from_secs(1),
            meters: Duration::from_secs(3_600),
            identity: Duration::from_secs(86_400),
        },
        pollers: 4,
        outbox: outbox.clone(),
        targets: vec![(a, a.to_string(), None), (b, b.to_string(), None)],
        metrics: CollectorMetrics::none(),
    });

    // The v3-only printer is read through the list, never reported unreachable.
    printwatch_tests::until("the v3-only printer's first reading", 20, async || {
        outcomes(&outbox, a).0 >= 1
    })
    .await;
    let asked = sim.requests()[0];
    let read = outcomes(&outbox, a).0;
    printwatch_tests::until("three more readings of it", 20, async || {
        outcomes(&outbox, a).0 >= read + 3
    })
    .await;
    let polls = outcomes(&outbox, a).0 - read;
    let more = sim.requests()[0] - asked;
    // Steady polls with the remembered user: two requests each (a poll in flight may have
    // sent its first), not the community's timeout and a walk of the list every time.
    assert!(
        more <= 2 * polls as u64 + 2,
        "{more} requests for {polls} polls: the list is walked again"
    );
    assert_eq!(
        outcomes(&outbox, a).1,
        0,
        "no poll of the v3-only printer failed"
    );

    // Printer 1 answers "public" until its community is rotated; then v3 takes over.
    let (before, _) = outcomes(&outbox, b);
    assert!(before >= 1);
    sim.set_community(1, b"rotated");
    printwatch_tests::until("printer 1 read again after the rotation", 20, async || {
        outcomes(&outbox, b).0 >= before + 3
    })
    .await;
    assert_eq!(
        outcomes(&outbox, b).1,
        0,
        "the printer was read with the next credential, not called unreachable"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
