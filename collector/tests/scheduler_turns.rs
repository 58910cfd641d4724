//! The scheduler serves a fleet larger than its pool can poll in one interval in turn: the
//! most overdue printer first, and a freed poller takes the next one at once. (Before, the
//! lowest addresses took every free poller at each tick and the rest were never read.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use agent_core::sim::{serve, synthetic};
use agent_core::transport::{Transport, TransportConfig};
use kameo::actor::Spawn;
use printwatch_collector::metrics::CollectorMetrics;
use printwatch_collector::outbox::Outbox;
use printwatch_collector::scheduler::{
    Intervals, Scheduler, SchedulerArgs, Snapshot, SnmpSettings,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_printer_is_read_when_the_pool_is_the_bottleneck() {
    let devices: Vec<_> = (1..=60u8)
        .map(|i| {
            (
                SocketAddr::from((Ipv4Addr::new(127, 103, 0, i), 16161)),
                synthetic::printer(103, u32::from(i)),
            )
        })
        .collect();
    let sim = serve(devices).await.unwrap();
    let dir = printwatch_tests::tempdir("turns");
    let outbox = Outbox::open(&dir).unwrap();
    let scheduler = Scheduler::spawn(SchedulerArgs {
        transport: Transport::bind(TransportConfig::default()).await.unwrap(),
        snmp: SnmpSettings {
            credentials: std::sync::Arc::new(vec![agent_core::transport::Security::v2c("public")]),
            community_version: agent_core::message::Version::V2c,
            timeout: Duration::from_millis(500),
            retries: 1,
        },
        // Every printer due every second, with two pollers: the pool is what limits.
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
        pollers: 2,
        outbox,
        targets: sim
            .addrs()
            .iter()
            .map(|a| (*a, a.to_string(), None))
            .collect(),
        metrics: CollectorMetrics::none(),
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let read = scheduler.ask(Snapshot).await.unwrap();
        let unread: Vec<_> = read.iter().filter(|(_, r)| !r).map(|(a, _)| *a).collect();
        if unread.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of 60 printers never read: {unread:?}",
            unread.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // And in steady state each keeps its turn: every printer is asked again.
    printwatch_tests::until("every printer to be polled again", 20, async || {
        sim.requests().iter().all(|&n| n >= 4)
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}
