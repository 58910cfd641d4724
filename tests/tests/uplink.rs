//! The uplink and the outbox against a real coordinator over mutual TLS: readings taken
//! while the coordinator is down wait and arrive when it is up; a coordinator that dies
//! link cut mid-stream loses nothing; nothing is stored twice.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use printwatch_collector::outbox::Outbox;
use printwatch_collector::uplink::{run, UplinkConfig};
use printwatch_coordinator::config::CoordinatorConfig;
use printwatch_coordinator::service::{self, Running};
use printwatch_pki::{self as certs, Role};
use printwatch_proto::v1 as p;
use printwatch_tests::{read, until};

fn reading(i: u32) -> p::envelope::Body {
    p::envelope::Body::Reading(
        agent_core::model::Reading {
            identity: agent_core::model::Identity {
                address: format!("10.0.0.{i}"),
                serial: Some(format!("SN{i}")),
                ..Default::default()
            },
            polled_at: format!("2026-11-21T10:00:{i:02}Z"),
            ..Default::default()
        }
        .into(),
    )
}

/// Site hq's uplink (certificates from `dir`) to `to`, retrying quickly.
fn hq_uplink(dir: &Path, to: SocketAddr) -> UplinkConfig {
    let hq = certs::paths(dir, Role::Collector, "hq");
    UplinkConfig {
        endpoint: format!("https://{to}"),
        server_name: "localhost".into(),
        ca_pem: read(&dir.join("ca.pem")),
        cert_pem: read(&hq.cert),
        key_pem: read(&hq.key),
        site: "hq".into(),
        max_backoff: Duration::from_millis(400),
    }
}

async fn start_coordinator(dir: &Path, listen: SocketAddr) -> Running {
    let mut c = CoordinatorConfig::with_pki(dir, dir.join("db"), listen);
    c.cache_mb = 8;
    service::start(c).await.expect("the coordinator starts")
}

/// The link between collector and coordinator: a TCP relay the test switches on and off.
/// While it is off it still accepts connections, and drops them at once, counting each:
/// the uplink's attempts to reconnect are the events that show time has passed.
struct Link {
    on: Arc<AtomicBool>,
    attempts: Arc<AtomicU64>,
    live: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    _accept: tokio::task::JoinHandle<()>,
}

