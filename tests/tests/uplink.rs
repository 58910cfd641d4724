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
    let hq = certs::paths(&dir, Role::Collector, "hq");
    let outbox = Outbox::open(&dir.join("outbox")).unwrap();

    // Ten readings while no coordinator is there.
    for i in 1..=10 {
        outbox.push(reading(i)).await.unwrap();
    }
    let config = UplinkConfig {
        endpoint: format!("https://{relay}"),
        server_name: "localhost".into(),
        ca_pem: read(&dir.join("ca.pem")),
        cert_pem: read(&hq.cert),
        key_pem: read(&hq.key),
        site: "hq".into(),
        max_backoff: Duration::from_millis(400),
    };
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
