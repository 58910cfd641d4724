//! The uplink and the outbox against a real coordinator over mutual TLS: readings taken
//! while the coordinator is down wait and arrive when it is up; a coordinator that dies
//! link cut mid-stream loses nothing; nothing is stored twice.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use printwatch_collector::outbox::Outbox;
use printwatch_collector::uplink::{run, UplinkConfig};
use printwatch_coordinator::config::CoordinatorConfig;
use printwatch_coordinator::service::{self, Running};
use printwatch_pki::{self as certs, Role};
use printwatch_proto::v1 as p;

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

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

/// A TCP relay the test can cut: the link between collector and coordinator.
struct Link {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Link {
    async fn up(listen: SocketAddr, upstream: SocketAddr) -> Link {
        let listener = tokio::net::TcpListener::bind(listen).await.unwrap();
        let conns = std::sync::Arc::new(std::sync::Mutex::new(
            Vec::<tokio::task::JoinHandle<()>>::new(),
        ));
        let c = conns.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await else {
                    continue;
                };
                let t = tokio::spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                });
                c.lock().unwrap().push(t);
            }
        });
        let mut tasks = vec![accept];
        // The relay's connections are cut with it.
        let reaper = tokio::spawn(async move {
            let _guard = Guard(conns);
            std::future::pending::<()>().await;
        });
        tasks.push(reaper);
        Link { tasks }
    }

    fn cut(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}

struct Guard(std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>);
impl Drop for Guard {
    fn drop(&mut self) {
        for t in self.0.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

async fn until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_is_lost_while_the_coordinator_is_down_or_the_link_is_cut() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("printwatch-uplink-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
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
    let uplink = tokio::spawn(run(config, outbox.clone(), commands, async {
        let _ = stop_rx.await;
    }));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        outbox.depth(),
        10,
        "nothing is deleted before it is acknowledged"
    );

    // The coordinator and the link come up: everything arrives and is acknowledged.
    let server = start_coordinator(&dir, listen).await;
    let store = server.store.clone();
    let link = Link::up(relay, listen).await;
    until("the outbox is empty", || outbox.depth() == 0).await;
    assert_eq!(store.last_sequence("hq").unwrap(), 10);

    // The link is cut mid-stream; readings go on being taken and wait.
    link.cut();
    for i in 11..=15 {
        outbox.push(reading(i)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        outbox.depth(),
        5,
        "what was taken while the link was down waits"
    );
    assert_eq!(store.last_sequence("hq").unwrap(), 10);

    // The link is back: the rest arrives, each reading once.
    let _link = Link::up(relay, listen).await;
    until("the outbox is empty again", || outbox.depth() == 0).await;
    assert_eq!(store.last_sequence("hq").unwrap(), 15);
    assert_eq!(store.devices().unwrap().len(), 15);
    for i in 1..=15 {
        assert_eq!(store.history_len(&format!("sn:SN{i}")), 1, "SN{i}");
    }
    let _ = stop_tx.send(());
    uplink.await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