impl Link {
    /// A link on `listen`, to `upstream`, off.
    async fn new(listen: SocketAddr, upstream: SocketAddr) -> Link {
        let listener = tokio::net::TcpListener::bind(listen).await.unwrap();
        let on = Arc::new(AtomicBool::new(false));
        let attempts = Arc::new(AtomicU64::new(0));
        let live = Arc::new(Mutex::new(Vec::new()));
        let (o, a, l) = (on.clone(), attempts.clone(), live.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                if !o.load(Ordering::SeqCst) {
                    a.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await else {
                    continue;
                };
                let t = tokio::spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                });
                l.lock().unwrap().push(t);
            }
        });
        Link {
            on,
            attempts,
            live,
            _accept: accept,
        }
    }

    fn up(&self) {
        self.on.store(true, Ordering::SeqCst);
    }

    /// Off, and every connection through it cut mid-stream.
    fn cut(&self) {
        self.on.store(false, Ordering::SeqCst);
        for t in self.live.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    /// Waits until the uplink has tried `n` more times to connect while the link is off.
    async fn tried(&self, n: u64) {
        let from = self.attempts.load(Ordering::SeqCst);
        let what = format!("{n} attempts to reconnect");
        until(&what, 20, async || {
            self.attempts.load(Ordering::SeqCst) >= from + n
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_is_lost_while_the_coordinator_is_down_or_the_link_is_cut() {
    let dir = printwatch_tests::tempdir("uplink");
    certs::init(&dir, &[], &["hq".into()], "admin").unwrap();
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    };
    let (listen, relay) = (free(), free());
    let outbox = Outbox::open(&dir.join("outbox")).unwrap();

    // Ten readings while no coordinator is there.
    for i in 1..=10 {
        outbox.push(reading(i)).await.unwrap();
    }
    let config = hq_uplink(&dir, relay);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (commands, _command_rx) = tokio::sync::mpsc::channel(8);
    let link = Link::new(relay, listen).await;
    let uplink = tokio::spawn(run(config, outbox.clone(), commands, async {
        let _ = stop_rx.await;
    }));
    // It tries, and tries again: nothing is deleted before it is acknowledged.
    link.tried(2).await;
    assert_eq!(
        outbox.depth(),
        10,
        "nothing is deleted before it is acknowledged"
    );

    // The coordinator and the link come up: everything arrives and is acknowledged.
    let server = start_coordinator(&dir, listen).await;
    let store = server.store.clone();
    link.up();
    until("the outbox is empty", 20, async || outbox.depth() == 0).await;
    assert_eq!(store.last_sequence("hq").unwrap(), 10);

    // The link is cut mid-stream; readings go on being taken and wait, however often the
    // uplink tries again.
    link.cut();
    for i in 11..=15 {
        outbox.push(reading(i)).await.unwrap();
    }
    link.tried(2).await;
    assert_eq!(
        outbox.depth(),
        5,
        "what was taken while the link was down waits"
    );
    assert_eq!(store.last_sequence("hq").unwrap(), 10);

    // The link is back: the rest arrives, each reading once.
    link.up();
    until("the outbox is empty again", 20, async || {
        outbox.depth() == 0
    })
    .await;
    assert_eq!(store.last_sequence("hq").unwrap(), 15);
    assert_eq!(store.devices().unwrap().len(), 15);
    for i in 1..=15 {
        assert_eq!(store.history_len(&format!("sn:SN{i}")), 1, "SN{i}");
    }
    let _ = stop_tx.send(());
    uplink.await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_envelopes_are_set_aside_and_a_lost_outbox_starts_a_new_numbering() {
    let dir = printwatch_tests::tempdir("uplink-refused");
    certs::init(&dir, &[], &["hq".into()], "admin").unwrap();
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let server = start_coordinator(&dir, listen).await;
    let store = server.store.clone();
    let config = hq_uplink(&dir, listen);
    let outbox_dir = dir.join("outbox");
    let outbox = Outbox::open(&outbox_dir).unwrap();
    // A good reading, one with a time the coordinator refuses, one far too large to send
    // (a printer with an endless table), and a good one after them.
    outbox.push(reading(1)).await.unwrap();
    let p::envelope::Body::Reading(mut bogus) = reading(2) else {
        unreachable!()
    };
    bogus.polled_at = "2099-01-01T00:00:00Z".into();
    outbox
        .push(p::envelope::Body::Reading(bogus))
        .await
        .unwrap();
    let p::envelope::Body::Reading(mut huge) = reading(3) else {
        unreachable!()
    };
    huge.identity.as_mut().unwrap().sys_descr = Some("x".repeat(1_500_000));
    outbox.push(p::envelope::Body::Reading(huge)).await.unwrap();
    outbox.push(reading(4)).await.unwrap();

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (commands, _command_rx) = tokio::sync::mpsc::channel(8);
    let uplink = tokio::spawn(run(config.clone(), outbox.clone(), commands, async {
        let _ = stop_rx.await;
    }));
    until("the queue to move past what was refused", 20, async || {
        outbox.depth() == 0
    })
    .await;
    assert_eq!(outbox.set_aside_count(), 2);
    let aside = outbox_dir.join(printwatch_collector::outbox::SET_ASIDE);
    let why = |n: u64| std::fs::read_to_string(aside.join(format!("{n:020}.why"))).unwrap();
    assert!(why(2).starts_with("time_ahead"), "{}", why(2));
    assert!(why(3).starts_with("too_large"), "{}", why(3));
    for (serial, kept) in [("SN1", true), ("SN2", false), ("SN3", false), ("SN4", true)] {
        assert_eq!(
            store.device(&format!("sn:{serial}")).unwrap().is_some(),
            kept,
            "{serial}"
        );
    }
    assert!(store
        .alerts(false)
        .unwrap()
        .iter()
        .any(|a| a.kind.name() == "envelopes_refused" && a.site == "hq"));
    let _ = stop_tx.send(());
    uplink.await.unwrap();
    drop(outbox);

    // The outbox directory is lost: the new outbox numbers from 1 again, and what it
    // sends is stored, not taken for replays of the old numbers.
    std::fs::remove_dir_all(&outbox_dir).unwrap();
    let outbox = Outbox::open(&outbox_dir).unwrap();
    for i in 5..=6 {
        outbox.push(reading(i)).await.unwrap();
    }
    assert_eq!(outbox.last_seq(), 2);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (commands, _command_rx) = tokio::sync::mpsc::channel(8);
    let uplink = tokio::spawn(run(config, outbox.clone(), commands, async {
        let _ = stop_rx.await;
    }));
    until("the new outbox to be delivered", 20, async || {
        outbox.depth() == 0
    })
    .await;
    assert!(store.device("sn:SN5").unwrap().is_some());
    assert!(store.device("sn:SN6").unwrap().is_some());
    assert_eq!(store.last_sequence("hq").unwrap(), 2);
    let _ = stop_tx.send(());
    uplink.await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
